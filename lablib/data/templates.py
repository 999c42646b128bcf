"""The seeded template engine behind the course's generated data sets.

:mod:`lablib.ner_corpus` (labs 03, 05, 07), :mod:`lablib.reviews` (lab 04)
and :mod:`lablib.pretraining_corpus` (lab 05) all make text the same way: a
*frame* is a sentence with slots in braces, ``"{PER} flew to {LOC} on {DAY} ."``,
and each slot is filled in turn, left to right, from word pools by one
``random.Random``. Their pools and frames are data, in the JSON files beside
this module (``ner_corpus.json``, ``reviews.json``, ``pretraining_corpus.json``);
what is particular to each generator (entity tags, polarity, the facts of a
world) stays in its module.

A slot may end in modifiers: ``{adj+|a}`` puts an indefinite article before
the word ("an awful"), ``{aspect 1|cap}`` capitalizes it. A *vocabulary*
(:func:`draw`) maps a slot name to a pool (a list: one entry is chosen), a
range (``{"from": 2, "below": 500}``: ``randrange(2, 500)``) or a template
(a string, filled the same way).

Determinism: the generators seed ``random.Random`` with a string
(:func:`seeded`, hashed with SHA-512, not ``hash()``) and use only ``choice``
and ``randrange``; no floats, numpy, or iteration over a set. So the same
seed gives the same bytes on every platform and Python 3.10-3.13, which the
checksums registered in :mod:`lablib.data` guard.
"""
from __future__ import annotations

import json
import random
import re
from importlib import resources
from typing import Any, Callable, Mapping

_SLOT = re.compile(r"\{([^{}|]+)((?:\|[a-z]+)*)\}")


def _article(word: str) -> str:
    """``word`` with its indefinite article: "a dull", "an awful" (the ``|a`` modifier)."""
    return f"{'an' if word[0].lower() in 'aeiou' else 'a'} {word}"


_MODIFIERS = {"a": _article, "cap": str.capitalize}


def load(name: str) -> dict:
    """The pools and frames of one generator (labs 03-05), read from ``lablib/data/<name>.json``."""
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8"))


def seeded(*parts) -> random.Random:
    """A ``random.Random`` seeded with the string ``"-".join(parts)``, e.g. ``"embedded-ner-2003-train"`` (labs 03-05)."""
    return random.Random("-".join(str(part) for part in parts))


def fill(frame: str, draw: Callable[[str], Any]) -> list:
    """``frame`` as ``(slot, value)`` pieces: ``(None, text)`` between slots, ``(name, draw(name))`` for each slot.

    The engine of the generated data sets of labs 03-05.
    ``draw`` is called once per slot, left to right, so the draws of a
    ``random.Random`` happen in a fixed order. A slot's modifiers are applied
    to the text ``draw`` returns.
    """
    pieces, start = [], 0
    for match in _SLOT.finditer(frame):
        if match.start() > start:
            pieces.append((None, frame[start:match.start()]))
        value = draw(match.group(1))
        for modifier in filter(None, match.group(2).split("|")):
            value = _MODIFIERS[modifier](value)
        pieces.append((match.group(1), value))
        start = match.end()
    if start < len(frame):
        pieces.append((None, frame[start:]))
    return pieces


def render(frame: str, draw: Callable[[str], str]) -> str:
    """``frame`` with every slot filled by ``draw`` (see :func:`fill`), as one string (labs 04, 05)."""
    return "".join(value for _, value in fill(frame, draw))


def draw(rng: random.Random, slot: str, vocabulary: Mapping[str, Any]) -> str:
    """One slot's text from ``vocabulary``: a pool, a range or a template (see the module docstring; labs 03-05).

    Raises:
        KeyError: ``slot`` is not in the vocabulary.
    """
    if slot not in vocabulary:
        raise KeyError(f"unknown slot {{{slot}}} in a frame; known: {', '.join(vocabulary)}")
    entry = vocabulary[slot]
    if isinstance(entry, str):
        return render(entry, lambda inner: draw(rng, inner, vocabulary))
    if isinstance(entry, Mapping):
        return str(rng.randrange(entry["from"], entry["below"]))
    return rng.choice(entry)


def check_seed(seed, where: str) -> int:
    """``seed`` if it is an int (not a bool); otherwise a ``ValueError`` naming ``where`` (the generators of labs 03-05)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{where}: seed must be an int, got {seed!r}")
    return seed


def check_sizes(sizes: Mapping[str, int] | None, defaults: Mapping[str, int]) -> dict:
    """``defaults`` updated with ``sizes`` (split -> number of items), every value checked (labs 03, 04)."""
    merged = dict(defaults)
    for split, size in (sizes or {}).items():
        if split not in defaults:
            raise ValueError(f"sizes: unknown split {split!r}; allowed: {', '.join(defaults)}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"sizes[{split!r}] must be an int >= 0, got {size!r}")
        merged[split] = size
    return merged
