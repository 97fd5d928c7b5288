"""``s3 serve``: a trained searcher as a service, and a page to watch it search.

One process (:func:`s3.serve.app.create_app`) offers, under the retrieval server's bearer token and
body limit (:class:`retrievers.server.RequestGuard`):

* ``POST /search``: questions in, the selected documents and the trace out;
* ``POST /retrieve``: the Search-R1 wire format, answered by the searcher;
* ``POST /v1/chat/completions``: OpenAI chat format; search, then the frozen generator's answer;
* ``/mcp``: an MCP tool ``search`` (streamable HTTP; needs the ``serve`` extra);
* ``GET /``: a page to watch a search turn by turn, and to browse an evaluation run folder.

Concurrent requests are merged into batched ``Searcher.search_batch`` calls, as the retrieval
server batches searches. Run it with ``s3 serve --model DIR --index IDX``.
"""

from __future__ import annotations

#: questions one request may carry (``/search`` and ``/retrieve``)
DEFAULT_MAX_QUESTIONS = 256
#: the port ``s3 serve`` listens on unless told (the retrieval server's is 3000)
DEFAULT_PORT = 3001
