"""The embedded NER data set of the small profile: news-style sentences generated from a seed (labs 03, 05, 07).

Used by ``labs/03_ner_finetuning.ipynb`` in place of CoNLL-2003 (which needs a download), and again by the
pretraining and homogenization labs; load it with :func:`lablib.data.embedded_ner`. Tags are IOB2 over PER,
ORG, LOC and MISC; tokens are split the CoNLL way (``Malloy 's``; ``, . ( ) "`` are tokens of their own).
The pools and frames are data, in ``lablib/data/ner_corpus.json``, filled by :mod:`lablib.data.templates`.

* **Frames.** About 70 templates: business, politics, sports, travel, culture, quotes, lists, some with no
  entity. ``{ORG}`` is an entity slot, ``{ORG*}`` a list of 2-5 (``A , B and C``), ``{DAY}`` or ``{PCT}`` a
  filler tagged O. One frame in five without quotes gets a tail (``, according to {ORG}``), one in ten a
  dateline (``{LOC} , May 12 -``).
* **Names** come from :data:`POOLS`: a person is ``First Last``, ``First X. Last`` or one name alone; then
  organisations, clubs, places and MISC (nationalities, languages, events, prizes, products), about half of
  several tokens (``Bank of Avalon``). Names are invented or common; countries and cities are real.
* **Ambiguous words** (Jordan, Paris, ...) are first names and places: only the context tells which.
* **Splits.** ``train`` and ``validation`` take names from the ``train`` pools, ``test`` from the ``test``
  pools, which share no name with them (the ambiguous words excepted): test measures the recognition of
  names never seen, in familiar contexts. Words that mark a kind of name (``Bank``, ``Port``, ``of``) are shared.
* **Filters.** A sentence shorter than ``MIN_TOKENS`` or longer than ``MAX_TOKENS``, or a copy, is drawn again.

A template corpus is far more regular than real news: use it to run pipelines and compare methods, not to claim
CoNLL-2003 numbers.
"""
from __future__ import annotations

import random
from typing import Iterable, Mapping

from .data import templates
from .ner import ENTITY_TYPES, Sentence, entity_spans

_DEFAULT_SEED = 2003
_DEFAULT_SIZES = {"train": 3000, "validation": 500, "test": 500}  # the splits, in the order they are made
MIN_TOKENS, MAX_TOKENS = 5, 40

_DATA = templates.load("ner_corpus")
_AMBIGUOUS = tuple(_DATA["ambiguous"])  # both a first name (PER) and a place (LOC), in every split
#: Name pools: ``train`` (also used by validation) and ``test`` share no name.
POOLS = _DATA["pools"]
_SLOT_TYPES = _DATA["slot_types"]  # entity slot -> type; PER, LAST, LOC, AMBP and AMBL are drawn by _name
_FILLERS = _DATA["fillers"]  # the vocabulary of the slots tagged O: days, roles, numbers, amounts
_FRAMES = _DATA["frames"]


def _name(rng: random.Random, slot: str, pool: Mapping[str, list]) -> str:
    """One name for an entity slot (a string of space-separated tokens)."""
    if slot in ("AMBP", "AMBL") or (slot == "LOC" and rng.randrange(20) == 0):  # one place in 20 is ambiguous
        return rng.choice(_AMBIGUOUS)
    if slot != "PER":
        return rng.choice(pool["last" if slot == "LAST" else slot])
    roll = rng.randrange(10)
    first = rng.choice(_AMBIGUOUS) if roll == 0 else rng.choice(pool["first"])
    last = rng.choice(pool["last"])
    if roll <= 5:
        return f"{first} {last}"
    if roll == 6:
        return f"{first} {rng.choice(_DATA['initials'])}. {last}"
    return last if roll <= 8 else first


def _filler(rng: random.Random, slot: str) -> str:
    """The text of a slot tagged O (``{DAY}``, ``{PCT}``, ``{SCORE}``, ...); KeyError for an unknown slot."""
    if slot == "SCORE":  # the loser's goals depend on the winner's
        winner = rng.randrange(1, 6)
        return f"{winner}-{rng.randrange(winner)}"
    return templates.draw(rng, slot, _FILLERS)


def _entity(rng: random.Random, slot: str, pool: Mapping[str, list], used: list) -> list:
    """``[(text, type or None), ...]`` of an entity slot: one name, or a list of 2-5 (``{ORG*}``)."""
    name = slot.rstrip("*")
    count = rng.randrange(2, 6) if slot.endswith("*") else 1
    parts = []
    for index in range(count):
        if index > 0:  # A , B , C and D
            parts.append(("," if index < count - 1 else "and", None))
        text, tries = _name(rng, name, pool), 0
        while text in used and tries < 20:  # the same name twice in one sentence reads oddly
            text, tries = _name(rng, name, pool), tries + 1
        used.append(text)
        parts.append((text, _SLOT_TYPES[name]))
    return parts


def sentence(rng: random.Random, pools: Mapping[str, list]) -> Sentence:
    """One sentence of the NER frames, its names drawn from ``pools`` (labs 03, 05 and 07).

    Used by :func:`generate` with one split's :data:`POOLS`, and over the names of both pools by the
    pretraining corpus (lab 05) and the planted defect of lab 07.
    """
    frame = rng.choice(_FRAMES)
    if '"' not in frame and rng.randrange(5) == 0:
        frame = frame[:-2] + " " + rng.choice(_DATA["tails"]) + " ."  # every such frame ends in " ."
    if rng.randrange(10) == 0:
        frame = _DATA["dateline"] + " " + frame
    used = []

    def draw(slot: str) -> list:
        return _entity(rng, slot, pools, used) if slot.rstrip("*") in _SLOT_TYPES else [(_filler(rng, slot), None)]

    tokens, tags = [], []
    for slot, value in templates.fill(frame, draw):
        for text, entity_type in [(value, None)] if slot is None else value:
            for position, token in enumerate(text.split()):
                tokens.append(token)
                tags.append("O" if entity_type is None else ("B-" if position == 0 else "I-") + entity_type)
    return Sentence(tokens, tags)


def generate(seed: int = _DEFAULT_SEED, sizes: Mapping[str, int] | None = None) -> dict:
    """The corpus, ``{"train": [Sentence, ...], "validation": [...], "test": [...]}`` (lab 03).

    ``sizes`` maps a split to its number of sentences (default 3000, 500, 500); see :func:`templates.splits`.
    """
    def draw(rng: random.Random, split: str, _index: int) -> Sentence:
        return sentence(rng, POOLS["test" if split == "test" else "train"])

    def key(drawn: Sentence):  # a sentence too short or too long is drawn again
        return tuple(drawn.tokens) if MIN_TOKENS <= len(drawn.tokens) <= MAX_TOKENS else None

    return templates.splits("embedded-ner", seed, sizes, _DEFAULT_SIZES, draw, key)


def entity_strings(sentences: Iterable) -> dict:
    """The distinct entity strings of each type, ``{"PER": [sorted strings], ...}`` (chapter pretraining).

    Every type of :data:`lablib.ner.ENTITY_TYPES` is a key. Entities are read as conlleval reads them: an
    ``I-X`` that does not continue an entity of type X starts a new one.
    """
    found = {entity_type: set() for entity_type in ENTITY_TYPES}
    for tokens, tags in sentences:
        for entity_type, start, end in entity_spans(tags):
            found.setdefault(entity_type, set()).add(" ".join(tokens[start:end]))
    return {entity_type: sorted(texts) for entity_type, texts in found.items()}
