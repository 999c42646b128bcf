"""Data files with a checksum: a small registry, downloads and generated files.

Explained in the preface ("Data, checksums and offline use"). Every file a lab
reads is registered here with its sha256. :func:`fetch` returns the local
path, creating the file first if needed (by downloading it, or by running the
generator that lablib ships for it), and verifies the checksum *every* time:
after a fresh download or generation as well as on a cache hit. (d2l's
``DATA_HUB`` checks only cached files, so a corrupted first download goes
unnoticed until something downstream breaks.)

A checksum mismatch never deletes anything: a freshly made file that fails is
kept beside the target as ``<name>.rejected`` for inspection, and a cached
file that fails stays where it is, with the error saying how to refresh it.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from . import ner_corpus, reviews
from .env import is_offline
from .ner import read_conll, write_conll

CACHE_VARIABLE = "LABLIB_CACHE"


class ChecksumError(ValueError):
    """A data file's sha256 differs from the registered one."""


@dataclass(frozen=True)
class DataFile:
    """One registered file: its name in the cache, checksum and where it comes from.

    Exactly one of ``url`` (download) and ``generate`` (a function that writes
    the file to the path it is given) must be set.
    """

    name: str
    sha256: str
    url: Optional[str] = None
    generate: Optional[Callable[[Path], None]] = None
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
    url: str | None = None,
    generate: Callable[[Path], None] | None = None,
    description: str = "",
    replace: bool = False,
) -> DataFile:
    """Add a file to the registry and return its entry.

    Raises:
        ValueError: a bad name or checksum, neither or both of ``url`` and
            ``generate``, or a name that is already registered differently
            (pass ``replace=True`` to override on purpose).
    """
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"register: name {name!r} must be a plain file name (no '/', not hidden)")
    digest = _check_sha256_text(sha256, f"register({name!r})")
    if (url is None) == (generate is None):
        raise ValueError(f"register({name!r}): give exactly one of url= or generate=")
    entry = DataFile(name, digest, url, generate, description)
    old = REGISTRY.get(name)
    if old is not None and old != entry and not replace:
        raise ValueError(
            f"register({name!r}): already registered with sha256 {old.sha256[:12]}...; "
            "pass replace=True to change it"
        )
    REGISTRY[name] = entry
    return entry


def cache_dir() -> Path:
    """The folder where fetched files live: ``$LABLIB_CACHE`` or ``~/.cache/lablib``."""
    root = os.environ.get(CACHE_VARIABLE)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "lablib"


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Return the sha256 of a file as 64 lowercase hexadecimal digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | os.PathLike, sha256: str) -> Path:
    """Check a file's sha256; return its path or raise :class:`ChecksumError`.

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


def _download(url: str, target: Path) -> None:
    """Download ``url`` to ``target`` with a progress bar (http(s) and file URLs)."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme in ("http", "https") and is_offline():
        raise RuntimeError(
            f"cannot download {url}: offline mode is on (HF_HUB_OFFLINE or similar is set). "
            "Use the 'small' profile, whose data need no download, or unset the offline "
            "variables on a machine with internet access."
        )
    from tqdm.auto import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
    except OSError as error:  # URLError is an OSError
        raise RuntimeError(
            f"download of {url} failed: {error}. Check the network (or a firewall/proxy); "
            "the 'small' profile needs no download."
        ) from error


def fetch(name: str, *, folder: str | os.PathLike | None = None) -> Path:
    """Return the verified local path of registered file ``name``, creating it if needed.

    The file is downloaded or generated into a temporary file in the target
    folder, verified, and only then moved into place, so a half-written or
    wrong file never sits under the final name.

    Raises:
        KeyError: ``name`` is not registered (the message lists what is).
        ChecksumError: the cached, downloaded or generated file fails its check.
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
    handle, temp_name = tempfile.mkstemp(prefix=f".{entry.name}.", suffix=".part", dir=folder)
    os.close(handle)
    temp = Path(temp_name)
    try:
        if entry.generate is not None:
            entry.generate(temp)
            how = "generated"
        else:
            _download(entry.url, temp)  # type: ignore[arg-type]
            how = f"downloaded from {entry.url}"
        actual = sha256_file(temp)
        if actual != entry.sha256:
            rejected = folder / (entry.name + ".rejected")
            shutil.move(str(temp), rejected)
            raise ChecksumError(
                f"{entry.name} was {how} but its sha256 is {actual}, expected {entry.sha256}; "
                f"kept for inspection at {rejected}"
            )
        os.replace(temp, target)
    finally:
        if temp.exists():
            temp.unlink()
    return target


# --- Data sets that lablib generates, one checksummed file per split ------------------------


@dataclass(frozen=True)
class GeneratedSet:
    """A data set that lablib generates from a seed, stored as one registered file per split.

    ``write(split, path)`` generates one split into ``path``; ``read(path)``
    parses it back. The file names carry the generator's version, so a new
    version never reads an old cache.
    """

    prefix: str
    version: str
    suffix: str
    checksums: dict
    write: Callable[[str, Path], None]
    read: Callable[[Path], list]
    what: str

    def file_name(self, split: str) -> str:
        return f"{self.prefix}-{self.version}-{split}.{self.suffix}"

    def register_splits(self) -> None:
        for split, sha256 in self.checksums.items():
            register(self.file_name(split), sha256, generate=functools.partial(self.write, split),
                     description=f"{self.what}, {split} split")

    def load(self, split: str, folder, where: str) -> list:
        if split not in self.checksums:
            raise ValueError(f"{where}: unknown split {split!r}; allowed: {', '.join(self.checksums)}")
        return self.read(fetch(self.file_name(split), folder=folder))


# --- The course's embedded NER data set (lablib.ner_corpus) -------------------------------

#: sha256 of each split of the default corpus (seed and sizes of ner_corpus.generate). If
#: generation ever changes, fetch fails loudly: bump ner_corpus.CORPUS_VERSION and update these.
EMBEDDED_NER_SHA256 = {
    "train": "1f832fcfd8bc7036fbf1e8f9cb0a3d2a29ea3f3cfcca4c0e008f4f84c9718bce",
    "validation": "db4fb3a6b08ac568931157db4301be1030fd6ac37d9dc08d26511bd2018c62ab",
    "test": "2cd3bc0430e05ebb7b9a0f76e0693a49da99b16074f5bf22cde743cd048272a1",
}
EMBEDDED_NER = GeneratedSet(
    "embedded-ner", ner_corpus.CORPUS_VERSION, "conll", EMBEDDED_NER_SHA256,
    write=lambda split, path: write_conll(path, ner_corpus.generate()[split]),  # "\n" line ends on every OS
    read=read_conll, what="embedded NER set, generated by lablib.ner_corpus",
)
EMBEDDED_NER.register_splits()


def embedded_ner_file_name(split: str) -> str:
    """The registered (and cached) file name of one split of the embedded NER set."""
    return EMBEDDED_NER.file_name(split)


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
    return EMBEDDED_NER.load(split, folder, "embedded_ner")


# --- The course's embedded review set (lablib.reviews) ------------------------------------

EMBEDDED_REVIEWS_SHA256 = {
    "train": "41b6818802343c351b0d222b3b575e0df9299bb4c1a9a57ed1fb74b5928e0c95",
    "validation": "884f477b55ee46be37e48889d8474f0dd76692ec06a1445c4bd50fb9ec8920a3",
    "test": "9331486415f20af5d4eff3c254389f3278e76f28bd075759d425d830cc847447",
}
EMBEDDED_REVIEWS = GeneratedSet(
    "embedded-reviews", reviews.REVIEWS_VERSION, "tsv", EMBEDDED_REVIEWS_SHA256,
    write=lambda split, path: reviews.write_reviews(path, reviews.generate()[split]),
    read=reviews.read_reviews, what="embedded review set, generated by lablib.reviews",
)
EMBEDDED_REVIEWS.register_splits()


def embedded_reviews_file_name(split: str) -> str:
    """The registered (and cached) file name of one split of the embedded review set."""
    return EMBEDDED_REVIEWS.file_name(split)


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
    return EMBEDDED_REVIEWS.load(split, folder, "embedded_reviews")
