"""The course's embedded NER data set: news-style English sentences generated from a seed.

Used by ``labs/03_ner_finetuning.ipynb`` in the offline ``small`` profile in
place of CoNLL-2003 (which needs a download), and again by the pretraining and
homogenization labs. Load it with :func:`lablib.data.embedded_ner`, which
writes each split once to the cache as a CoNLL file and checks its sha256.
Tags are IOB2 over PER, ORG, LOC and MISC (:mod:`lablib.ner`); tokens are
split the CoNLL way (``Malloy 's``; ``, . ( ) "`` are tokens of their own).

How it is made
--------------
The pools and frames are data, in ``lablib/data/ner_corpus.json``, filled
by the course's template engine (:mod:`lablib.data.templates`).

* **Frames.** Each sentence starts as one of ~70 hand-written templates
  (:data:`FRAMES`): business, politics, sports, travel, culture, quotes,
  lists, and some with no entity. ``{ORG}`` is an entity slot, ``{ORG*}`` a
  list of 2-5 (``A , B and C``), ``{DAY}`` or ``{PCT}`` a filler tagged O.
  One frame in five without quotes gets a tail (``, according to {ORG}``),
  one in ten a dateline (``{LOC} , May 12 -``).
* **Names** come from :data:`POOLS`: a person is ``First Last``,
  ``First X. Last``, or a surname or first name alone; then organisations,
  sports clubs, places, and MISC (nationalities, languages, events, prizes,
  products). About half have several tokens (``Bank of Avalon``). Names are
  invented or common; countries and cities are real.
* **Ambiguous words** (:data:`AMBIGUOUS`: Jordan, Paris, ...) are first
  names and places; only the context tells which. Frames written for them
  say it plainly ("Jordan , 24 , told reporters she ...", "flew to Jordan"),
  and they also fill a few ordinary PER and LOC slots.
* **Splits.** ``train`` and ``validation`` take names from the ``train``
  pools, ``test`` from the ``test`` pools, which share no name with them: no
  entity string of test is an entity in train, except the ambiguous words
  (in both on purpose). Test measures recognition of *names never seen* in
  familiar contexts. Words that mark a kind of name (``Bank``, ``Port``,
  ``of``) are shared, as in real text.
* **Filters.** A sentence of fewer than 5 or more than 40 tokens is drawn
  again, and so is a copy of any earlier one (splits are made in the order
  train, validation, test: no validation or test sentence copies a train one).

Determinism and versions
------------------------
Each split has its own ``random.Random``, seeded with the string
``"embedded-ner-{seed}-{split}"``; as everywhere in
:mod:`lablib.data.templates`, only ``choice`` and ``randrange`` are used, so
the output is the same on every platform and Python 3.10-3.13, which the
registered sha256 checksums (and their test) guard. :data:`CORPUS_VERSION`
is part of the cached file names. A change that alters the sentences for any
seed and sizes (a pool or frame of the JSON file, a probability, the order
of draws) must bump it and register new checksums:
the minor number if the design stays, the major one if it changes (tag set,
splits, the disjointness promise). A change that keeps the bytes (comments,
refactoring) needs no bump; the checksum test proves it.

A template corpus is far more regular than real news: models learn it fast,
partly by learning the frames. Use it to run pipelines and compare methods,
not to claim CoNLL-2003 numbers.
"""
from __future__ import annotations

import random
from typing import Iterable, Mapping

from .data import templates
from .ner import ENTITY_TYPES, Sentence

CORPUS_VERSION = "1.0"
SPLITS = ("train", "validation", "test")
DEFAULT_SEED = 2003
DEFAULT_SIZES = {"train": 3000, "validation": 500, "test": 500}
MIN_TOKENS, MAX_TOKENS = 5, 40

_DATA = templates.load("ner_corpus")
#: Words that are both a first name (PER) and a place (LOC), in every split.
AMBIGUOUS = tuple(_DATA["ambiguous"])
#: Name pools: ``train`` (also used by validation) and ``test`` share no name.
POOLS = _DATA["pools"]
#: Entity slots and their type. PER/LOC/AMBP/AMBL are built in :func:`_name`.
SLOT_TYPES = _DATA["slot_types"]
#: The vocabulary of the slots tagged O (days, roles, numbers, amounts; see :func:`lablib.data.templates.draw`).
FILLERS = _DATA["fillers"]
#: The sentence frames (see "How it is made" above).
FRAMES = _DATA["frames"]
_TAILS = _DATA["tails"]
_DATELINE = _DATA["dateline"]


def _name(rng: random.Random, slot: str, pool: Mapping[str, list]) -> str:
    """Draw one name for an entity slot (a string of space-separated tokens)."""
    if slot in ("AMBP", "AMBL"):
        return rng.choice(AMBIGUOUS)
    if slot == "LAST":
        return rng.choice(pool["last"])
    if slot == "LOC":  # one place in twenty is an ambiguous word
        return rng.choice(AMBIGUOUS) if rng.randrange(20) == 0 else rng.choice(pool["LOC"])
    if slot != "PER":
        return rng.choice(pool[slot])
    roll = rng.randrange(10)
    first = rng.choice(AMBIGUOUS) if roll == 0 else rng.choice(pool["first"])
    last = rng.choice(pool["last"])
    if roll <= 5:
        return f"{first} {last}"
    if roll == 6:
        return f"{first} {rng.choice(_DATA['initials'])}. {last}"
    return last if roll <= 8 else first


def filler(rng: random.Random, slot: str) -> str:
    """The text of a slot tagged O (``{DAY}``, ``{PCT}``, ``{SCORE}``, ...), as the NER frames fill it.

    Shared with the fact frames of the pretraining corpus (lab 05, :mod:`lablib.pretraining_corpus`).

    Raises:
        KeyError: an unknown slot.
    """
    if slot == "SCORE":  # the loser's goals depend on the winner's
        winner = rng.randrange(1, 6)
        return f"{winner}-{rng.randrange(winner)}"
    return templates.draw(rng, slot, FILLERS)


def _entity(rng: random.Random, slot: str, pool: Mapping[str, list], used: list) -> list:
    """``[(text, type or None), ...]`` of an entity slot: one name, or a list of 2-5 (``{ORG*}``)."""
    name = slot.rstrip("*")
    count = rng.randrange(2, 6) if slot.endswith("*") else 1
    parts = []
    for index in range(count):
        if index > 0:  # A , B , C and D
            parts.append(("," if index < count - 1 else "and", None))
        text = _name(rng, name, pool)
        for _ in range(20):  # the same name twice in one sentence reads oddly
            if text not in used:
                break
            text = _name(rng, name, pool)
        used.append(text)
        parts.append((text, SLOT_TYPES[name]))
    return parts


def sentence(rng: random.Random, pools: Mapping[str, list]) -> Sentence:
    """One sentence of the NER frames, names drawn from ``pools`` (one split's :data:`POOLS`, or a union).

    A random frame, one in five (without quotes) with a tail and one in ten
    with a dateline, its slots filled left to right. Used by :func:`generate`
    (lab 03) and, over the names of both pools, by the pretraining corpus
    (lab 05) and the planted defect of lab 07.
    """
    frame = rng.choice(FRAMES)
    if '"' not in frame and rng.randrange(5) == 0:
        frame = frame[:-2] + " " + rng.choice(_TAILS) + " ."  # every such frame ends in " ."
    if rng.randrange(10) == 0:
        frame = _DATELINE + " " + frame
    used = []

    def draw(slot: str) -> list:
        if slot.rstrip("*") in SLOT_TYPES:
            return _entity(rng, slot, pools, used)
        return [(filler(rng, slot), None)]

    tokens, tags = [], []
    for slot, value in templates.fill(frame, draw):
        for text, entity_type in [(value, None)] if slot is None else value:
            for position, token in enumerate(text.split()):
                tokens.append(token)
                tags.append("O" if entity_type is None else ("B-" if position == 0 else "I-") + entity_type)
    return Sentence(tokens, tags)




def generate(seed: int = DEFAULT_SEED, sizes: Mapping[str, int] | None = None) -> dict:
    """Generate the corpus: ``{"train": [...], "validation": [...], "test": [...]}`` of Sentences.

    ``sizes`` maps a split to its number of sentences; splits it leaves out get
    :data:`DEFAULT_SIZES`. The same ``seed`` and ``sizes`` give the same
    sentences on every platform and Python version (see the module docstring;
    the NER lab, ``labs/03_ner_finetuning.ipynb``, explains the data set).

    Raises:
        ValueError: a seed that is not an int, an unknown split, or a negative size.
        RuntimeError: the pools cannot fill the requested sizes with new sentences.
    """
    templates.check_seed(seed, "generate")
    sizes = templates.check_sizes(sizes, DEFAULT_SIZES)
    seen = set()  # token tuples of all sentences so far; only used for membership tests
    corpus = {}
    for split in SPLITS:
        rng = templates.seeded("embedded-ner", seed, split)
        pool = POOLS["test" if split == "test" else "train"]
        sentences, tries = [], 0
        while len(sentences) < sizes[split]:
            tries += 1
            if tries > 50 * sizes[split] + 1000:
                raise RuntimeError(f"generate: could not make {sizes[split]} distinct {split} sentences")
            drawn = sentence(rng, pool)
            key = tuple(drawn.tokens)
            if MIN_TOKENS <= len(key) <= MAX_TOKENS and key not in seen:
                seen.add(key)
                sentences.append(drawn)
        corpus[split] = sentences
    return corpus


def entity_strings(sentences: Iterable) -> dict:
    """The distinct entity strings of each type, ``{"PER": [sorted strings], ...}`` (chapter pretraining).

    Every type of :data:`lablib.ner.ENTITY_TYPES` is a key. Entities are read
    as conlleval reads them: an ``I-X`` that does not continue an entity of
    type X starts a new one.
    """
    from seqeval.metrics.sequence_labeling import get_entities

    found = {entity_type: set() for entity_type in ENTITY_TYPES}
    for tokens, tags in sentences:
        for entity_type, start, end in get_entities(list(tags)):
            found.setdefault(entity_type, set()).add(" ".join(tokens[start:end + 1]))
    return {entity_type: sorted(texts) for entity_type, texts in found.items()}
