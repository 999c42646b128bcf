"""Named-entity recognition: CoNLL files, label alignment, decoding, evaluation, error analysis.

Explained in ``labs/03_ner_finetuning.ipynb`` (and the loss-math chapter for
the ``-100`` convention). Tags are IOB2: ``B-X`` begins an entity of type X,
``I-X`` continues it, ``O`` is outside any entity. CoNLL-2003's four types
(PER, ORG, LOC, MISC) are the default; any other tag set works too (types
such as ``geo-loc`` or ``music-artist``): take it from the data with
:func:`tag_set`, or from a model's ``id2label``, and pass it as ``tags=``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
#: The tag set in the order the CoNLL-2003 hub data sets use (label id = index).
TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
TAG2ID = {tag: i for i, tag in enumerate(TAGS)}


class Sentence(NamedTuple):
    """One sentence: its words and one IOB2 tag per word."""

    tokens: list
    tags: list


class ConllFormatError(ValueError):
    """A CoNLL file (or tag sequence) is malformed; the message names the file and line."""


def _is_tag(tag) -> bool:
    """True for ``O`` and for ``B-``/``I-`` followed by a type name without spaces."""
    return isinstance(tag, str) and (tag == "O" or (
        tag[:2] in ("B-", "I-") and len(tag) > 2 and not any(c.isspace() for c in tag)))


def check_tags(tags: Iterable[str], allowed: Sequence[str] | None = TAGS, where: str = "") -> None:
    """Raise :class:`ConllFormatError` naming the first tag not in ``allowed``.

    With ``allowed=None`` any well-formed IOB tag passes (``O``, ``B-type``, ``I-type``).
    """
    allowed_set = None if allowed is None else set(allowed)
    for position, tag in enumerate(tags):
        if not (_is_tag(tag) if allowed_set is None else tag in allowed_set):
            expected = "O, B-<type> or I-<type>" if allowed is None else ", ".join(allowed)
            hint = ("" if allowed is None or allowed_set is None or not _is_tag(tag)
                    else "; for another tag set pass tags=ner.tag_set(sentences)")
            raise ConllFormatError(
                f"{where or 'tags'}: unknown tag {tag!r} at position {position}; allowed: {expected}{hint}"
            )


def tag_set(sentences: Iterable) -> tuple:
    """The IOB2 tag set of labelled data: ``O``, then ``B-X``, ``I-X`` for each type X (lab 03, "Your own data").

    Types come in CoNLL-2003's order when they are CoNLL's, else sorted by
    name, so the same data always gives the same label ids. ``sentences`` are
    :class:`Sentence` objects or ``(tokens, tags)`` pairs.

    Raises:
        ConllFormatError: a tag that is not ``O``, ``B-type`` or ``I-type``.
    """
    types = set()
    for index, sentence in enumerate(sentences):
        _, tags = _sentence_parts(sentence, index, need_tags=True)
        check_tags(tags, allowed=None, where=f"tag_set: sentence {index}")
        types.update(tag[2:] for tag in tags if tag != "O")
    if not types:
        raise ValueError("tag_set: no entity tags in the data (every tag is 'O')")
    order = list(ENTITY_TYPES) if types <= set(ENTITY_TYPES) else sorted(types)
    return ("O", *(f"{prefix}-{kind}" for kind in order if kind in types for prefix in "BI"))


def entity_types(tags: Sequence[str] = TAGS) -> tuple:
    """The entity types of a tag set, in its order (``("PER", "ORG", "LOC", "MISC")`` for CoNLL's)."""
    check_tags(tags, allowed=None, where="entity_types")
    return tuple(dict.fromkeys(tag[2:] for tag in tags if tag != "O"))


def iob1_to_iob2(tags: Sequence[str]) -> list:
    """IOB1 tags (``I-X`` everywhere, ``B-X`` only between two adjacent X entities) as IOB2 (lab 03).

    In IOB2 every entity begins with ``B-``: an ``I-X`` that does not continue
    an X entity (at the start, after ``O``, or after another type) becomes ``B-X``.
    """
    converted, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        converted.append(tag)
        previous = tag
    return converted


def _iob2_error(tags: Sequence[str]) -> int | None:
    """The position of the first ``I-X`` that continues no X entity (invalid in IOB2), or None."""
    previous = "O"
    for position, tag in enumerate(tags):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return position
        previous = tag
    return None


def read_conll(path: str | os.PathLike, *, tag_column: int = -1, allowed_tags: Sequence[str] | None = TAGS,
               scheme: str = "IOB2") -> list:
    """Read a CoNLL file: one ``WORD ... TAG`` line per token, a blank line between sentences.

    ``-DOCSTART-`` lines (document boundaries in CoNLL-2003) are skipped.
    Tags are taken from column ``tag_column`` (the last by default) and must
    be in ``allowed_tags`` (CoNLL-2003's by default; ``None`` accepts any
    ``O``/``B-type``/``I-type`` tag: then take the tag set with :func:`tag_set`).
    ``scheme="IOB2"`` refuses an ``I-X`` that continues no X entity (the
    sign of IOB1 data); ``scheme="IOB1"`` converts such files to IOB2
    (:func:`iob1_to_iob2`).

    Raises:
        ConllFormatError: a line with too few columns, an unknown tag, or an
            IOB1 tag in an IOB2 file; the message gives the file name and the
            line number (1-based).
    """
    if scheme not in ("IOB2", "IOB1"):
        raise ValueError(f"read_conll: scheme must be 'IOB2' or 'IOB1', got {scheme!r}")
    path = Path(path)
    sentences, tokens, tags, lines = [], [], [], []

    def end_sentence():
        tags_ = iob1_to_iob2(tags) if scheme == "IOB1" else tags
        wrong = _iob2_error(tags_)
        if wrong is not None:
            raise ConllFormatError(
                f"{path}:{lines[wrong]}: tag {tags[wrong]!r} continues no {tags[wrong][2:]!r} entity "
                f"(it follows {tags[wrong - 1] if wrong else 'the start of the sentence'!r}); that is IOB1, "
                "not IOB2: read the file with scheme='IOB1' to convert it")
        sentences.append(Sentence(list(tokens), list(tags_)))

    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                if tokens:
                    end_sentence()
                    tokens, tags, lines = [], [], []
                continue
            columns = line.split()
            if columns[0] == "-DOCSTART-":
                continue
            if len(columns) < 2:
                raise ConllFormatError(
                    f"{path}:{number}: expected 'WORD ... TAG' (at least 2 columns), got {line!r}"
                )
            tag = columns[tag_column]
            try:
                check_tags([tag], allowed=allowed_tags)
            except ConllFormatError as error:
                detail = str(error).split("; ", 1)[1]
                raise ConllFormatError(f"{path}:{number}: unknown tag {tag!r} in line {line!r}; {detail}"
                                       + ("; pass allowed_tags=None to read another tag set"
                                          if allowed_tags is not None and _is_tag(tag) else "")) from None
            tokens.append(columns[0])
            tags.append(tag)
            lines.append(number)
    if tokens:
        end_sentence()
    return sentences


def write_conll(path: str | os.PathLike, sentences: Iterable, *, tags: Sequence[str] | None = TAGS) -> Path:
    """Write sentences as ``WORD TAG`` lines with a blank line after each sentence.

    Raises:
        ValueError: a sentence whose tokens and tags differ in number, a token
            containing whitespace (it would split into columns), or an unknown tag.
    """
    path, allowed = Path(path), tags
    lines = []
    for index, (tokens, tags) in enumerate(sentences):
        if len(tokens) != len(tags):
            raise ValueError(f"sentence {index}: {len(tokens)} tokens but {len(tags)} tags")
        check_tags(tags, allowed=allowed, where=f"sentence {index}")
        for token, tag in zip(tokens, tags):
            if not token or any(c.isspace() for c in token):
                raise ValueError(f"sentence {index}: token {token!r} is empty or contains whitespace")
            lines.append(f"{token} {tag}\n")
        lines.append("\n")
    with open(path, "w", encoding="utf-8", newline="\n") as handle:  # the same bytes on every OS
        handle.write("".join(lines))
    return path


# ---------------------------------------------------------------------------
# Label alignment: word-level tags -> one label per word piece
# ---------------------------------------------------------------------------
#: Label id that PyTorch's cross-entropy (and the Hugging Face models) skip.
IGNORE_INDEX = -100


def _as_list(values, name: str) -> list:
    """A list from a list, tuple, tensor or array (tensors and arrays via ``.tolist()``)."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name}: expected a sequence, got {type(values).__name__} {values!r}")
    return list(values)


def _continuation_ids(tags: Sequence[str]) -> dict:
    """Map each ``B-X`` label id to the id of ``I-X`` (every other id maps to itself)."""
    index = {tag: i for i, tag in enumerate(tags)}
    mapping = {}
    for i, tag in enumerate(tags):
        if tag.startswith("B-"):
            inside = "I-" + tag[2:]
            if inside not in index:
                raise ValueError(f"tag set has {tag!r} but no {inside!r}; tags: {', '.join(tags)}")
            mapping[i] = index[inside]
        else:
            mapping[i] = i
    return mapping


def align_labels(word_ids, word_label_ids, *, label_all_subtokens: bool = False,
                 ignore_index: int = IGNORE_INDEX, tags: Sequence[str] = TAGS) -> list:
    """Give each token of a tokenized sentence a label id, from the labels of its words.

    Explained in ``labs/03_ner_finetuning.ipynb``. ``word_ids`` is what a fast
    tokenizer's ``encoding.word_ids()`` returns: for each token the index of
    the word it came from, or ``None`` for special tokens ([CLS], [SEP]).

    - special tokens get ``ignore_index`` (-100: the loss skips them);
    - the first sub-token of a word gets the word's label;
    - later sub-tokens of the same word get ``ignore_index`` -- or, with
      ``label_all_subtokens=True`` (the Hugging Face course's variant), the
      word's label with ``B-X`` turned into ``I-X``, so that only one token
      per entity begins it.

    (The source articles padded the word labels with ``O`` instead, which
    shifts every label by the [CLS] offset and labels sub-tokens as if they
    were words; see the course's corrections.)

    Args:
        word_ids: one word index (or ``None``) per token.
        word_label_ids: one label id per word (ids into ``tags``, e.g. ``TAG2ID[tag]``).
        tags: the tag set the ids index into (needed to turn ``B-X`` into ``I-X``).

    Returns:
        list of int, one label id per token.

    Raises:
        TypeError, ValueError: a label that is not an integer id of ``tags``, or
            a word index outside ``word_label_ids``.
    """
    word_ids = _as_list(word_ids, "align_labels: word_ids")
    labels = _as_list(word_label_ids, "align_labels: word_label_ids")
    for position, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, int):
            raise TypeError(
                f"align_labels: word_label_ids[{position}] is {label!r}; expected an integer label id "
                f"(convert tags with TAG2ID[tag])"
            )
        if not 0 <= label < len(tags):
            raise ValueError(
                f"align_labels: word_label_ids[{position}] = {label} is not a label id; "
                f"expected 0..{len(tags) - 1} (tags: {', '.join(tags)})"
            )
    continuation = _continuation_ids(tags) if label_all_subtokens else None
    aligned, previous = [], None
    for position, word in enumerate(word_ids):
        if word is None:
            aligned.append(ignore_index)
        elif isinstance(word, bool) or not isinstance(word, int) or not 0 <= word < len(labels):
            raise ValueError(
                f"align_labels: token {position} has word id {word!r}, but there are {len(labels)} word "
                f"labels (expected None or 0..{len(labels) - 1}); were the labels from another sentence?"
            )
        elif word != previous:
            aligned.append(labels[word])
        else:
            aligned.append(continuation[labels[word]] if label_all_subtokens else ignore_index)
        previous = word
    return aligned


def _sentence_parts(sentence, index: int, need_tags: bool):
    """``(tokens, tags)`` of a Sentence or (tokens, tags) pair; ``(tokens, None)`` of a word list."""
    if isinstance(sentence, (str, bytes)):
        raise TypeError(
            f"sentence {index} is the string {sentence!r}; expected a list of words "
            "(split the text first; sentences are lists, not strings)"
        )
    if isinstance(sentence, Sentence) or (
        isinstance(sentence, tuple) and len(sentence) == 2 and not isinstance(sentence[0], str)
    ):
        tokens, tags = list(sentence[0]), list(sentence[1])
        if len(tokens) != len(tags):
            raise ValueError(f"sentence {index}: {len(tokens)} tokens but {len(tags)} tags")
        return tokens, tags
    if need_tags:
        raise TypeError(
            f"sentence {index}: expected a Sentence (tokens, tags), got {type(sentence).__name__} {sentence!r:.80}"
        )
    return list(sentence), None


def _check_words(tokens: list, index: int) -> None:
    for position, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(
                f"sentence {index}: word {position} is {type(token).__name__} {token!r}; expected a string"
            )


def _check_max_length(tokenizer, max_length) -> None:
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= specials:
        raise ValueError(
            f"max_length={max_length!r}: expected an integer greater than {specials} "
            f"(the number of special tokens this tokenizer adds), so that at least one word piece fits"
        )


def _word_ids(encoding, row: int) -> list:
    try:
        return encoding.word_ids(row)
    except ValueError as error:  # slow (pure-Python) tokenizers have no word_ids()
        raise ValueError(
            f"the tokenizer cannot map tokens back to words ({error}); load a fast tokenizer with "
            "AutoTokenizer.from_pretrained(..., use_fast=True)"
        ) from None


def tokenize_and_align(tokenizer, sentences, *, max_length: int = 128,
                       label_all_subtokens: bool = False, tags: Sequence[str] = TAGS) -> list:
    """Tokenize word-split sentences and align their tags to the word pieces.

    Explained in ``labs/03_ner_finetuning.ipynb``. Each sentence is tokenized
    with ``tokenizer(words, is_split_into_words=True, truncation=True,
    max_length=max_length)`` and its labels aligned with :func:`align_labels`.
    Nothing is padded here: batches are padded to their own longest sentence
    later (dynamic padding), e.g. by :func:`lablib.train.make_loader`.

    Args:
        tokenizer: a fast Hugging Face tokenizer (it must provide ``word_ids()``).
        sentences: :class:`Sentence` objects (or ``(tokens, tags)`` pairs).
        max_length: the most tokens per sentence, special tokens included;
            the words beyond it are cut off (see :func:`decode_predictions`).
        tags: the tag set; label id = index in it (CoNLL-2003's by default,
            :func:`tag_set` for other data).

    Returns:
        list of dict, one per sentence, with ``input_ids``, ``attention_mask``,
        ``token_type_ids`` (when the tokenizer makes them), ``labels`` and
        ``word_ids`` (kept for decoding; not a model input, so drop it before
        collating -- :func:`lablib.train.make_loader` does).

    Raises:
        ConllFormatError: an unknown tag (the message names it and the allowed tags).
        ValueError, TypeError: tokens and tags that differ in number, a word
            that is not a string, or a ``max_length`` too small for one word piece.
    """
    _check_max_length(tokenizer, max_length)
    tag_ids = {tag: i for i, tag in enumerate(tags)}
    sentences = list(sentences)
    words, label_ids = [], []
    for index, sentence in enumerate(sentences):
        tokens, sentence_tags = _sentence_parts(sentence, index, need_tags=True)
        _check_words(tokens, index)
        check_tags(sentence_tags, allowed=tags, where=f"tokenize_and_align: sentence {index}")
        words.append(tokens)
        label_ids.append([tag_ids[tag] for tag in sentence_tags])
    if not words:
        return []
    encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    features = []
    for row in range(len(words)):
        word_ids = _word_ids(encoding, row)
        feature = {key: list(encoding[key][row]) for key in ("input_ids", "attention_mask", "token_type_ids")
                   if key in encoding}
        feature["labels"] = align_labels(word_ids, label_ids[row], label_all_subtokens=label_all_subtokens, tags=tags)
        feature["word_ids"] = word_ids
        features.append(feature)
    return features


# ---------------------------------------------------------------------------
# Decoding: token predictions -> one tag per word
# ---------------------------------------------------------------------------
def decode_predictions(token_label_ids, word_ids, num_words: int, *, tags: Sequence[str] = TAGS) -> list:
    """Turn one label id per token back into one tag per word.

    Explained in ``labs/03_ner_finetuning.ipynb``. Each word takes the
    prediction of its **first** sub-token (the one that was trained with a
    label); special tokens and later sub-tokens are ignored.

    Words with no token -- cut off by truncation at ``max_length``, or
    dropped entirely by the tokenizer (e.g. a lone zero-width space) -- get
    ``"O"``: the model said nothing about them, and entity-level scoring then
    counts any entity there as missed.

    Args:
        token_label_ids: predicted label ids, one per token (a list, tensor or
            array); it may be longer than ``word_ids`` (padding), never shorter.
        word_ids: the sentence's ``word_ids()`` (unpadded).
        num_words: the number of words in the sentence.
        tags: the tag set the ids index into.

    Returns:
        list of str, ``num_words`` tags.
    """
    predictions = _as_list(token_label_ids, "decode_predictions: token_label_ids")
    word_ids = _as_list(word_ids, "decode_predictions: word_ids")
    if isinstance(num_words, bool) or not isinstance(num_words, int) or num_words < 0:
        raise ValueError(f"decode_predictions: num_words={num_words!r}; expected a non-negative integer")
    if len(predictions) < len(word_ids):
        raise ValueError(
            f"decode_predictions: {len(predictions)} predictions for {len(word_ids)} tokens; "
            "expected at least one prediction per token"
        )
    words = ["O"] * num_words
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            if not 0 <= word < num_words:
                raise ValueError(
                    f"decode_predictions: token {position} has word id {word}, but num_words={num_words} "
                    f"(expected 0..{num_words - 1})"
                )
            label = predictions[position]
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(tags):
                raise ValueError(
                    f"decode_predictions: token {position} has prediction {label!r}; expected a label id "
                    f"0..{len(tags) - 1}"
                )
            words[word] = tags[label]
        previous = word
    return words


def model_tags(model) -> tuple:
    """The tag of each output of a token-classification model: its ``config.id2label`` (lab 03).

    A model made with default names (``LABEL_0``, ...) and CoNLL's nine
    outputs is read as :data:`TAGS` in order.

    Raises:
        ValueError: the names are not IOB tags (the message says to set ``id2label``).
    """
    config = getattr(model, "config", None)
    num_labels = getattr(config, "num_labels", None)
    id2label = getattr(config, "id2label", None) or {}
    names = tuple(id2label.get(i, id2label.get(str(i))) for i in range(num_labels or 0))
    if num_labels and all(_is_tag(name) for name in names):
        return names
    if num_labels == len(TAGS):  # default names (LABEL_0, ...): the course's tag order
        return TAGS
    raise ValueError(
        f"the model has {num_labels} labels ({', '.join(map(str, names))}), not named as IOB tags; create it "
        "with id2label=dict(enumerate(tags)) and label2id, e.g. tags = ner.tag_set(train_sentences)"
    )


def predict_tags(model, tokenizer, sentences, batch_size: int = 32, device=None, *,
                 max_length: int = 128) -> list:
    """Tag word-split sentences with a token-classification model; one tag per word.

    Explained in ``labs/03_ner_finetuning.ipynb``. The model runs in eval mode
    without gradients, ``batch_size`` sentences at a time, each batch padded
    to its longest sentence; predictions are decoded with
    :func:`decode_predictions` (words cut off by ``max_length`` get ``"O"``).
    The model's train/eval mode is restored afterwards.

    Args:
        model: e.g. ``AutoModelForTokenClassification``; its ``config.id2label``
            names the tags (default names are read as :data:`TAGS` in order).
        sentences: lists of words, or :class:`Sentence` objects (tags ignored).
        device: where to run; by default the device the model is on.

    Returns:
        list of lists of tags, one list per sentence.
    """
    import torch

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"predict_tags: batch_size={batch_size!r}; expected a positive integer")
    _check_max_length(tokenizer, max_length)
    words = []
    for index, sentence in enumerate(sentences):
        tokens, _ = _sentence_parts(sentence, index, need_tags=False)
        _check_words(tokens, index)
        words.append(tokens)
    id2tag = model_tags(model)
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    try:
        with torch.no_grad():
            for start in range(0, len(words), batch_size):
                batch = words[start:start + batch_size]
                encoding = tokenizer(batch, is_split_into_words=True, truncation=True, max_length=max_length,
                                     padding=True, return_tensors="pt")
                inputs = {key: value.to(device) for key, value in encoding.items()}
                predicted = model(**inputs).logits.argmax(dim=-1).cpu().tolist()
                for row, sentence_words in enumerate(batch):
                    results.append(decode_predictions(predicted[row], _word_ids(encoding, row),
                                                      len(sentence_words), tags=id2tag))
    finally:
        model.train(was_training)
    return results


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------
def _check_tag_pairs(true_tags, pred_tags, tokens=None, where: str = "", tags: Sequence[str] | None = None) -> tuple:
    """Validate parallel lists of tag sequences (and tokens); return them as lists of lists, and the types.

    The tag set is ``tags`` when given; else CoNLL-2003's when the gold tags
    are CoNLL's (so a predicted ``B-DATE`` is refused); else any well-formed
    IOB tag, with the types found in gold and predictions.
    """

    def as_sentences(value, name):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"{where}: {name} must be a list of sentences (lists of tags), got {value!r:.80}")
        value = list(value)
        if value and all(isinstance(s, str) for s in value):
            raise TypeError(
                f"{where}: {name} is a list of strings; expected a list of sentences, each a list "
                f"(for one sentence, wrap it: [{name}])"
            )
        for index, sentence in enumerate(value):
            if isinstance(sentence, (str, bytes)) or not hasattr(sentence, "__iter__"):
                raise TypeError(f"{where}: {name}[{index}] is {sentence!r:.80}; expected a list")
        return [list(sentence) for sentence in value]

    true_tags = as_sentences(true_tags, "true_tags")
    pred_tags = as_sentences(pred_tags, "pred_tags")
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"{where}: {len(true_tags)} true sentences but {len(pred_tags)} predicted sentences")
    if tokens is not None:
        tokens = as_sentences(tokens, "tokens")
        if len(tokens) != len(true_tags):
            raise ValueError(f"{where}: {len(tokens)} token sentences but {len(true_tags)} tag sentences")
    if tags is None and all(tag in TAG2ID for sentence in true_tags for tag in sentence):
        tags = TAGS
    for index, (gold, pred) in enumerate(zip(true_tags, pred_tags)):
        if len(gold) != len(pred):
            raise ValueError(
                f"{where}: sentence {index} has {len(gold)} true tags but {len(pred)} predicted tags "
                "(expected one tag per word in both)"
            )
        if tokens is not None and len(tokens[index]) != len(gold):
            raise ValueError(f"{where}: sentence {index} has {len(tokens[index])} tokens but {len(gold)} tags")
        check_tags(gold, allowed=tags, where=f"{where}: true_tags sentence {index}")
        check_tags(pred, allowed=tags, where=f"{where}: pred_tags sentence {index}")
    if tags is not None:
        types = entity_types(tags)
    else:
        types = tuple(sorted({tag[2:] for sentences in (true_tags, pred_tags) for s in sentences for tag in s
                              if tag != "O"}))
    return true_tags, pred_tags, tokens, types


def _entities(tags: list) -> list:
    """Entities of one sentence as ``(type, start, end)`` with ``end`` exclusive, read as conlleval does."""
    from seqeval.metrics.sequence_labeling import get_entities

    return [(kind, start, end + 1) for kind, start, end in get_entities(list(tags))]


def entity_scores(true_tags, pred_tags, *, tags: Sequence[str] | None = None) -> dict:
    """Entity-level precision, recall and F1, overall and per type -- the standard NER numbers.

    Explained in ``labs/03_ner_finetuning.ipynb``. An entity counts as correct
    only when its type and both boundaries match exactly. Computed with
    seqeval in its **default** mode, which reads tags as the official
    ``conlleval`` script does: an ``I-X`` after ``O`` or after another type
    starts a new entity (seqeval's ``mode="strict"`` would drop such entities
    instead, and give different numbers on imperfect predictions).

    Args:
        true_tags, pred_tags: lists of sentences, each a list of IOB2 tags.
        tags: the tag set (by default CoNLL-2003's when the gold tags are
            CoNLL's, else whatever well-formed tags occur; see :func:`tag_set`).

    Returns:
        dict: ``precision``, ``recall``, ``f1`` (micro-averaged over entities),
        ``support`` (gold entities), ``predicted``, ``correct``; and for each
        entity type (PER, ORG, LOC, MISC for CoNLL's tags) a dict with ``precision``, ``recall``,
        ``f1``, ``support``, ``predicted``, ``correct``. Undefined ratios
        (nothing predicted, or nothing to find) are 0.0.

    Raises:
        ValueError: sentence counts or per-sentence tag counts differ (the
            message names the first mismatching sentence), or an unknown tag.
    """
    from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

    true_tags, pred_tags, _, types = _check_tag_pairs(true_tags, pred_tags, where="entity_scores", tags=tags)
    precision, recall, f1, support = precision_recall_fscore_support(
        true_tags, pred_tags, average="micro", zero_division=0)
    per_p, per_r, per_f, per_s = precision_recall_fscore_support(
        true_tags, pred_tags, average=None, zero_division=0)

    counts = {kind: {"support": 0, "predicted": 0, "correct": 0} for kind in types}
    for gold, pred in zip(true_tags, pred_tags):
        gold_set, pred_set = set(_entities(gold)), set(_entities(pred))
        for key, found in (("support", gold_set), ("predicted", pred_set), ("correct", gold_set & pred_set)):
            for entity in found:
                counts[entity[0]][key] += 1
    # seqeval lists the types that occur (in gold or predictions), sorted by name.
    present = sorted({kind for kind, c in counts.items() if c["support"] or c["predicted"]})
    scores = {
        "precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(support),
        "predicted": sum(c["predicted"] for c in counts.values()),
        "correct": sum(c["correct"] for c in counts.values()),
    }
    for kind in types:
        scores[kind] = {"precision": 0.0, "recall": 0.0, "f1": 0.0, **counts[kind]}
    for i, kind in enumerate(present):
        scores[kind].update(precision=float(per_p[i]), recall=float(per_r[i]), f1=float(per_f[i]))
        assert int(per_s[i]) == counts[kind]["support"], "seqeval and lablib disagree on entity spans"
    return scores


def token_accuracy(true_tags, pred_tags, include_O: bool = True, *, tags: Sequence[str] | None = None) -> float:
    """The fraction of words whose predicted tag equals the gold tag (a token-level number).

    Explained in ``labs/03_ner_finetuning.ipynb``. This is the number the
    source articles reported as "97.3% F1": token-level and dominated by
    the easy ``O`` words (about 83% of CoNLL-2003). It is what conlleval
    prints as "accuracy"; it is **not** the entity-level F1 that NER papers
    report (see :func:`entity_scores`). With ``include_O=False`` only words
    whose gold tag is not ``O`` count.

    Raises:
        ValueError: mismatched sentence or tag counts (naming the first
            mismatching sentence), an unknown tag, or no word to score.
    """
    true_tags, pred_tags, _, types = _check_tag_pairs(true_tags, pred_tags, where="token_accuracy", tags=tags)
    scored = correct = 0
    for gold, pred in zip(true_tags, pred_tags):
        for g, p in zip(gold, pred):
            if include_O or g != "O":
                scored += 1
                correct += g == p
    if scored == 0:
        raise ValueError(
            "token_accuracy: no words to score" + ("" if include_O else " (every gold tag is 'O' and include_O=False)")
        )
    return correct / scored


# ---------------------------------------------------------------------------
# Error analysis
# ---------------------------------------------------------------------------
ERROR_KINDS = ("type", "boundary", "boundary+type", "missed", "spurious")


def _overlap(a: tuple, b: tuple) -> int:
    return max(0, min(a[2], b[2]) - max(a[1], b[1]))


def _sentence_errors(gold_tags: list, pred_tags: list, tokens: list, index: int) -> list:
    gold, pred = _entities(gold_tags), _entities(pred_tags)
    exact = set(gold) & set(pred)

    def record(kind, g, p):
        def side(entity):
            if entity is None:
                return None, None, None
            return entity[0], (entity[1], entity[2]), " ".join(tokens[entity[1]:entity[2]])

        gold_type, gold_span, gold_text = side(g)
        pred_type, pred_span, pred_text = side(p)
        return {"sentence": index, "kind": kind, "gold_type": gold_type, "gold_span": gold_span,
                "gold_text": gold_text, "pred_type": pred_type, "pred_span": pred_span, "pred_text": pred_text}

    errors = []
    for g in gold:
        if g in exact:
            continue
        overlapping = [p for p in pred if p not in exact and _overlap(g, p)]
        same_span = [p for p in overlapping if p[1:] == g[1:]]
        same_type = [p for p in overlapping if p[0] == g[0]]
        if same_span:
            errors.append(record("type", g, same_span[0]))
        elif same_type:
            errors.append(record("boundary", g, max(same_type, key=lambda p: _overlap(g, p))))
        elif overlapping:
            errors.append(record("boundary+type", g, max(overlapping, key=lambda p: _overlap(g, p))))
        else:
            errors.append(record("missed", g, None))
    for p in pred:
        if not any(_overlap(g, p) for g in gold):
            errors.append(record("spurious", None, p))
    errors.sort(key=lambda r: (r["gold_span"] or r["pred_span"]))
    return errors


def entity_errors(true_tags, pred_tags, tokens, *, tags: Sequence[str] | None = None) -> list:
    """Classify every entity-level mistake, one record per mistake.

    Explained in ``labs/03_ner_finetuning.ipynb``. Entities are read as in
    :func:`entity_scores`. Each gold entity without an exact match gives one
    record, by what the prediction did there:

    - ``"type"``: a predicted entity has the same span but another type;
    - ``"boundary"``: an overlapping predicted entity of the same type, wrong span;
    - ``"boundary+type"``: only overlapping predicted entities of other types;
    - ``"missed"``: no predicted entity overlaps it.

    Each predicted entity that overlaps no gold entity gives a ``"spurious"``
    record. (A predicted entity that spans two gold entities appears in both
    of their records.)

    Returns:
        list of dict with ``sentence`` (index), ``kind``, ``gold_type``,
        ``gold_span``, ``gold_text``, ``pred_type``, ``pred_span``,
        ``pred_text``; spans are ``(start, end)`` word indices, end exclusive;
        the side that does not exist is ``None``. Ready for ``pandas.DataFrame``.
    """
    true_tags, pred_tags, tokens, types = _check_tag_pairs(true_tags, pred_tags, tokens, where="entity_errors", tags=tags)
    errors = []
    for index, (gold, pred, words) in enumerate(zip(true_tags, pred_tags, tokens)):
        errors.extend(_sentence_errors(gold, pred, [str(w) for w in words], index))
    return errors


def type_confusion(true_tags, pred_tags, *, tags: Sequence[str] | None = None) -> dict:
    """Count gold entity type against predicted type, over spans matched exactly.

    Explained in ``labs/03_ner_finetuning.ipynb``. A gold entity and a
    predicted entity are paired when their spans are identical; a gold
    entity with no predicted entity on the same span counts as predicted
    ``"none"``, and a predicted entity with no gold entity on its span as gold
    ``"none"``. So the diagonal is the correct entities, row sums are the gold
    counts and column sums the predicted counts of :func:`entity_scores`.

    Returns:
        nested dict ``confusion[gold_type][pred_type]`` over PER, ORG, LOC,
        MISC and ``"none"`` (``pandas.DataFrame(confusion).T`` shows it as a
        table with gold types as rows).
    """
    true_tags, pred_tags, _, types = _check_tag_pairs(true_tags, pred_tags, where="type_confusion", tags=tags)
    labels = (*types, "none")
    confusion = {g: {p: 0 for p in labels} for g in labels}
    for gold, pred in zip(true_tags, pred_tags):
        gold_spans = {(s, e): kind for kind, s, e in _entities(gold)}
        pred_spans = {(s, e): kind for kind, s, e in _entities(pred)}
        for span in gold_spans.keys() | pred_spans.keys():
            confusion[gold_spans.get(span, "none")][pred_spans.get(span, "none")] += 1
    return confusion


def worst_sentences(true_tags, pred_tags, tokens, k: int = 5, *, tags: Sequence[str] | None = None) -> list:
    """The ``k`` sentences with the most entity errors (see :func:`entity_errors`), worst first.

    Explained in ``labs/03_ner_finetuning.ipynb``. Sentences without errors
    are never listed, so fewer than ``k`` may come back; ties keep corpus order.

    Returns:
        list of dict with ``sentence`` (index), ``num_errors``, ``tokens``,
        ``true_tags``, ``pred_tags`` and ``errors`` (that sentence's records).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"worst_sentences: k={k!r}; expected a non-negative integer")
    true_tags, pred_tags, tokens, types = _check_tag_pairs(true_tags, pred_tags, tokens, where="worst_sentences", tags=tags)
    by_sentence = {}
    for error in entity_errors(true_tags, pred_tags, tokens, tags=tags):
        by_sentence.setdefault(error["sentence"], []).append(error)
    ranked = sorted(by_sentence.items(), key=lambda item: (-len(item[1]), item[0]))[:k]
    return [{"sentence": index, "num_errors": len(errors), "tokens": tokens[index],
             "true_tags": true_tags[index], "pred_tags": pred_tags[index], "errors": errors}
            for index, errors in ranked]


# ---------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------
#: Background colour of each entity type in :func:`highlight_html` (ColorBrewer Pastel1).
ENTITY_COLOURS = {"PER": "#fbb4ae", "ORG": "#b3cde3", "LOC": "#ccebc5", "MISC": "#decbe4"}


def highlight_html(tokens, tags) -> str:
    """The sentence as HTML, each entity in a ``<span>`` coloured by type with a small type label.

    Explained in ``labs/03_ner_finetuning.ipynb``. Words are joined by single
    spaces; every word and label is HTML-escaped, so text such as
    ``<script>`` is shown, never run. Entities are read as in
    :func:`entity_scores`; there is exactly one ``<span`` per entity.
    """
    import html

    if isinstance(tokens, str) or isinstance(tags, str):
        raise TypeError("highlight_html: tokens and tags must be lists (one sentence), not strings")
    tokens, tags = list(tokens), list(tags)
    if len(tokens) != len(tags):
        raise ValueError(f"highlight_html: {len(tokens)} tokens but {len(tags)} tags; expected one tag per token")
    check_tags(tags, allowed=None, where="highlight_html")
    words = [html.escape(str(token)) for token in tokens]
    starts = {start: (kind, end) for kind, start, end in _entities(tags)}
    parts, position = [], 0
    while position < len(words):
        if position in starts:
            kind, end = starts[position]
            colour = ENTITY_COLOURS.get(kind, "#e5e5e5")
            label = html.escape(kind)
            parts.append(
                f'<span class="ner-entity ner-{label}" title="{label}" style="background:{colour};'
                f'padding:0.1em 0.35em;border-radius:0.35em;">{" ".join(words[position:end])} '
                f'<small style="font-size:0.65em;font-weight:bold;opacity:0.75;">{label}</small></span>'
            )
            position = end
        else:
            parts.append(words[position])
            position += 1
    return f'<div class="lablib-ner" style="line-height:2.2;">{" ".join(parts)}</div>'


def _plain_entities(tokens: list, tags: list) -> str:
    words = [str(token) for token in tokens]
    for kind, start, end in reversed(_entities(tags)):
        words[start:end] = [f"[{' '.join(words[start:end])}]{kind}"]
    return " ".join(words)


def show_entities(tokens, tags) -> None:
    """Display a sentence with its entities highlighted (:func:`highlight_html`).

    Explained in ``labs/03_ner_finetuning.ipynb``. In Jupyter it shows the
    HTML; elsewhere (a plain Python script) it prints the sentence with each
    entity in brackets followed by its type, e.g. ``[EU]ORG rejects ...``.
    """
    page = highlight_html(tokens, tags)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(HTML(page))
    else:
        print(_plain_entities(list(tokens), list(tags)))


# ---------------------------------------------------------------------------
# Transfer: entities seen in training vs never seen
# ---------------------------------------------------------------------------
def entity_texts(sentences) -> set:
    """The set of (type, text) of every gold entity in ``sentences`` (Sentence objects)."""
    found = set()
    for index, sentence in enumerate(sentences):
        tokens, tags = _sentence_parts(sentence, index, need_tags=True)
        for kind, start, end in _entities(list(tags)):
            found.add((kind, " ".join(tokens[start:end])))
    return found


def recall_seen_unseen(train_sentences, test_sentences, pred_tags) -> dict:
    """Entity recall on test entities whose (type, text) occurs in training vs never does.

    Explained in ``labs/03_ner_finetuning.ipynb`` ("Transfer, not memory"): a
    model that only memorised names does well on the seen ones and fails on
    the unseen ones; pretraining should shrink that gap. Returns
    ``{"seen": {"recall", "found", "total"}, "unseen": {...}}``; a group with
    no entities has recall ``nan``.
    """
    known = entity_texts(train_sentences)
    counts = {"seen": [0, 0], "unseen": [0, 0]}  # found, total
    _check_tag_pairs([s.tags for s in test_sentences], pred_tags, where="recall_seen_unseen")
    for sentence, predicted in zip(test_sentences, pred_tags):
        predicted_spans = set(_entities(list(predicted)))
        for kind, start, end in _entities(list(sentence.tags)):
            group = "seen" if (kind, " ".join(sentence.tokens[start:end])) in known else "unseen"
            counts[group][1] += 1
            counts[group][0] += (kind, start, end) in predicted_spans
    return {group: {"recall": found / total if total else float("nan"), "found": found, "total": total}
            for group, (found, total) in counts.items()}
