"""lablib.reviews and lablib.data.embedded_reviews: the sentiment lab's generated review set."""
import re
from collections import Counter

import pytest

from lablib import data, reviews

SPLITS = tuple(reviews._DEFAULT_SIZES)


@pytest.fixture(scope="module")
def corpus():
    return reviews.generate()


def words_of(text):
    return set(re.findall(r"[a-z']+", text.lower()))


def sentiment_words(side):
    """Every sentiment word of one side's lists ("train" or "test"): adjectives and verb forms."""
    return {word for polarity in (0, 1) for word in reviews._ADJECTIVES[side][polarity]} | {
        word for polarity in (0, 1) for pair in reviews._VERBS[side][polarity] for word in pair}


def test_same_seed_same_reviews_other_seed_other_reviews():
    sizes = {"train": 100, "validation": 20, "test": 40}
    first = reviews.generate(5, sizes)
    assert first == reviews.generate(5, sizes)
    other = reviews.generate(6, sizes)
    for split in SPLITS:
        assert len(first[split]) == sizes[split]
        assert first[split] != other[split]


def test_registered_files_have_the_registered_checksums(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("LABLIB_CACHE", str(tmp_path))
    for split in SPLITS:
        name = f"embedded-reviews-{data._REVIEWS_VERSION}-{split}.tsv"
        assert data._REGISTRY[name].sha256 == data._REVIEWS_SHA256[split]
        loaded = data.embedded_reviews(split)  # generates, then verifies the sha256
        assert data.sha256_file(tmp_path / name) == data._REVIEWS_SHA256[split]
        assert b"\r" not in (tmp_path / name).read_bytes()
        assert loaded == corpus[split]
    assert data.embedded_reviews("validation") == corpus["validation"]  # a verified cache hit


def test_defaults_labels_and_columns(corpus, tmp_path):
    assert {split: len(corpus[split]) for split in SPLITS} == reviews._DEFAULT_SIZES
    assert reviews.generate(reviews._DEFAULT_SEED, {"train": 10, "validation": 0, "test": 0})["train"] == corpus["train"][:10]
    assert reviews.LABELS == ("negative", "positive") and all(isinstance(r, reviews.Review) for r in corpus["test"])
    path = tmp_path / "few.tsv"
    data._write_reviews(path, corpus["test"][:4])
    assert path.read_text(encoding="utf-8").split("\n")[0] == "\t".join(data._REVIEW_COLUMNS)
    assert data._read_reviews(path) == corpus["test"][:4]


def test_every_phenomenon_is_balanced_between_labels(corpus):
    for split in SPLITS:
        counts = Counter((r.phenomenon, r.label) for r in corpus[split])
        assert set(counts) == {(p, y) for p in reviews.PHENOMENA for y in (0, 1)}
        assert max(counts.values()) - min(counts.values()) <= 1, counts
    test_words = Counter((r.words, r.phenomenon, r.label) for r in corpus["test"])
    assert len(test_words) == 2 * len(reviews.PHENOMENA) * 2
    assert max(test_words.values()) - min(test_words.values()) <= 1, test_words


def test_no_review_repeats_within_or_across_splits(corpus):
    texts = [r.text for split in SPLITS for r in corpus[split]]
    assert len(texts) == len(set(texts))


def test_no_test_phrasing_or_test_word_leaks_into_training(corpus):
    """Test frames, test-only sentiment words and test-only neutral words never occur in train or validation."""
    train_like = corpus["train"] + corpus["validation"]
    assert {r.frame.split("/")[0] for r in train_like} == {"train"}
    assert {r.frame.split("/")[0] for r in corpus["test"]} == {"test"}
    assert {r.words for r in train_like} == {"seen"}
    training_words = set().union(*(words_of(r.text) for r in train_like))
    test_only = sentiment_words("test") - sentiment_words("train")
    assert test_only and not (test_only & training_words), sorted(test_only & training_words)
    for kind in ("title", "aspect", "filler"):
        for phrase in reviews._NEUTRAL["test"][kind]:
            assert not any(phrase in r.text for r in train_like), f"test {kind} {phrase!r} occurs in training"
    # the test frames' fixed wording (the text of each frame without its slots) is not in training either
    for markers in ("far from", "Nobody could call", "There is nothing", "Verdict:", "On paper", "Despite"):
        assert not any(markers in r.text for r in train_like), markers
        assert any(markers in r.text for r in corpus["test"]), markers


def test_unseen_reviews_use_only_test_sentiment_words_and_seen_ones_only_training_words(corpus):
    train_words, test_words = sentiment_words("train"), sentiment_words("test")
    for review in corpus["test"]:
        present = words_of(review.text)
        if review.words == "unseen":
            assert present & test_words and not present & (train_words - test_words), review
        else:
            assert present & train_words and not present & (test_words - train_words), review


def test_the_foil_makes_word_counting_useless_in_negated_reviews(corpus):
    """In a negated review the only sentiment word has the polarity opposite to the label."""
    polarity = {w: y for side in ("train", "test") for y in (0, 1) for w in reviews._ADJECTIVES[side][y]}
    for side in ("train", "test"):
        for y in (0, 1):
            polarity.update({f: y for pair in reviews._VERBS[side][y] for f in pair})
    for review in corpus["train"]:
        if review.phenomenon == "negated":
            found = [polarity[w] for w in words_of(review.text) if w in polarity]
            assert found and all(p == 1 - review.label for p in found), review


def test_a_changed_review_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / data._REVIEW_FILES["train"]
    data._write_reviews(path, reviews.generate(1, {"train": 3, "validation": 0, "test": 0})["train"])
    with pytest.raises(data.ChecksumError, match="left untouched"):
        data.embedded_reviews("train", folder=tmp_path)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        reviews.generate(sizes={"dev": 3})
    with pytest.raises(ValueError, match="must be an int >= 0"):
        reviews.generate(sizes={"train": -1})
    with pytest.raises(ValueError, match="seed must be an int"):
        reviews.generate(seed="1")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        data.embedded_reviews("dev")
