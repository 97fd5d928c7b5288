"""The synthetic world behind the embedded task: entities, relations and one passage per entity.

Entities are countries, cities, organisations and people, with invented names
(:mod:`s3.task.names`). Relations point one way, which is what makes the 2-hop questions 2-hop:

- a country names its capital; a city names its country ("... is a city in the country of K.");
- an organisation names its founder and its headquarters city ("... is a company founded by P.",
  "... is headquartered in C."), always in that order, always as the first two sentences;
- a person names the city they were born in (and sometimes where they live or who employs them),
  but a founder's passage never names the organisation they founded.

So a question about an organisation's founder's birthplace retrieves the organisation's passage,
whose first sentence ends with the founder's name, and the answer sits in the founder's passage,
which shares no rare word with the question. Employees' passages name their employer and a birth
city, and sibling organisations share a name stem: both are lexical distractors.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from s3.task.names import NameFactory

PROFESSIONS = (
    "engineer", "painter", "teacher", "chemist", "pilot", "lawyer", "farmer", "doctor", "architect",
    "baker", "sailor", "editor", "geologist", "musician", "carpenter", "surveyor",
)  # fmt: skip
PRODUCTS = (
    "shoes", "engines", "textbooks", "bicycles", "lamps", "ceramics", "radios", "pumps", "cheese",
    "glassware", "maps", "clocks", "tents", "paints", "rope", "tiles",
)  # fmt: skip


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass
class Entity:
    """One entity and its passage; ``relations`` maps a relation name to another entity's name."""

    name: str
    kind: str  # "country" | "city" | "organisation" | "person"
    relations: dict[str, str] = field(default_factory=dict)
    sentences: list[str] = field(default_factory=list)
    doc_id: str = ""

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass
class WorldConfig:
    """Sizes of the synthetic world (defaults give about 2,000 passages)."""

    n_countries: int = 12
    n_cities: int = 120
    n_organisations: int = 360
    sibling_fraction: float = 0.3
    max_employees: int = 3
    lives_elsewhere_fraction: float = 0.4


@dataclass
class World:
    """All entities by name, plus the corpus order (doc ids are positions in a seeded shuffle)."""

    entities: dict[str, Entity]
    corpus: list[Entity]

    def of_kind(self, kind: str) -> list[Entity]:
        return [e for e in self.entities.values() if e.kind == kind]

    def by_doc_id(self, doc_id: str) -> Entity:
        return self.corpus[int(doc_id)]


def build_world(rng: random.Random, cfg: WorldConfig | None = None) -> World:
    """Generate the world from ``rng`` (deterministic for a given seed and config)."""
    cfg = cfg or WorldConfig()
    names = NameFactory(rng)
    entities: dict[str, Entity] = {}

    def add(entity: Entity) -> Entity:
        entities[entity.name] = entity
        return entity

    countries = [add(Entity(names.country(), "country")) for _ in range(cfg.n_countries)]
    cities = []
    for i in range(cfg.n_cities):
        country = countries[i % len(countries)]  # every country gets cities
        city = add(Entity(names.city(), "city", {"country": country.name}))
        thousands = rng.randint(5, 900)
        city.sentences = [
            f"{city.name} is a city in the country of {country.name}.",
            f"{city.name} has about {thousands} thousand inhabitants.",
        ]
        cities.append(city)
    for country in countries:
        capital = rng.choice([c for c in cities if c.relations["country"] == country.name])
        country.relations["capital"] = capital.name
        country.sentences = [
            f"{country.name} is a country whose capital is {capital.name}.",
            f"{country.name} has {sum(c.relations['country'] == country.name for c in cities)} large cities.",
        ]

    def person(employer: str | None = None) -> Entity:
        p = add(Entity(names.person(), "person", {"birthplace": rng.choice(cities).name}))
        job = rng.choice(PROFESSIONS)
        p.sentences = [f"{p.name} was born in {p.relations['birthplace']}."]
        if employer:
            p.relations["employer"] = employer
            p.sentences.append(f"{p.name} is {_article(job)} {job} at {employer}.")
        else:
            p.sentences.append(f"{p.name} is {_article(job)} {job}.")
        if rng.random() < cfg.lives_elsewhere_fraction:
            home = rng.choice([c for c in cities if c.name != p.relations["birthplace"]])
            p.relations["residence"] = home.name
            p.sentences.append(f"{p.name} lives in {home.name}.")
        return p

    def organisation(name: str) -> Entity:
        org = add(Entity(name, "organisation"))
        founder = person()
        hq = rng.choice([c for c in cities if c.name != founder.relations["birthplace"]])
        org.relations.update(founder=founder.name, headquarters=hq.name)
        product = rng.choice(PRODUCTS)
        org.sentences = [
            f"{name} is a company founded by {founder.name}.",
            f"{name} is headquartered in {hq.name}.",
            f"{name} makes {product} and was started in {rng.randint(1890, 2015)}.",
        ]
        for _ in range(rng.randint(0, cfg.max_employees)):
            person(employer=name)
        return org

    for _ in range(cfg.n_organisations):
        stem, name = names.organisation()
        organisation(name)
        if rng.random() < cfg.sibling_fraction:
            organisation(names.sibling_organisation(stem, name.split(" ", 1)[1]))

    corpus = sorted(entities.values(), key=lambda e: e.name)
    rng.shuffle(corpus)
    for i, entity in enumerate(corpus):
        entity.doc_id = str(i)
    return World(entities=entities, corpus=corpus)
