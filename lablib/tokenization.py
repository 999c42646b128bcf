"""Byte-level BPE trained by hand, the tokenizer of GPT-2 (chapter "Generative pretraining", lab 08).

Text is split into words with GPT-2's regular expression, each word written as bytes, one printable character
a byte (a space becomes 'Ġ'); training merges the most frequent adjacent pair of symbols again and again. The
result equals Hugging Face's ``tokenizers`` (``BpeTrainer``, ``ByteLevel``): merges, vocabulary and ids.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property

import regex

from lablib import checks

# GPT-2's pre-tokenizer: contractions, letters, digits or other symbols (each with at most one space in front),
# and runs of white space. A merge never crosses a word's boundary.
_WORDS = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
# GPT-2's byte-to-character map: printable bytes stand for themselves, the others (space, control bytes, ...)
# take the characters from U+0100 on, in byte order. So every byte is one visible symbol: no unknown tokens.
_PRINTABLE = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
_OTHERS = [b for b in range(256) if b not in _PRINTABLE]
_BYTE_TO_CHAR = {**{b: chr(b) for b in _PRINTABLE}, **{b: chr(256 + n) for n, b in enumerate(_OTHERS)}}
_CHAR_TO_BYTE = {char: b for b, char in _BYTE_TO_CHAR.items()}


def _words(text: str) -> list[str]:
    """``text`` split into GPT-2's words, each written with one character per UTF-8 byte."""
    return ["".join(_BYTE_TO_CHAR[b] for b in word.encode("utf-8")) for word in _WORDS.findall(text)]


def _merge(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """``symbols`` with each occurrence of ``pair`` joined into one symbol, scanning left to right."""
    merged, i = [], 0
    while i < len(symbols):
        width = 2 if tuple(symbols[i:i + 2]) == pair else 1
        merged.append("".join(symbols[i:i + width]))
        i += width
    return merged


@dataclass
class BPE:
    """A trained byte-level BPE (lab 08): ``merges`` in the order learned, ``vocab`` maps token -> id."""
    merges: list[tuple[str, str]]
    vocab: dict[str, int]

    @cached_property
    def _ranks(self) -> dict[tuple[str, str], int]:
        return {pair: rank for rank, pair in enumerate(self.merges)}  # rank 0: the merge learned first

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text``: in each word, apply the earliest-learned merge first, as GPT-2 does (lab 08)."""
        tokens = []
        for word in _words(text):
            symbols = list(word)
            while len(symbols) > 1:
                pair = min(zip(symbols, symbols[1:]), key=lambda p: self._ranks.get(p, len(self._ranks)))
                if pair not in self._ranks:
                    break  # no pair left that training merged
                symbols = _merge(symbols, pair)
            tokens += symbols
        return tokens

    def encode(self, text: str) -> list[int]:
        """The token ids of ``text`` (lab 08)."""
        return [self.vocab[token] for token in self.tokens(text)]

    def decode(self, ids: list[int]) -> str:
        """The text of the token ids: tokens -> bytes -> UTF-8, so ``decode(encode(text)) == text`` (lab 08)."""
        token_of = {i: token for token, i in self.vocab.items()}
        unknown = [i for i in ids if i not in token_of]
        if unknown:
            raise ValueError(f"decode: ids not in the vocabulary ({len(self.vocab)} tokens): {unknown[:5]}")
        data = bytes(_CHAR_TO_BYTE[char] for i in ids for char in token_of[i])
        return data.decode("utf-8", errors="replace")  # a cut through a character shows as U+FFFD


def train_bpe(texts: list[str], vocab_size: int, min_frequency: int = 2) -> BPE:
    """Learn merges from ``texts`` until ``vocab_size`` tokens, or no pair occurs ``min_frequency`` times (lab 08)."""
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"train_bpe: texts must be a list of strings, got {type(texts).__name__}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"train_bpe: texts must be a list of strings, but texts[{i}] is {type(text).__name__}")
    vocab_size = checks.integer(vocab_size, "vocab_size", "train_bpe", low=256)  # the 256 bytes come first
    min_frequency = checks.integer(min_frequency, "min_frequency", "train_bpe", low=0)
    counts = Counter(word for text in texts for word in _words(text))
    if not counts:
        raise ValueError("train_bpe: texts hold no words to learn from (empty corpus)")
    # Ids as in Hugging Face's trainer: the 256 byte symbols sorted by character, then new tokens as learned.
    vocab = {char: i for i, char in enumerate(sorted(_BYTE_TO_CHAR.values()))}
    splits = {word: list(word) for word in counts}  # each distinct word as its current symbols
    merges = []
    while len(vocab) < vocab_size:
        pairs = Counter()
        for word, symbols in splits.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += counts[word]  # a word seen 5 times counts each of its pairs 5 times
        # The most frequent pair; a tie goes to the pair of smaller ids (left, then right), as in Hugging Face.
        best = max(pairs, key=lambda p: (pairs[p], -vocab[p[0]], -vocab[p[1]]), default=None)
        if best is None or pairs[best] < max(min_frequency, 1):
            break  # every word is one token, or no pair is frequent enough
        merges.append(best)
        vocab.setdefault(best[0] + best[1], len(vocab))  # two merges can make the same token
        splits = {word: _merge(symbols, best) for word, symbols in splits.items()}
    return BPE(merges, vocab)


def fertility(bpe: BPE, text: str) -> float:
    """Tokens per word of ``text`` (words split at white space): 1.0 means one token a word (lab 08)."""
    words = text.split()
    if not words:
        raise ValueError("fertility: text has no words")
    return len(bpe.tokens(text)) / len(words)
