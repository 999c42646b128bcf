"""The unlabeled pretraining corpus of lab 05: sentences about the world of the embedded NER data.

Explained in ``labs/05_pretraining.ipynb`` and the chapter "Pretraining" (``book/pretraining.md``);
:mod:`lablib.pretraining` re-exports it, and :func:`lablib.data.load_corpus` loads it, checksummed.

The world has people, organisations, clubs, towns and countries, taken from both name pools of
:mod:`lablib.ner_corpus` (unlabeled text may mention any name, as Wikipedia mentions most CoNLL-2003 names;
the *labelled* NER splits keep their promise that no test name is labelled in training). A seeded draw
(:func:`make_world`) gives each person an employer and role (a club and position, for athletes), a
nationality and a home town, and each organisation and club a town. Real countries and towns are paired
truthfully (Berlin is in Germany); the invented towns belong to the invented country Avalon. Half the
sentences restate these facts in varied frames ("Lumen Labs is based in Oslo ."), so a masked word can often
be recovered only by remembering what *other* sentences said; the other half are NER-frame sentences
(:func:`lablib.ner_corpus.sentence`). Facts recur, as in real text. The countries and fact frames are data,
in ``lablib/data/pretraining_corpus.json``, filled by :mod:`lablib.data.templates`.

Seeded with strings (``"pretraining-world-{seed}"``, ``"pretraining-corpus-{seed}"``), the corpus is the
same on every platform; a change that alters it (here or in :mod:`lablib.ner_corpus`) must bump
:data:`CORPUS_VERSION` and the checksum registered in :mod:`lablib.data`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from . import checks as C
from . import ner_corpus
from .data import templates

CORPUS_VERSION = "1.0"
_DEFAULT_SEED = 2020
_DEFAULT_SIZE = 60_000
_VALIDATION_SIZE = 2_000  # the last sentences, held out for measuring the masked-LM loss
_NUM_PEOPLE = 160

_DATA = templates.load("pretraining_corpus")
# Real countries (name, nationality, a language widely spoken there, towns) and the invented country Avalon,
# which owns the invented towns of both NER pools. Every town is in one country.
_COUNTRIES = tuple((c["name"], c["nationality"], c["language"], tuple(c["towns"])) for c in _DATA["countries"])
_FILLERS = ner_corpus._FILLERS  # days, roles, numbers: the NER frames' slots tagged O


@dataclass(frozen=True)
class _Person:
    """One person of the world and the facts the corpus repeats about them."""

    name: str
    country: str
    nationality: str
    town: str
    role: str
    employer: str  # an organisation, or a club for athletes
    athlete: bool


@dataclass
class World:
    """Everything the corpus of lab 05 states as fact: people, where organisations and clubs are, countries."""

    people: list
    org_town: dict
    club_town: dict
    country_of_town: dict
    countries: dict  # country -> (nationality, language, towns)
    pools: dict  # the NER name pools of both splits, for the NER-frame sentences

    def facts(self, person: _Person) -> str:
        """One line that states everything the world knows about ``person``."""
        where = "plays for" if person.athlete else "works for"
        return (f"{person.name}: {person.nationality}, lives in {person.town}, {person.role}, "
                f"{where} {person.employer} (based in "
                f"{(self.club_town if person.athlete else self.org_town)[person.employer]})")


def make_world(seed: int = _DEFAULT_SEED) -> World:
    """Draw the facts of the corpus's world from ``seed`` (the same on every platform; lab 05)."""
    seed = C.integer(seed, "seed", "make_world", low=None)
    rng = templates.seeded("pretraining-world", seed)
    countries = {name: (nationality, language, towns) for name, nationality, language, towns in _COUNTRIES}
    country_of_town = {town: name for name, (_n, _l, towns) in countries.items() for town in towns}
    towns = list(country_of_town)
    homes = [name for name in countries if countries[name][2]]  # countries that have towns
    train, test = ner_corpus.POOLS["train"], ner_corpus.POOLS["test"]
    pools = {key: list(dict.fromkeys(train[key] + test[key])) for key in train}  # both, train first, no repeats
    orgs, clubs = pools["ORG"], pools["CLUB"]
    org_town = {org: rng.choice(towns) for org in orgs}
    club_town = {}
    for club in clubs:  # "Kingsbridge FC" plays in Kingsbridge; others get a town at random
        named = [town for town in towns if club.startswith(town + " ")]
        club_town[club] = named[0] if named else rng.choice(towns)
    firsts, lasts = pools["first"], pools["last"]
    people = []
    while len(people) < _NUM_PEOPLE:
        name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
        if any(person.name == name for person in people):
            continue
        country = rng.choice(homes)
        athlete = rng.randrange(5) == 0
        people.append(_Person(
            name=name, country=country, nationality=countries[country][0],
            town=rng.choice(countries[country][2]),
            role=rng.choice(_DATA["athlete_roles"] if athlete else _FILLERS["ROLE"]),
            employer=rng.choice(clubs if athlete else orgs), athlete=athlete))
    return World(people, org_town, club_town, country_of_town, countries, pools)


# The fact frames (in the JSON file): {P} a person's full name, {LASTP} their surname, {E} their employer,
# {R} role, {N} nationality, {C} country, {T} home town, {ET} the employer's town, {O}/{OT} another
# organisation and its town, {K}/{KT} a club and its town, {TC}/{CC}/{L} a town, its country and that
# country's language; other slots are the NER frames' fillers (days, numbers, ...).


def _person_slots(rng: random.Random, world: World, person: _Person) -> dict:
    other = rng.choice(world.people)
    org = rng.choice(list(world.org_town))
    return {
        "P": person.name, "LASTP": person.name.split()[-1], "E": person.employer, "R": person.role,
        "N": person.nationality, "C": person.country, "T": person.town,
        "ET": (world.club_town if person.athlete else world.org_town)[person.employer],
        "OT": world.org_town[org], "P2": other.name, "E2": other.employer,
        "K": rng.choice([c for c in world.club_town if c != person.employer]),
    }


def _place_slots(rng: random.Random, world: World) -> dict:
    org, club = rng.choice(list(world.org_town)), rng.choice(list(world.club_town))
    town = rng.choice(list(world.country_of_town))
    country = world.country_of_town[town]
    other = rng.choice(list(world.countries))
    return {
        "O": org, "OT": world.org_town[org], "OC": world.country_of_town[world.org_town[org]],
        "K": club, "KT": world.club_town[club], "TC": town, "CC": country,
        "L": world.countries[country][1], "N2": world.countries[other][0],
    }


def _fact_sentence(rng: random.Random, world: World) -> list:
    """The tokens of a fact frame: its world slots filled from ``world``, the other slots as fillers."""
    if rng.randrange(10) < 3:  # facts about places
        frame, slots = rng.choice(_DATA["place_frames"]), _place_slots(rng, world)
    else:
        person = rng.choice(world.people)
        frame = rng.choice(_DATA["athlete_frames"] if person.athlete else _DATA["person_frames"])
        slots = _person_slots(rng, world, person)
    pieces = templates.fill(frame, lambda slot: slots[slot] if slot in slots else templates.draw(rng, slot, _FILLERS))
    return "".join(text for _, text in pieces).split()


def generate(seed: int = _DEFAULT_SEED, size: int = _DEFAULT_SIZE) -> list:
    """The unlabeled pretraining corpus of lab 05: ``size`` sentences, each a list of word tokens.

    Half state facts of the world (:func:`make_world`), half are NER-frame sentences over the names of both
    pools. The same ``seed`` and ``size`` give the same sentences on every platform and Python version; the
    first ``k`` sentences do not depend on ``size``.
    """
    seed = C.integer(seed, "seed", "generate", low=None)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"generate: size must be an int >= 0, got {size!r}")
    world = make_world(seed)
    rng = templates.seeded("pretraining-corpus", seed)
    sentences = []
    while len(sentences) < size:
        tokens = _fact_sentence(rng, world) if rng.randrange(2) == 0 else ner_corpus.sentence(rng, world.pools).tokens
        if ner_corpus.MIN_TOKENS <= len(tokens) <= ner_corpus.MAX_TOKENS:
            sentences.append(tokens)
    return sentences


def corpus_file_name(seed: int = _DEFAULT_SEED, size: int = _DEFAULT_SIZE) -> str:
    """The cache file name of a corpus (lab 05): version, seed and size are all in it."""
    return f"pretraining-corpus-{CORPUS_VERSION}-seed{seed}-{size}.txt"


def split_corpus(sentences: Sequence, validation: int = _VALIDATION_SIZE) -> tuple:
    """``(train, validation)``: the last ``validation`` sentences are held out (labs 05 and 07)."""
    validation = C.integer(validation, "validation", "split_corpus", high=len(sentences) - 1)
    return list(sentences[:-validation]), list(sentences[-validation:])
