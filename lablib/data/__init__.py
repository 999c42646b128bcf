"""Data files with a checksum: the registry of every file lablib makes, and :func:`fetch`.

Explained in the preface ("Data, checksums and offline use"). Every file a lab
reads from the cache is registered here with its sha256: the splits of the
embedded NER set (:mod:`lablib.ner_corpus`, labs 03, 05, 07), of the embedded
review set (:mod:`lablib.reviews`, lab 04) and the pretraining corpus
(:mod:`lablib.pretraining_corpus`, lab 05). Hub data sets of the ``full``
profile come through :mod:`lablib.hub` instead. :func:`fetch` returns a
file's local path, generating it first if needed, and verifies the checksum
*every* time: after a fresh generation as well as on a cache hit. (d2l's
``DATA_HUB`` checks only cached files, so a corrupted first download goes
unnoticed until something downstream breaks.)

Safe on a shared cache: each file is written to a temporary file of its own
in the cache folder, verified, made readable by everyone (mode 0644), and
only then moved into place with one ``os.replace``; two kernels that fetch
the same file at once each write their own copy and never see a half-written
one. A checksum mismatch never deletes anything: a freshly made file that
fails is kept beside the target as ``<name>.rejected`` for inspection, and a
cached file that fails stays where it is, with the error saying how to
refresh it. The generators' pools and frames, and the template engine they
share (:mod:`lablib.data.templates`), live in this folder too.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import ner_corpus, pretraining_corpus, reviews
from ..ner import read_conll, write_conll

_CACHE_VARIABLE = "LABLIB_CACHE"


class ChecksumError(ValueError):
    """A data file's sha256 differs from the registered one (Preface: "Data, checksums and offline use")."""


@dataclass(frozen=True)
class DataFile:
    """One registered file (Preface): its name in the cache, its checksum and the function that writes it."""

    name: str
    sha256: str
    generate: Callable[[Path], object]
    description: str = ""


REGISTRY: dict[str, DataFile] = {}


def _check_sha256_text(sha256: str, where: str) -> str:
    text = str(sha256).strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"{where}: sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return text


def register(
    name: str,
    sha256: str,
    *,
    generate: Callable[[Path], object],
    description: str = "",
    replace: bool = False,
) -> DataFile:
    """Add a file to the registry and return its entry (Preface; every generated data set of labs 03-05).

    ``generate(path)`` writes the file's content to ``path``.

    Raises:
        ValueError: a bad name or checksum, a ``generate`` that is not callable,
            or a name that is already registered differently (pass
            ``replace=True`` to override on purpose).
    """
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"register: name {name!r} must be a plain file name (no '/', not hidden)")
    digest = _check_sha256_text(sha256, f"register({name!r})")
    if not callable(generate):
        raise ValueError(f"register({name!r}): generate must be a function that writes the file "
                         f"to the path it is given, got {generate!r}")
    entry = DataFile(name, digest, generate, description)
    old = REGISTRY.get(name)
    if old is not None and old != entry and not replace:
        raise ValueError(
            f"register({name!r}): already registered with sha256 {old.sha256[:12]}...; "
            "pass replace=True to change it"
        )
    REGISTRY[name] = entry
    return entry


def cache_dir() -> Path:
    """The folder where fetched files live: ``$LABLIB_CACHE`` or ``~/.cache/lablib`` (Preface, lab 05)."""
    root = os.environ.get(_CACHE_VARIABLE)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "lablib"


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The sha256 of a file as 64 lowercase hexadecimal digits (Preface, lab 05)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | os.PathLike, sha256: str) -> Path:
    """Check a file's sha256; return its path or raise :class:`ChecksumError` (Preface).

    Raises:
        FileNotFoundError: the file does not exist.
        ChecksumError: the checksum differs (both digests are in the message).
    """
    path = Path(path)
    expected = _check_sha256_text(sha256, f"verify({str(path)!r})")
    if not path.is_file():
        raise FileNotFoundError(f"verify: {path} does not exist")
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}"
        )
    return path


def fetch(name: str, *, folder: str | os.PathLike | None = None) -> Path:
    """The verified local path of registered file ``name``, generated first if needed (Preface; labs 03-05).

    The file is generated into a temporary file of its own in the target
    folder, verified, given mode 0644 and only then moved into place, so a
    half-written or wrong file never sits under the final name, and kernels
    that fetch at the same time do not disturb each other.

    Raises:
        KeyError: ``name`` is not registered (the message lists what is).
        ChecksumError: the cached or generated file fails its check.
    """
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY)) or "(none)"
        raise KeyError(f"no data file named {name!r} is registered; known: {known}")
    entry = REGISTRY[name]
    folder = Path(folder) if folder is not None else cache_dir()
    target = folder / entry.name
    if target.exists():
        try:
            return verify(target, entry.sha256)
        except ChecksumError as error:
            raise ChecksumError(
                f"{error}. The cached copy is left untouched; delete it to have it "
                "made again, or check who changed it."
            ) from None
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{entry.name}.", suffix=".part", delete=False) as handle:
        temp = Path(handle.name)
    try:
        entry.generate(temp)
        actual = sha256_file(temp)
        if actual != entry.sha256:
            rejected = folder / (entry.name + ".rejected")
            shutil.move(str(temp), rejected)
            raise ChecksumError(
                f"{entry.name} was generated but its sha256 is {actual}, expected {entry.sha256}; "
                f"kept for inspection at {rejected}"
            )
        os.chmod(temp, 0o644)  # readable by everyone on a shared cache, not the temporary file's 0600
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()
    return target


# --- Data sets that lablib generates, one checksummed file per split ------------------------


def _register_splits(prefix: str, version: str, suffix: str, checksums: dict, write: Callable, what: str) -> dict:
    """Register one file per split, ``<prefix>-<version>-<split>.<suffix>``; return split -> file name.

    The names carry the generator's version, so a new version never reads an old cache.
    """
    names = {}
    for split, sha256 in checksums.items():
        names[split] = f"{prefix}-{version}-{split}.{suffix}"
        register(names[split], sha256, generate=functools.partial(write, split), description=f"{what}, {split} split")
    return names


def _load_split(names: dict, split: str, folder, read: Callable, where: str) -> list:
    if split not in names:
        raise ValueError(f"{where}: unknown split {split!r}; allowed: {', '.join(names)}")
    return read(fetch(names[split], folder=folder))


#: sha256 of each split of the embedded NER set (seed and sizes of ner_corpus.generate). If
#: generation ever changes, fetch fails loudly: bump ner_corpus.CORPUS_VERSION and update these.
EMBEDDED_NER_SHA256 = {
    "train": "1f832fcfd8bc7036fbf1e8f9cb0a3d2a29ea3f3cfcca4c0e008f4f84c9718bce",
    "validation": "db4fb3a6b08ac568931157db4301be1030fd6ac37d9dc08d26511bd2018c62ab",
    "test": "2cd3bc0430e05ebb7b9a0f76e0693a49da99b16074f5bf22cde743cd048272a1",
}
_NER_FILES = _register_splits(
    "embedded-ner", ner_corpus.CORPUS_VERSION, "conll", EMBEDDED_NER_SHA256,
    lambda split, path: write_conll(path, ner_corpus.generate()[split]),  # "\n" line ends on every OS
    "embedded NER set, generated by lablib.ner_corpus",
)


def embedded_ner(split: str, *, folder: str | os.PathLike | None = None) -> list:
    """One split of the course's embedded NER data set, as a list of :class:`lablib.ner.Sentence`.

    The offline data of the NER lab (``labs/03_ner_finetuning.ipynb``); how it
    is generated is documented in :mod:`lablib.ner_corpus`. The CoNLL file is
    generated into the cache (:func:`cache_dir`, or ``folder``) the first time
    and its sha256 checked on every call.

    Raises:
        ValueError: ``split`` is not one of ``train``, ``validation``, ``test``.
        ChecksumError: the generated or cached file differs from the registered data set.
    """
    return _load_split(_NER_FILES, split, folder, read_conll, "embedded_ner")


#: sha256 of each split of the embedded review set (seed and sizes of reviews.generate).
EMBEDDED_REVIEWS_SHA256 = {
    "train": "41b6818802343c351b0d222b3b575e0df9299bb4c1a9a57ed1fb74b5928e0c95",
    "validation": "884f477b55ee46be37e48889d8474f0dd76692ec06a1445c4bd50fb9ec8920a3",
    "test": "9331486415f20af5d4eff3c254389f3278e76f28bd075759d425d830cc847447",
}
_REVIEW_FILES = _register_splits(
    "embedded-reviews", reviews.REVIEWS_VERSION, "tsv", EMBEDDED_REVIEWS_SHA256,
    lambda split, path: reviews.write_reviews(path, reviews.generate()[split]),
    "embedded review set, generated by lablib.reviews",
)


def embedded_reviews(split: str, *, folder: str | os.PathLike | None = None) -> list:
    """One split of the course's embedded movie-review set, as a list of :class:`lablib.reviews.Review`.

    The offline data of the sentiment lab (``labs/04_sentiment.ipynb``); how
    it is generated, and why its test split holds phrasings and words never
    seen in training, is documented in :mod:`lablib.reviews`. The file is
    generated into the cache the first time and its sha256 checked on every call.

    Raises:
        ValueError: ``split`` is not one of ``train``, ``validation``, ``test``.
        ChecksumError: the generated or cached file differs from the registered data set.
    """
    return _load_split(_REVIEW_FILES, split, folder, reviews.read_reviews, "embedded_reviews")


# The pretraining corpus of lab 05 (default seed and size; its checksum lives beside its
# generator, lablib.pretraining_corpus.CORPUS_SHA256). Loaded by pretraining_corpus.load_corpus.
register(pretraining_corpus.corpus_file_name(), pretraining_corpus.CORPUS_SHA256,
         generate=lambda path: pretraining_corpus.write_corpus(path),
         description="pretraining corpus of lab 05, generated by lablib.pretraining_corpus")
