"""The unlabeled pretraining corpus of lab 05: sentences from the world of the embedded NER data.

Explained in ``labs/05_pretraining.ipynb`` and the chapter "Pretraining"
(``book/pretraining.md``); :mod:`lablib.pretraining` re-exports everything
here, so a lab only needs ``from lablib import pretraining as P``. Load the
corpus with :func:`load_corpus`, which writes it once to the cache through
:func:`lablib.data.fetch` and checks its sha256 on every call.

How it is made
--------------
The world has people, organisations, clubs, towns and countries, all taken
from the name pools of :mod:`lablib.ner_corpus` (both its ``train`` and its
``test`` pools: unlabeled text may mention any name, as Wikipedia mentions
most CoNLL-2003 names; the *labelled* NER splits keep their promise that no
test name is labelled in training). A seeded draw (:func:`make_world`) gives
each person one employer and role (or one club and position, for athletes),
one nationality and one home town, and each organisation and club a home
town. The real countries and towns are paired truthfully (Berlin is in
Germany, :data:`COUNTRIES`); the invented towns belong to the invented
country Avalon. Half the sentences restate these facts in varied frames
("Anna Malloy , the founder of Lumen Labs , ...", "Lumen Labs is based in
Oslo ."), so a masked word can often be recovered only by remembering what
*other* sentences said; the other half are sentences of the NER frames
themselves (:func:`lablib.ner_corpus.sentence`), over the names of both
pools. Repeats are allowed: facts recur, as in real text. The countries and
the fact frames are data, in ``lablib/data/pretraining_corpus.json``, filled
by the course's template engine (:mod:`lablib.data.templates`).

Determinism and versions
------------------------
As in :mod:`lablib.ner_corpus`: ``random.Random`` seeded with strings
(``"pretraining-world-{seed}"``, ``"pretraining-corpus-{seed}"``), only
``choice`` and ``randrange`` on lists; no floats, numpy, or set iteration.
The file written by :func:`write_corpus` has one sentence per line, tokens
separated by one space, ``"\\n"`` line ends, UTF-8; its sha256 for the
default seed and size is :data:`CORPUS_SHA256`, guarded by a unit test. The
corpus also depends on :mod:`lablib.ner_corpus` (its frames, pools and
draws), so a change there that alters its checksums alters this corpus too:
bump :data:`CORPUS_VERSION` and update :data:`CORPUS_SHA256`.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from . import ner_corpus
from .data import templates
from .data.templates import check_seed

CORPUS_VERSION = "1.0"
DEFAULT_SEED = 2020
DEFAULT_SIZE = 60_000
#: The last sentences of the corpus are held out for measuring the masked-LM loss.
VALIDATION_SIZE = 2_000
#: sha256 of ``write_corpus(path)`` with the default seed and size (see the module docstring).
CORPUS_SHA256 = "18f0202781b244b020c506d8ea653602407189c55a8cf99446367d0a3a130376"

# ----------------------------------------------------------------------------- the world

_DATA = templates.load("pretraining_corpus")
#: Real countries (name, nationality, a language widely spoken there, towns) and one invented
#: country, Avalon, that owns the invented towns of both NER pools. Every town is in one country.
COUNTRIES = tuple((c["name"], c["nationality"], c["language"], tuple(c["towns"])) for c in _DATA["countries"])
_ATHLETE_ROLES = tuple(_DATA["athlete_roles"])
NUM_PEOPLE = 160


def _union(key: str) -> list:
    """One name pool of both NER pools (train first, then test), without repeats, in order."""
    names = []
    for split in ("train", "test"):
        for name in ner_corpus.POOLS[split][key]:
            if name not in names:
                names.append(name)
    return names


@dataclass(frozen=True)
class Person:
    """One person of the world of lab 05 and the facts the corpus repeats about them."""

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

    def facts(self, person: Person) -> str:
        """One line that states everything the world knows about ``person``."""
        where = "plays for" if person.athlete else "works for"
        return (f"{person.name}: {person.nationality}, lives in {person.town}, {person.role}, "
                f"{where} {person.employer} (based in "
                f"{(self.club_town if person.athlete else self.org_town)[person.employer]})")


def make_world(seed: int = DEFAULT_SEED) -> World:
    """Draw the facts of the corpus's world from ``seed`` (the same on every platform; lab 05)."""
    check_seed(seed, "make_world")
    rng = templates.seeded("pretraining-world", seed)
    countries = {name: (nationality, language, towns) for name, nationality, language, towns in COUNTRIES}
    country_of_town = {town: name for name, (_n, _l, towns) in countries.items() for town in towns}
    towns = list(country_of_town)
    homes = [name for name in countries if countries[name][2]]  # countries that have towns
    orgs, clubs = _union("ORG"), _union("CLUB")
    org_town = {org: rng.choice(towns) for org in orgs}
    club_town = {}
    for club in clubs:  # "Kingsbridge FC" plays in Kingsbridge; others get a town at random
        named = [town for town in towns if club.startswith(town + " ")]
        club_town[club] = named[0] if named else rng.choice(towns)
    firsts, lasts = _union("first"), _union("last")
    people, names = [], []
    while len(people) < NUM_PEOPLE:
        name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
        if name in names:
            continue
        names.append(name)
        country = rng.choice(homes)
        athlete = rng.randrange(5) == 0
        people.append(Person(
            name=name, country=country, nationality=countries[country][0],
            town=rng.choice(countries[country][2]),
            role=rng.choice(_ATHLETE_ROLES if athlete else ner_corpus.FILLERS["ROLE"]),
            employer=rng.choice(clubs if athlete else orgs), athlete=athlete))
    pools = {key: _union(key) for key in ner_corpus.POOLS["train"]}
    return World(people, org_town, club_town, country_of_town, countries, pools)


# Frames that state facts (in the JSON file). {P} a person's full name, {LASTP} their surname,
# {E} their employer, {R} role, {N} nationality, {C} country, {T} home town, {ET} the employer's
# town, {O}/{OT} another organisation and its town, {K}/{KT} a club and its town, {TC}/{CC}/{L}
# a town, its country and that country's language; other slots as in lablib.ner_corpus (filler).
_PERSON_FRAMES = _DATA["person_frames"]
_ATHLETE_FRAMES = _DATA["athlete_frames"]
_PLACE_FRAMES = _DATA["place_frames"]


def _person_slots(rng: random.Random, world: World, person: Person) -> dict:
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


def _fill(rng: random.Random, frame: str, slots: Mapping[str, str]) -> list:
    """The tokens of ``frame`` with every ``{SLOT}`` replaced (world slots first, then fillers)."""
    text = templates.render(frame, lambda slot: slots[slot] if slot in slots else ner_corpus.filler(rng, slot))
    return text.split()


def _fact_sentence(rng: random.Random, world: World) -> list:
    roll = rng.randrange(10)
    if roll < 3:  # facts about places
        return _fill(rng, rng.choice(_PLACE_FRAMES), _place_slots(rng, world))
    person = rng.choice(world.people)
    frames = _ATHLETE_FRAMES if person.athlete else _PERSON_FRAMES
    return _fill(rng, rng.choice(frames), _person_slots(rng, world, person))


def generate(seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE) -> list:
    """Generate the unlabeled pretraining corpus: ``size`` sentences, each a list of word tokens.

    Half the sentences state facts of the world (:func:`make_world`), half are
    NER-style sentences (:mod:`lablib.ner_corpus` frames over the names of
    both of its pools). Repeats are allowed (facts recur, as in real text).
    The same ``seed`` and ``size`` give the same sentences on every platform
    and Python version; the first ``k`` sentences do not depend on ``size``.
    Explained in ``labs/05_pretraining.ipynb``.

    Raises:
        ValueError: a seed that is not an int, or a size that is not an int >= 0.
    """
    check_seed(seed, "generate")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"generate: size must be an int >= 0, got {size!r}")
    world = make_world(seed)
    rng = templates.seeded("pretraining-corpus", seed)
    sentences = []
    while len(sentences) < size:
        if rng.randrange(2) == 0:
            tokens = _fact_sentence(rng, world)
        else:
            tokens = list(ner_corpus.sentence(rng, world.pools).tokens)
        if ner_corpus.MIN_TOKENS <= len(tokens) <= ner_corpus.MAX_TOKENS:
            sentences.append(tokens)
    return sentences


def corpus_file_name(seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE) -> str:
    """The cache file name of a corpus (lab 05): version, seed and size are all in it."""
    return f"pretraining-corpus-{CORPUS_VERSION}-seed{seed}-{size}.txt"


def write_corpus(path: str | os.PathLike, seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE) -> Path:
    """Write :func:`generate`'s sentences to ``path``: one per line, tokens joined by one space (lab 05).

    The bytes are the same on every OS (UTF-8, ``"\\n"`` line ends); for the
    default seed and size their sha256 is :data:`CORPUS_SHA256`.
    """
    path = Path(path)
    text = "".join(" ".join(tokens) + "\n" for tokens in generate(seed, size))
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path


def read_corpus(path: str | os.PathLike) -> list:
    """Read a corpus file written by :func:`write_corpus` back into lists of tokens (lab 05).

    Raises:
        ValueError: the file has an empty line (the writer never writes one).
    """
    sentences = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            tokens = line.split()
            if not tokens:
                raise ValueError(f"read_corpus: {path}:{number} is empty; expected one sentence per line")
            sentences.append(tokens)
    return sentences


def load_corpus(*, folder: str | os.PathLike | None = None) -> list:
    """The default corpus, written once to the cache and checked against :data:`CORPUS_SHA256` (lab 05).

    The file (:func:`corpus_file_name`) is registered in :mod:`lablib.data`
    and made by :func:`lablib.data.fetch` in :func:`lablib.data.cache_dir`
    (or ``folder``): written to a temporary file, verified, then moved into
    place, so two kernels on a cold cache do not race. Each call verifies its
    sha256, so a changed generator or a corrupted file fails loudly instead
    of silently changing what the lab measures.

    Raises:
        lablib.data.ChecksumError: the file's sha256 is not :data:`CORPUS_SHA256`.
    """
    from . import data

    return read_corpus(data.fetch(corpus_file_name(), folder=folder))


def split_corpus(sentences: Sequence, validation: int = VALIDATION_SIZE) -> tuple:
    """``(train, validation)``: the last ``validation`` sentences are held out (labs 05 and 07).

    Raises:
        ValueError: ``validation`` is not an int in ``[1, len(sentences) - 1]``.
    """
    if isinstance(validation, bool) or not isinstance(validation, int) or not 0 < validation < len(sentences):
        raise ValueError(f"split_corpus: validation must be an int in [1, {len(sentences) - 1}], got {validation!r}")
    return list(sentences[:-validation]), list(sentences[-validation:])
