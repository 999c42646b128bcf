"""lablib.data: the checksummed registry, generation and verification; lablib.data.templates: the template engine."""
import random
import stat
import threading
import time
from pathlib import Path

import pytest

from lablib import data
from lablib.data import templates

CONTENT = b"EU B-ORG\nrejects O\nGerman B-MISC\n"


@pytest.fixture
def registry(monkeypatch):
    """An empty registry for each test, so tests do not see each other's entries."""
    monkeypatch.setattr(data, "_REGISTRY", {})
    return data._REGISTRY


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

    entry = data._register("toy.txt", real_sha(tmp_path), generate=generate)
    assert isinstance(entry, data._DataFile) and data._REGISTRY["toy.txt"] == entry
    folder = tmp_path / "cache"
    path = data._fetch("toy.txt", folder=folder)
    assert path == folder / "toy.txt" and path.read_bytes() == CONTENT
    assert data._fetch("toy.txt", folder=folder) == path
    assert len(calls) == 1, "a verified cached file must not be generated again"
    assert sorted(p.name for p in folder.iterdir()) == ["toy.txt"], "no temporary files left behind"


def test_fetched_files_are_readable_by_everyone(registry, tmp_path):
    """A shared cache (JupyterHub) needs 0644, not the 0600 of a temporary file."""
    data._register("toy.txt", real_sha(tmp_path), generate=lambda path: path.write_bytes(CONTENT))
    path = data._fetch("toy.txt", folder=tmp_path / "cache")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_kernels_fetching_one_file_at_once_do_not_race(registry, tmp_path):
    """Each fetch writes a temporary file of its own: a slow writer never sees another's half file."""
    started = threading.Barrier(4)

    def slow_generate(path):
        started.wait(timeout=10)
        with open(path, "wb") as handle:  # half, a pause in which the others write too, the rest
            handle.write(CONTENT[:10])
            handle.flush()
            time.sleep(0.2)
            handle.write(CONTENT[10:])

    data._register("toy.txt", real_sha(tmp_path), generate=slow_generate)
    folder = tmp_path / "cache"
    results, errors = [], []

    def fetch():
        try:
            results.append(data._fetch("toy.txt", folder=folder))
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert results == [folder / "toy.txt"] * 4 and (folder / "toy.txt").read_bytes() == CONTENT
    assert sorted(p.name for p in folder.iterdir()) == ["toy.txt"], "no temporary files left behind"


def test_every_generated_data_set_is_registered_with_its_checksum():
    from lablib import pretraining_corpus

    assert data._REGISTRY[pretraining_corpus.corpus_file_name()].sha256 == data._CORPUS_SHA256
    for prefix, checksums in (("embedded-ner", data._NER_SHA256), ("embedded-reviews", data._REVIEWS_SHA256)):
        found = {name.rsplit("-", 1)[1].split(".")[0]: entry.sha256
                 for name, entry in data._REGISTRY.items() if name.startswith(prefix + "-")}
        assert found == checksums


def test_fresh_generation_with_wrong_checksum_is_rejected_and_kept(registry, tmp_path):
    data._register("toy.txt", "0" * 64, generate=lambda path: path.write_bytes(CONTENT))
    folder = tmp_path / "cache"
    with pytest.raises(data.ChecksumError) as error:
        data._fetch("toy.txt", folder=folder)
    message = str(error.value)
    assert "0" * 64 in message and real_sha(tmp_path) in message and "toy.txt.rejected" in message
    assert not (folder / "toy.txt").exists(), "a file that failed its check must not sit under the final name"
    assert (folder / "toy.txt.rejected").read_bytes() == CONTENT, "the rejected file is kept for inspection"


def test_tampered_cache_is_reported_and_left_untouched(registry, tmp_path):
    data._register("toy.txt", real_sha(tmp_path), generate=lambda path: path.write_bytes(CONTENT))
    folder = tmp_path / "cache"
    path = data._fetch("toy.txt", folder=folder)
    path.write_bytes(CONTENT + b"extra line\n")
    with pytest.raises(data.ChecksumError, match="left untouched"):
        data._fetch("toy.txt", folder=folder)
    assert path.read_bytes() == CONTENT + b"extra line\n"


def test_unknown_name_lists_known_ones(registry, tmp_path):
    data._register("a.txt", "a" * 64, generate=print)
    with pytest.raises(KeyError, match=r"'b.txt'.*known: a.txt"):
        data._fetch("b.txt", folder=tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="x.txt", sha256="abc", generate=print), "64 hexadecimal"),
        (dict(name="x.txt", sha256="g" * 64, generate=print), "64 hexadecimal"),
    ],
)
def test_register_rejects_bad_entries(registry, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data._register(**kwargs)


def test_register_refuses_silent_redefinition(registry):
    data._register("x.txt", "a" * 64, generate=print)
    data._register("x.txt", "a" * 64, generate=print)  # the same entry again is fine
    with pytest.raises(ValueError, match="already registered"):
        data._register("x.txt", "b" * 64, generate=print)


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


# ------------------------------------------------------------------ the template engine


def test_fill_draws_slots_left_to_right_and_applies_modifiers():
    calls = []

    def draw(slot):
        calls.append(slot)
        return {"adj": "awful", "title": "the ferry"}.get(slot, slot)

    def render(frame, draw):  # the filled sentence
        return "".join(value for _, value in templates.fill(frame, draw))

    pieces = templates.fill("{title|cap} is {adj|a} {noun}.", draw)
    assert calls == ["title", "adj", "noun"]
    assert pieces == [("title", "The ferry"), (None, " is "), ("adj", "an awful"), (None, " "), ("noun", "noun"), (None, ".")]
    assert render("{x}{y}", str.upper) == "XY" and render("no slots", str.upper) == "no slots"
    assert [render("{w|a}", lambda slot: w) for w in ("dull", "awful", "Epic")] == ["a dull", "an awful", "an Epic"]
    assert render("{w|a|cap}!", lambda slot: "utterly") == "An utterly!"


def test_draw_uses_pools_ranges_and_templates_in_a_fixed_order():
    vocabulary = {"DAY": ["Monday", "Friday"], "NUM": {"from": 2, "below": 500},
                  "MONEY": "{NUM} {UNIT}", "UNIT": ["euros", "pounds"]}
    rng, twin = templates.seeded("probe", 7), random.Random("probe-7")
    drawn = [templates.draw(rng, slot, vocabulary) for slot in ("DAY", "NUM", "MONEY")]
    assert drawn == [twin.choice(["Monday", "Friday"]), str(twin.randrange(2, 500)),
                     f"{twin.randrange(2, 500)} {twin.choice(['euros', 'pounds'])}"]
    with pytest.raises(KeyError, match=r"unknown slot \{YEAR\}.*known: DAY, NUM"):
        templates.draw(rng, "YEAR", vocabulary)


def test_generators_read_their_pools_and_frames_from_the_package_data():
    from lablib import ner_corpus, pretraining_corpus, reviews

    assert templates.load("ner_corpus")["frames"] == ner_corpus._FRAMES
    assert templates.load("reviews")["neutral"] == reviews._NEUTRAL
    assert len(templates.load("pretraining_corpus")["countries"]) == len(pretraining_corpus._COUNTRIES)
    for name in ("ner_corpus", "reviews", "pretraining_corpus"):
        assert (Path(templates.__file__).parent / f"{name}.json").is_file()


def test_splits_draw_distinct_items_per_split_from_seeded_generators():
    """templates.splits, the loop of the NER and review generators (labs 03 and 04)."""
    defaults = {"train": 3, "test": 2}

    def draw(rng, split, i):
        return (split, rng.randrange(10))

    made = templates.splits("probe", 1, None, defaults, draw, key=lambda item: item[1] if item[1] else None)
    values = [value for items in made.values() for _, value in items]
    assert {k: len(v) for k, v in made.items()} == defaults and len(set(values)) == 5 and 0 not in values
    assert made == templates.splits("probe", 1, None, defaults, draw, key=lambda item: item[1] if item[1] else None)
    assert templates.splits("probe", 1, {"test": 0}, defaults, draw, key=lambda item: item)["test"] == []
    with pytest.raises(RuntimeError, match="could not make 11 distinct train items of probe"):
        templates.splits("probe", 1, {"train": 11}, defaults, draw, key=lambda item: item[1])
    with pytest.raises(ValueError, match="seed must be an int"):
        templates.splits("probe", "1", None, defaults, draw, key=lambda item: item)
