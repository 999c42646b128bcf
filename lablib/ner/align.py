"""Word tags <-> word-piece labels: alignment, decoding, and tagging with a model (lab 03)."""
from __future__ import annotations

from typing import Sequence

from .. import checks
from ..losses import IGNORE_INDEX
from .conll import TAGS, _as_list, _check_tags, _is_tag, _sentence_parts


def _continuation_ids(tags: Sequence[str]) -> dict:
    """Map each ``B-X`` label id to the id of ``I-X`` (every other id maps to itself)."""
    index = {tag: i for i, tag in enumerate(tags)}
    for tag in tags:
        if tag.startswith("B-") and "I-" + tag[2:] not in index:
            raise ValueError(f"tag set has {tag!r} but no {'I-' + tag[2:]!r}; tags: {', '.join(tags)}")
    return {i: index["I-" + tag[2:]] if tag.startswith("B-") else i for i, tag in enumerate(tags)}


def align_labels(word_ids, word_label_ids, *, label_all_subtokens: bool = False, tags: Sequence[str] = TAGS) -> list:
    """One label id per token from one per word, via ``word_ids()``: a word's first sub-token gets it (lab 03).

    Special tokens and later sub-tokens get ``IGNORE_INDEX`` (-100); or with ``label_all_subtokens`` the label,
    B-X as I-X.
    """
    word_ids = _as_list(word_ids, "align_labels: word_ids")
    labels = [checks.integer(label, f"word_label_ids[{position}] (a label id, TAG2ID[tag]; tags: {', '.join(tags)})",
                             "align_labels", low=0, high=len(tags) - 1)
              for position, label in enumerate(_as_list(word_label_ids, "align_labels: word_label_ids"))]
    continuation = _continuation_ids(tags) if label_all_subtokens else None
    aligned, previous = [], None
    for position, word in enumerate(word_ids):
        if word is None:
            aligned.append(IGNORE_INDEX)
        elif isinstance(word, bool) or not isinstance(word, int) or not 0 <= word < len(labels):
            raise ValueError(f"align_labels: token {position} has word id {word!r}, but there are {len(labels)} "
                             f"word labels (expected None or 0..{len(labels) - 1}); were the labels from another "
                             "sentence?")
        elif word != previous:
            aligned.append(labels[word])
        else:
            aligned.append(continuation[labels[word]] if label_all_subtokens else IGNORE_INDEX)
        previous = word
    return aligned


def _words(sentences, tokenizer, max_length, where: str) -> list:
    """The word lists of ``sentences``, every word checked to be a string; ``max_length`` checked too."""
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    checks.integer(max_length, "max_length", f"{where} (the tokenizer adds {specials} special tokens)",
                   low=specials + 1)
    words = []
    for index, sentence in enumerate(sentences):
        tokens, _ = _sentence_parts(sentence, index, need_tags=False)
        for position, token in enumerate(tokens):
            if not isinstance(token, str):
                raise TypeError(f"sentence {index}: word {position} is {type(token).__name__} {token!r}; "
                                "expected a string")
        words.append(tokens)
    return words


def _word_ids(encoding, row: int) -> list:
    try:
        return encoding.word_ids(row)
    except ValueError as error:  # slow (pure-Python) tokenizers have no word_ids()
        raise ValueError(f"the tokenizer cannot map tokens back to words ({error}); load a fast tokenizer with "
                         "AutoTokenizer.from_pretrained(..., use_fast=True)") from None


def tokenize_and_align(tokenizer, sentences, *, max_length: int = 128,
                       label_all_subtokens: bool = False, tags: Sequence[str] = TAGS) -> list:
    """Tokenize Sentences (cut at ``max_length``, unpadded) and align their tags, label id = index in ``tags`` (lab 03).

    One dict per sentence: the tokenizer's outputs, ``labels``, and ``word_ids`` for decoding (the loader drops it).
    """
    sentences = list(sentences)
    tag_ids, label_ids = {tag: i for i, tag in enumerate(tags)}, []
    for index, sentence in enumerate(sentences):
        _, sentence_tags = _sentence_parts(sentence, index, need_tags=True)
        _check_tags(sentence_tags, allowed=tags, where=f"tokenize_and_align: sentence {index}")
        label_ids.append([tag_ids[tag] for tag in sentence_tags])
    words = _words(sentences, tokenizer, max_length, "tokenize_and_align")
    if not words:
        return []
    encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    features = []
    for row, word_labels in enumerate(label_ids):
        word_ids = _word_ids(encoding, row)
        feature = {key: list(encoding[key][row]) for key in ("input_ids", "attention_mask", "token_type_ids")
                   if key in encoding}
        feature["labels"] = align_labels(word_ids, word_labels, label_all_subtokens=label_all_subtokens, tags=tags)
        features.append({**feature, "word_ids": word_ids})
    return features


def _decode_predictions(token_label_ids, word_ids, num_words: int, *, tags: Sequence[str] = TAGS) -> list:
    """One tag per word from one label id per token, by its first sub-token; a word cut off gets ``"O"``."""
    words, previous = ["O"] * num_words, None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            label = token_label_ids[position]
            if not 0 <= label < len(tags):  # the word ids come from the tokenizer; a model may name too few labels
                raise ValueError(f"decode_predictions: token {position} has prediction {label!r}; "
                                 f"expected a label id 0..{len(tags) - 1}")
            words[word] = tags[label]
        previous = word
    return words


def model_tags(model) -> tuple:
    """The tag of each output of a token classifier, from ``config.id2label``; ``LABEL_i`` of 9 are TAGS (lab 03)."""
    config = getattr(model, "config", None)
    num_labels = getattr(config, "num_labels", None)
    id2label = getattr(config, "id2label", None) or {}
    names = tuple(id2label.get(i, id2label.get(str(i))) for i in range(num_labels or 0))
    if num_labels and all(_is_tag(name) for name in names):
        return names
    if num_labels == len(TAGS):
        return TAGS
    raise ValueError(f"the model has {num_labels} labels ({', '.join(map(str, names))}), not named as IOB tags; "
                     "create it with id2label=dict(enumerate(tags)) and label2id, e.g. "
                     "tags = ner.tag_set(train_sentences)")


def predict_tags(model, tokenizer, sentences, batch_size: int = 32, device=None, *,
                 max_length: int = 128, progress: bool = True) -> list:
    """Tag word-split sentences (or Sentences) with a token classifier through :func:`lablib.train.predict` (lab 03)."""
    from ..train import predict

    checks.integer(batch_size, "batch_size", "predict_tags")
    words = _words(sentences, tokenizer, max_length, "predict_tags")
    id2tag = model_tags(model)
    encodings = [tokenizer(words[start:start + batch_size], is_split_into_words=True, truncation=True,
                           max_length=max_length, padding=True, return_tensors="pt")
                 for start in range(0, len(words), batch_size)]
    logits = predict(model, encodings, device=device, progress=progress, desc="tagging")
    results = []
    for encoding, batch_logits in zip(encodings, logits):
        predicted = batch_logits.argmax(dim=-1).tolist()
        for row in range(len(predicted)):
            results.append(_decode_predictions(predicted[row], _word_ids(encoding, row),
                                              len(words[len(results)]), tags=id2tag))
    return results
