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

import hashlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .env import is_offline

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
