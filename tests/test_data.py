"""lablib.data: the checksummed registry, generation, download and verification."""
from pathlib import Path

import pytest

from lablib import data

CONTENT = b"EU B-ORG\nrejects O\nGerman B-MISC\n"


@pytest.fixture
def registry(monkeypatch):
    """An empty registry for each test, so tests do not see each other's entries."""
    monkeypatch.setattr(data, "REGISTRY", {})
    return data.REGISTRY


def real_sha(tmp_path: Path, content: bytes = CONTENT) -> str:
    path = tmp_path / "probe.bin"
    path.write_bytes(content)
    return data.sha256_file(path)


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    assert real_sha(tmp_path) == hashlib.sha256(CONTENT).hexdigest()


def test_generated_file_is_verified_and_cached(registry, tmp_path):
    calls = []

    def generate(path):
        calls.append(path)
        path.write_bytes(CONTENT)

    data.register("toy.txt", real_sha(tmp_path), generate=generate)
    folder = tmp_path / "cache"
    path = data.fetch("toy.txt", folder=folder)
    assert path == folder / "toy.txt" and path.read_bytes() == CONTENT
    assert data.fetch("toy.txt", folder=folder) == path
    assert len(calls) == 1, "a verified cached file must not be generated again"
    assert sorted(p.name for p in folder.iterdir()) == ["toy.txt"], "no temporary files left behind"


def test_fresh_generation_with_wrong_checksum_is_rejected_and_kept(registry, tmp_path):
    data.register("toy.txt", "0" * 64, generate=lambda path: path.write_bytes(CONTENT))
    folder = tmp_path / "cache"
    with pytest.raises(data.ChecksumError) as error:
        data.fetch("toy.txt", folder=folder)
    message = str(error.value)
    assert "0" * 64 in message and real_sha(tmp_path) in message and "toy.txt.rejected" in message
    assert not (folder / "toy.txt").exists(), "a file that failed its check must not sit under the final name"
    assert (folder / "toy.txt.rejected").read_bytes() == CONTENT, "the rejected file is kept for inspection"


def test_tampered_cache_is_reported_and_left_untouched(registry, tmp_path):
    data.register("toy.txt", real_sha(tmp_path), generate=lambda path: path.write_bytes(CONTENT))
    folder = tmp_path / "cache"
    path = data.fetch("toy.txt", folder=folder)
    path.write_bytes(CONTENT + b"extra line\n")
    with pytest.raises(data.ChecksumError, match="left untouched"):
        data.fetch("toy.txt", folder=folder)
    assert path.read_bytes() == CONTENT + b"extra line\n"


def test_download_from_file_url_is_verified(registry, tmp_path):
    source = tmp_path / "source.txt"
    source.write_bytes(CONTENT)
    data.register("remote.txt", real_sha(tmp_path), url=source.as_uri())
    path = data.fetch("remote.txt", folder=tmp_path / "cache")
    assert path.read_bytes() == CONTENT
    source.write_bytes(b"changed upstream\n")
    data.register("remote2.txt", real_sha(tmp_path), url=source.as_uri())
    with pytest.raises(data.ChecksumError, match="downloaded from file://"):
        data.fetch("remote2.txt", folder=tmp_path / "cache")


def test_http_download_refused_offline_with_advice(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data.register("web.txt", "a" * 64, url="https://example.org/web.txt")
    with pytest.raises(RuntimeError, match="offline mode is on.*'small' profile"):
        data.fetch("web.txt", folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_download_says_what_failed(registry, tmp_path):
    data.register("missing.txt", "a" * 64, url=(tmp_path / "does-not-exist.txt").as_uri())
    with pytest.raises(RuntimeError, match="download of file://.*does-not-exist.txt failed"):
        data.fetch("missing.txt", folder=tmp_path / "cache")


def test_unknown_name_lists_known_ones(registry, tmp_path):
    data.register("a.txt", "a" * 64, url="file:///nowhere")
    with pytest.raises(KeyError, match=r"'b.txt'.*known: a.txt"):
        data.fetch("b.txt", folder=tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="x.txt", sha256="abc", url="file:///x"), "64 hexadecimal"),
        (dict(name="x.txt", sha256="g" * 64, url="file:///x"), "64 hexadecimal"),
        (dict(name="x.txt", sha256="a" * 64), "exactly one of url= or generate="),
        (dict(name="x.txt", sha256="a" * 64, url="file:///x", generate=print), "exactly one"),
        (dict(name="../x.txt", sha256="a" * 64, url="file:///x"), "plain file name"),
    ],
)
def test_register_rejects_bad_entries(registry, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.register(**kwargs)


def test_register_refuses_silent_redefinition(registry):
    data.register("x.txt", "a" * 64, url="file:///x")
    data.register("x.txt", "a" * 64, url="file:///x")  # the same entry again is fine
    with pytest.raises(ValueError, match="already registered"):
        data.register("x.txt", "b" * 64, url="file:///x")
    assert data.register("x.txt", "b" * 64, url="file:///x", replace=True).sha256 == "b" * 64


def test_verify_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.verify(tmp_path / "nope", "a" * 64)


def test_cache_dir_follows_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("LABLIB_CACHE", str(tmp_path))
    assert data.cache_dir() == tmp_path
    monkeypatch.delenv("LABLIB_CACHE")
    assert data.cache_dir() == Path.home() / ".cache" / "lablib"


@pytest.mark.needs_shared_data
def test_reference_conll_copy_matches_its_sha256sums(shared_data):
    """lablib.data.verify agrees with the checksums shipped beside the reference CoNLL-2003 copy."""
    folder = shared_data / "conll2003"
    sums = (folder / "SHA256SUMS").read_text().split("\n")
    checked = 0
    for line in filter(None, sums):
        digest, name = line.split()
        data.verify(folder / name.lstrip("*"), digest)
        checked += 1
    assert checked >= 3
