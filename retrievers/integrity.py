"""Index integrity: checksums written when an index is built, checked when it is opened.

A damaged index file (a copy cut short, flipped bytes, a file from another build) must give a clear
error naming the file and what to rebuild, never a crash or silently wrong results. The build
records each file's size and CRC-32; opening an index checks every size and, by default, a
*sampled* CRC-32 (the whole file when it is at most 64 MiB, else 64 blocks of 1 MiB spread over
it), so the check reads at most 64 MiB per file whatever the corpus size (wiki-18 included).
``verify="full"`` hashes every byte. Structure and bounds (array shapes, dtypes, pointer ranges)
are checked by the index classes themselves; the search kernel also refuses out-of-range postings.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

SAMPLE_BLOCK = 1 << 20
SAMPLE_BLOCKS = 64
VERIFY_MODES = ("quick", "full", "off")


class IndexIntegrityError(ValueError):
    """An index file that is missing, truncated or corrupt; the message names it and the fix."""

    def __init__(self, path: str | os.PathLike, problem: str, directory: str | os.PathLike | None = None):
        self.path = str(path)
        folder = Path(directory) if directory is not None else Path(path).parent
        super().__init__(
            f"{self.path}: {problem}. The index in {folder} is damaged: rebuild it "
            f"(s3 index --corpus <your corpus.jsonl> --output {folder})"
        )


def _crc(path: Path, ranges: list[tuple[int, int]]) -> int:
    crc = 0
    with open(path, "rb") as f:
        for start, length in ranges:
            f.seek(start)
            left = length
            while left:
                chunk = f.read(min(left, 16 * SAMPLE_BLOCK))
                if not chunk:
                    break
                crc = zlib.crc32(chunk, crc)
                left -= len(chunk)
    return crc


def _sample_ranges(size: int) -> list[tuple[int, int]]:
    if size <= SAMPLE_BLOCK * SAMPLE_BLOCKS:
        return [(0, size)]
    step = (size - SAMPLE_BLOCK) / (SAMPLE_BLOCKS - 1)
    return [(int(i * step), SAMPLE_BLOCK) for i in range(SAMPLE_BLOCKS)]


def file_checksum(path: str | os.PathLike) -> dict[str, int]:
    """Size, full CRC-32 and sampled CRC-32 of a file (what the build records)."""
    path = Path(path)
    size = path.stat().st_size
    full = _crc(path, [(0, size)])
    sample = full if size <= SAMPLE_BLOCK * SAMPLE_BLOCKS else _crc(path, _sample_ranges(size))
    return {"size": size, "crc32": full, "sample_crc32": sample}


def checksums(directory: str | os.PathLike, names: list[str] | tuple[str, ...]) -> dict[str, dict[str, int]]:
    """``{name: file_checksum}`` for the named files of ``directory``."""
    return {name: file_checksum(Path(directory) / name) for name in names}


def verify_checksums(directory: str | os.PathLike, recorded: dict[str, Any], mode: str = "quick") -> None:
    """Check the files of ``directory`` against checksums recorded at build time.

    Args:
        recorded: ``{name: {"size", "crc32", "sample_crc32"}}`` as written by :func:`checksums`.
        mode: ``"quick"`` (sizes and sampled CRC-32), ``"full"`` (every byte) or ``"off"``.

    Raises:
        IndexIntegrityError: naming the first file that is missing or differs.
    """
    if mode not in VERIFY_MODES:
        raise ValueError(f"verify must be one of {list(VERIFY_MODES)}, got {mode!r}")
    if mode == "off":
        return
    directory = Path(directory)
    for name, want in recorded.items():
        path = directory / name
        if not path.is_file():
            raise IndexIntegrityError(path, "file missing", directory)
        size = path.stat().st_size
        if size != want["size"]:
            raise IndexIntegrityError(path, f"{size} bytes, the build wrote {want['size']}", directory)
        if mode == "full":
            got, expected = _crc(path, [(0, size)]), want["crc32"]
        else:
            got, expected = _crc(path, _sample_ranges(size)), want["sample_crc32"]
        if got != expected:
            raise IndexIntegrityError(
                path, f"checksum mismatch (CRC-32 {got:08x}, built {expected:08x})", directory
            )
