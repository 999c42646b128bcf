"""The embedded review set of the small profile: short movie reviews, positive or negative, from a seed (lab 04).

Used by ``labs/04_sentiment.ipynb`` in place of IMDB (which needs a download); load it with
:func:`lablib.data.embedded_reviews`. Built so that counting words is not enough: every review has a label
(1 positive, 0 negative) and one *phenomenon*:

* ``plain``: the sentiment word says it, "Midnight Harbor is a wonderful film."
* ``intensified``: an intensifier that keeps the polarity, "truly awful".
* ``negated``: a negation that flips it, "The plot was not bad at all." is positive.
* ``contrast``: two clauses of opposite polarity, the second the verdict, "I expected to hate it, but I loved it."
* ``mixed``: aspects of both polarities and an overall verdict, "The acting was superb, the plot dull and
  the ending weak, but overall I liked it."

In ``negated``, ``contrast`` and ``mixed`` reviews the words of the *other* polarity are as frequent as those
of the label's own, so a bag of words has little to go on. Review ``i`` of a split has label ``i % 2`` and
phenomenon ``PHENOMENA[(i // 2) % 5]``, so every phenomenon has as many positive as negative reviews.

The held-out test split uses **frames (phrasings) that never occur in training** ("far from dull", "Despite
a weak script, ...") and, in half of its reviews, **sentiment words that never occur in training**
(``superb``, ``dreadful``, ...; the field ``words`` says ``seen`` or ``unseen``); its titles, aspects and
fillers are its own too. So test measures whether a model learned *sentiment* or only the training set's
phrasings and words: a pretrained encoder knows that "dreadful" is close to "awful", TF-IDF features cannot.

The words and frames are data, in ``lablib/data/reviews.json``, filled by :mod:`lablib.data.templates`.
``{adj+}``, ``{past+}`` and ``{base+}`` are an adjective, a verb in the past tense and its base form of the
label's polarity; ``{adj-}``, ``{past-}``, ``{base-}`` the foil, of the other polarity; ``{aspect 1}``,
``{aspect 2}``, ... distinct aspects, drawn before the other slots. A template set is far more regular than
real reviews: use it to compare methods and see *where* they fail, not for IMDB numbers.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Mapping

from .data import templates

_DEFAULT_SEED = 2019
_DEFAULT_SIZES = {"train": 1500, "validation": 500, "test": 1000}
LABELS = ("negative", "positive")
PHENOMENA = ("plain", "intensified", "negated", "contrast", "mixed")


@dataclass(frozen=True)
class Review:
    """One review of the embedded set (lab 04): ``label`` 1 (positive) or 0 (negative), and how it was made."""

    text: str
    label: int
    phenomenon: str
    words: str  # "seen": sentiment words from the training list; "unseen": from the test-only list
    frame: str  # which template, e.g. "train/negated/2"


_DATA = templates.load("reviews")
# Sentiment words by side ("train" lists serve train, validation and half of test; "test" lists only test)
# and polarity (1 positive, 0 negative); verbs as (past tense, base form): "I loved it", "I did not love it".
_ADJECTIVES = {side: {y: words[LABELS[y]] for y in (0, 1)} for side, words in _DATA["adjectives"].items()}
_VERBS = {side: {y: [tuple(pair) for pair in verbs[LABELS[y]]] for y in (0, 1)}
          for side, verbs in _DATA["verbs"].items()}
_NEUTRAL = _DATA["neutral"]  # words and phrases without sentiment, split between training and test
_FRAMES = _DATA["frames"]  # templates by side and phenomenon


def _review(rng: random.Random, side: str, sentiment_side: str, phenomenon: str, label: int) -> Review:
    index = rng.randrange(len(_FRAMES[side][phenomenon]))
    frame = _FRAMES[side][phenomenon][index]
    vocabulary = dict(_NEUTRAL[side])  # the words the frame may use: the side's neutral words, then by polarity
    for sign, polarity in (("+", label), ("-", 1 - label)):  # the label's sentiment words, and the foil's
        vocabulary[f"adj{sign}"] = _ADJECTIVES[sentiment_side][polarity]
        vocabulary[f"past{sign}"], vocabulary[f"base{sign}"] = zip(*_VERBS[sentiment_side][polarity])
    numbered = len(set(re.findall(r"\{aspect (\d+)", frame)))
    chosen = {}  # {aspect 1}, {aspect 2}, ...: distinct, drawn before the other slots
    while len(chosen) < numbered:
        aspect = rng.choice(vocabulary["aspect"])
        if aspect not in chosen.values():
            chosen[f"aspect {len(chosen) + 1}"] = aspect
    pieces = templates.fill(frame, lambda slot: chosen.get(slot) or templates.draw(rng, slot, vocabulary))
    text = "".join(value for _, value in pieces)
    text = text[0].upper() + text[1:]
    where = rng.randrange(6)  # one review in three gets a neutral sentence before or after
    if where < 2:
        filler = rng.choice(vocabulary["filler"])
        text = f"{filler} {text}" if where == 0 else f"{text} {filler}"
    return Review(text, label, phenomenon, "seen" if sentiment_side == "train" else "unseen",
                  f"{side}/{phenomenon}/{index}")


def generate(seed: int = _DEFAULT_SEED, sizes: Mapping[str, int] | None = None) -> dict:
    """The review set, ``{"train": [Review, ...], "validation": [...], "test": [...]}`` (lab 04).

    The same ``seed`` and ``sizes`` (default 1500, 500, 1000) give the same reviews on every platform. In
    test, reviews alternate in tens between the training sentiment words (``words == "seen"``) and the
    test-only ones (``"unseen"``). Bad arguments are refused as by :func:`lablib.data.templates.splits`.
    """
    def draw(rng: random.Random, split: str, i: int) -> Review:
        side = "test" if split == "test" else "train"
        sentiment_side = "test" if side == "test" and (i // 10) % 2 == 1 else "train"
        return _review(rng, side, sentiment_side, PHENOMENA[(i // 2) % len(PHENOMENA)], label=i % 2)

    return templates.splits("embedded-reviews", seed, sizes, _DEFAULT_SIZES, draw, key=lambda r: r.text)
