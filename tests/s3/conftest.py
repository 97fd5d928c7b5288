"""Fixtures of the searcher tests: a BM25 index over the small shared corpus (s3_search_fixtures)."""

from __future__ import annotations

import pytest
from s3_search_fixtures import build_bm25


@pytest.fixture(scope="session")
def bm25(tmp_path_factory):
    return build_bm25(tmp_path_factory.mktemp("bm25"))
