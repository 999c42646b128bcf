"""Hub data sets of the ``full`` profile (CoNLL-2003, IMDB): pinned sources tried in order, each checked (labs 03, 04).

``datasets`` 4 refuses loading scripts, so ``load_dataset("conll2003")`` fails. Each source here is script-free
at a fixed revision (a commit, else the hub's parquet export); what loads is checked (splits, label names,
sizes), and when no source works one error says what each answered and what to do.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

from .env import is_offline
from .ner import TAGS, Sentence, read_conll


class _Source(NamedTuple):
    """A hub data set at a revision: a commit (pinned) or the parquet export ``refs/convert/parquet``."""

    repo_id: str
    revision: str


#: A script-free copy kept by a datasets maintainer (pinned), then the hub's parquet export of the original.
_CONLL_SOURCES = (_Source("lhoestq/conll2003", "19edcb426bfd625c275c17b9a99b2239243f4377"),
                  _Source("eriktks/conll2003", "refs/convert/parquet"))
#: Sentences per split in the standard release (Tjong Kim Sang and De Meulder, 2003), and a local copy's files.
_CONLL_SIZES = {"train": 14041, "validation": 3250, "test": 3453}
_CONLL_FILES = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}
#: IMDB (Maas et al., 2011): the repository at the commit other projects pin, then its parquet export.
_IMDB_SOURCES = (_Source("stanfordnlp/imdb", "e6281661ce1c48d982bc483cf8a173c1bbeb5d31"),
                 _Source("stanfordnlp/imdb", "refs/convert/parquet"))
_IMDB_SIZES = {"train": 25000, "test": 25000}


class DataSourceError(RuntimeError):
    """No hub source could provide the data set; the message lists why, source by source (labs 03, 04)."""


def _conll_split(data, where: str) -> list:
    """One split as Sentences, tag ids mapped through the data set's own tag names."""
    names = getattr(getattr(data.features.get("ner_tags"), "feature", None), "names", None)
    if names is None:
        raise ValueError(f"{where}: column 'ner_tags' is not a sequence of class labels with names")
    if sorted(names) != sorted(TAGS):
        raise ValueError(f"{where}: tag names {names} differ from the CoNLL-2003 set {list(TAGS)}")
    return [Sentence(list(tokens), [names[i] for i in tags]) for tokens, tags in zip(data["tokens"], data["ner_tags"])]


def _clean_imdb_text(text: str) -> str:
    """Review text without its HTML line breaks (``<br />``), which would cost tokens and say nothing."""
    return re.sub(r"\s+", " ", re.sub(r"<br\s*/?>", " ", text, flags=re.IGNORECASE)).strip()


def _imdb_split(data, where: str) -> tuple:
    """One split as ``(texts, labels)`` with label 1 = positive (mapped by name), checked to be balanced."""
    names = getattr(data.features.get("label"), "names", None)
    if names is None or sorted(names) != ["neg", "pos"]:
        raise ValueError(f"{where}: column 'label' should be a class label with names neg/pos, got {names}")
    labels = [int(names[i] == "pos") for i in data["label"]]
    if 2 * sum(labels) != len(labels):
        raise ValueError(f"{where}: {sum(labels)} positive reviews of {len(labels)}, expected half")
    return [_clean_imdb_text(text) for text in data["text"]], labels


def _first_source_that_works(what: str, sources: Sequence[_Source], convert: Callable, sizes: dict, unit: str,
                             load_dataset, local: str) -> dict:
    """``{split: convert(data, "repo@revision [split]")}`` of the first source whose splits load and pass the checks."""
    how_to_fix = ("What to do: check the internet connection (on Colab: Runtime > Restart and run again); "
                  f"or run the lab in the 'small' profile (LABLIB_PROFILE=small), which needs no download{local}.")
    if is_offline():
        raise DataSourceError(f"{what} comes from the Hugging Face hub, but offline mode is on "
                              "(HF_HUB_OFFLINE or HF_DATASETS_OFFLINE). " + how_to_fix)
    if load_dataset is None:
        from datasets import load_dataset
    failures = []
    for source in sources:
        where = f"{source.repo_id}@{source.revision}"
        try:
            loaded, splits = load_dataset(source.repo_id, revision=source.revision), {}
            for split, size in sizes.items():
                if split not in loaded:
                    raise ValueError(f"{where}: no split {split!r} (has {sorted(loaded)})")
                if len(loaded[split]) != size:
                    raise ValueError(f"{where}: split {split!r} has {len(loaded[split])} {unit}, expected {size}")
                splits[split] = convert(loaded[split], f"{where} [{split}]")
        except Exception as error:  # any failure: try the next source, remember why
            failures.append(f"  - {where}: {type(error).__name__}: {error}")
            continue
        print(f"{what} loaded from {where}: " + ", ".join(f"{split} {size:,} {unit}" for split, size in sizes.items()))
        return splits
    raise DataSourceError(f"could not load {what} from any hub source:\n" + "\n".join(failures) + "\n" + how_to_fix)


def load_conll2003(*, load_dataset: Optional[Callable] = None, expected_sizes: Optional[dict] = None,
                   folder: str | os.PathLike | None = None) -> dict:
    """CoNLL-2003 from the first hub source that works: ``{"train"|"validation"|"test": [Sentence]}`` (lab 03).

    With ``folder``, from the local files ``train.txt``, ``dev.txt`` and ``test.txt`` (CoNLL format, IOB2).
    """
    sizes = expected_sizes or _CONLL_SIZES
    if folder is None:
        return _first_source_that_works(
            "CoNLL-2003", _CONLL_SOURCES, _conll_split, sizes, "sentences", load_dataset,
            "; or, if you have the CoNLL-2003 files, load them with lablib.hub.load_conll2003(folder=path)")
    splits = {}
    for split, name in _CONLL_FILES.items():
        path = Path(folder) / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (expected {', '.join(_CONLL_FILES.values())} in {folder})")
        splits[split] = read_conll(path)
        if len(splits[split]) != sizes[split]:
            raise ValueError(f"{path}: {len(splits[split])} sentences, expected {sizes[split]}")
    return splits


def load_imdb(*, load_dataset: Optional[Callable] = None, expected_sizes: Optional[dict] = None) -> dict:
    """IMDB from the first hub source that works: ``{"train"|"test": (texts, labels)}``, 1 = positive (lab 04)."""
    return _first_source_that_works("IMDB", _IMDB_SOURCES, _imdb_split, expected_sizes or _IMDB_SIZES, "reviews",
                                    load_dataset, "")
