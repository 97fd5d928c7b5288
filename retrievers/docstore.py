"""An on-disk store of ``Doc`` records addressed by row number (0..N-1).

Records are compact JSON lines in ``docs.jsonl``; ``doc_offsets.npy`` holds the byte offset of every
row. Reading memory-maps both files, so opening a 21M-passage store costs no RAM up front and a
lookup is one slice plus one ``json.loads``. Writing streams: nothing but the offsets stays in memory.
"""

from __future__ import annotations

import json
import mmap
import os
from array import array
from pathlib import Path

import numpy as np

from retrievers.doc import Doc
from retrievers.integrity import IndexIntegrityError

DOCS_FILE = "docs.jsonl"
OFFSETS_FILE = "doc_offsets.npy"


class DocStoreWriter:
    """Append ``Doc`` records to ``directory``; call :meth:`close` (or use ``with``) to finish."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.directory / DOCS_FILE, "wb")
        self._offsets = array("Q", [0])

    def add(self, doc: Doc) -> int:
        """Store one record; returns its row number."""
        record = {"id": doc.id, "title": doc.title, "text": doc.text, **doc.stored}  # as the corpus stored it
        if doc.meta:
            record.update({k: v for k, v in doc.meta.items() if k not in record})
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        self._handle.write(line)
        self._offsets.append(self._offsets[-1] + len(line))
        return len(self._offsets) - 2

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def close(self) -> None:
        if self._handle.closed:
            return
        self._handle.close()
        np.save(self.directory / OFFSETS_FILE, np.frombuffer(self._offsets, dtype=np.uint64))

    def __enter__(self) -> DocStoreWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DocStore:
    """Read-only, memory-mapped access to records written by :class:`DocStoreWriter`.

    Example:
        >>> store = DocStore("index_dir")  # doctest: +SKIP
        >>> store.get(0).title  # doctest: +SKIP
    """

    def __init__(self, directory: str | os.PathLike, mmap_mode: bool = True):
        self.directory = Path(directory)
        offsets_path = self.directory / OFFSETS_FILE
        if not offsets_path.is_file():
            raise FileNotFoundError(f"{offsets_path} not found: not a document store")
        try:
            self._offsets = np.load(offsets_path, mmap_mode="r" if mmap_mode else None)
        except (OSError, ValueError, EOFError) as exc:
            raise IndexIntegrityError(offsets_path, f"cannot be read as a .npy array ({exc})") from None
        docs_path = self.directory / DOCS_FILE
        if not docs_path.is_file():
            raise IndexIntegrityError(docs_path, "file missing")
        self._file = open(docs_path, "rb")
        size = os.fstat(self._file.fileno()).st_size
        self._check_offsets(offsets_path, size)
        if mmap_mode and size:
            self._data: bytes | mmap.mmap = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            self._data = self._file.read()
        self._id_to_row: dict[str, int] | None = None

    def _check_offsets(self, offsets_path: Path, size: int) -> None:
        offsets = self._offsets
        if offsets.ndim != 1 or offsets.dtype != np.uint64 or offsets.shape[0] < 1:
            self._file.close()
            raise IndexIntegrityError(
                offsets_path, f"expected a 1-D uint64 array, got {offsets.dtype} {offsets.shape}"
            )
        if offsets[0] != 0 or offsets[-1] != size or np.any(offsets[1:] < offsets[:-1]):
            self._file.close()
            raise IndexIntegrityError(
                self.directory / DOCS_FILE,
                f"{size} bytes, but {OFFSETS_FILE} says records span 0..{int(offsets[-1])} bytes",
            )

    def __len__(self) -> int:
        return int(self._offsets.shape[0]) - 1

    def record(self, row: int) -> dict:
        """The stored JSON record of ``row``."""
        if not 0 <= row < len(self):
            raise IndexError(f"row {row} out of range for a store of {len(self)} documents")
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        try:
            return json.loads(self._data[start:end])
        except ValueError as exc:
            raise IndexIntegrityError(
                self.directory / DOCS_FILE, f"record {row} is not valid JSON ({exc})"
            ) from None

    def get(self, row: int, score: float | None = None) -> Doc:
        """The ``Doc`` at ``row`` (with ``score`` attached if given)."""
        return Doc.from_dict(self.record(row), score=score)

    def row_of(self, doc_id: str) -> int | None:
        """Row number of a document id (builds an id map on first use: one pass over the store)."""
        if self._id_to_row is None:
            self._id_to_row = {str(self.record(i)["id"]): i for i in range(len(self))}
        return self._id_to_row.get(str(doc_id))

    def close(self) -> None:
        if isinstance(self._data, mmap.mmap):
            self._data.close()
        self._file.close()
