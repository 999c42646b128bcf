"""The seeded template engine of the generated data sets: NER (labs 03, 05, 07), reviews (lab 04), corpus (lab 05).

A *frame* is a sentence with slots in braces, ``"{PER} flew to {LOC} on {DAY} ."``; :func:`fill` fills the
slots left to right from word pools drawn by one ``random.Random``. The pools and frames are data, in the JSON
files beside this module. A slot may end in modifiers: ``{adj+|a}`` puts an indefinite article before the
word ("an awful"), ``{aspect 1|cap}`` capitalizes it. A *vocabulary* (:func:`draw`) maps a slot to a pool
(a list: one entry is chosen), a range (``{"from": 2, "below": 500}``: ``randrange(2, 500)``) or a template
(a string, filled the same way).

Determinism: the generators seed ``random.Random`` with a string (:func:`seeded`, hashed with SHA-512, not
``hash()``) and use only ``choice`` and ``randrange``; no floats, numpy or set iteration. So a seed gives the
same bytes on every platform and Python 3.10-3.13, which the checksums registered in :mod:`lablib.data` guard.
"""
from __future__ import annotations

import json
import random
import re
from importlib import resources
from typing import Any, Callable, Mapping

from .. import checks

_SLOT = re.compile(r"\{([^{}|]+)((?:\|[a-z]+)*)\}")
_MODIFIERS = {"a": lambda word: f"{'an' if word[0].lower() in 'aeiou' else 'a'} {word}", "cap": str.capitalize}


def load(name: str) -> dict:
    """The pools and frames of one generator (labs 03-05), read from ``lablib/data/<name>.json``."""
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8"))


def seeded(*parts) -> random.Random:
    """A ``random.Random`` seeded with the string ``"-".join(parts)``: ``"embedded-ner-2003-train"`` (labs 03-05)."""
    return random.Random("-".join(str(part) for part in parts))


def fill(frame: str, draw: Callable[[str], Any]) -> list:
    """``frame`` as ``(slot, value)`` pieces, ``(None, text)`` between slots (the engine of labs 03-05).

    ``draw(name)`` is called once per slot, left to right: the draws of a ``random.Random`` come in a fixed order.
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


def draw(rng: random.Random, slot: str, vocabulary: Mapping[str, Any]) -> str:
    """One slot's text from ``vocabulary``: a pool, a range or a template (see the module docstring; labs 03-05)."""
    if slot not in vocabulary:
        raise KeyError(f"unknown slot {{{slot}}} in a frame; known: {', '.join(vocabulary)}")
    entry = vocabulary[slot]
    if isinstance(entry, str):
        return "".join(text for _, text in fill(entry, lambda inner: draw(rng, inner, vocabulary)))
    if isinstance(entry, Mapping):
        return str(rng.randrange(entry["from"], entry["below"]))
    return rng.choice(entry)


def splits(name: str, seed: int, sizes: Mapping[str, int] | None, defaults: Mapping[str, int],
           draw: Callable[[random.Random, str, int], Any], key: Callable[[Any], Any]) -> dict:
    """``{split: [item, ...]}``, ``sizes[split]`` distinct items each: the generated sets of labs 03 and 04.

    Item ``i`` of a split is ``draw(rng, split, i)``, ``rng`` being the split's ``seeded(name, seed, split)``; an
    item whose ``key`` is None, or the key of an earlier item of any split, is drawn again. A bad seed, split or
    size is a ValueError, a split that the draws cannot fill a RuntimeError.
    """
    seed = checks.integer(seed, "seed", "generate", low=None)
    seen, corpus = set(), {}
    for split, size in checks.split_sizes(sizes, defaults, "generate").items():
        rng = seeded(name, seed, split)
        items, tries = [], 0
        while len(items) < size:
            tries += 1
            if tries > 50 * size + 1000:
                raise RuntimeError(f"generate: could not make {size} distinct {split} items of {name}")
            item = draw(rng, split, len(items))
            identity = key(item)
            if identity is not None and identity not in seen:
                seen.add(identity)
                items.append(item)
        corpus[split] = items
    return corpus
