"""Text analysis for BM25: a Lucene-like analyzer (tokenise, lower-case, stop-words, stemming).

The defaults mirror Anserini's ``DefaultEnglishAnalyzer`` (what pyserini's BM25 indexes use):
word tokens in the spirit of Lucene's StandardTokenizer, English possessives removed, lower-casing,
Lucene's 33 English stop-words, and the original Porter stemmer. Matching the analyzer is what
makes our BM25 rankings agree with pyserini's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (also Anserini's default).
LUCENE_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)

# Like UAX#29 word breaks: an inner apostrophe or period joins ("don't", "u.s"), and so does a
# comma between digits ("8,849").
_TOKEN = re.compile(r"\w+(?:(?:['\u2019.]|(?<=\d),(?=\d))\w+)*")
_POSSESSIVE = re.compile(r"['\u2019]s$")

STEMMERS = ("porter", "english", "none")


def _stopword_set(stopwords: str | Iterable[str] | None) -> frozenset[str]:
    if stopwords is None or stopwords == "none":
        return frozenset()
    if stopwords == "lucene":
        return LUCENE_STOPWORDS
    if stopwords in ("en", "english"):
        from bm25s.stopwords import STOPWORDS_EN

        return frozenset(STOPWORDS_EN)
    if isinstance(stopwords, str):
        raise ValueError(
            f"stopwords must be 'lucene', 'english', 'none' or a list of words, got {stopwords!r}"
        )
    return frozenset(w.lower() for w in stopwords)


class Analyzer:
    """Turns text into index terms; picklable and described by :meth:`config`.

    Args:
        stemmer: ``"porter"`` (Lucene/Anserini default), ``"english"`` (Snowball Porter2) or ``"none"``.
        stopwords: ``"lucene"`` (default), ``"english"`` (bm25s' longer list), ``"none"`` or a list.

    Example:
        >>> Analyzer().terms("The cats' owners were running")
        ['cat', 'owner', 'were', 'run']
    """

    def __init__(self, stemmer: str = "porter", stopwords: str | list[str] | None = "lucene"):
        if stemmer not in STEMMERS:
            raise ValueError(f"stemmer must be one of {STEMMERS}, got {stemmer!r}")
        self.stemmer_name = stemmer
        self.stopwords_spec = stopwords if isinstance(stopwords, (str, type(None))) else list(stopwords)
        self.stopwords = _stopword_set(stopwords)
        self._stemmer = None
        if stemmer != "none":
            import Stemmer

            self._stemmer = Stemmer.Stemmer(stemmer)

    def config(self) -> dict[str, Any]:
        return {"stemmer": self.stemmer_name, "stopwords": self.stopwords_spec}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Analyzer:
        return cls(stemmer=config.get("stemmer", "porter"), stopwords=config.get("stopwords", "lucene"))

    def __getstate__(self) -> dict:
        return self.config()

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def raw_tokens(self, text: str) -> list[str]:
        """Lower-cased word tokens with possessives removed, before stop-words and stemming."""
        tokens = _TOKEN.findall(text.lower())
        return [_POSSESSIVE.sub("", t) if "'" in t or "\u2019" in t else t for t in tokens]

    def term_map(self, tokens: Iterable[str]) -> dict[str, str | None]:
        """Map each distinct raw token to its index term, or ``None`` for a stop-word."""
        unique = [t for t in set(tokens) if t not in self.stopwords]
        stems = self._stemmer.stemWords(unique) if self._stemmer is not None else unique
        mapping: dict[str, str | None] = dict(zip(unique, stems))
        for word in self.stopwords:
            mapping[word] = None
        return mapping

    def terms(self, text: str) -> list[str]:
        """The index terms of one text, in order."""
        tokens = self.raw_tokens(text)
        mapping = self.term_map(tokens)
        return [m for t in tokens if (m := mapping[t]) is not None]

    def terms_batch(self, texts: list[str]) -> list[list[str]]:
        """Index terms of many texts; stems each distinct token once."""
        token_lists = [self.raw_tokens(t) for t in texts]
        mapping = self.term_map(t for tokens in token_lists for t in tokens)
        return [[m for t in tokens if (m := mapping[t]) is not None] for tokens in token_lists]
