"""lablib.hub: sources tried in order, each checked; one clear error when none works."""
import re

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from lablib import hub
from lablib.ner import TAGS

SIZES = {"train": 3, "validation": 2, "test": 2}


def fake_conll(sizes=SIZES, names=TAGS):
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=list(names)))})
    tags = ("B-ORG", "O", "B-MISC", "O")
    sentence = (["EU", "rejects", "German", "call"], [names.index(t) if t in names else 0 for t in tags])
    return DatasetDict({
        split: Dataset.from_dict({"tokens": [sentence[0]] * n, "ner_tags": [sentence[1]] * n}, features=features)
        for split, n in sizes.items()
    })


@pytest.fixture(autouse=True)
def online(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


def test_first_working_source_wins_and_pins_revision():
    calls = []

    def load_dataset(repo_id, revision):
        calls.append((repo_id, revision))
        if repo_id == "lhoestq/conll2003":
            raise ConnectionError("hub unreachable")
        return fake_conll()

    splits = hub.load_conll2003(load_dataset=load_dataset, expected_sizes=SIZES)
    assert calls == [("lhoestq/conll2003", "19edcb426bfd625c275c17b9a99b2239243f4377"),
                     ("eriktks/conll2003", "refs/convert/parquet")]
    assert splits["train"][0].tags == ["B-ORG", "O", "B-MISC", "O"]
    assert {k: len(v) for k, v in splits.items()} == SIZES


def test_tags_are_mapped_by_name_not_by_position():
    reordered = list(reversed(TAGS))
    splits = hub.load_conll2003(load_dataset=lambda repo_id, revision: fake_conll(names=reordered),
                                expected_sizes=SIZES)
    assert splits["test"][0].tags == ["B-ORG", "O", "B-MISC", "O"]


def test_wrong_sizes_or_tags_fall_through_to_one_clear_error():
    answers = iter([fake_conll(sizes={"train": 5, "validation": 2, "test": 2}),
                    fake_conll(names=[t.replace("MISC", "MSC") for t in TAGS])])
    with pytest.raises(hub.DataSourceError) as error:
        hub.load_conll2003(load_dataset=lambda repo_id, revision: next(answers), expected_sizes=SIZES)
    message = str(error.value)
    assert "lhoestq/conll2003@19edcb426bfd625c275c17b9a99b2239243f4377: ValueError" in message
    assert "has 5 sentences, expected 3" in message
    assert "eriktks/conll2003@refs/convert/parquet: ValueError" in message and "differ from the CoNLL-2003 set" in message
    assert "LABLIB_PROFILE=small" in message


def test_offline_mode_is_refused_up_front(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.DataSourceError, match="offline mode is on"):
        hub.load_conll2003(load_dataset=lambda *a, **k: pytest.fail("must not try the network"))


def test_local_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.txt not found"):
        hub.load_conll2003(folder=tmp_path)


@pytest.mark.needs_shared_data
def test_reference_copy_has_the_standard_sizes(shared_data):
    splits = hub.load_conll2003(folder=shared_data / "conll2003")
    assert {k: len(v) for k, v in splits.items()} == hub._CONLL_SIZES


def fake_imdb(sizes={"train": 4, "test": 2}, names=("neg", "pos"), positives=None):
    features = Features({"text": Value("string"), "label": ClassLabel(names=list(names))})
    return DatasetDict({
        split: Dataset.from_dict({"text": [f"review {i}" for i in range(n)],
                                  "label": [i % 2 if positives is None else int(i < positives) for i in range(n)]},
                                 features=features)
        for split, n in sizes.items()
    })


def test_imdb_first_working_pinned_source_wins_and_labels_map_by_name(capsys):
    calls = []

    def load_dataset(repo_id, revision):
        calls.append((repo_id, revision))
        if len(calls) == 1:
            raise ConnectionError("hub unreachable")
        return fake_imdb(names=("pos", "neg"))  # reversed order: id 0 means positive here

    splits = hub.load_imdb(load_dataset=load_dataset, expected_sizes={"train": 4, "test": 2})
    assert calls == [(s.repo_id, s.revision) for s in hub._IMDB_SOURCES]
    assert all(len(s.revision) == 40 for s in hub._IMDB_SOURCES[:1]), "the first source is pinned to a commit"
    texts, labels = splits["train"]
    assert texts[0] == "review 0" and labels == [1, 0, 1, 0]
    assert "train 4 reviews, test 2 reviews" in capsys.readouterr().out, "the count is of reviews, not of columns"


def test_imdb_wrong_content_falls_through_to_one_clear_error():
    answers = iter([fake_imdb(sizes={"train": 6, "test": 2}), fake_imdb(positives=3)])
    with pytest.raises(hub.DataSourceError) as error:
        hub.load_imdb(load_dataset=lambda repo_id, revision: next(answers), expected_sizes={"train": 4, "test": 2})
    message = str(error.value)
    assert "has 6 reviews, expected 4" in message and "3 positive reviews of 4, expected half" in message
    assert "LABLIB_PROFILE=small" in message


def test_imdb_offline_mode_is_refused_up_front(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(hub.DataSourceError, match="IMDB comes from the Hugging Face hub, but offline mode is on"):
        hub.load_imdb(load_dataset=lambda *a, **k: pytest.fail("must not try the network"))


def test_every_source_is_a_commit_or_the_parquet_export_and_the_first_is_a_commit():
    def pinned(source):
        return re.fullmatch(r"[0-9a-f]{40}", source.revision) is not None

    for sources in (hub._CONLL_SOURCES, hub._IMDB_SOURCES):
        assert pinned(sources[0]), f"{sources[0]} should be pinned to a commit"
        assert all(pinned(s) or s.revision == "refs/convert/parquet" for s in sources)


def test_imdb_html_line_breaks_are_stripped():
    assert hub._clean_imdb_text("Great film.<br /><br />Loved it.<BR>  Really<br/>") == "Great film. Loved it. Really"
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    data = DatasetDict({split: Dataset.from_dict({"text": ["bad.<br /><br />Very bad.", "good<br />"],
                                                  "label": [0, 1]}, features=features) for split in ("train", "test")})
    texts, labels = hub._imdb_split(data["train"], "fake [train]")
    assert texts == ["bad. Very bad.", "good"] and labels == [0, 1]
