"""Invented, pronounceable names for the embedded task's synthetic world.

Names are built from a small syllable inventory so that (a) no language model knows the entities
(answers cannot come from parametric memory), and (b) a locally trained BPE tokenizer splits each
name into a few syllable tokens, which keeps copying a name into a search query easy for a tiny
searcher model.
"""

from __future__ import annotations

import random

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "tr")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "n", "r", "l", "s", "x")

#: endings that make the four kinds of names look different from each other
_CITY_ENDINGS = ("by", "mor", "ton", "dal", "vik")
_COUNTRY_ENDINGS = ("ia", "ora", "esh", "and")
ORG_KINDS = ("Industries", "Labs", "Works", "Systems", "Foods", "Motors", "Textiles", "Press")

# Words of the task templates (and common English) that a generated name must never equal.
_RESERVED = {
    "born", "city", "country", "founded", "founder", "company", "works", "lives", "capital", "the",
    "is", "in", "of", "was", "who", "which", "what", "and", "an", "at", "as", "by", "for", "on",
    "to", "a", "man", "men", "ran", "run", "sun", "son", "bin", "pin", "tin", "ten", "pen", "den",
    "lax", "tax", "sex", "box", "fox", "mix", "fix", "six", "pan", "van", "ban", "can", "fan",
    "tan", "nor", "bus", "gas", "kin", "sin", "pun", "fun", "gun", "nun", "bun", "dun",
}  # fmt: skip


def syllable(rng: random.Random, coda: bool = True) -> str:
    """One consonant-vowel(-consonant) syllable."""
    return rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if coda else "")


class NameFactory:
    """Draws unique names of each kind from one seeded random stream.

    Every name (and every word of every name) is unique across the whole world, so one word of a
    name identifies its entity and bridge entities never collide.

    Example::

        names = NameFactory(random.Random(0))
        names.person()   # e.g. 'Talen Morvik'
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used_words: set[str] = set()

    def _word(self, syllables: int = 2, ending: str = "") -> str:
        for _ in range(10_000):
            parts = [syllable(self.rng, coda=(i == syllables - 1 and not ending)) for i in range(syllables)]
            if ending and ending[0] in "aeiou":
                parts.append(self.rng.choice("lnrv"))  # keep a consonant before a vowel ending
            word = ("".join(parts) + ending).capitalize()
            if word.lower() in _RESERVED or word.lower() in self.used_words or len(word) < 4:
                continue
            self.used_words.add(word.lower())
            return word
        raise RuntimeError("name space exhausted; lower the world size")

    def person(self) -> str:
        """A first name and a surname, e.g. ``Talen Morvik``."""
        return f"{self._word(2)} {self._word(2)}"

    def organisation(self) -> tuple[str, str]:
        """A (stem, full name) pair, e.g. ``('Zorbex', 'Zorbex Industries')``."""
        stem = self._word(2)
        return stem, f"{stem} {self.rng.choice(ORG_KINDS)}"

    def sibling_organisation(self, stem: str, taken_kind: str) -> str:
        """Another organisation sharing ``stem`` (a lexical distractor), e.g. ``Zorbex Motors``."""
        kinds = [k for k in ORG_KINDS if k != taken_kind]
        return f"{stem} {self.rng.choice(kinds)}"

    def city(self) -> str:
        """A one-word city name, e.g. ``Quarnby``."""
        return self._word(1, ending=self.rng.choice(_CITY_ENDINGS))

    def country(self) -> str:
        """A one-word country name, e.g. ``Velloria``."""
        return self._word(2, ending=self.rng.choice(_COUNTRY_ENDINGS))
