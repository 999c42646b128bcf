"""Loading hub data sets in the ``full`` profile (CoNLL-2003, IMDB): sources tried in order, every one checked.

Explained in ``labs/03_ner_finetuning.ipynb`` ("Where the data comes from"), used again by ``labs/04_sentiment.ipynb``.
The hub churns: ``datasets`` 4 and later refuse loading scripts, so the
classic ``load_dataset("conll2003")`` now fails. This module keeps a list of
script-free sources, each at a fixed revision (a commit where one is known,
else the hub's own parquet export of the original), tries them in order, and
checks what it got (split names, the tag names, the number of sentences per
split) before handing it to the lab. When none works, it raises one error
that lists what each source said and what to do.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from .env import is_offline
from .ner import TAGS, Sentence, read_conll


@dataclass(frozen=True)
class HubSource:
    """A data set repository on the Hugging Face hub, at a fixed revision.

    ``revision`` is either a commit hash (40 hex digits: *pinned*, the files
    can never change) or the hub's parquet export branch
    ``refs/convert/parquet``, which the hub rewrites only when the source
    repository changes; a branch such as ``main`` is refused.
    """

    repo_id: str
    revision: str
    note: str = ""

    def __post_init__(self):
        if not (self.pinned or self.revision.startswith("refs/convert/")):
            raise ValueError(f"HubSource({self.repo_id!r}): revision {self.revision!r} is neither a commit hash "
                             "(40 hex digits) nor the hub's parquet export 'refs/convert/parquet'")

    @property
    def pinned(self) -> bool:
        """True when the revision is a commit hash."""
        return re.fullmatch(r"[0-9a-f]{40}", self.revision) is not None


#: Tried in this order: a script-free copy pinned to a commit, then the
#: parquet export that the hub made of the original (script-based) data set.
CONLL2003_SOURCES = (
    HubSource("lhoestq/conll2003", "19edcb426bfd625c275c17b9a99b2239243f4377",
              "a script-free copy kept by a datasets maintainer, pinned"),
    HubSource("eriktks/conll2003", "refs/convert/parquet", "the original data set, as the hub's parquet export"),
)
#: Sentences per split in the standard release (Tjong Kim Sang and De Meulder, 2003).
CONLL2003_SIZES = {"train": 14041, "validation": 3250, "test": 3453}
#: File names of a local copy in CoNLL format (e.g. the course's reference copy).
CONLL2003_FILES = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}


class DataSourceError(RuntimeError):
    """No source could provide the data set; the message lists why, source by source."""


def _split_of(dataset_dict, split: str, size: int, where: str, unit: str):
    """``dataset_dict[split]``, after checking that it exists and holds ``size`` rows."""
    if split not in dataset_dict:
        raise ValueError(f"{where}: no split {split!r} (has {sorted(dataset_dict)})")
    data = dataset_dict[split]
    if len(data) != size:
        raise ValueError(f"{where}: split {split!r} has {len(data)} {unit}, expected {size}")
    return data


def _tag_names(dataset, where: str) -> list:
    feature = dataset.features.get("ner_tags")
    names = getattr(getattr(feature, "feature", None), "names", None)
    if names is None:
        raise ValueError(f"{where}: column 'ner_tags' is not a sequence of class labels with names")
    if sorted(names) != sorted(TAGS):
        raise ValueError(f"{where}: tag names {names} differ from the CoNLL-2003 set {list(TAGS)}")
    return list(names)


def dataset_to_sentences(dataset_dict, where: str, expected_sizes: Optional[dict] = None) -> dict:
    """Turn a hub ``DatasetDict`` into ``{split: [Sentence, ...]}``, checking names and sizes.

    Tag ids are mapped through the data set's own tag names, so a source that
    orders the tags differently is read correctly.
    """
    expected_sizes = CONLL2003_SIZES if expected_sizes is None else expected_sizes
    splits = {}
    for split, size in expected_sizes.items():
        data = _split_of(dataset_dict, split, size, where, "sentences")
        names = _tag_names(data, f"{where} [{split}]")
        splits[split] = [Sentence(list(tokens), [names[i] for i in tags])
                         for tokens, tags in zip(data["tokens"], data["ner_tags"])]
    return splits


def _first_source_that_works(
    what: str,
    sources: Sequence[HubSource],
    convert: Callable[[object, str], dict],
    load_dataset: Optional[Callable],
    local_option: str,
) -> dict:
    """Try ``sources`` in order; return ``convert(loaded, "repo@revision")`` of the first that works.

    ``convert`` checks what it got and raises on anything unexpected, so a
    source that loads but holds something else falls through to the next one.
    """
    how_to_fix = (
        "What to do: check the internet connection (on Colab: Runtime > Restart and run again); "
        f"or run the lab in the 'small' profile (LABLIB_PROFILE=small), which needs no download{local_option}."
    )
    if is_offline():
        raise DataSourceError(f"{what} comes from the Hugging Face hub, but offline mode is on "
                              "(HF_HUB_OFFLINE or HF_DATASETS_OFFLINE). " + how_to_fix)
    if load_dataset is None:
        from datasets import load_dataset
    failures = []
    for source in sources:
        where = f"{source.repo_id}@{source.revision}"
        try:
            splits = convert(load_dataset(source.repo_id, revision=source.revision), where)
        except Exception as error:  # any failure: try the next source, remember why
            failures.append(f"  - {where}: {type(error).__name__}: {error}")
            continue
        print(f"{what} loaded from {where}: "
              + ", ".join(f"{split} {len(items):,}" for split, items in splits.items()))
        return splits
    raise DataSourceError(f"could not load {what} from any hub source:\n" + "\n".join(failures) + "\n" + how_to_fix)


def load_conll2003(
    sources: Sequence[HubSource] = CONLL2003_SOURCES,
    *,
    load_dataset: Optional[Callable] = None,
    expected_sizes: Optional[dict] = None,
) -> dict:
    """CoNLL-2003 from the first hub source that works: ``{"train"|"validation"|"test": [Sentence]}``.

    Raises:
        DataSourceError: offline mode is on, or every source failed; the
            message says what each source answered and what to do.
    """
    return _first_source_that_works(
        "CoNLL-2003", sources, lambda loaded, where: dataset_to_sentences(loaded, where, expected_sizes),
        load_dataset, "; or, if you have the CoNLL-2003 files, load them with lablib.hub.conll2003_from_folder(path)")


#: IMDB (Maas et al., 2011) without a loading script. The commit is the one
#: that other projects pin for this repository; the parquet export is the fallback.
IMDB_SOURCES = (
    HubSource("stanfordnlp/imdb", "e6281661ce1c48d982bc483cf8a173c1bbeb5d31", "the data set's own repository, pinned"),
    HubSource("stanfordnlp/imdb", "refs/convert/parquet", "the hub's parquet export of the same repository"),
)
#: Reviews per split in the standard release, half positive and half negative.
IMDB_SIZES = {"train": 25000, "test": 25000}


def clean_imdb_text(text: str) -> str:
    """IMDB's review text without its HTML line breaks (``<br />``), spaces collapsed (lab 04).

    The reviews were scraped from web pages and keep ``<br /><br />`` between
    paragraphs; a tokenizer would spend tokens of the 512 on ``<``, ``br``,
    ``/``, ``>`` that say nothing about sentiment.
    """
    return re.sub(r"\s+", " ", re.sub(r"<br\s*/?>", " ", text, flags=re.IGNORECASE)).strip()


def imdb_to_texts(dataset_dict, where: str, expected_sizes: Optional[dict] = None) -> dict:
    """Turn a hub IMDB ``DatasetDict`` into ``{split: (texts, labels)}`` with label 1 = positive.

    Strips the HTML line breaks (:func:`clean_imdb_text`). Checks the split sizes, that the label names are ``neg``/``pos`` (mapped by
    name, not position) and that each split is balanced.
    """
    expected_sizes = IMDB_SIZES if expected_sizes is None else expected_sizes
    splits = {}
    for split, size in expected_sizes.items():
        data = _split_of(dataset_dict, split, size, where, "reviews")
        names = getattr(data.features.get("label"), "names", None)
        if names is None or sorted(names) != ["neg", "pos"]:
            raise ValueError(f"{where}: column 'label' should be a class label with names neg/pos, got {names}")
        labels = [int(names[i] == "pos") for i in data["label"]]
        texts = [clean_imdb_text(text) for text in data["text"]]
        if 2 * sum(labels) != len(labels):
            raise ValueError(f"{where}: split {split!r} has {sum(labels)} positive reviews of {len(labels)}, expected half")
        splits[split] = (texts, labels)
    return splits


def load_imdb(
    sources: Sequence[HubSource] = IMDB_SOURCES,
    *,
    load_dataset: Optional[Callable] = None,
    expected_sizes: Optional[dict] = None,
) -> dict:
    """IMDB from the first hub source that works: ``{"train"|"test": (texts, labels)}`` (``labs/04_sentiment.ipynb``).

    Raises:
        DataSourceError: offline mode is on, or every source failed; the
            message says what each source answered and what to do.
    """
    return _first_source_that_works(
        "IMDB", sources, lambda loaded, where: imdb_to_texts(loaded, where, expected_sizes), load_dataset, "")


def conll2003_from_folder(folder: str | os.PathLike, *, check_sizes: bool = True) -> dict:
    """CoNLL-2003 from local files ``train.txt``, ``dev.txt``, ``test.txt`` (CoNLL format, IOB2)."""
    folder = Path(folder)
    splits = {}
    for split, name in CONLL2003_FILES.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (expected {', '.join(CONLL2003_FILES.values())} in {folder})")
        splits[split] = read_conll(path)
        if check_sizes and len(splits[split]) != CONLL2003_SIZES[split]:
            raise ValueError(f"{path}: {len(splits[split])} sentences, expected {CONLL2003_SIZES[split]}")
    return splits
