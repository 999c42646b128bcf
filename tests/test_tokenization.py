"""lablib.tokenization: the byte-level BPE of lab 08 equals Hugging Face's ``tokenizers``, merge for merge.

The reference is GPT-2's set-up in ``tokenizers``: a ``BPE`` model, the ``ByteLevel`` pre-tokenizer without
a prefix space, a ``BpeTrainer`` whose initial alphabet is the 256 byte symbols, no special tokens, and the
``ByteLevel`` decoder. Its ids are comparable one to one: the trainer numbers the byte symbols in character
order and each new token in the order it is learned, as ``train_bpe`` does.
"""
import json
import random

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from lablib.tokenization import BPE, fertility, train_bpe

ENGLISH = [
    sentence.replace("fox", animal).replace("3", number)
    for animal, number in [("fox", "3"), ("cat", "12"), ("hen", "7"), ("ox", "2024")]
    for sentence in [
        "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs 3 miles!",
        "A lazy fox and a quick dog: they're friends, aren't they? We'll see what the fox does.",
        "Tokenizers split text into pieces; the fox learns that frequent pieces become tokens.",
    ]
] * 3
UNICODE = [
    "naïve café 2024 ☃ über straße 12345 — ¡hola! 東京 2023-11-05, 3.14159",
    "emoji 🎉🎉 ok 99 bottles... café naïve Ωmega\tTAB\n\nnew lines  two  spaces",
] * 4
_RNG = random.Random(8)
RANDOM = ["".join(_RNG.choice("abcde fgh.,!0123é☃\n") for _ in range(_RNG.randint(20, 200))) for _ in range(150)]
HELD_OUT = [
    "The lazy cat jumps. naïve 2025 ☃☃ 東京!",
    "  double  spaces\tand\nnewlines 007 ",
    "zzz unseen Ωmega 🎉, don't they'll",
    "",
]


def hf_bpe(texts, vocab_size, min_frequency):
    """Hugging Face's byte-level BPE, trained with the settings that reproduce GPT-2's."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def hf_merges(tokenizer):
    """The merges in rank order; saved as pairs, or as "a b" strings by older versions."""
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


@pytest.mark.parametrize("texts, vocab_size, min_frequency", [
    (ENGLISH, 256, 2),  # no merges at all: the byte symbols alone
    (ENGLISH, 300, 2),
    (ENGLISH, 2000, 1),  # stops early: every word has become one token
    (UNICODE, 400, 2),
    (UNICODE, 1000, 0),
    (RANDOM, 600, 2),
    (RANDOM, 1000, 4),  # stops early: no pair occurs 4 times any more
], ids=["english-256", "english-300", "english-all", "unicode-400", "unicode-all", "random-600", "random-min4"])
def test_same_as_hugging_face(texts, vocab_size, min_frequency):
    ours, theirs = train_bpe(texts, vocab_size, min_frequency), hf_bpe(texts, vocab_size, min_frequency)
    assert ours.merges == hf_merges(theirs)
    assert ours.vocab == theirs.get_vocab()
    for text in HELD_OUT + texts[:3]:
        encoding = theirs.encode(text)
        assert ours.tokens(text) == encoding.tokens
        assert ours.encode(text) == encoding.ids
        assert ours.decode(ours.encode(text)) == text == theirs.decode(encoding.ids)


def test_ties_go_to_the_pair_of_smaller_ids_not_the_smaller_string():
    # Every pair occurs twice. ('a', 'b') wins first (smallest ids); then ('z', 'z') beats ('ab', 'c'):
    # 'z' is a byte symbol (id 89), 'ab' a new token (id 256), although "ab" < "z" as strings.
    texts = ["abc", "abc", "zz", "zz"]
    expected = [("a", "b"), ("z", "z"), ("ab", "c")]
    assert train_bpe(texts, 300).merges == expected == hf_merges(hf_bpe(texts, 300, 2))
    assert train_bpe(texts, 300).vocab["zz"] == 257


def test_space_joins_the_next_word_and_decoding_is_byte_exact():
    bpe = train_bpe(["hello world, hello world"] * 3, 300)
    assert bpe.tokens("hello world") == ["hello", "Ġworld"]
    every_byte = bytes(range(256)).decode("latin-1") + "🎉 ☃ 東京 9876543210"
    assert bpe.decode(bpe.encode(every_byte)) == every_byte
    assert bpe.decode([bpe.vocab["Ã"]]) == "\ufffd" == hf_bpe(["x"], 256, 2).decode([bpe.vocab["Ã"]])  # half a char


def test_fertility_counts_tokens_per_word():
    untrained = train_bpe(["ab cd"], 256)
    assert fertility(untrained, "ab cd") == 2.5  # a, b, Ġ, c, d
    trained = train_bpe(ENGLISH, 600)
    unseen = "Zebras quizzically vex jumpy wolves"
    assert fertility(trained, ENGLISH[0]) < fertility(trained, unseen) < fertility(untrained, unseen) == 7
    with pytest.raises(ValueError, match="fertility: text has no words"):
        fertility(trained, "  ")


@pytest.mark.parametrize("texts, vocab_size, min_frequency, error, message", [
    ("just one string", 300, 2, TypeError, "texts must be a list of strings, got str"),
    (["fine", 42], 300, 2, TypeError, r"texts must be a list of strings, but texts\[1\] is int"),
    ([b"bytes"], 300, 2, TypeError, r"texts must be a list of strings, but texts\[0\] is bytes"),
    ((text for text in ENGLISH), 300, 2, TypeError, "texts must be a list of strings, got generator"),
    ([], 300, 2, ValueError, r"texts hold no words to learn from \(empty corpus\)"),
    (["", ""], 300, 2, ValueError, r"texts hold no words to learn from \(empty corpus\)"),
    (["abc"], 255, 2, ValueError, "vocab_size must be an integer >= 256, got 255"),
    (["abc"], "300", 2, TypeError, "vocab_size must be an integer"),
    (["abc"], 300, -1, ValueError, "min_frequency must be an integer >= 0"),
])
def test_bad_input_is_named(texts, vocab_size, min_frequency, error, message):
    with pytest.raises(error, match=f"train_bpe: {message}"):
        train_bpe(texts, vocab_size, min_frequency)


def test_decode_rejects_unknown_ids():
    bpe = train_bpe(["abc"], 256)
    assert isinstance(bpe, BPE) and len(bpe.vocab) == 256 and bpe.merges == []
    with pytest.raises(ValueError, match=r"decode: ids not in the vocabulary \(256 tokens\): \[256, -1\]"):
        bpe.decode([0, 256, -1])
