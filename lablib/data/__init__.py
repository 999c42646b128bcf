"""Data files with a checksum: the generated data sets of labs 03-05, each verified on every use (preface).

The preface ("Data, checksums and offline use") explains it. Each file a lab reads from the cache is registered
here with its sha256: the splits of the embedded NER set (:mod:`lablib.ner_corpus`) and review set
(:mod:`lablib.reviews`), and the pretraining corpus (:mod:`lablib.pretraining_corpus`); the ``full`` profile's
hub data sets come through :mod:`lablib.hub`. A file is generated the first time (:func:`_fetch`) and verified
*every* time, fresh or cached; a mismatch deletes nothing. If a generator's output changes, bump its version
(part of the file names) and update its checksums below.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, NamedTuple

from .. import ner_corpus, pretraining_corpus, reviews
from ..ner import read_conll, write_conll


class ChecksumError(ValueError):
    """A data file's sha256 differs from the registered one (Preface: "Data, checksums and offline use")."""


class _DataFile(NamedTuple):
    name: str
    sha256: str
    generate: Callable[[Path], object]  # writes the file's content to the path it is given


_REGISTRY: dict[str, _DataFile] = {}


def _check_sha256_text(sha256: str, where: str) -> str:
    text = str(sha256).strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"{where}: sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return text


def _register(name: str, sha256: str, *, generate: Callable[[Path], object]) -> _DataFile:
    """Add a file to the registry; a name registered differently before is refused."""
    entry = _DataFile(name, _check_sha256_text(sha256, f"register({name!r})"), generate)
    old = _REGISTRY.get(name)
    if old not in (None, entry):
        raise ValueError(f"register({name!r}): already registered with sha256 {old.sha256[:12]}...")
    _REGISTRY[name] = entry
    return entry


def cache_dir() -> Path:
    """The folder where fetched files live: ``$LABLIB_CACHE`` or ``~/.cache/lablib`` (Preface, lab 05)."""
    root = os.environ.get("LABLIB_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "lablib"


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 of a file as 64 lowercase hexadecimal digits (Preface, lab 05)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):  # 1 MiB at a time
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | os.PathLike, sha256: str) -> Path:
    """``path`` if the file's sha256 is ``sha256``, else :class:`ChecksumError` with both digests (Preface)."""
    path = Path(path)
    expected = _check_sha256_text(sha256, f"verify({str(path)!r})")
    if not path.is_file():
        raise FileNotFoundError(f"verify: {path} does not exist")
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}")
    return path


def _fetch(name: str, *, folder: str | os.PathLike | None = None) -> Path:
    """The verified path of registered file ``name`` in ``folder`` (default :func:`cache_dir`), made if missing."""
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise KeyError(f"no data file named {name!r} is registered; known: {known}")
    entry = _REGISTRY[name]
    folder = Path(folder) if folder is not None else cache_dir()
    target = folder / entry.name
    if target.exists():
        try:
            return verify(target, entry.sha256)
        except ChecksumError as error:
            raise ChecksumError(f"{error}. The cached copy is left untouched; delete it to have it "
                                "made again, or check who changed it.") from None
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{entry.name}.", suffix=".part", delete=False) as handle:
        temp = Path(handle.name)
    try:
        entry.generate(temp)
        actual = sha256_file(temp)
        if actual != entry.sha256:
            rejected = folder / (entry.name + ".rejected")
            shutil.move(str(temp), rejected)
            raise ChecksumError(f"{entry.name} was generated but its sha256 is {actual}, expected {entry.sha256}; "
                                f"kept for inspection at {rejected}")
        os.chmod(temp, 0o644)  # readable by everyone on a shared cache, not the temporary file's 0600
        os.replace(temp, target)  # in one step: kernels sharing a cache never see half a file
    finally:
        if temp.exists():
            temp.unlink()
    return target


def _register_splits(prefix: str, version: str, suffix: str, checksums: dict, write: Callable) -> dict:
    """Register one file per split, ``<prefix>-<version>-<split>.<suffix>``; return split -> file name."""
    names = {split: f"{prefix}-{version}-{split}.{suffix}" for split in checksums}
    for split, sha256 in checksums.items():
        _register(names[split], sha256, generate=functools.partial(write, split))
    return names


def _load_split(names: dict, split: str, folder, read: Callable, where: str) -> list:
    if split not in names:
        raise ValueError(f"{where}: unknown split {split!r}; allowed: {', '.join(names)}")
    return read(_fetch(names[split], folder=folder))


# --- The embedded NER set (seed and sizes of ner_corpus.generate): CoNLL files, "\n" line ends on every OS
_NER_VERSION = "1.0"
_NER_SHA256 = {
    "train": "1f832fcfd8bc7036fbf1e8f9cb0a3d2a29ea3f3cfcca4c0e008f4f84c9718bce",
    "validation": "db4fb3a6b08ac568931157db4301be1030fd6ac37d9dc08d26511bd2018c62ab",
    "test": "2cd3bc0430e05ebb7b9a0f76e0693a49da99b16074f5bf22cde743cd048272a1",
}
_NER_FILES = _register_splits("embedded-ner", _NER_VERSION, "conll", _NER_SHA256,
                              lambda split, path: write_conll(path, ner_corpus.generate()[split]))


def embedded_ner(split: str, *, folder: str | os.PathLike | None = None) -> list:
    """One split of the embedded NER set (:mod:`lablib.ner_corpus`) as Sentences (labs 03, 05 and 07).

    The file is generated or cached in :func:`cache_dir` (or ``folder``) and verified like every data file.
    """
    return _load_split(_NER_FILES, split, folder, read_conll, "embedded_ner")


# --- The embedded review set (seed and sizes of reviews.generate): tab-separated files with a header
_REVIEWS_VERSION = "1.0"
_REVIEWS_SHA256 = {
    "train": "41b6818802343c351b0d222b3b575e0df9299bb4c1a9a57ed1fb74b5928e0c95",
    "validation": "884f477b55ee46be37e48889d8474f0dd76692ec06a1445c4bd50fb9ec8920a3",
    "test": "9331486415f20af5d4eff3c254389f3278e76f28bd075759d425d830cc847447",
}
_REVIEW_COLUMNS = ("label", "phenomenon", "words", "frame", "text")


def _write_reviews(path: str | os.PathLike, items) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(_REVIEW_COLUMNS)
        writer.writerows([getattr(review, column) for column in _REVIEW_COLUMNS] for review in items)


def _read_reviews(path: str | os.PathLike) -> list:
    """The Reviews of a file of :func:`_write_reviews`, read only after :func:`_fetch` verified its sha256."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [reviews.Review(**{**row, "label": int(row["label"])}) for row in csv.DictReader(handle, delimiter="\t")]


_REVIEW_FILES = _register_splits("embedded-reviews", _REVIEWS_VERSION, "tsv", _REVIEWS_SHA256,
                                 lambda split, path: _write_reviews(path, reviews.generate()[split]))


def embedded_reviews(split: str, *, folder: str | os.PathLike | None = None) -> list:
    """One split of the embedded review set (:mod:`lablib.reviews`) as :class:`lablib.reviews.Review` (lab 04)."""
    return _load_split(_REVIEW_FILES, split, folder, _read_reviews, "embedded_reviews")


# --- The pretraining corpus of lab 05 (default seed and size): one sentence per line, tokens joined by a space
_CORPUS_SHA256 = "18f0202781b244b020c506d8ea653602407189c55a8cf99446367d0a3a130376"


def _write_corpus(path: str | os.PathLike, sentences) -> Path:
    Path(path).write_bytes("".join(" ".join(tokens) + "\n" for tokens in sentences).encode("utf-8"))
    return Path(path)


def _read_corpus(path: str | os.PathLike) -> list:
    """The sentences of a file of :func:`_write_corpus`, read only after :func:`_fetch` verified its sha256."""
    with open(path, encoding="utf-8") as handle:
        return [line.split() for line in handle]


_register(pretraining_corpus.corpus_file_name(), _CORPUS_SHA256,
          generate=lambda path: _write_corpus(path, pretraining_corpus.generate()))


def load_corpus(*, folder: str | os.PathLike | None = None) -> list:
    """The pretraining corpus of lab 05 (:mod:`lablib.pretraining_corpus`), as lists of word tokens.

    Verified like every data file: a changed generator or a corrupted file fails loudly, not the lab's numbers.
    """
    return _read_corpus(_fetch(pretraining_corpus.corpus_file_name(), folder=folder))
