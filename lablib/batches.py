"""Batches for the training loop: dynamic padding, length-grouped batches, batches by tokens (lab 03)."""
from __future__ import annotations

import math
import operator
import random
from typing import Callable, Mapping, Sequence

import torch

from . import checks as C

#: Keys any collator of this course can pad; others (e.g. ``word_ids``) are dropped.
_PADDABLE_KEYS = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask", "labels", "label")


def _pack(indices: Sequence[int], lengths: Sequence[int], max_tokens: int) -> list:
    """Cut ``indices`` (in order) into batches whose padded size, rows x longest, stays within ``max_tokens``."""
    batches, batch, longest = [], [], 0
    for i in indices:
        if batch and (len(batch) + 1) * max(longest, lengths[i]) > max_tokens:
            batches.append(batch)
            batch, longest = [], 0
        batch.append(i)
        longest = max(longest, lengths[i])
    return batches + [batch] if batch else batches


def _length_grouped_batches(lengths: Sequence[int], batch_size: int | None, *, seed: int = 0,
                            mega_batch_factor: int = 50, max_tokens: int | None = None) -> list:
    """Batches of indices of similar length, in random order, the longest first.

    ``batch_size`` examples per batch, or with ``max_tokens`` as many as fit in that many padded positions.
    """
    where = "length_grouped_batches"
    if max_tokens is None:
        C.integer(batch_size, "batch_size", where)
    else:
        C.integer(max_tokens, "max_tokens", where)
    C.integer(mega_batch_factor, "mega_batch_factor", where)
    C.integer(seed, "seed", where, low=None)
    try:
        lengths = [operator.index(n) for n in lengths]
    except TypeError:
        raise ValueError(f"{where}: lengths must be a sequence of ints (tokens per example), "
                         f"got {lengths!r:.80}") from None
    if not lengths:
        raise ValueError(f"{where}: lengths is empty; need the length of at least one example")
    if min(lengths) < 0:
        raise ValueError(f"{where}: lengths must be >= 0, got {min(lengths)}")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    typical = batch_size or max(1, max_tokens * len(lengths) // max(1, sum(lengths)))
    mega = typical * mega_batch_factor
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start:start + mega], key=lambda i: lengths[i], reverse=True)
        batches.extend(_pack(chunk, lengths, max_tokens) if max_tokens else
                       (chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)))
    rng.shuffle(batches)
    longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
    batches[0], batches[longest] = batches[longest], batches[0]
    return batches


class _BatchOrder:
    """The batch sampler of :func:`make_loader`; pass ``epoch`` draws its order from ``seed + epoch``."""

    def __init__(self, lengths: Sequence[int], batch_size: int | None, *, shuffle: bool, group_by_length: bool,
                 seed: int, max_tokens: int | None = None):
        self.lengths, self.batch_size, self.max_tokens, self.shuffle = list(lengths), batch_size, max_tokens, shuffle
        self.group_by_length, self.seed, self.epoch = group_by_length, seed, 0

    def batches(self, epoch: int) -> list:
        """The batches of pass number ``epoch`` (0-based)."""
        n, size = len(self.lengths), self.batch_size
        if self.shuffle and self.group_by_length:
            return _length_grouped_batches(self.lengths, size, seed=self.seed + epoch, max_tokens=self.max_tokens)
        order = list(range(n))
        if self.shuffle:
            random.Random(self.seed + epoch).shuffle(order)
        if self.max_tokens:
            return _pack(order, self.lengths, self.max_tokens)
        return [order[i:i + size] for i in range(0, n, size)]

    def __iter__(self):
        self.epoch += 1
        return iter(self.batches(self.epoch - 1))

    def __len__(self) -> int:
        if self.max_tokens:
            return len(self.batches(self.epoch))
        return math.ceil(len(self.lengths) / self.batch_size)


class _PaddableOnly:
    """Wrap a collator so that it only sees the keys it can pad (drops e.g. ``word_ids``)."""

    def __init__(self, collator: Callable, keep: Sequence[str]):
        self.collator, self.keep = collator, frozenset(keep)

    def __call__(self, features: list):
        return self.collator([{k: v for k, v in f.items() if k in self.keep} for f in features])


def make_loader(features: Sequence[Mapping], collator: Callable, batch_size: int | None = None, *,
                max_tokens: int | None = None, shuffle: bool = True, group_by_length: bool = True,
                seed: int = 0) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` of batches padded by ``collator`` to their own longest example (lab 03).

    A batch holds ``batch_size`` examples, or as many as fit in ``max_tokens`` padded positions.
    """
    where = "make_loader"
    if (batch_size is None) == (max_tokens is None):
        raise ValueError(f"{where}: give exactly one of batch_size= and max_tokens=, "
                         f"got batch_size={batch_size!r}, max_tokens={max_tokens!r}")
    if max_tokens is None:
        C.integer(batch_size, "batch_size", where)
    else:
        C.integer(max_tokens, "max_tokens", where)
    if not callable(collator):
        raise ValueError(f"{where}: collator must be callable (e.g. DataCollatorForTokenClassification(tokenizer)), "
                         f"got {collator!r}")
    if len(features) == 0:
        raise ValueError(f"{where}: features is empty; need at least one tokenized example")
    lengths = []
    for index, feature in enumerate(features):
        if not isinstance(feature, Mapping) or "input_ids" not in feature:
            raise ValueError(f"{where}: features[{index}] must be a mapping with 'input_ids', got {feature!r:.80}")
        lengths.append(len(feature["input_ids"]))
    keep = set(_PADDABLE_KEYS) | set(getattr(getattr(collator, "tokenizer", None), "model_input_names", ()))
    if max_tokens is not None and max(lengths) > max_tokens:
        raise ValueError(f"{where}: features[{lengths.index(max(lengths))}] has {max(lengths)} tokens, more than "
                         f"max_tokens={max_tokens}; raise max_tokens or tokenize with a smaller max_length")
    order = _BatchOrder(lengths, batch_size, shuffle=shuffle, group_by_length=group_by_length, seed=seed,
                        max_tokens=max_tokens)
    return torch.utils.data.DataLoader(features, batch_sampler=order, collate_fn=_PaddableOnly(collator, keep))
