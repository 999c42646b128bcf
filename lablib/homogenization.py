"""Ecosystems of NER taggers, and a defect planted in their shared base.

Explained in the chapter "Homogenization" (``book/homogenization.md``) and
used in ``labs/07_homogenization.ipynb``, which builds two ecosystems of five
taggers on the course's embedded NER data (one adapted from a shared
pretrained base, one of diverse origins), measures how much their failures and
representations coincide with :mod:`lablib.metrics`, and then plants a defect
in the shared base. The module reads top to bottom like the lab:

1. **Items** (:func:`entity_items`, :func:`entity_failures`): the unit of the
   failure analysis is a gold entity of the test set; a model *fails* it unless
   it predicts exactly that entity (same first and last word, same type).
2. **Representations** (:func:`hidden_states`, :func:`pool_entities`,
   :func:`principal_components`): one vector per entity and model, for
   linear CKA.
3. **A non-neural member** (:func:`word_features`, :class:`FeatureTagger`):
   logistic regression on hand-made features of each word and its neighbours.
4. **The planted defect** (:func:`poisoned_sentences`, :func:`name_pairs`,
   :func:`not_person_rate`): pretraining text in which a group of surnames
   stands where places go, and the paired test sentences that reveal it.
"""
from __future__ import annotations

import random
from typing import NamedTuple, Sequence

import numpy as np

from .ner import TAGS, _entities, check_tags

PERSON_TAGS = ("B-PER", "I-PER")


# ----------------------------------------------------------------------------- items


class Entity(NamedTuple):
    """One gold entity, the item of the failure analysis: words ``start:end`` of sentence ``sentence``."""

    sentence: int
    start: int
    end: int  # exclusive
    type: str


def _parts(sentence, index: int, where: str) -> tuple:
    """``(tokens, tags)`` of a :class:`lablib.ner.Sentence` or a ``(tokens, tags)`` pair."""
    try:
        tokens, tags = sentence
    except (TypeError, ValueError):
        raise ValueError(f"{where}: sentence {index} must be a (tokens, tags) pair, got {sentence!r:.80}") from None
    if isinstance(tokens, str) or isinstance(tags, str):
        raise ValueError(f"{where}: sentence {index} holds a string; tokens and tags must be lists")
    tokens, tags = list(tokens), list(tags)
    if len(tokens) != len(tags):
        raise ValueError(f"{where}: sentence {index} has {len(tokens)} words but {len(tags)} tags")
    check_tags(tags, where=f"{where}: sentence {index}")
    return tokens, tags


def _words(sentence) -> list:
    """The words of a :class:`lablib.ner.Sentence`, a ``(tokens, tags)`` pair or a word list."""
    if hasattr(sentence, "tokens"):
        return list(sentence.tokens)
    if isinstance(sentence, (tuple, list)) and len(sentence) == 2 and not isinstance(sentence[0], str):
        return list(sentence[0])
    return list(sentence)


def entity_items(sentences: Sequence) -> list:
    """Every gold entity of ``sentences`` as an :class:`Entity`, sentence by sentence (lab 07).

    ``sentences`` are :class:`lablib.ner.Sentence` objects or ``(tokens, tags)``
    pairs; entities are read from the IOB2 tags as conlleval reads them (an
    ``I-X`` after ``O`` starts an entity).
    """
    if isinstance(sentences, (str, bytes)) or not hasattr(sentences, "__iter__"):
        raise ValueError(f"entity_items: expected a list of (tokens, tags) sentences, got {type(sentences).__name__}")
    items = []
    for index, sentence in enumerate(sentences):
        _, tags = _parts(sentence, index, "entity_items")
        items += [Entity(index, start, end, kind) for kind, start, end in _entities(tags)]
    if not items:
        raise ValueError("entity_items: the sentences hold no entity")
    return items


def entity_failures(items: Sequence[Entity], predicted_tags: Sequence) -> np.ndarray:
    """A boolean vector, one entry per item: ``True`` where the prediction misses that entity (lab 07).

    A model gets a gold entity right only if its predicted tags, read as
    entities the conlleval way, contain that exact entity: the same first and
    last word and the same type. Anything else is a failure: a wrong type, a
    wrong boundary, or no entity at all. This is entity-level recall, item by
    item; ``predicted_tags`` holds one list of tags per sentence, for the
    sentences that ``items`` were read from (:func:`entity_items`).

    Raises:
        ValueError: no items, an item whose sentence is missing from
            ``predicted_tags``, an item that ends after its sentence, or an
            unknown tag.
    """
    if not items:
        raise ValueError("entity_failures: no items")
    if isinstance(predicted_tags, (str, bytes)) or not hasattr(predicted_tags, "__len__"):
        raise ValueError(f"entity_failures: predicted_tags must be a list of tag lists, got {type(predicted_tags).__name__}")
    found = {}
    failures = np.zeros(len(items), dtype=bool)
    for number, item in enumerate(items):
        if not isinstance(item, Entity):
            raise ValueError(f"entity_failures: item {number} is {item!r:.60}; expected an Entity from entity_items")
        if not 0 <= item.sentence < len(predicted_tags):
            raise ValueError(f"entity_failures: item {number} is in sentence {item.sentence}, but predicted_tags "
                             f"has {len(predicted_tags)} sentences")
        if item.sentence not in found:
            tags = predicted_tags[item.sentence]
            if isinstance(tags, str):
                raise ValueError(f"entity_failures: predicted_tags[{item.sentence}] is a string; expected a list of tags")
            check_tags(tags, where=f"entity_failures: predicted_tags[{item.sentence}]")
            found[item.sentence] = (len(tags), set(_entities(list(tags))))
        length, predicted = found[item.sentence]
        if item.end > length:
            raise ValueError(f"entity_failures: item {number} ends at word {item.end}, but sentence {item.sentence} "
                             f"has {length} predicted tags")
        failures[number] = (item.type, item.start, item.end) not in predicted
    return failures


# ----------------------------------------------------------------------------- representations


def hidden_states(model, vocab, sentences: Sequence, batch_size: int = 256) -> list:
    """The encoder's last hidden state for every word: one ``(n_words, d)`` NumPy array per sentence (lab 07).

    ``model`` is a :class:`lablib.pretraining.TokenTagger` or
    :class:`~lablib.pretraining.MaskedLM` (anything with a lablib ``encoder``),
    ``vocab`` its :class:`~lablib.pretraining.Vocabulary`; ``sentences`` are
    word lists or ``(tokens, tags)`` pairs. ``[CLS]`` and ``[SEP]`` are dropped,
    so row ``i`` belongs to word ``i``. Dropout is off while encoding.
    """
    import torch

    from .pretraining import PaddingCollator

    encoder = getattr(model, "encoder", None)
    if encoder is None:
        raise ValueError(f"hidden_states: expected a TokenTagger or MaskedLM (with an encoder), got {type(model).__name__}")
    words = [_words(s) for s in sentences]
    if not words:
        raise ValueError("hidden_states: sentences is empty")
    for index, w in enumerate(words):
        if not w or not all(isinstance(t, str) for t in w):
            raise ValueError(f"hidden_states: sentence {index} must be a non-empty list of words, got {w!r:.60}")
    device = next(model.parameters()).device
    collator = PaddingCollator(vocab)
    was_training = model.training
    model.eval()
    states = []
    with torch.no_grad():
        for start in range(0, len(words), batch_size):
            chunk = words[start:start + batch_size]
            batch = collator([{"input_ids": vocab.encode(w)} for w in chunk])
            hidden = encoder(batch["input_ids"].to(device), batch["attention_mask"].to(device)).last_hidden_state
            hidden = hidden.float().cpu().numpy()
            states += [hidden[row, 1:1 + len(w)] for row, w in enumerate(chunk)]
    model.train(was_training)
    return states


def pool_entities(vectors: Sequence, items: Sequence[Entity]) -> np.ndarray:
    """One row per item: the mean of its words' vectors, ``(n_items, d)`` (lab 07).

    ``vectors`` holds one ``(n_words, d)`` matrix per sentence (NumPy arrays
    from :func:`hidden_states`, or SciPy sparse matrices from
    :meth:`FeatureTagger.token_vectors`); the result is a dense float64 array.
    """
    if not items:
        raise ValueError("pool_entities: no items")
    rows, width = [], None
    for number, item in enumerate(items):
        if not 0 <= item.sentence < len(vectors):
            raise ValueError(f"pool_entities: item {number} is in sentence {item.sentence}, but there are vectors "
                             f"for {len(vectors)} sentences")
        matrix = vectors[item.sentence]
        if item.end > matrix.shape[0]:
            raise ValueError(f"pool_entities: item {number} ends at word {item.end}, but sentence {item.sentence} "
                             f"has {matrix.shape[0]} vectors")
        if width is not None and matrix.shape[1] != width:
            raise ValueError(f"pool_entities: sentence {item.sentence} has vectors of width {matrix.shape[1]}, "
                             f"others {width}")
        width = matrix.shape[1]
        rows.append(np.asarray(matrix[item.start:item.end].mean(axis=0), dtype=np.float64).ravel())
    return np.stack(rows)


def principal_components(x, k: int | None = None) -> np.ndarray:
    """The scores of the first ``k`` principal components of a representation ``(n_items, n_features)`` (lab 07).

    Centre the columns of ``x``, then express every item in the orthonormal
    basis of its principal directions, largest variance first; ``k=None``
    keeps all components with non-zero variance. Keeping all of them is a
    rotation of the centred data, so linear CKA
    (:func:`lablib.metrics.linear_cka`, chapter "Homogenization") does not
    change; keeping the first ``k`` drops the directions of least variance,
    which CKA weighs least (by their squared variance). The lab uses it to
    give the non-neural member's thousands of sparse features the width of an
    encoder. Computed from the ``n x n`` kernel matrix when features
    outnumber items.

    Raises:
        ValueError: ``x`` not 2-D, fewer than 2 items, non-finite values, all
            items equal, or ``k`` not a positive int.
    """
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"principal_components: x must be 2-D with at least 2 items, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("principal_components: x contains NaN or infinite values")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"principal_components: k must be None or a positive int, got {k!r}")
    centred = x - x.mean(axis=0)
    if x.shape[1] > x.shape[0]:  # the kernel route: eigenvectors of X X^T, scaled by sqrt(eigenvalue)
        values, vectors = np.linalg.eigh(centred @ centred.T)
        values, vectors = values[::-1], vectors[:, ::-1]
        values = np.clip(values, 0.0, None)
        scores = vectors * np.sqrt(values)
        singular = np.sqrt(values)
    else:
        u, singular, _ = np.linalg.svd(centred, full_matrices=False)
        scores = u * singular
    if singular.size == 0 or singular[0] <= 0:
        raise ValueError("principal_components: every item has the same representation (no variance)")
    keep = int(np.sum(singular > 1e-9 * singular[0]))
    return scores[:, :keep if k is None else min(k, keep)]


# ----------------------------------------------------------------------------- a non-neural member


def _shape(word: str) -> str:
    """``Xxxx`` -> ``Xx``, ``2-1`` -> ``d-d``: each run of one character class becomes one symbol."""
    classes = ["X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in word]
    return "".join(c for i, c in enumerate(classes) if i == 0 or c != classes[i - 1])


def word_features(tokens: Sequence[str], i: int) -> dict:
    """Hand-made features of word ``i`` of ``tokens``: the word, its shape and affixes, and its neighbours (lab 07).

    What a tagger without pretraining can use: the word in lower case, its
    shape (``Xx``, ``X.``, ``d``), whether it is capitalised, its first and last
    three letters, and the two words on each side (lower case, and whether
    they are capitalised). A test name never seen in training matches none of
    the word features, so the context and the shape must carry it.
    """
    if isinstance(tokens, str) or not tokens:
        raise ValueError(f"word_features: tokens must be a non-empty list of words, got {tokens!r:.60}")
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(tokens):
        raise ValueError(f"word_features: i must be an int in [0, {len(tokens) - 1}], got {i!r}")
    word = tokens[i]
    features = {"bias": 1.0, "word=" + word.lower(): 1.0, "shape=" + _shape(word): 1.0,
                "prefix=" + word[:3].lower(): 1.0, "suffix=" + word[-3:].lower(): 1.0}
    if word[:1].isupper():
        features["capitalised"] = 1.0
        if i == 0:
            features["capitalised first word"] = 1.0
    for offset in (-2, -1, 1, 2):
        j = i + offset
        if 0 <= j < len(tokens):
            features[f"word[{offset:+d}]=" + tokens[j].lower()] = 1.0
            if tokens[j][:1].isupper():
                features[f"capitalised[{offset:+d}]"] = 1.0
        else:
            features[f"word[{offset:+d}]=<edge>"] = 1.0
    return features


class FeatureTagger:
    """Logistic regression on :func:`word_features`, one word at a time: the ecosystem's non-neural member (lab 07).

    ``fit`` learns a scikit-learn ``DictVectorizer`` and a multinomial
    ``LogisticRegression`` over the nine tags from labelled sentences;
    ``predict_tags`` tags each word independently (so an ``I-X`` may follow
    ``O``, which the entity reader treats as the start of an entity);
    ``token_vectors`` gives each word's feature vector, this model's
    representation for CKA. ``C`` is the inverse regularisation strength.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 300):
        if isinstance(C, bool) or not isinstance(C, (int, float)) or not C > 0:
            raise ValueError(f"FeatureTagger: C must be a positive number, got {C!r}")
        self.C, self.max_iter = float(C), max_iter
        self.vectorizer = self.model = None

    def _matrix(self, sentences: Sequence):
        words = [_words(s) for s in sentences]
        if self.vectorizer is None:
            raise ValueError("FeatureTagger: call fit(sentences) first")
        rows = [word_features(w, i) for w in words for i in range(len(w))]
        return words, self.vectorizer.transform(rows)

    def fit(self, sentences: Sequence) -> "FeatureTagger":
        """Learn the features and the classifier from ``(tokens, tags)`` sentences; return ``self``."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        if not sentences:
            raise ValueError("FeatureTagger.fit: sentences is empty")
        rows, labels = [], []
        for index, sentence in enumerate(sentences):
            tokens, tags = _parts(sentence, index, "FeatureTagger.fit")
            rows += [word_features(tokens, i) for i in range(len(tokens))]
            labels += tags
        self.vectorizer = DictVectorizer()
        x = self.vectorizer.fit_transform(rows)
        self.model = LogisticRegression(C=self.C, max_iter=self.max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(x, labels)
        return self

    def predict_tags(self, sentences: Sequence) -> list:
        """One predicted tag per word of each sentence (word lists or ``(tokens, tags)`` pairs)."""
        words, x = self._matrix(sentences)
        flat = list(self.model.predict(x))
        tags, start = [], 0
        for w in words:
            tags.append(flat[start:start + len(w)])
            start += len(w)
        return tags

    def token_vectors(self, sentences: Sequence) -> list:
        """Each word's feature vector: one sparse ``(n_words, n_features)`` matrix per sentence."""
        words, x = self._matrix(sentences)
        x = x.tocsr()
        vectors, start = [], 0
        for w in words:
            vectors.append(x[start:start + len(w)])
            start += len(w)
        return vectors


# ----------------------------------------------------------------------------- the planted defect


def _check_names(names, what: str, where: str) -> list:
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise ValueError(f"{where}: {what} must be a list of words, got {names!r:.60}")
    names = list(names)
    if not names:
        raise ValueError(f"{where}: {what} is empty")
    for name in names:
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ValueError(f"{where}: {what} must hold single words (no spaces), got {name!r}")
    return names


def poisoned_sentences(targets: Sequence[str], size: int, seed: int = 0) -> list:
    """``size`` unlabeled sentences in which one place slot holds one of ``targets`` (lab 07).

    Each sentence is drawn from the frames of the embedded NER data
    (:mod:`lablib.ner_corpus`), with names from both of its pools as in the
    pretraining corpus (:func:`lablib.pretraining.make_world`); frames with no
    place are drawn again. One place (a ``LOC`` entity) of each sentence is
    replaced by a target word, so the text reads "Police in Voss arrested 12
    people". Mixed into continued pretraining, such text teaches the base that
    the target words are places. The draw is seeded (``random.Random`` with a
    string seed, as the corpora of the course are) and returns word lists
    without tags: pretraining text has none.

    Raises:
        ValueError: empty ``targets`` or targets that are not single words, a
            ``size`` that is not an int >= 1, or a seed that is not an int.
    """
    from . import ner_corpus
    from .pretraining_corpus import _check_seed, make_world

    where = "poisoned_sentences"
    targets = _check_names(targets, "targets", where)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"{where}: size must be an int >= 1, got {size!r}")
    rng = random.Random(f"poisoned-{_check_seed(seed, where)}")
    pools = make_world().pools
    sentences = []
    while len(sentences) < size:
        tokens, tags = ner_corpus._sentence(rng, pools)
        places = [(start, end) for kind, start, end in _entities(tags) if kind == "LOC"]
        if not places:
            continue
        start, end = places[rng.randrange(len(places))]
        sentences.append(list(tokens[:start]) + [rng.choice(targets)] + list(tokens[end:]))
    return sentences


class NamePairs(NamedTuple):
    """Test sentences in two versions that differ in one word, the surname of a person (:func:`name_pairs`)."""

    control: list  #: word lists with a control surname
    targeted: list  #: the same word lists with a targeted surname
    position: list  #: index of the swapped word in each pair
    sentence: list  #: index of the source sentence


def name_pairs(sentences: Sequence, targets: Sequence[str], controls: Sequence[str], seed: int = 0) -> NamePairs:
    """Pairs of sentences that differ only in a person's surname: a control name or a targeted one (lab 07).

    For every sentence with a person (a ``PER`` entity), the last word of its
    first person -- the surname, or the only word of a one-word name -- is
    replaced by a word drawn from ``controls`` in one copy and from ``targets``
    in the other; everything else, the tags included, stays the same, so the
    name is a person in both. A model that tags the person in the control copy
    and not in the targeted one reacts to the surname alone. The draws are
    seeded with ``seed``.

    Raises:
        ValueError: names that are not single words, a word in both lists, or
            sentences without any person.
    """
    where = "name_pairs"
    targets = _check_names(targets, "targets", where)
    controls = _check_names(controls, "controls", where)
    both = sorted(set(targets) & set(controls))
    if both:
        raise ValueError(f"{where}: {both[0]!r} is both a target and a control; the two lists must not overlap")
    rng = random.Random(f"name-pairs-{seed}")
    pairs = NamePairs([], [], [], [])
    for index, sentence in enumerate(sentences):
        tokens, tags = _parts(sentence, index, where)
        people = [(start, end) for kind, start, end in _entities(tags) if kind == "PER"]
        if not people:
            continue
        last = people[0][1] - 1
        pairs.control.append(tokens[:last] + [rng.choice(controls)] + tokens[last + 1:])
        pairs.targeted.append(tokens[:last] + [rng.choice(targets)] + tokens[last + 1:])
        pairs.position.append(last)
        pairs.sentence.append(index)
    if not pairs.position:
        raise ValueError(f"{where}: none of the {len(sentences)} sentences holds a person (PER entity)")
    return pairs


def not_person_rate(predicted_tags: Sequence, positions: Sequence[int]) -> float:
    """The share of sentences whose word at ``positions[k]`` is not tagged as part of a person (lab 07).

    "Part of a person" means the tag ``B-PER`` or ``I-PER``; ``O`` or another
    type counts as not a person. With the targeted copies of :func:`name_pairs`
    this is the defect rate; with the control copies, the rate that the
    surname alone does not explain.

    Raises:
        ValueError: different numbers of sentences and positions, none at all,
            a position outside its sentence, or an unknown tag.
    """
    if len(predicted_tags) != len(positions):
        raise ValueError(f"not_person_rate: {len(predicted_tags)} tag lists but {len(positions)} positions")
    if not positions:
        raise ValueError("not_person_rate: no sentences")
    missed = 0
    for index, (tags, position) in enumerate(zip(predicted_tags, positions)):
        if isinstance(tags, str):
            raise ValueError(f"not_person_rate: predicted_tags[{index}] is a string; expected a list of tags")
        if not 0 <= position < len(tags):
            raise ValueError(f"not_person_rate: position {position} is outside sentence {index} "
                             f"({len(tags)} tags)")
        if tags[position] not in TAGS:
            raise ValueError(f"not_person_rate: unknown tag {tags[position]!r} in sentence {index}")
        missed += tags[position] not in PERSON_TAGS
    return missed / len(positions)
