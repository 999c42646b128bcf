"""Lab 03's pipeline on a student's own IOB2 data with another tag set, and on IOB1 input.

Read, infer the tag set, align, train a few steps, decode, score and analyse
errors, with types that are lowercase and hyphenated (``geo-loc``,
``music-artist``), none of them CoNLL-2003's.
"""
import random

import pytest
import torch
from seqeval.metrics import classification_report, f1_score

from lablib import models, ner, train
from lablib.losses import IGNORE_INDEX

CITIES = ["Lisbon", "Osaka", "Quito", "Dakar", "Oslo", "Perth"]
ARTISTS = [["Nina", "Simone"], ["Miles", "Davis"], ["Fela", "Kuti"], ["Björk"], ["Ali", "Farka", "Touré"]]
FRAMES = [("I", "heard", "ARTIST", "in", "CITY", "."), ("CITY", "welcomed", "ARTIST", "last", "night", "."),
          ("ARTIST", "never", "played", "CITY", "again", "."), ("We", "flew", "to", "CITY", "yesterday", ".")]


def sentence(rng):
    tokens, tags = [], []
    for slot in rng.choice(FRAMES):
        if slot == "CITY":
            tokens.append(rng.choice(CITIES))
            tags.append("B-geo-loc")
        elif slot == "ARTIST":
            name = rng.choice(ARTISTS)
            tokens += name
            tags += ["B-music-artist"] + ["I-music-artist"] * (len(name) - 1)
        else:
            tokens.append(slot)
            tags.append("O")
    return ner.Sentence(tokens, tags)


@pytest.fixture(scope="module")
def conll_file(tmp_path_factory):
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("own-data") / "train.txt"
    ner.write_conll(path, [sentence(rng) for _ in range(96)], tags=None)
    return path


def test_read_conll_infers_another_tag_set_and_refuses_it_by_default(conll_file):
    with pytest.raises(ner.ConllFormatError, match=r"train.txt:\d+: unknown tag '.*'.*allowed_tags=None"):
        ner.read_conll(conll_file)
    sentences = ner.read_conll(conll_file, allowed_tags=None)
    tags = ner.tag_set(sentences)
    assert tags == ("O", "B-geo-loc", "I-geo-loc", "B-music-artist", "I-music-artist")
    assert ner.entity_types(tags) == ("geo-loc", "music-artist")
    assert ner.tag_set(ner.read_conll(conll_file, allowed_tags=tags)) == tags


def test_whole_pipeline_on_another_tag_set(conll_file):
    from transformers import AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification

    torch.manual_seed(0)
    sentences = ner.read_conll(conll_file, allowed_tags=None)
    tags = ner.tag_set(sentences)
    train_sentences, test_sentences = sentences[:80], sentences[80:]
    checkpoint = models.encoder_checkpoint("small")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    with pytest.raises(ner.ConllFormatError, match="tags=ner.tag_set"):
        ner.tokenize_and_align(tokenizer, train_sentences)  # CoNLL's tags by default
    features = ner.tokenize_and_align(tokenizer, train_sentences, tags=tags)
    first = features[0]
    first_word_labels = [tags.index(t) for t in train_sentences[0].tags]
    assert [label for label in first["labels"] if label != IGNORE_INDEX] == first_word_labels
    model = AutoModelForTokenClassification.from_pretrained(
        checkpoint, num_labels=len(tags), id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)})
    assert ner.model_tags(model) == tags
    loader = train.make_loader(features, DataCollatorForTokenClassification(tokenizer), 8, seed=0)
    history = train.train(model, loader, epochs=3, lr=3e-4, warmup_ratio=0.1, device="cpu", progress=False)
    assert sum(history.loss[-3:]) < 0.5 * sum(history.loss[:3]), history.loss

    predicted = ner.predict_tags(model, tokenizer, test_sentences, batch_size=8)
    assert all(tag in tags for sentence_tags in predicted for tag in sentence_tags)
    gold = [s.tags for s in test_sentences]
    scores = ner.entity_scores(gold, predicted)
    assert set(scores) >= {"f1", "geo-loc", "music-artist"} and "PER" not in scores
    assert scores["f1"] == pytest.approx(f1_score(gold, predicted), abs=1e-12)
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    for kind in ("geo-loc", "music-artist"):
        assert scores[kind]["support"] == report[kind]["support"]
    confusion = ner.type_confusion(gold, predicted, tags=tags)
    assert set(confusion) == {"geo-loc", "music-artist", "none"}
    tokens = [s.tokens for s in test_sentences]
    errors = ner.entity_errors(gold, predicted, tokens)
    assert all(e["kind"] in ("type", "boundary", "boundary+type", "missed", "spurious") for e in errors)
    assert len(ner.worst_sentences(gold, predicted, tokens, k=3)) <= 3
    with pytest.raises(ner.ConllFormatError, match=r"pred_tags sentence 0: unknown tag 'B-PER'"):
        ner.entity_scores(gold, [["B-PER"] * len(g) for g in gold], tags=tags)


def test_iob1_input_is_refused_with_file_and_line_or_converted(tmp_path):
    iob1 = tmp_path / "iob1.txt"
    iob1.write_text("Nina I-music-artist\nSimone I-music-artist\nin O\nOslo I-geo-loc\n\n"
                    "Lisbon I-geo-loc\nB-side B-geo-loc\n\n")
    with pytest.raises(ner.ConllFormatError, match=r"iob1.txt:1: tag 'I-music-artist' continues no .*IOB1.*scheme='IOB1'"):
        ner.read_conll(iob1, allowed_tags=None)
    converted = ner.read_conll(iob1, allowed_tags=None, scheme="IOB1")
    assert converted[0].tags == ["B-music-artist", "I-music-artist", "O", "B-geo-loc"]
    assert converted[1].tags == ["B-geo-loc", "B-geo-loc"]  # IOB1's B- marks a second adjacent entity
    iob2 = ner.conll._iob1_to_iob2(["I-PER", "I-PER", "I-LOC", "O", "I-LOC"])
    assert iob2 == ["B-PER", "I-PER", "B-LOC", "O", "B-LOC"]
    with pytest.raises(ValueError, match="read_conll: scheme must be one of 'IOB2', 'IOB1', got 'BIOES'"):
        ner.read_conll(iob1, scheme="BIOES")


def test_tag_set_rejects_malformed_tags():
    with pytest.raises(ner.ConllFormatError, match=r"tag_set: sentence 1: unknown tag 'geo'"):
        ner.tag_set([ner.Sentence(["a"], ["O"]), ner.Sentence(["b"], ["geo"])])
    with pytest.raises(ValueError, match="no entity tags"):
        ner.tag_set([ner.Sentence(["a"], ["O"])])
    assert ner.tag_set([ner.Sentence(["a", "b"], ["B-LOC", "B-PER"])]) == ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
