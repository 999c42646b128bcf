"""The course's embedded review set: short movie reviews, positive or negative, generated from a seed.

Used by ``labs/04_sentiment.ipynb`` in the offline ``small`` profile in place
of IMDB (which needs a download). Load it with
:func:`lablib.data.embedded_reviews`, which writes each split once to the
cache as a tab-separated file and checks its sha256.

Built so that counting words is not enough
------------------------------------------
Every review has a label (1 positive, 0 negative) and one *phenomenon*:

``plain``
    The sentiment word says it: "Midnight Harbor is a wonderful film."
``intensified``
    An intensifier that does not change the polarity: "truly awful".
``negated``
    A negation that flips it: "The plot was not bad at all." is positive.
``contrast``
    Two clauses of opposite polarity; the second one is the verdict:
    "I expected to hate it, but I loved it."
``mixed``
    Several aspects of both polarities and an overall verdict:
    "The acting was superb, the plot dull and the ending weak, but overall I liked it."

In ``negated``, ``contrast`` and ``mixed`` reviews the words of the *other*
polarity are as frequent as those of the label's own, so a bag of words has
little to go on: a model must read the structure.

The held-out test split
-----------------------
``train`` and ``validation`` are drawn from the same frames (templates) and
words. ``test`` uses **frames that never occur in training** (other
phrasings of each phenomenon: "far from dull", "Despite a weak script, ...")
and, in half of its reviews, **sentiment words that never occur in training**
(``superb``, ``dreadful``, ``relished``, ...): the column ``words`` says
``seen`` or ``unseen``. Titles, aspects and filler sentences of test are also
its own. So test measures whether a model learned *sentiment*, or only the
training set's phrasings and word list. A pretrained encoder knows from
pretraining that "dreadful" is close to "awful"; TF-IDF features cannot.

Sizes and balance: review ``i`` of a split has label ``i % 2`` and phenomenon
``PHENOMENA[(i // 2) % 5]``, so every phenomenon has as many positive as
negative reviews.

Frames and words
----------------
The words and frames are data, in ``lablib/data/reviews.json``, filled by
the course's template engine (:mod:`lablib.data.templates`). In a frame,
``{adj+}``, ``{past+}`` and ``{base+}`` are an adjective, a verb in the past
tense and its base form of the label's polarity; ``{adj-}``, ``{past-}``,
``{base-}`` are the foil, of the other polarity. ``{title}``, ``{aspect}``,
``{noun}``, ``{intensifier}`` and ``{verb intensifier}`` are neutral words;
``{aspect 1}``, ``{aspect 2}``, ... are distinct aspects, drawn before the
other slots. ``|a`` adds an article, ``|cap`` capitalizes.

Determinism and versions
------------------------
As in :mod:`lablib.ner_corpus`: one ``random.Random`` per split, seeded with
the string ``"embedded-reviews-{seed}-{split}"``, using only ``choice`` and
``randrange``; a review that copies an earlier one is drawn again. The
registered sha256 of each split's file guards the bytes. A change that alters
any review must bump :data:`REVIEWS_VERSION` (it is part of the file names)
and register new checksums.

A template set is far more regular than real reviews: use it to compare
methods and to see *where* they fail, not to claim IMDB numbers.
"""
from __future__ import annotations

import csv
import io
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .data import templates

REVIEWS_VERSION = "1.0"
SPLITS = ("train", "validation", "test")
DEFAULT_SEED = 2019
DEFAULT_SIZES = {"train": 1500, "validation": 500, "test": 1000}
LABELS = ("negative", "positive")
PHENOMENA = ("plain", "intensified", "negated", "contrast", "mixed")
COLUMNS = ("label", "phenomenon", "words", "frame", "text")


@dataclass(frozen=True)
class Review:
    """One review of the embedded set (lab 04): ``label`` 1 (positive) or 0 (negative), and how it was made."""

    text: str
    label: int
    phenomenon: str
    words: str  # "seen": sentiment words from the training list; "unseen": from the test-only list
    frame: str  # which template, e.g. "train/negated/2"


_DATA = templates.load("reviews")
#: Sentiment words by side (``train`` lists are used by train, validation and
#: half of test; ``test`` lists only by test) and polarity (1 positive, 0 negative).
ADJECTIVES = {side: {y: words[LABELS[y]] for y in (0, 1)} for side, words in _DATA["adjectives"].items()}
#: Verbs in the past tense ("I loved it") and their base form ("I did not love it").
VERBS = {side: {y: [tuple(pair) for pair in verbs[LABELS[y]]] for y in (0, 1)}
         for side, verbs in _DATA["verbs"].items()}
#: Words and phrases that carry no sentiment, split between training and test.
NEUTRAL = _DATA["neutral"]
_FRAMES = _DATA["frames"]  # templates by side and phenomenon (see "Frames and words" above)


def _vocabulary(side: str, sentiment_side: str, label: int) -> dict:
    """The words a review's frame may use: the side's neutral words, then the sentiment words by polarity."""
    vocabulary = dict(NEUTRAL[side])
    for sign, polarity in (("+", label), ("-", 1 - label)):
        verbs = VERBS[sentiment_side][polarity]
        vocabulary[f"adj{sign}"] = ADJECTIVES[sentiment_side][polarity]
        vocabulary[f"past{sign}"] = [past for past, _ in verbs]
        vocabulary[f"base{sign}"] = [base for _, base in verbs]
    return vocabulary


def _review(rng: random.Random, side: str, sentiment_side: str, phenomenon: str, label: int) -> Review:
    index = rng.randrange(len(_FRAMES[side][phenomenon]))
    frame = _FRAMES[side][phenomenon][index]
    vocabulary = _vocabulary(side, sentiment_side, label)
    numbered = len(set(re.findall(r"\{aspect (\d+)", frame)))
    aspects = []  # {aspect 1}, {aspect 2}, ...: distinct, drawn before the other slots
    while len(aspects) < numbered:
        aspect = rng.choice(vocabulary["aspect"])
        if aspect not in aspects:
            aspects.append(aspect)
    chosen = {f"aspect {i}": aspect for i, aspect in enumerate(aspects, start=1)}
    text = templates.render(frame, lambda slot: chosen.get(slot) or templates.draw(rng, slot, vocabulary))
    text = text[0].upper() + text[1:]
    where = rng.randrange(6)  # one review in three gets a neutral sentence before or after
    if where == 0:
        text = f"{rng.choice(vocabulary['filler'])} {text}"
    elif where == 1:
        text = f"{text} {rng.choice(vocabulary['filler'])}"
    return Review(text, label, phenomenon, "seen" if sentiment_side == "train" else "unseen",
                  f"{side}/{phenomenon}/{index}")


def generate(seed: int = DEFAULT_SEED, sizes: Mapping[str, int] | None = None) -> dict:
    """Generate the review set: ``{"train": [Review, ...], "validation": [...], "test": [...]}``.

    The same ``seed`` and ``sizes`` give the same reviews on every platform
    (see the module docstring; ``labs/04_sentiment.ipynb`` explains the set).
    In test, reviews alternate in pairs between the training sentiment words
    (``words == "seen"``) and the test-only ones (``"unseen"``).

    Raises:
        ValueError: a seed that is not an int, an unknown split, or a negative size.
        RuntimeError: the frames cannot fill the requested sizes with distinct reviews.
    """
    templates.check_seed(seed, "generate")
    sizes = templates.check_sizes(sizes, DEFAULT_SIZES)
    seen_texts = set()
    corpus = {}
    for split in SPLITS:
        rng = templates.seeded("embedded-reviews", seed, split)
        side = "test" if split == "test" else "train"
        reviews, tries = [], 0
        for i in range(sizes[split]):
            label, phenomenon = i % 2, PHENOMENA[(i // 2) % len(PHENOMENA)]
            sentiment_side = "test" if side == "test" and (i // 10) % 2 == 1 else "train"
            while True:
                tries += 1
                if tries > 50 * sizes[split] + 1000:
                    raise RuntimeError(f"generate: could not make {sizes[split]} distinct {split} reviews")
                review = _review(rng, side, sentiment_side, phenomenon, label)
                if review.text not in seen_texts:
                    break
            seen_texts.add(review.text)
            reviews.append(review)
        corpus[split] = reviews
    return corpus


def write_reviews(path: str | os.PathLike, reviews: Iterable[Review]) -> None:
    """Write reviews as a tab-separated file with a header (:data:`COLUMNS`), ``\\n`` line ends (lab 04)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for review in reviews:
        writer.writerow([review.label, review.phenomenon, review.words, review.frame, review.text])
    Path(path).write_bytes(buffer.getvalue().encode("utf-8"))


def read_reviews(path: str | os.PathLike) -> list:
    """Read a file written by :func:`write_reviews` (lab 04); a bad line raises ``ValueError`` naming file and line."""
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        header = next(rows, None)
        if header is None or tuple(header) != COLUMNS:
            raise ValueError(f"{path}:1: expected the header {list(COLUMNS)}, got {header!r}")
        reviews = []
        for line_number, row in enumerate(rows, start=2):
            if len(row) != len(COLUMNS):
                raise ValueError(f"{path}:{line_number}: expected {len(COLUMNS)} tab-separated fields, got {len(row)}: {row!r}")
            label, phenomenon, words, frame, text = row
            if label not in ("0", "1"):
                raise ValueError(f"{path}:{line_number}: label must be 0 or 1, got {label!r}")
            if phenomenon not in PHENOMENA:
                raise ValueError(f"{path}:{line_number}: unknown phenomenon {phenomenon!r}; allowed: {', '.join(PHENOMENA)}")
            if words not in ("seen", "unseen"):
                raise ValueError(f"{path}:{line_number}: words must be 'seen' or 'unseen', got {words!r}")
            if not text.strip():
                raise ValueError(f"{path}:{line_number}: empty review text")
            reviews.append(Review(text, int(label), phenomenon, words, frame))
    return reviews


def sentiment_words(side: str = "train") -> set:
    """Every sentiment word of one side's lists (adjectives and verb forms), lower-cased (lab 04)."""
    if side not in ("train", "test"):
        raise ValueError(f"sentiment_words: side must be 'train' or 'test', got {side!r}")
    words = set()
    for polarity in (0, 1):
        words.update(ADJECTIVES[side][polarity])
        for past, base in VERBS[side][polarity]:
            words.update((past, base))
    return words
