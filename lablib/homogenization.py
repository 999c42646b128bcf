"""Ecosystems of NER taggers, and a defect planted in their shared base (chapter "Homogenization", lab 07)."""
from __future__ import annotations

import random
from itertools import accumulate
from typing import NamedTuple, Sequence

import numpy as np

from . import checks as C
from .ner import TAGS, entity_spans
from .ner.conll import _check_tags, _sentence_parts

#: The tags of a person's words: a planted defect makes a tagger miss them (lab 07).
PERSON_TAGS = ("B-PER", "I-PER")


class Entity(NamedTuple):
    """One gold entity, the item of lab 07's failure analysis: words ``start:end`` of sentence ``sentence``."""

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
    _check_tags(tags, where=f"{where}: sentence {index}")
    return tokens, tags


def entity_items(sentences: Sequence) -> list[Entity]:
    """Every gold entity of ``sentences`` as an :class:`Entity`, sentence by sentence (lab 07)."""
    if isinstance(sentences, (str, bytes)) or not hasattr(sentences, "__iter__"):
        raise ValueError(f"entity_items: expected a list of (tokens, tags) sentences, got {type(sentences).__name__}")
    items = []
    for index, sentence in enumerate(sentences):
        _, tags = _parts(sentence, index, "entity_items")
        items += [Entity(index, start, end, kind) for kind, start, end in entity_spans(tags)]
    if not items:
        raise ValueError("entity_items: the sentences hold no entity")
    return items


def entity_failures(items: Sequence[Entity], predicted_tags: Sequence) -> np.ndarray:
    """A boolean vector, one entry per item: ``True`` where the prediction misses that entity (lab 07)."""
    if not items:
        raise ValueError("entity_failures: no items")
    if isinstance(predicted_tags, (str, bytes)) or not hasattr(predicted_tags, "__len__"):
        raise ValueError(f"entity_failures: predicted_tags must be a list of tag lists, "
                         f"got {type(predicted_tags).__name__}")
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
                raise ValueError(f"entity_failures: predicted_tags[{item.sentence}] is a string; "
                                 "expected a list of tags")
            _check_tags(tags, where=f"entity_failures: predicted_tags[{item.sentence}]")
            found[item.sentence] = (len(tags), set(entity_spans(list(tags))))
        length, predicted = found[item.sentence]
        if item.end > length:
            raise ValueError(f"entity_failures: item {number} ends at word {item.end}, but sentence {item.sentence} "
                             f"has {length} predicted tags")
        failures[number] = (item.type, item.start, item.end) not in predicted
    return failures


def hidden_states(model, vocab, sentences: Sequence, batch_size: int = 256) -> list:
    """The encoder's last hidden state for every word: one ``(n_words, d)`` NumPy array per sentence (lab 07)."""
    from .pretraining import PaddingCollator
    from .train import predict

    encoder = getattr(model, "encoder", None)
    if encoder is None:
        raise ValueError(f"hidden_states: expected a TokenTagger or MaskedLM (with an encoder), "
                         f"got {type(model).__name__}")
    words = [_sentence_parts(s, i, need_tags=False)[0] for i, s in enumerate(sentences)]
    if not words:
        raise ValueError("hidden_states: sentences is empty")
    for index, w in enumerate(words):
        if not w or not all(isinstance(t, str) for t in w):
            raise ValueError(f"hidden_states: sentence {index} must be a non-empty list of words, got {w!r:.60}")
    collator = PaddingCollator(vocab)
    chunks = [words[i:i + batch_size] for i in range(0, len(words), batch_size)]
    hidden = predict(model, [collator([{"input_ids": vocab.encode(w)} for w in chunk]) for chunk in chunks],
                     amp="off", progress=False,
                     output=lambda m, b: m.encoder(b["input_ids"], b["attention_mask"]).last_hidden_state)
    return [h[row, 1:1 + len(w)].numpy() for chunk, h in zip(chunks, hidden) for row, w in enumerate(chunk)]


def pool_entities(vectors: Sequence, items: Sequence[Entity]) -> np.ndarray:
    """One row per item: the mean of its words' vectors, ``(n_items, d)`` (lab 07)."""
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
    """The scores of the first ``k`` principal components of ``(n_items, n_features)``, by scikit-learn (lab 07)."""
    from sklearn.decomposition import PCA

    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"principal_components: x must be 2-D with at least 2 items, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("principal_components: x contains NaN or infinite values")
    if k is not None:
        C.integer(k, "k", "principal_components")
    if not np.ptp(x, axis=0).any():
        raise ValueError("principal_components: every item has the same representation (no variance)")
    pca = PCA(svd_solver="full").fit(x)
    singular = pca.singular_values_
    keep = int(np.sum(singular > 1e-9 * singular[0]))
    return pca.transform(x)[:, :keep if k is None else min(k, keep)]


def _shape(word: str) -> str:
    """``Xxxx`` -> ``Xx``, ``2-1`` -> ``d-d``: each run of one character class becomes one symbol."""
    classes = ["X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in word]
    return "".join(c for i, c in enumerate(classes) if i == 0 or c != classes[i - 1])


def _word_features(tokens: Sequence[str], i: int) -> dict:
    """Hand-made features of word ``i`` of ``tokens``: the word, its shape and affixes, and its neighbours."""
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
    """Logistic regression on hand-made features of each word: the ecosystem's non-neural member (lab 07)."""

    def __init__(self):
        self.vectorizer = self.model = None

    def _matrix(self, sentences: Sequence):
        words = [_sentence_parts(s, i, need_tags=False)[0] for i, s in enumerate(sentences)]
        if self.vectorizer is None:
            raise ValueError("FeatureTagger: call fit(sentences) first")
        rows = [_word_features(w, i) for w in words for i in range(len(w))]
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
            rows += [_word_features(tokens, i) for i in range(len(tokens))]
            labels += tags
        self.vectorizer = DictVectorizer()
        x = self.vectorizer.fit_transform(rows)
        self.model = LogisticRegression(max_iter=300)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(x, labels)
        return self

    def predict_tags(self, sentences: Sequence) -> list:
        """One predicted tag per word of each sentence (word lists or ``(tokens, tags)`` pairs)."""
        words, x = self._matrix(sentences)
        return _by_sentence(words, list(self.model.predict(x)))

    def token_vectors(self, sentences: Sequence) -> list:
        """Each word's feature vector: one sparse ``(n_words, n_features)`` matrix per sentence."""
        words, x = self._matrix(sentences)
        return _by_sentence(words, x.tocsr())


def _by_sentence(words: list, rows) -> list:
    """``rows`` (one per word of all sentences) cut into one slice per sentence."""
    ends = list(accumulate(len(w) for w in words))
    return [rows[end - len(w):end] for w, end in zip(words, ends)]


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
    """``size`` unlabeled sentences in which one place slot holds one of ``targets`` (lab 07)."""
    from . import ner_corpus
    from .pretraining_corpus import make_world

    where = "poisoned_sentences"
    targets = _check_names(targets, "targets", where)
    C.integer(size, "size", where)
    rng = random.Random(f"poisoned-{C.integer(seed, 'seed', where, low=None)}")
    pools = make_world().pools
    sentences = []
    while len(sentences) < size:
        tokens, tags = ner_corpus.sentence(rng, pools)
        places = [(start, end) for kind, start, end in entity_spans(tags) if kind == "LOC"]
        if not places:
            continue
        start, end = places[rng.randrange(len(places))]
        sentences.append(list(tokens[:start]) + [rng.choice(targets)] + list(tokens[end:]))
    return sentences


class NamePairs(NamedTuple):
    """Test sentences in two versions that differ in one word, the surname of a person (lab 07)."""

    control: list  #: word lists with a control surname
    targeted: list  #: the same word lists with a targeted surname
    position: list  #: index of the swapped word in each pair
    sentence: list  #: index of the source sentence


def name_pairs(sentences: Sequence, targets: Sequence[str], controls: Sequence[str], seed: int = 0) -> NamePairs:
    """Pairs of sentences that differ only in a person's surname: a control name or a targeted one (lab 07)."""
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
        people = [(start, end) for kind, start, end in entity_spans(tags) if kind == "PER"]
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
    """The share of sentences whose word at ``positions[k]`` is not tagged as part of a person (lab 07)."""
    if len(predicted_tags) != len(positions):
        raise ValueError(f"not_person_rate: {len(predicted_tags)} tag lists but {len(positions)} positions")
    if not positions:
        raise ValueError("not_person_rate: no sentences")
    missed = 0
    for index, (tags, position) in enumerate(zip(predicted_tags, positions)):
        if isinstance(tags, str):
            raise ValueError(f"not_person_rate: predicted_tags[{index}] is a string; expected a list of tags")
        if not 0 <= position < len(tags):
            raise ValueError(f"not_person_rate: position {position} is outside sentence {index} ({len(tags)} tags)")
        if tags[position] not in TAGS:
            raise ValueError(f"not_person_rate: unknown tag {tags[position]!r} in sentence {index}")
        missed += tags[position] not in PERSON_TAGS
    return missed / len(positions)
