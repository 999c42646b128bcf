"""Batches for the training loop: dynamic padding, length-grouped batches, batches by tokens (lab 03)."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch

from . import checks as C

#: Keys any collator of this course can pad; others (e.g. ``word_ids``) are dropped.
_PADDABLE_KEYS = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask", "labels", "label")
#: Examples are sorted by length within chunks of this many batches: similar lengths, yet a random order.
_MEGA_BATCH_FACTOR = 50


def _cut(indices: list, lengths: Sequence[int], batch_size: int | None, max_tokens: int | None) -> list:
    """Cut ``indices`` (in order) into batches of ``batch_size``, or of padded size rows x longest <= ``max_tokens``."""
    if not max_tokens:
        return [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
    batches, batch, longest = [], [], 0
    for i in indices:
        if batch and (len(batch) + 1) * max(longest, lengths[i]) > max_tokens:
            batches.append(batch)
            batch, longest = [], 0
        batch.append(i)
        longest = max(longest, lengths[i])
    return batches + [batch] if batch else batches


def _length_grouped_batches(lengths: Sequence[int], batch_size: int | None, *, seed: int = 0,
                            max_tokens: int | None = None) -> list:
    """Batches of indices of similar length, in random order, the longest first (arguments checked by make_loader)."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    typical = batch_size or max(1, max_tokens * len(lengths) // max(1, sum(lengths)))
    mega = typical * _MEGA_BATCH_FACTOR
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start:start + mega], key=lambda i: lengths[i], reverse=True)
        batches += _cut(chunk, lengths, batch_size, max_tokens)
    rng.shuffle(batches)
    longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
    batches[0], batches[longest] = batches[longest], batches[0]
    return batches


@dataclass
class _BatchOrder:
    """The batch sampler of :func:`make_loader`; pass ``epoch`` draws its order from ``seed + epoch``."""

    lengths: list
    batch_size: int | None
    max_tokens: int | None
    shuffle: bool
    group_by_length: bool
    seed: int
    epoch: int = 0

    def batches(self, epoch: int) -> list:
        """The batches of pass number ``epoch`` (0-based)."""
        if self.shuffle and self.group_by_length:
            return _length_grouped_batches(self.lengths, self.batch_size, seed=self.seed + epoch,
                                           max_tokens=self.max_tokens)
        order = list(range(len(self.lengths)))
        if self.shuffle:
            random.Random(self.seed + epoch).shuffle(order)
        return _cut(order, self.lengths, self.batch_size, self.max_tokens)

    def __iter__(self):
        self.epoch += 1
        return iter(self.batches(self.epoch - 1))

    def __len__(self) -> int:  # of the next pass: with max_tokens it depends on the order
        return len(self.batches(self.epoch))


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
    C.integer(seed, "seed", where, low=None)
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
    if max_tokens is not None and max(lengths) > max_tokens:
        raise ValueError(f"{where}: features[{lengths.index(max(lengths))}] has {max(lengths)} tokens, more than "
                         f"max_tokens={max_tokens}; raise max_tokens or tokenize with a smaller max_length")
    keep = set(_PADDABLE_KEYS) | set(getattr(getattr(collator, "tokenizer", None), "model_input_names", ()))

    def collate(batch: list):  # the collator sees only the keys it can pad (drops e.g. ``word_ids``)
        return collator([{k: v for k, v in f.items() if k in keep} for f in batch])

    order = _BatchOrder(lengths, batch_size, max_tokens, shuffle, group_by_length, seed)
    return torch.utils.data.DataLoader(features, batch_sampler=order, collate_fn=collate)
