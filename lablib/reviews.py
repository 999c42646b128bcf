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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from .ner_corpus import check_sizes

REVIEWS_VERSION = "1.0"
SPLITS = ("train", "validation", "test")
DEFAULT_SEED = 2019
DEFAULT_SIZES = {"train": 1500, "validation": 500, "test": 1000}
LABELS = ("negative", "positive")
PHENOMENA = ("plain", "intensified", "negated", "contrast", "mixed")
COLUMNS = ("label", "phenomenon", "words", "frame", "text")


@dataclass(frozen=True)
class Review:
    """One review: ``label`` 1 (positive) or 0 (negative), and how it was made."""

    text: str
    label: int
    phenomenon: str
    words: str  # "seen": sentiment words from the training list; "unseen": from the test-only list
    frame: str  # which template, e.g. "train/negated/2"


def _words(text: str) -> list:
    return [" ".join(word.split()) for word in text.split("|")]


#: Sentiment words by side (``train`` lists are used by train, validation and
#: half of test; ``test`` lists only by test) and polarity (1 positive, 0 negative).
ADJECTIVES = {
    "train": {1: _words("good | great | wonderful | brilliant | excellent | enjoyable | moving | clever | beautiful | fun"),
              0: _words("bad | terrible | awful | boring | dull | weak | poor | clumsy | predictable | tedious")},
    "test": {1: _words("superb | delightful | gripping | charming | stunning | masterful | riveting | touching | witty | splendid"),
             0: _words("dreadful | lifeless | tiresome | bland | shoddy | forgettable | dismal | sloppy | mediocre | insipid")},
}
#: Verbs in the past tense ("I loved it") and their base form ("I did not love it").
VERBS = {
    "train": {1: [("loved", "love"), ("enjoyed", "enjoy"), ("liked", "like"), ("adored", "adore")],
              0: [("hated", "hate"), ("disliked", "dislike"), ("despised", "despise")]},
    "test": {1: [("relished", "relish"), ("savoured", "savour"), ("cherished", "cherish"), ("admired", "admire")],
             0: [("detested", "detest"), ("loathed", "loathe"), ("abhorred", "abhor")]},
}
#: Words and phrases that carry no sentiment, split between training and test.
NEUTRAL = {
    "train": {
        "title": _words("""Midnight Harbor | The Glass Orchard | Paper Lanterns | Northbound | The Last Ferry |
            Iron Meadow | A Winter in Avalon | The Quiet Engine | Saltwater | The Cartographer"""),
        "aspect": _words("acting | plot | script | soundtrack | ending | dialogue | lead actor | camera work"),
        "noun": _words("film | movie"),
        "intensifier": _words("really | truly | absolutely | very | extremely"),
        "verb intensifier": _words("really | truly | absolutely"),
        "filler": _words("""I saw it last weekend. | My friends recommended it. | It runs about two hours. |
            I went in knowing nothing about it. | We watched it at home."""),
    },
    "test": {
        "title": _words("""Copper Sky | The Lighthouse Keeper | Small Hours | Red Canyon Road | The Orchard Thief |
            Echoes of Larkspur | Blue Lantern | The Long Tide"""),
        "aspect": _words("cinematography | pacing | score | editing | screenplay | lead performance"),
        "noun": _words("picture | feature"),
        "intensifier": _words("remarkably | utterly | thoroughly | exceptionally | genuinely"),
        "verb intensifier": _words("thoroughly | genuinely | utterly"),
        "filler": _words("""We caught a late showing. | It had been on my list for months. |
            The cinema was half empty. | I rented it on a whim."""),
    },
}


def _a(word: str) -> str:
    """``word`` with its indefinite article: "a dull", "an awful"."""
    return f"{'an' if word[0].lower() in 'aeiou' else 'a'} {word}"


class _Slots:
    """Draws the words of one review: polarity ``y`` for the verdict, ``1 - y`` for the foil."""

    def __init__(self, rng: random.Random, side: str, sentiment_side: str):
        self.rng, self.neutral = rng, NEUTRAL[side]
        self.adjectives, self.verbs = ADJECTIVES[sentiment_side], VERBS[sentiment_side]

    def adj(self, polarity: int) -> str:
        return self.rng.choice(self.adjectives[polarity])

    def past(self, polarity: int) -> str:
        return self.rng.choice(self.verbs[polarity])[0]

    def base(self, polarity: int) -> str:
        return self.rng.choice(self.verbs[polarity])[1]

    def __getattr__(self, name: str) -> str:  # title, aspect, noun, intensifier, filler
        return self.rng.choice(self.neutral[name.replace("_", " ")])

    def aspects(self, count: int) -> list:
        chosen = []
        while len(chosen) < count:
            aspect = self.aspect
            if aspect not in chosen:
                chosen.append(aspect)
        return chosen


Frame = Callable[[_Slots, int], str]


def _mixed_train(s: _Slots, y: int) -> str:
    a, b, c = s.aspects(3)
    return f"The {a} was {s.adj(y)}, the {b} {s.adj(1 - y)} and the {c} {s.adj(1 - y)}, but overall I {s.past(y)} it."


def _mixed_train_2(s: _Slots, y: int) -> str:
    a, b = s.aspects(2)
    return f"The {a} was {s.adj(1 - y)} and the {b} was {s.adj(y)}; all in all, a {s.adj(y)} {s.noun}."


def _mixed_test(s: _Slots, y: int) -> str:
    a, b, c = s.aspects(3)
    return (f"{a.capitalize()}: {s.adj(1 - y)}. {b.capitalize()}: {s.adj(y)}. "
            f"{c.capitalize()}: {s.adj(1 - y)}. Verdict: {s.adj(y)}.")


def _mixed_test_2(s: _Slots, y: int) -> str:
    a, b = s.aspects(2)
    return f"Some {a} choices felt {s.adj(1 - y)} and the {b} was {s.adj(1 - y)}, yet in the end I {s.past(y)} {s.title}."


#: Templates by side and phenomenon. ``y`` is the label; words of polarity
#: ``1 - y`` are the foil that a word counter falls for.
FRAMES: dict = {
    "train": {
        "plain": [
            lambda s, y: f"{s.title} is {_a(s.adj(y))} {s.noun}.",
            lambda s, y: f"The {s.aspect} was {s.adj(y)}.",
            lambda s, y: f"I {s.past(y)} {s.title}.",
            lambda s, y: f"What {_a(s.adj(y))} {s.noun}!",
        ],
        "intensified": [
            lambda s, y: f"{s.title} is {s.intensifier} {s.adj(y)}.",
            lambda s, y: f"The {s.aspect} was {s.intensifier} {s.adj(y)}.",
            lambda s, y: f"I {s.verb_intensifier} {s.past(y)} this {s.noun}.",
        ],
        "negated": [
            lambda s, y: f"{s.title} is not {s.adj(1 - y)} at all.",
            lambda s, y: f"The {s.aspect} was not {s.adj(1 - y)}.",
            lambda s, y: f"I did not {s.base(1 - y)} this {s.noun}.",
            lambda s, y: f"It is never {s.adj(1 - y)}.",
            lambda s, y: f"I wouldn't call it {s.adj(1 - y)}.",
            lambda s, y: f"None of it felt {s.adj(1 - y)}.",
            lambda s, y: f"I can't say I {s.past(1 - y)} it.",
            lambda s, y: f"The {s.aspect} is hardly {s.adj(1 - y)}.",
        ],
        "contrast": [
            lambda s, y: f"I expected to {s.base(1 - y)} it, but I {s.past(y)} it.",
            lambda s, y: f"The {s.aspect} was {s.adj(1 - y)}, but the {s.noun} as a whole is {s.adj(y)}.",
            lambda s, y: f"Everyone said it was {s.adj(1 - y)}, but I found it {s.adj(y)}.",
        ],
        "mixed": [_mixed_train, _mixed_train_2],
    },
    "test": {
        "plain": [
            lambda s, y: f"{s.title} felt {s.adj(y)} from start to finish.",
            lambda s, y: f"Simply put, {_a(s.adj(y))} {s.noun}.",
            lambda s, y: f"I {s.past(y)} every minute of {s.title}.",
        ],
        "intensified": [
            lambda s, y: f"{s.title} was {s.intensifier} {s.adj(y)}, no question.",
            lambda s, y: f"{_a(s.intensifier).capitalize()} {s.adj(y)} {s.noun}.",
            lambda s, y: f"We {s.verb_intensifier} {s.past(y)} {s.title}.",
        ],
        "negated": [
            lambda s, y: f"Nobody could call {s.title} {s.adj(1 - y)}.",
            lambda s, y: f"There is nothing {s.adj(1 - y)} about this {s.noun}.",
            lambda s, y: f"{s.title} is far from {s.adj(1 - y)}.",
            lambda s, y: f"I would never say that I {s.past(1 - y)} it.",
        ],
        "contrast": [
            lambda s, y: f"Although the trailer looked {s.adj(1 - y)}, {s.title} turned out {s.adj(y)}.",
            lambda s, y: f"On paper it sounded {s.adj(1 - y)}; in the cinema it was {s.adj(y)}.",
            lambda s, y: f"Despite {_a(s.adj(1 - y))} {s.aspect}, I {s.past(y)} it.",
        ],
        "mixed": [_mixed_test, _mixed_test_2],
    },
}


def _review(rng: random.Random, side: str, sentiment_side: str, phenomenon: str, label: int) -> Review:
    slots = _Slots(rng, side, sentiment_side)
    index = rng.randrange(len(FRAMES[side][phenomenon]))
    text = FRAMES[side][phenomenon][index](slots, label)
    text = text[0].upper() + text[1:]
    where = rng.randrange(6)  # one review in three gets a neutral sentence before or after
    if where == 0:
        text = f"{slots.filler} {text}"
    elif where == 1:
        text = f"{text} {slots.filler}"
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
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"generate: seed must be an int, got {seed!r}")
    sizes = check_sizes(sizes, DEFAULT_SIZES)
    seen_texts = set()
    corpus = {}
    for split in SPLITS:
        rng = random.Random(f"embedded-reviews-{seed}-{split}")
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
    """Write reviews as a tab-separated file with a header (:data:`COLUMNS`), ``\\n`` line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for review in reviews:
        writer.writerow([review.label, review.phenomenon, review.words, review.frame, review.text])
    Path(path).write_bytes(buffer.getvalue().encode("utf-8"))


def read_reviews(path: str | os.PathLike) -> list:
    """Read a file written by :func:`write_reviews`; a bad line raises ``ValueError`` naming file and line."""
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
    """Every sentiment word of one side's lists (adjectives and verb forms), lower-cased."""
    if side not in ("train", "test"):
        raise ValueError(f"sentiment_words: side must be 'train' or 'test', got {side!r}")
    words = set()
    for polarity in (0, 1):
        words.update(ADJECTIVES[side][polarity])
        for past, base in VERBS[side][polarity]:
            words.update((past, base))
    return words
