"""CoNLL files and IOB2 tag sets: read, write, check, infer, convert IOB1 (lab 03)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from .. import checks

#: CoNLL-2003's entity types, and its tags in the hub data sets' order (label id = index).
ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
TAG2ID = {tag: i for i, tag in enumerate(TAGS)}


class Sentence(NamedTuple):
    """One sentence: its words and one IOB2 tag per word (lab 03)."""

    tokens: list
    tags: list


class ConllFormatError(ValueError):
    """A malformed CoNLL file or tag sequence; the message names the file and line (lab 03)."""


def _as_list(values, name: str, expected: str = "a sequence") -> list:
    """A list from a list, tuple, tensor or array; a string or a non-sequence is a TypeError."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name}: expected {expected}, got {type(values).__name__} {values!r:.80}")
    return list(values)


def _is_tag(tag) -> bool:
    """True for ``O`` and for ``B-``/``I-`` followed by a type name without spaces."""
    return isinstance(tag, str) and (tag == "O" or (
        tag[:2] in ("B-", "I-") and len(tag) > 2 and not any(c.isspace() for c in tag)))


def _check_tags(tags: Iterable[str], allowed: Sequence[str] | None = TAGS, where: str = "") -> None:
    """Raise :class:`ConllFormatError` at the first tag not in ``allowed``; ``None`` allows any IOB tag."""
    allowed_set = None if allowed is None else set(allowed)
    for position, tag in enumerate(tags):
        if not (_is_tag(tag) if allowed_set is None else tag in allowed_set):
            expected = "O, B-<type> or I-<type>" if allowed is None else ", ".join(allowed)
            hint = "; for another tag set pass tags=ner.tag_set(sentences)" if allowed and _is_tag(tag) else ""
            raise ConllFormatError(f"{where or 'tags'}: unknown tag {tag!r} at position {position}; "
                                   f"allowed: {expected}{hint}")


def _sentence_parts(sentence, index: int, need_tags: bool):
    """``(tokens, tags)`` of a Sentence or (tokens, tags) pair; ``(tokens, None)`` of a word list."""
    if isinstance(sentence, (str, bytes)):
        raise TypeError(f"sentence {index} is the string {sentence!r}; expected a list of words "
                        "(split the text first; sentences are lists, not strings)")
    if isinstance(sentence, Sentence) or (
            isinstance(sentence, tuple) and len(sentence) == 2 and not isinstance(sentence[0], str)):
        tokens, tags = list(sentence[0]), list(sentence[1])
        checks.same_length(f"sentence {index}", tokens=tokens, tags=tags)
        return tokens, tags
    if need_tags:
        raise TypeError(f"sentence {index}: expected a Sentence (tokens, tags), "
                        f"got {type(sentence).__name__} {sentence!r:.80}")
    return list(sentence), None


def tag_set(sentences: Iterable) -> tuple:
    """The IOB2 tag set of labelled data: ``O``, then ``B-X``, ``I-X`` per type X, in a fixed order (lab 03)."""
    types = set()
    for index, sentence in enumerate(sentences):
        _, tags = _sentence_parts(sentence, index, need_tags=True)
        _check_tags(tags, allowed=None, where=f"tag_set: sentence {index}")
        types.update(tag[2:] for tag in tags if tag != "O")
    if not types:
        raise ValueError("tag_set: no entity tags in the data (every tag is 'O')")
    order = list(ENTITY_TYPES) if types <= set(ENTITY_TYPES) else sorted(types)
    return ("O", *(f"{prefix}-{kind}" for kind in order if kind in types for prefix in "BI"))


def entity_types(tags: Sequence[str] = TAGS) -> tuple:
    """The entity types of a tag set, in its order (``PER, ORG, LOC, MISC`` for CoNLL's; lab 03)."""
    _check_tags(tags, allowed=None, where="entity_types")
    return tuple(dict.fromkeys(tag[2:] for tag in tags if tag != "O"))


def _iob1_starts(tags: Sequence[str]) -> list:
    """The positions of the ``I-X`` tags that continue no X entity: IOB1's entity starts, invalid in IOB2."""
    return [i for i, (before, tag) in enumerate(zip(["O", *tags], tags)) if tag[:2] == "I-" and before[2:] != tag[2:]]


def _iob1_to_iob2(tags: Sequence[str]) -> list:
    """IOB1 tags as IOB2: an ``I-X`` that continues no X entity becomes ``B-X``."""
    starts = set(_iob1_starts(tags))
    return ["B-" + tag[2:] if i in starts else tag for i, tag in enumerate(tags)]


def read_conll(path: str | os.PathLike, *, allowed_tags: Sequence[str] | None = TAGS, scheme: str = "IOB2") -> list:
    """Read a CoNLL file (``WORD ... TAG`` lines, a blank line between sentences) as Sentences (lab 03).

    ``-DOCSTART-`` lines are skipped; tags come from the last column and must be in ``allowed_tags`` (``None``:
    any IOB tag); ``scheme="IOB1"`` converts IOB1 data, which ``"IOB2"`` refuses. Errors name the file and line.
    """
    checks.one_of(scheme, ("IOB2", "IOB1"), "scheme", "read_conll")
    path = Path(path)
    sentences, tokens, tags, lines = [], [], [], []

    def end_sentence():
        wrong = next(iter(_iob1_starts(tags)), None)
        if wrong is not None and scheme == "IOB2":
            after = tags[wrong - 1] if wrong else "the start of the sentence"
            raise ConllFormatError(
                f"{path}:{lines[wrong]}: tag {tags[wrong]!r} continues no {tags[wrong][2:]!r} entity (it follows "
                f"{after!r}); that is IOB1, not IOB2: read the file with scheme='IOB1' to convert it")
        sentences.append(Sentence(list(tokens), _iob1_to_iob2(tags)))  # valid IOB2 tags are left as they are

    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            columns = line.split()
            if not columns:
                if tokens:
                    end_sentence()
                    tokens, tags, lines = [], [], []
                continue
            if columns[0] == "-DOCSTART-":
                continue
            if len(columns) < 2:
                raise ConllFormatError(f"{path}:{number}: expected 'WORD ... TAG' (at least 2 columns), got {line!r}")
            tag = columns[-1]
            try:
                _check_tags([tag], allowed=allowed_tags)
            except ConllFormatError as error:
                detail = str(error).split("; ", 1)[1]
                hint = "; pass allowed_tags=None to read another tag set" if allowed_tags and _is_tag(tag) else ""
                raise ConllFormatError(f"{path}:{number}: unknown tag {tag!r} in line {line!r}; "
                                       f"{detail}{hint}") from None
            tokens.append(columns[0])
            tags.append(tag)
            lines.append(number)
    if tokens:
        end_sentence()
    return sentences


def write_conll(path: str | os.PathLike, sentences: Iterable, *, tags: Sequence[str] | None = TAGS) -> Path:
    """Write sentences as ``WORD TAG`` lines, a blank line after each; the same bytes on every OS (lab 03)."""
    lines = []
    for index, (words, sentence_tags) in enumerate(sentences):
        checks.same_length(f"sentence {index}", tokens=words, tags=sentence_tags)
        _check_tags(sentence_tags, allowed=tags, where=f"sentence {index}")
        for token, tag in zip(words, sentence_tags):
            if not isinstance(token, str) or not token or any(c.isspace() for c in token):
                raise ValueError(f"sentence {index}: token {token!r} is empty or contains whitespace")
            lines.append(f"{token} {tag}\n")
        lines.append("\n")
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("".join(lines))
    return Path(path)
