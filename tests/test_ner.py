"""lablib.ner: label alignment, decoding, entity-level scoring, error analysis, display
(labs/03_ner_finetuning.ipynb).

Alignment is checked token by token against the real offline MiniLM
tokenizer (uncased WordPiece). Entity scores are checked against seqeval's
default mode AND against a small port of the official conlleval script's
chunk logic written below, on hand-made and random (often ill-formed) tags.
"""
import random
import re
import warnings
from types import SimpleNamespace

import pytest
import torch

from lablib import ner
from lablib.losses import IGNORE_INDEX as X  # -100, short for the expected-label tables
from lablib.ner.evaluate import _COLOURS, _highlight_html
from lablib.ner import TAG2ID, TAGS, ConllFormatError, Sentence

O, B_PER, I_PER, B_ORG, I_ORG, B_LOC, I_LOC, B_MISC, I_MISC = range(9)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from lablib.models import minilm_path

    return AutoTokenizer.from_pretrained(str(minilm_path()))


# ---------------------------------------------------------------------------
# Alignment with the real tokenizer: exact tokens and label ids
# ---------------------------------------------------------------------------
# (words, tags, expected word pieces, labels first-sub-token-only, labels with label_all_subtokens)
ALIGN_CASES = {
    "multi-piece word": (
        ["Homogenization", "hit", "Stanford", "University", "."],
        ["B-MISC", "O", "B-ORG", "I-ORG", "O"],
        ["[CLS]", "homo", "##gen", "##ization", "hit", "stanford", "university", ".", "[SEP]"],
        [X, B_MISC, X, X, O, B_ORG, I_ORG, O, X],
        [X, B_MISC, I_MISC, I_MISC, O, B_ORG, I_ORG, O, X],
    ),
    "one word, seventeen pieces": (
        ["Pneumonoultramicroscopicsilicovolcanoconiosis"],
        ["B-LOC"],
        ["[CLS]", "p", "##ne", "##um", "##ono", "##ult", "##ram", "##ic", "##ros", "##copic",
         "##sil", "##ico", "##vo", "##lc", "##ano", "##con", "##ios", "##is", "[SEP]"],
        [X, B_LOC] + [X] * 16 + [X],
        [X, B_LOC] + [I_LOC] * 16 + [X],
    ),
    "I- word split into pieces": (
        ["Los", "Homogenization"],
        ["B-LOC", "I-LOC"],
        ["[CLS]", "los", "homo", "##gen", "##ization", "[SEP]"],
        [X, B_LOC, I_LOC, X, X, X],
        [X, B_LOC, I_LOC, I_LOC, I_LOC, X],
    ),
    "punctuation": (
        ["U.S.", "(", "don't", ")", "!"],
        ["B-LOC", "O", "O", "O", "O"],
        ["[CLS]", "u", ".", "s", ".", "(", "don", "'", "t", ")", "!", "[SEP]"],
        [X, B_LOC, X, X, X, O, O, X, X, O, O, X],
        [X, B_LOC, I_LOC, I_LOC, I_LOC, O, O, O, O, O, O, X],
    ),
}


@pytest.mark.parametrize("name", ALIGN_CASES)
def test_alignment_matches_hand_made_labels(tokenizer, name):
    words, tags, pieces, first_only, all_subtokens = ALIGN_CASES[name]
    (feature,) = ner.tokenize_and_align(tokenizer, [Sentence(words, tags)])
    assert tokenizer.convert_ids_to_tokens(feature["input_ids"]) == pieces
    assert feature["labels"] == first_only
    assert len(feature["word_ids"]) == len(feature["input_ids"]) == len(feature["attention_mask"])
    assert feature["word_ids"][0] is None and feature["word_ids"][-1] is None  # [CLS], [SEP]
    (feature,) = ner.tokenize_and_align(tokenizer, [Sentence(words, tags)], label_all_subtokens=True)
    assert feature["labels"] == all_subtokens
    # Exactly one label per word survives in the first-sub-token variant.
    assert sum(label != X for label in first_only) == len(words)


def test_truncation_at_small_max_length(tokenizer):
    words, tags, *_ = ALIGN_CASES["multi-piece word"]
    (feature,) = ner.tokenize_and_align(tokenizer, [Sentence(words, tags)], max_length=6)
    pieces = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    assert pieces == ["[CLS]", "homo", "##gen", "##ization", "hit", "[SEP]"]
    assert feature["word_ids"] == [None, 0, 0, 0, 1, None]
    assert feature["labels"] == [X, B_MISC, X, X, O, X]
    # Cut inside a word: the word keeps its label on the pieces that fit.
    (feature,) = ner.tokenize_and_align(tokenizer, [Sentence(words, tags)], max_length=4, label_all_subtokens=True)
    assert tokenizer.convert_ids_to_tokens(feature["input_ids"]) == ["[CLS]", "homo", "##gen", "[SEP]"]
    assert feature["labels"] == [X, B_MISC, I_MISC, X]


def test_features_are_not_padded_and_keep_token_type_ids(tokenizer):
    sentences = [Sentence(w, t) for w, t, *_ in ALIGN_CASES.values()]
    features = ner.tokenize_and_align(tokenizer, sentences)
    assert [len(f["input_ids"]) for f in features] == [len(c[2]) for c in ALIGN_CASES.values()]
    for feature in features:
        assert set(feature) == {"input_ids", "attention_mask", "token_type_ids", "labels", "word_ids"}
        assert all(mask == 1 for mask in feature["attention_mask"])
        assert len(feature["labels"]) == len(feature["token_type_ids"]) == len(feature["input_ids"])
    assert ner.tokenize_and_align(tokenizer, []) == []


def test_collator_pads_dynamically_and_drops_word_ids(tokenizer):
    sentences = [Sentence(w, t) for w, t, *_ in ALIGN_CASES.values()]
    features = ner.tokenize_and_align(tokenizer, sentences[:3])
    from transformers import DataCollatorForTokenClassification

    from lablib import train

    loader = train.make_loader(features, DataCollatorForTokenClassification(tokenizer), 3, shuffle=False)
    batch = next(iter(loader))
    longest = max(len(f["input_ids"]) for f in features)
    assert "word_ids" not in batch
    assert batch["input_ids"].shape == batch["labels"].shape == (3, longest)
    third = len(features[2]["input_ids"])
    assert batch["labels"][2, third:].eq(X).all() and batch["attention_mask"][2, third:].eq(0).all()
    assert batch["labels"][2, :third].tolist() == features[2]["labels"]


def test_align_labels_without_a_tokenizer():
    word_ids = [None, 0, 0, 1, 2, 2, 2, None, None]
    labels = [B_PER, I_PER, O]
    assert ner.align_labels(word_ids, labels) == [X, B_PER, X, I_PER, O, X, X, X, X]
    assert ner.align_labels(word_ids, labels, label_all_subtokens=True) == [X, B_PER, I_PER, I_PER, O, O, O, X, X]
    assert ner.align_labels(torch.tensor([0, 0]), torch.tensor([B_ORG])) == [B_ORG, X]


def test_alignment_errors_name_the_bad_value(tokenizer):
    with pytest.raises(ValueError, match=r"word id 3.*2 word labels"):
        ner.align_labels([None, 0, 3], [O, O])
    with pytest.raises(TypeError,
                       match=r"word_label_ids\[1\] \(a label id, TAG2ID\[tag\].*must be an integer, got 'B-PER'"):
        ner.align_labels([0, 1], [O, "B-PER"])
    with pytest.raises(ValueError, match=r"word_label_ids\[0\] .*must be an integer in 0\.\.8, got 9"):
        ner.align_labels([0], [9])
    with pytest.raises(ConllFormatError, match=r"sentence 1.*'B-FOO'.*allowed: O, B-PER, I-PER"):
        ner.tokenize_and_align(tokenizer, [Sentence(["a"], ["O"]), Sentence(["b", "c"], ["O", "B-FOO"])])
    with pytest.raises(ValueError, match=r"sentence 0: lengths differ: tokens has 2, tags has 1"):
        ner.tokenize_and_align(tokenizer, [Sentence(["a", "b"], ["O"])])
    with pytest.raises(TypeError, match=r"sentence 0 is the string"):
        ner.tokenize_and_align(tokenizer, ["EU rejects German call"])
    with pytest.raises(ValueError, match=r"adds 2 special tokens\): max_length must be an integer >= 3, got 2"):
        ner.tokenize_and_align(tokenizer, [Sentence(["a"], ["O"])], max_length=2)


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("label_all_subtokens", [False, True])
def test_decode_round_trip(tokenizer, label_all_subtokens):
    sentences = [Sentence(w, t) for w, t, *_ in ALIGN_CASES.values()]
    for sentence, feature in zip(sentences, ner.tokenize_and_align(tokenizer, sentences,
                                                                 label_all_subtokens=label_all_subtokens)):
        padded = feature["labels"] + [X] * 7  # predictions may be longer (batch padding)
        assert ner.align._decode_predictions(padded, feature["word_ids"], len(sentence.tokens)) == sentence.tags


def test_decode_uses_first_sub_token_and_fills_lost_words_with_O(tokenizer):
    # Predictions disagree inside "Homogenization": only the first piece counts.
    assert ner.align._decode_predictions([O, B_ORG, O, B_PER, O, O], [None, 0, 0, 0, 1, None], 2) == ["B-ORG", "O"]
    words, tags, *_ = ALIGN_CASES["multi-piece word"]
    (feature,) = ner.tokenize_and_align(tokenizer, [Sentence(words, tags)], max_length=6)
    decoded = ner.align._decode_predictions(torch.tensor(feature["labels"]).clamp(min=0), feature["word_ids"],
                                            len(words))
    assert decoded == ["B-MISC", "O", "O", "O", "O"]  # words 2-4 were truncated away: "O"
    # A word the tokenizer drops entirely (a lone zero-width space) also gets "O".
    (feature,) = ner.tokenize_and_align(tokenizer, [Sentence(["\u200b", "Paris"], ["B-LOC", "B-LOC"])])
    assert feature["word_ids"] == [None, 1, None]
    assert ner.align._decode_predictions(feature["labels"], feature["word_ids"], 2) == ["O", "B-LOC"]


def test_decode_errors():
    with pytest.raises(ValueError, match=r"prediction 12; expected a label id 0\.\.8"):
        ner.align._decode_predictions([0, 12, 0], [None, 0, None], 1)


def _tiny_bert(seed=0):
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=len(TAGS), id2label=dict(enumerate(TAGS)),
                        label2id=TAG2ID)
    model = BertForTokenClassification(config).double()
    with torch.no_grad():
        model.classifier.weight.mul_(50)  # spread the logits: no near-ties in argmax
    return model


def test_predict_tags_matches_unbatched_unpadded_run(tokenizer):
    model = _tiny_bert()
    model.train()
    sentences = [w for w, *_ in ALIGN_CASES.values()] + [["EU", "rejects", "German", "call"], []]
    expected = []
    with torch.no_grad():
        model.eval()
        for words in sentences:
            encoding = tokenizer(words, is_split_into_words=True, return_tensors="pt")
            logits = model(**encoding).logits[0]
            expected.append(ner.align._decode_predictions(logits.argmax(-1), encoding.word_ids(0), len(words)))
        model.train()
    for batch_size in (1, 2, 32):
        assert ner.predict_tags(model, tokenizer, sentences, batch_size=batch_size) == expected
    assert model.training, "predict_tags must restore the model's training mode"
    assert ner.predict_tags(model, tokenizer, [Sentence(sentences[0], ["O"] * 5)]) == expected[:1]
    assert len({tag for tags in expected for tag in tags}) > 1  # a real test, not all one tag


class _StubModel(torch.nn.Module):
    """Predicts label id 0 everywhere and records the mode it was called in."""

    def __init__(self, id2label):
        super().__init__()
        self.config = SimpleNamespace(num_labels=len(id2label), id2label=id2label)
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.calls = []

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        self.calls.append((self.training, torch.is_grad_enabled(), tuple(input_ids.shape)))
        logits = torch.zeros(*input_ids.shape, self.config.num_labels)
        logits[..., 0] = 1.0
        return SimpleNamespace(logits=logits)


def test_predict_tags_uses_id2label_eval_mode_no_grad_and_batches(tokenizer):
    model = _StubModel({i: tag for i, tag in enumerate(reversed(TAGS))})  # id 0 is I-MISC here
    sentences = [["a"], ["b", "c"], ["d", "e", "f"]]
    assert ner.predict_tags(model, tokenizer, sentences, batch_size=2) == [["I-MISC"], ["I-MISC"] * 2, ["I-MISC"] * 3]
    assert model.calls == [(False, False, (2, 4)), (False, False, (1, 5))]  # padded per batch only
    default_names = _StubModel({i: f"LABEL_{i}" for i in range(9)})
    assert ner.predict_tags(default_names, tokenizer, [["a"]]) == [["O"]]
    with pytest.raises(ValueError, match=r"3 labels \(LABEL_0, LABEL_1, LABEL_2\), not named as IOB tags"):
        ner.predict_tags(_StubModel({i: f"LABEL_{i}" for i in range(3)}), tokenizer, [["a"]])
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
        ner.predict_tags(model, tokenizer, [["a"]], batch_size=0)


# ---------------------------------------------------------------------------
# Entity scores: seqeval default mode and an independent conlleval port
# ---------------------------------------------------------------------------
def _split(tag):
    """conlleval: ($tag, $type) = split(/-/, $tag); a tag without '-' has type ''."""
    tag, _, kind = tag.partition("-")
    return tag, kind


def _end_of_chunk(prev_tag, tag, prev_type, kind):
    # conlleval's endOfChunk (IOB/IOE rules; the '[' ']' bracket tags are not used here)
    end = (prev_tag, tag) in {("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"),
                              ("E", "E"), ("E", "I"), ("E", "O")}
    if prev_tag not in ("O", ".") and prev_type != kind:
        end = True
    return end


def _start_of_chunk(prev_tag, tag, prev_type, kind):
    # conlleval's startOfChunk
    start = (prev_tag, tag) in {("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"),
                                ("E", "E"), ("E", "I"), ("O", "E")}
    if tag not in ("O", ".") and prev_type != kind:
        start = True
    return start


def conlleval_counts(true_tags, pred_tags):
    """conlleval's main loop: streams the words, a blank line (O O) between sentences.

    Returns (correct_chunks, found_guessed, found_correct, correct_tags, tokens),
    the first three as dicts by type plus an overall "" entry.
    """
    from collections import Counter

    correct_chunk, found_guessed, found_correct = Counter(), Counter(), Counter()
    correct_tags = token_count = 0
    in_correct = False
    last_correct, last_correct_type, last_guessed, last_guessed_type = "O", "", "O", ""
    stream = []
    for gold, pred in zip(true_tags, pred_tags):
        stream += list(zip(gold, pred)) + [None]  # None: the boundary line
    for item in stream:
        gold, pred = ("O", "O") if item is None else item
        correct, correct_type = _split(gold)
        guessed, guessed_type = _split(pred)
        correct_ends = _end_of_chunk(last_correct, correct, last_correct_type, correct_type)
        guessed_ends = _end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if in_correct:
            if correct_ends and guessed_ends and last_guessed_type == last_correct_type:
                in_correct = False
                correct_chunk[""] += 1
                correct_chunk[last_correct_type] += 1
            elif correct_ends != guessed_ends or guessed_type != correct_type:
                in_correct = False
        correct_starts = _start_of_chunk(last_correct, correct, last_correct_type, correct_type)
        guessed_starts = _start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if correct_starts and guessed_starts and guessed_type == correct_type:
            in_correct = True
        if correct_starts:
            found_correct[""] += 1
            found_correct[correct_type] += 1
        if guessed_starts:
            found_guessed[""] += 1
            found_guessed[guessed_type] += 1
        if item is not None:
            correct_tags += correct == guessed and guessed_type == correct_type
            token_count += 1
        last_correct, last_correct_type, last_guessed, last_guessed_type = correct, correct_type, guessed, guessed_type
    if in_correct:
        correct_chunk[""] += 1
        correct_chunk[last_correct_type] += 1
    return correct_chunk, found_guessed, found_correct, correct_tags, token_count


def conlleval_scores(true_tags, pred_tags):
    correct, guessed, gold, _, _ = conlleval_counts(true_tags, pred_tags)

    def prf(key):
        p = correct[key] / guessed[key] if guessed[key] else 0.0
        r = correct[key] / gold[key] if gold[key] else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0), gold[key], guessed[key], correct[key]

    return {key or "overall": prf(key) for key in ("", *ner.ENTITY_TYPES)}


def _ours(scores):
    result = {"overall": tuple(scores[k] for k in ("precision", "recall", "f1", "support", "predicted", "correct"))}
    for kind in ner.ENTITY_TYPES:
        s = scores[kind]
        result[kind] = (s["precision"], s["recall"], s["f1"], s["support"], s["predicted"], s["correct"])
    return result


def _assert_scores_equal(ours, reference):
    assert ours.keys() == reference.keys()
    for key in ours:
        assert ours[key] == pytest.approx(reference[key], abs=1e-12), key


def _assert_matches_seqeval(true_tags, pred_tags, scores):
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert scores["precision"] == pytest.approx(precision_score(true_tags, pred_tags))
        assert scores["recall"] == pytest.approx(recall_score(true_tags, pred_tags))
        assert scores["f1"] == pytest.approx(f1_score(true_tags, pred_tags))
        p, r, f, s = precision_recall_fscore_support(true_tags, pred_tags, average=None)
    present = sorted({k for k in ner.ENTITY_TYPES if scores[k]["support"] or scores[k]["predicted"]})
    for i, kind in enumerate(present):
        assert (scores[kind]["precision"], scores[kind]["recall"], scores[kind]["f1"], scores[kind]["support"]) \
            == pytest.approx((p[i], r[i], f[i], s[i]))


HAND_CASES = [
    # (true_tags, pred_tags, expected overall (precision, recall, f1))
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]], (0.5, 0.5, 0.5)),
    # I- after O starts an entity (conlleval): the prediction is counted correct.
    ([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]], (1.0, 1.0, 1.0)),
    # I-X after B-Y: two entities, a one-word ORG and a one-word PER.
    ([["B-ORG", "B-PER", "O"]], [["B-ORG", "I-PER", "O"]], (1.0, 1.0, 1.0)),
    ([["B-ORG", "I-ORG", "O"]], [["B-ORG", "I-PER", "O"]], (0.0, 0.0, 0.0)),
    # Entities do not run across sentence boundaries.
    ([["O", "B-MISC"], ["I-MISC", "O"]], [["O", "B-MISC"], ["B-MISC", "O"]], (1.0, 1.0, 1.0)),
    ([["B-LOC", "I-LOC", "I-LOC"], ["O"]], [["B-LOC", "I-LOC", "O"], ["B-PER"]], (0.0, 0.0, 0.0)),
    ([["O", "O"]], [["O", "O"]], (0.0, 0.0, 0.0)),
]


@pytest.mark.parametrize("true_tags, pred_tags, expected", HAND_CASES)
def test_entity_scores_hand_cases(true_tags, pred_tags, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no zero-division or "not NE tag" warnings leak out
        scores = ner.entity_scores(true_tags, pred_tags)
    assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx(expected)
    _assert_matches_seqeval(true_tags, pred_tags, scores)
    _assert_scores_equal(_ours(scores), conlleval_scores(true_tags, pred_tags))


def test_entity_scores_per_type_by_hand():
    true_tags = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"], ["B-LOC", "O", "B-MISC", "I-MISC"]]
    pred_tags = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC"], ["B-LOC", "O", "B-MISC", "O"]]
    scores = ner.entity_scores(true_tags, pred_tags)
    assert (scores["support"], scores["predicted"], scores["correct"]) == (5, 5, 3)
    assert scores["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1, "predicted": 1, "correct": 1}
    assert scores["LOC"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8,
                                           "support": 2, "predicted": 3, "correct": 2})
    assert scores["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0, "correct": 0}
    assert scores["MISC"]["predicted"] == 1 and scores["MISC"]["f1"] == 0.0


def test_default_mode_differs_from_strict_mode():
    """Why the default mode: conlleval (and the published CoNLL numbers) keep I- starts."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    true_tags, pred_tags = [["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]]
    assert ner.entity_scores(true_tags, pred_tags)["f1"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert f1_score(true_tags, pred_tags, mode="strict", scheme=IOB2) == 0.0


def _random_tags(rng, length, well_formed):
    tags, previous = [], "O"
    for _ in range(length):
        tag = rng.choice(TAGS)
        if well_formed and tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        tags.append(tag)
        previous = tag
    return tags


def _perturb(rng, tags):
    return [rng.choice(TAGS) if rng.random() < 0.25 else tag for tag in tags]


@pytest.mark.parametrize("seed", range(40))
def test_entity_scores_match_conlleval_port_and_seqeval_on_random_tags(seed):
    rng = random.Random(seed)
    well_formed = seed % 2 == 0  # odd seeds: ill-formed sequences (I- after O, I-X after B-Y, ...)
    true_tags = [_random_tags(rng, rng.randint(0, 12), well_formed) for _ in range(rng.randint(1, 8))]
    pred_tags = [_perturb(rng, tags) if rng.random() < 0.8 else _random_tags(rng, len(tags), False)
                 for tags in true_tags]
    scores = ner.entity_scores(true_tags, pred_tags)
    _assert_scores_equal(_ours(scores), conlleval_scores(true_tags, pred_tags))
    _assert_matches_seqeval(true_tags, pred_tags, scores)
    _, _, _, correct_tags, token_count = conlleval_counts(true_tags, pred_tags)
    if token_count:
        assert ner.token_accuracy(true_tags, pred_tags) == pytest.approx(correct_tags / token_count)
    confusion = ner.type_confusion(true_tags, pred_tags)
    for kind in ner.ENTITY_TYPES:
        assert confusion[kind][kind] == scores[kind]["correct"]
        assert sum(confusion[kind].values()) == scores[kind]["support"]
        assert sum(row[kind] for row in confusion.values()) == scores[kind]["predicted"]
    assert confusion["none"]["none"] == 0


def test_token_accuracy_by_hand_and_versus_entity_f1():
    true_tags = [["B-PER", "I-PER", "O", "O"], ["B-LOC"]]
    pred_tags = [["B-PER", "O", "O", "O"], ["B-ORG"]]
    assert ner.token_accuracy(true_tags, pred_tags) == pytest.approx(3 / 5)
    assert ner.token_accuracy(true_tags, pred_tags, include_O=False) == pytest.approx(1 / 3)
    # The source articles' trap: most words are O, so token accuracy looks great
    # while not one entity is right.
    true_tags = [["O"] * 10 + ["B-ORG", "I-ORG", "I-ORG"]]
    pred_tags = [["O"] * 10 + ["B-ORG", "I-ORG", "O"]]
    assert ner.token_accuracy(true_tags, pred_tags) == pytest.approx(12 / 13)
    assert ner.entity_scores(true_tags, pred_tags)["f1"] == 0.0
    with pytest.raises(ValueError, match="no words to score"):
        ner.token_accuracy([["O"]], [["B-PER"]], include_O=False)


@pytest.mark.parametrize("function", [ner.entity_scores, ner.token_accuracy, ner.type_confusion])
def test_scoring_validates_inputs(function):
    name = function.__name__
    with pytest.raises(ValueError, match=rf"{name}: sentences: lengths differ: true_tags has 2, pred_tags has 1"):
        function([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match=rf"{name}: sentence 2: lengths differ: true_tags has 3, pred_tags has 2"):
        function([["O"], ["O"], ["O", "O", "O"], ["O"]], [["O"], ["O"], ["O", "O"], ["O", "O"]])
    with pytest.raises(ConllFormatError, match=r"pred_tags sentence 1: unknown tag 'B-DATE'.*allowed: O, B-PER"):
        function([["O"], ["O"]], [["O"], ["B-DATE"]])
    with pytest.raises(TypeError, match=r"true_tags is a list of strings.*wrap it"):
        function(["B-PER", "O"], ["B-PER", "O"])


# ---------------------------------------------------------------------------
# Error analysis
# ---------------------------------------------------------------------------
ERROR_TOKENS = [["Ann", "Lee", "met", "Acme", "Corp", "in", "New", "York", "with", "Dutch", "Bob", "."],
                ["South", "Africa", "won", "."],
                ["Bo", "Jo", "left"],
                ["All", "fine", "here"]]
ERROR_TRUE = [["B-PER", "I-PER", "O", "B-ORG", "O", "O", "B-LOC", "I-LOC", "O", "B-MISC", "O", "O"],
              ["B-LOC", "I-LOC", "O", "O"],
              ["B-PER", "B-PER", "O"],
              ["B-ORG", "O", "O"]]
ERROR_PRED = [["B-ORG", "I-ORG", "O", "B-ORG", "I-ORG", "O", "O", "B-LOC", "O", "O", "B-PER", "O"],
              ["O", "B-PER", "I-PER", "O"],
              ["B-PER", "I-PER", "O"],
              ["B-ORG", "O", "O"]]


def test_entity_error_categories_by_hand():
    errors = ner.entity_errors(ERROR_TRUE, ERROR_PRED, ERROR_TOKENS)
    summary = [(e["sentence"], e["kind"], e["gold_text"], e["pred_text"]) for e in errors]
    assert summary == [
        (0, "type", "Ann Lee", "Ann Lee"),
        (0, "boundary", "Acme", "Acme Corp"),
        (0, "boundary", "New York", "York"),
        (0, "missed", "Dutch", None),
        (0, "spurious", None, "Bob"),
        (1, "boundary+type", "South Africa", "Africa won"),
        (2, "boundary", "Bo", "Bo Jo"),  # one prediction spanning two gold entities
        (2, "boundary", "Jo", "Bo Jo"),
    ]
    first = errors[0]
    assert first == {"sentence": 0, "kind": "type", "gold_type": "PER", "gold_span": (0, 2), "gold_text": "Ann Lee",
                     "pred_type": "ORG", "pred_span": (0, 2), "pred_text": "Ann Lee"}
    assert set(e["kind"] for e in errors) == {"type", "boundary", "boundary+type", "missed", "spurious"}
    assert ner.entity_errors(ERROR_TRUE[3:], ERROR_PRED[3:], ERROR_TOKENS[3:]) == []


def test_type_confusion_by_hand():
    confusion = ner.type_confusion(ERROR_TRUE, ERROR_PRED)
    assert set(confusion) == {"PER", "ORG", "LOC", "MISC", "none"}
    nonzero = {(g, p): n for g, row in confusion.items() for p, n in row.items() if n}
    assert nonzero == {
        ("PER", "ORG"): 1,   # Ann Lee
        ("ORG", "ORG"): 1,   # All (sentence 3)
        ("ORG", "none"): 1, ("none", "ORG"): 1,  # Acme / Acme Corp
        ("LOC", "none"): 2, ("none", "LOC"): 1,  # New York / York, South Africa
        ("MISC", "none"): 1,  # Dutch
        ("none", "PER"): 3,  # Bob, Africa won, Bo Jo
        ("PER", "none"): 2,  # Bo, Jo
    }


def test_worst_sentences_ranks_by_number_of_errors():
    worst = ner.worst_sentences(ERROR_TRUE, ERROR_PRED, ERROR_TOKENS, k=2)
    assert [(w["sentence"], w["num_errors"]) for w in worst] == [(0, 5), (2, 2)]
    assert worst[1]["tokens"] == ERROR_TOKENS[2] and worst[1]["pred_tags"] == ERROR_PRED[2]
    assert [e["kind"] for e in worst[1]["errors"]] == ["boundary", "boundary"]
    everything = ner.worst_sentences(ERROR_TRUE, ERROR_PRED, ERROR_TOKENS, k=10)
    assert [w["sentence"] for w in everything] == [0, 2, 1]  # no error-free sentence 3; ties keep order
    with pytest.raises(ValueError, match=r"k must be an integer >= 0, got -1"):
        ner.worst_sentences(ERROR_TRUE, ERROR_PRED, ERROR_TOKENS, k=-1)
    with pytest.raises(ValueError, match=r"sentence 1: lengths differ: true_tags has 4, pred_tags has 4, tokens has 3"):
        ner.entity_errors(ERROR_TRUE, ERROR_PRED, [ERROR_TOKENS[0], ["a", "b", "c"], *ERROR_TOKENS[2:]])


# ---------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------
def test_highlight_html_escapes_and_has_one_span_per_entity():
    tokens = ["<script>alert(1)</script>", "met", "A&B", "in", '"Paris"', "and", "Rome"]
    tags = ["B-PER", "O", "B-ORG", "O", "B-LOC", "O", "I-LOC"]  # "Rome": an I- start is an entity too
    page = _highlight_html(tokens, tags)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A&amp;B" in page and "&quot;Paris&quot;" in page
    assert page.count("<span") == page.count("</span>") == 4
    assert page.count(_COLOURS["LOC"]) == 2 and page.count(_COLOURS["PER"]) == 1
    inside = [re.sub(r"<small[^>]*>.*?</small>", "", body).strip()
              for body in re.findall(r"<span[^>]*>(.*?)</span>", page)]
    assert inside == ["&lt;script&gt;alert(1)&lt;/script&gt;", "A&amp;B", "&quot;Paris&quot;", "Rome"]
    plain = _highlight_html(["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"])
    text = re.sub(r"<[^>]+>", "", plain)
    assert text.split() == ["EU", "ORG", "rejects", "German", "MISC", "call"]
    with pytest.raises(ValueError, match=r"lengths differ: tokens has 2, tags has 1"):
        _highlight_html(["a", "b"], ["O"])
    with pytest.raises(ConllFormatError, match=r"unknown tag 'PER'"):
        _highlight_html(["a"], ["PER"])


def test_show_entities_prints_plain_text_outside_jupyter(capsys):
    ner.show_entities(["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
                      ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"])
    assert capsys.readouterr().out.strip() == "[EU]ORG rejects [German]MISC call to boycott [British]MISC lamb ."


# ---------------------------------------------------------------------------
# read_conll errors (the reader itself is exercised in test_hub/test_data)
# ---------------------------------------------------------------------------
def test_read_conll_names_file_and_line_of_a_malformed_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("-DOCSTART- O\n\nEU B-ORG\nrejects\n", encoding="utf-8")
    with pytest.raises(ConllFormatError) as error:
        ner.read_conll(path)
    assert f"{path}:4:" in str(error.value) and "'rejects'" in str(error.value)


def test_read_conll_names_an_unknown_tag_and_the_allowed_set(tmp_path):
    path = tmp_path / "tags.conll"
    path.write_text("EU NNP B-ORG\n\nMonday NNP B-DATE\n", encoding="utf-8")
    with pytest.raises(ConllFormatError) as error:
        ner.read_conll(path)
    message = str(error.value)
    assert f"{path}:3:" in message and "'B-DATE'" in message
    assert "allowed: " + ", ".join(TAGS) in message


def test_conll_round_trip_feeds_alignment(tmp_path, tokenizer):
    sentences = [Sentence(w, t) for w, t, *_ in ALIGN_CASES.values()]
    path = ner.write_conll(tmp_path / "ok.conll", sentences)
    assert ner.read_conll(path) == sentences
    features = ner.tokenize_and_align(tokenizer, ner.read_conll(path))
    assert [f["labels"] for f in features] == [c[3] for c in ALIGN_CASES.values()]


def test_check_tags_names_the_tag_and_suggests_tag_set():
    ner.conll._check_tags(["O", "B-PER", "I-PER"])
    ner.conll._check_tags(["B-geo-loc"], allowed=None)
    with pytest.raises(ConllFormatError,
                       match=r"x: unknown tag 'B-geo-loc' at position 1; allowed: O, B-PER.*ner\.tag_set"):
        ner.conll._check_tags(["O", "B-geo-loc"], where="x")


def test_entity_spans_read_entities_as_conlleval_does():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "O", "B-ORG"]
    # an I- after O starts an entity; a B- right after one of the same type starts another
    assert ner.entity_spans(tags) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("ORG", 6, 7)]
    assert ner.entity_spans(["O", "O"]) == []


def test_recall_seen_unseen_by_hand():
    train_sentences = [Sentence(["Ann", "met", "Acme"], ["B-PER", "O", "B-ORG"])]
    test_sentences = [Sentence(["Ann", "and", "Bob", "at", "Acme"], ["B-PER", "O", "B-PER", "O", "B-LOC"])]
    result = ner.recall_seen_unseen(train_sentences, test_sentences, [["B-PER", "O", "O", "O", "B-LOC"]])
    # "Ann" (PER) was seen and found; "Bob" unseen and missed; "Acme" as LOC is unseen (seen as ORG), found.
    assert result == {"seen": {"recall": 1.0, "found": 1, "total": 1}, "unseen": {"recall": 0.5, "found": 1, "total": 2}}
