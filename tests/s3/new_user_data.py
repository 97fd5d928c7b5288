"""A new user's data, made in the test: a wiki-format corpus, FlashRAG QA files, and a teacher server.

The corpus holds 2-hop facts (a company's founder, the founder's birthplace) among distractors, so
naive RAG on the raw question rarely finds the birthplace: a searcher gains beyond RAG by searching
for the founder's name. The teacher is a real HTTP server on 127.0.0.1 speaking the OpenAI chat
API: for the questions in ``good`` it selects the company document, searches for the founder and
selects the founder's document; for the others it stops at once (no gain: rejection sampling drops
those episodes).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from local_servers import send_json

FIRST = [
    "Talen",
    "Mira",
    "Osric",
    "Velda",
    "Corin",
    "Anwen",
    "Brisk",
    "Daven",
    "Elowen",
    "Fenn",
    "Garrow",
    "Hesper",
]
LAST = [
    "Morvik",
    "Quell",
    "Thorne",
    "Vasko",
    "Wyler",
    "Yarrow",
    "Zenith",
    "Ashby",
    "Brell",
    "Calder",
    "Dunmore",
    "Everly",
]
COMPANIES = ["Zorbex", "Plinth", "Quarrel", "Vantor", "Halcyne", "Ostrava", "Kelvane", "Lumora", "Nexil", "Orvane",
             "Pyrex", "Sarnet"]  # fmt: skip
CITIES = ["Quarnby", "Velloria", "Dunhaven", "Marlow", "Eastmere", "Kestrel", "Lindholm", "Brackwater", "Ostmark",
          "Pellston", "Ravensend", "Thornbury"]  # fmt: skip


def make_world(folder: Path) -> dict:
    """Write ``corpus.jsonl`` (wiki format), ``questions_a.jsonl`` and ``questions_b.jsonl`` (FlashRAG,
    no supporting documents); returns ``{"bridge": {question: founder}, "questions": [...]}``."""
    folder.mkdir(parents=True, exist_ok=True)
    docs, qa, bridge = [], [], {}
    for i, (company, city) in enumerate(zip(COMPANIES, CITIES)):
        person = f"{FIRST[i]} {LAST[i]}"
        docs.append((f"{company} Industries", f"{company} Industries is a company founded by {person}."))
        docs.append((person, f"{person} was born in {city}. {city} is a city."))
        question = f"In which city was the founder of {company} Industries born?"
        qa.append({"id": f"q{i}", "question": question, "golden_answers": [city]})
        bridge[question] = person
    for j in range(12):  # distractors sharing the question words
        docs.append(
            (f"Founders guild {j}", f"The founders guild {j} meets in a city hall; members were born abroad.")
        )
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for n, (title, text) in enumerate(docs):
            f.write(json.dumps({"id": str(n), "contents": f'"{title}"\n{text}'}) + "\n")
    for name, part in (("questions_a.jsonl", qa[:8]), ("questions_b.jsonl", qa[8:])):
        with (folder / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in part)
    return {"bridge": bridge, "questions": [r["question"] for r in qa]}


_DOC = re.compile(r"Doc (\d+) \(Title: ([^)]*)\)")


def teacher_turn(prompt: str, bridge: dict[str, str], good: set[str]) -> str:
    """The teacher's next s3 turn for the episode so far."""
    m = re.search(r"<question>(.*?)</question>", prompt, re.DOTALL)
    question = m.group(1).strip() if m else ""
    blocks = prompt.split("<information>")
    latest = _DOC.findall(blocks[-1])
    if question not in good or question not in bridge:
        return "<important_info>[]</important_info><search_complete>True</search_complete>"
    person = bridge[question]
    company = question.split("founder of ")[-1].rstrip("? ").strip()
    if len(blocks) <= 2:  # the first results: keep the company's page, search for its founder
        ids = [int(i) for i, title in latest if title == company]
        return (
            f"<important_info>{json.dumps(ids[:1])}</important_info><search_complete>False</search_complete>"
            f'<query>{{"query": "{person}"}}</query>'
        )
    ids = [int(i) for i, title in latest if title == person]
    return f"<important_info>{json.dumps(ids[:1])}</important_info><search_complete>True</search_complete>"


class TeacherServer:
    """``POST /v1/chat/completions`` answering with :func:`teacher_turn`; a context manager."""

    def __init__(self, bridge: dict[str, str], good: set[str]) -> None:
        outer = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests += 1
                text = teacher_turn(body["messages"][-1]["content"], bridge, good)
                reply = {
                    "id": "t", "object": "chat.completion", "created": 0, "model": body.get("model", "teacher"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }  # fmt: skip
                send_json(self, reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> TeacherServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
