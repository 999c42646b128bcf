"""lablib.ner_corpus and lablib.data.embedded_ner: the course's generated NER data set."""
import random
from collections import Counter

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from lablib import data, ner_corpus
from lablib.ner import ENTITY_TYPES, TAGS, read_conll, write_conll

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def corpus():
    """The default corpus, generated once for this module (about 0.2 s)."""
    return ner_corpus.generate()


def all_entities(sentences):
    """Every entity as ``(type, text)``, read as conlleval reads it (seqeval), repeats kept."""
    return [(kind, " ".join(tokens[start:end + 1]))
            for tokens, tags in sentences for kind, start, end in get_entities(list(tags))]


def iob2_errors(tags):
    """Positions where an I-X follows neither B-X nor I-X, and tags that are not in TAGS."""
    errors = []
    previous = "O"
    for position, tag in enumerate(tags):
        if tag not in TAGS:
            errors.append((position, tag))
        elif tag.startswith("I-") and previous[2:] != tag[2:]:
            errors.append((position, tag))
        previous = tag
    return errors


def test_same_seed_same_sentences_other_seed_other_sentences():
    sizes = {"train": 200, "validation": 50, "test": 50}
    first, again = ner_corpus.generate(7, sizes), ner_corpus.generate(7, sizes)
    assert first == again
    other = ner_corpus.generate(8, sizes)
    for split in SPLITS:
        assert len(first[split]) == sizes[split]
        assert first[split] != other[split], f"seed 8 gave the same {split} split as seed 7"


def test_default_sizes(corpus):
    assert {split: len(corpus[split]) for split in SPLITS} == {"train": 3000, "validation": 500, "test": 500}
    assert ner_corpus._DEFAULT_SIZES == {"train": 3000, "validation": 500, "test": 500} and tuple(ner_corpus._DEFAULT_SIZES) == SPLITS
    small = ner_corpus.generate(ner_corpus._DEFAULT_SEED, {"train": 20, "validation": 5, "test": 5})
    assert small["train"] == corpus["train"][:20], "the default seed is the one the registered files use"


def test_registered_files_have_the_registered_checksums(corpus, tmp_path, monkeypatch):
    """The cross-version guard: generation must reproduce the data set's checksums byte for byte."""
    monkeypatch.setenv("LABLIB_CACHE", str(tmp_path))
    for split in SPLITS:
        name = f"embedded-ner-{data._NER_VERSION}-{split}.conll"
        assert data._REGISTRY[name].sha256 == data._NER_SHA256[split]
        sentences = data.embedded_ner(split)  # generates, then fetch verifies the sha256
        path = tmp_path / name
        assert data.sha256_file(path) == data._NER_SHA256[split]
        assert b"\r" not in path.read_bytes()
        assert sentences == corpus[split], f"the {split} file does not read back as generated"
    assert data.embedded_ner("test") == corpus["test"]  # second call: a verified cache hit


def test_unknown_split_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"'dev'.*train, validation, test"):
        data.embedded_ner("dev", folder=tmp_path)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        ner_corpus.generate(sizes={"dev": 10})
    with pytest.raises(ValueError, match="int >= 0"):
        ner_corpus.generate(sizes={"train": -1})
    with pytest.raises(ValueError, match="seed must be an int"):
        ner_corpus.generate(seed="7")


def test_tags_are_valid_iob2_and_tokens_clean(corpus):
    for split in SPLITS:
        for index, (tokens, tags) in enumerate(corpus[split]):
            assert len(tokens) == len(tags)
            assert not iob2_errors(tags), f"{split}[{index}]: {list(zip(tokens, tags))}"
            assert all(token and not any(c.isspace() for c in token) for token in tokens)


def test_every_split_has_every_type_and_multi_token_entities(corpus):
    for split in SPLITS:
        entities = all_entities(corpus[split])
        counts = Counter(entity_type for entity_type, _ in entities)
        n = len(corpus[split])
        for entity_type in ENTITY_TYPES:
            assert counts[entity_type] >= 0.25 * n, f"{split}: only {counts[entity_type]} {entity_type}"
            multi = [text for kind, text in entities if kind == entity_type and " " in text]
            assert len(multi) >= 0.05 * n, f"{split}: only {len(multi)} multi-token {entity_type} entities"
        empty = sum(all(tag == "O" for tag in tags) for _, tags in corpus[split])
        assert 0.03 * n <= empty <= 0.3 * n, f"{split}: {empty} sentences without entities"


def test_ambiguous_words_are_both_persons_and_places(corpus):
    for split in SPLITS:
        entities = Counter(all_entities(corpus[split]))
        for word in ner_corpus._AMBIGUOUS:
            if split == "train":  # every word, both ways
                assert entities[("PER", word)] >= 5 and entities[("LOC", word)] >= 5, word
        per = sum(entities[("PER", word)] for word in ner_corpus._AMBIGUOUS)
        loc = sum(entities[("LOC", word)] for word in ner_corpus._AMBIGUOUS)
        assert per >= 20 and loc >= 20, f"{split}: {per} PER and {loc} LOC ambiguous words"


def test_test_entities_never_occur_in_train_except_the_ambiguous_words(corpus):
    train = {text for texts in ner_corpus.entity_strings(corpus["train"]).values() for text in texts}
    test = {text for texts in ner_corpus.entity_strings(corpus["test"]).values() for text in texts}
    shared = sorted(test & train)
    assert shared == sorted(ner_corpus._AMBIGUOUS), "only the documented ambiguous words may be shared"
    # Stricter for persons: no first name or surname of a test person is part of a train person.
    train_person_tokens = {
        token for kind, text in all_entities(corpus["train"]) if kind == "PER" for token in text.split()
    }
    for kind, text in all_entities(corpus["test"]):
        if kind == "PER":
            reused = [t for t in text.split() if t in train_person_tokens and t not in ner_corpus._AMBIGUOUS
                      and not (len(t) == 2 and t.endswith("."))]  # middle initials ("F.") are shared
            assert not reused, f"test person {text!r} reuses {reused} from train"


def test_validation_uses_train_names_but_new_sentences(corpus):
    train_strings = ner_corpus.entity_strings(corpus["train"])
    validation_strings = ner_corpus.entity_strings(corpus["validation"])
    for entity_type in ("ORG", "LOC", "MISC"):
        assert set(validation_strings[entity_type]) <= set(train_strings[entity_type]) | set(ner_corpus._AMBIGUOUS)
    train_sentences = {tuple(tokens) for tokens, _ in corpus["train"]}
    for split in ("validation", "test"):
        copies = [s for s in corpus[split] if tuple(s.tokens) in train_sentences]
        assert not copies, f"{split} copies train sentences: {copies[:3]}"


def test_pools_are_disjoint_and_consistent():
    def names(pools):
        return {name for pool in pools.values() for name in pool}

    train, test = names(ner_corpus.POOLS["train"]), names(ner_corpus.POOLS["test"])
    assert not train & test
    assert not (train | test) & set(ner_corpus._AMBIGUOUS)
    for split, pools in ner_corpus.POOLS.items():  # a name has one type within a split
        types = {}
        for slot, pool in pools.items():
            kind = "PER" if slot in ("first", "last") else ner_corpus._SLOT_TYPES[slot]
            for name in pool:
                assert types.setdefault(name, kind) == kind, f"{split}: {name!r} is {types[name]} and {kind}"
    assert len(ner_corpus._FRAMES) >= 40 and len(set(ner_corpus._FRAMES)) == len(ner_corpus._FRAMES)


def test_sentence_lengths(corpus):
    for split in SPLITS:
        lengths = [len(tokens) for tokens, _ in corpus[split]]
        assert ner_corpus.MIN_TOKENS <= min(lengths) <= 8
        assert 30 <= max(lengths) <= ner_corpus.MAX_TOKENS
        assert 12 <= sum(lengths) / len(lengths) <= 20
        assert sum(length >= 25 for length in lengths) >= 0.02 * len(lengths)


def test_entity_strings():
    tokens = "Anna Malloy of Bank of Avalon flew to Paris .".split()
    tags = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "I-ORG", "O", "O", "B-LOC", "O"]
    assert all_entities([(tokens, tags)]) == [("PER", "Anna Malloy"), ("ORG", "Bank of Avalon"), ("LOC", "Paris")]
    assert ner_corpus.entity_strings([(tokens, tags), (tokens, tags)]) == {
        "PER": ["Anna Malloy"], "ORG": ["Bank of Avalon"], "LOC": ["Paris"], "MISC": []}
    # an I-X that does not continue an entity of type X starts a new one (as conlleval reads it)
    assert ner_corpus.entity_strings([(["a", "b"], ["I-PER", "I-LOC"])]) == {"PER": ["a"], "ORG": [], "LOC": ["b"], "MISC": []}


def test_sentence_and_filler_draw_from_the_seeded_generator():
    """The two public building blocks the pretraining corpus (lab 05) and lab 07 reuse."""
    first = [ner_corpus.sentence(random.Random("probe"), ner_corpus.POOLS["test"]) for _ in range(3)]
    assert first == [ner_corpus.sentence(random.Random("probe"), ner_corpus.POOLS["test"]) for _ in range(3)]
    rng = random.Random("probe")
    drawn = [ner_corpus.sentence(rng, ner_corpus.POOLS["test"]) for _ in range(200)]
    assert all(len(s.tokens) == len(s.tags) and not iob2_errors(s.tags) for s in drawn)
    for _ in range(50):
        winner, loser = map(int, ner_corpus._filler(rng, "SCORE").split("-"))
        assert 1 <= winner <= 5 and 0 <= loser < winner
        assert ner_corpus._filler(rng, "PCT").endswith(" percent") and ner_corpus._filler(rng, "DAY") in ner_corpus._FILLERS["DAY"]
        assert 2 <= int(ner_corpus._filler(rng, "NUM")) < 500
    with pytest.raises(KeyError, match="unknown slot"):
        ner_corpus._filler(rng, "COLOUR")


def test_write_read_round_trip(corpus, tmp_path):
    sentences = corpus["validation"][:100] + corpus["test"][:100]
    path = write_conll(tmp_path / "round.conll", sentences)
    assert read_conll(path) == sentences


def test_changed_generation_fails_loudly(tmp_path, monkeypatch):
    """If the generator's output ever changes, fetching the data set refuses it (and says why)."""
    real = ner_corpus.generate

    def changed(*args, **kwargs):
        corpus = real(*args, **kwargs)
        corpus["validation"] = corpus["validation"][1:]
        return corpus

    monkeypatch.setattr(ner_corpus, "generate", changed)
    with pytest.raises(data.ChecksumError, match="was generated but its sha256"):
        data.embedded_ner("validation", folder=tmp_path)
    assert not (tmp_path / f"embedded-ner-{data._NER_VERSION}-validation.conll").exists()
