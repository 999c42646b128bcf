"""Lab 03's fine-tuning recipe for a time budget: the settings that reach the best entity F1 in a fixed time.

``benchmarks/bench_ner_time_to_f1.py`` measures each setting on real CoNLL-2003 on two CPU cores (lab 03: its data).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from .. import train


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How lab 03 fine-tunes a token classifier: batches, learning rates, warm-up, what is frozen (lab 03)."""

    lr: float = 2e-4  # peak learning rate of the pretrained encoder
    head_lr: float | None = 2e-3  # the tag layer starts from random weights; None: the same as lr
    warmup_steps: int = 30  # then a linear decay to zero (with the time left, when training for seconds)
    batch_size: int | None = None  # sentences per batch, or None for max_tokens
    max_tokens: int | None = 512  # padded tokens per batch: many short sentences or a few long ones
    max_length: int = 128  # word pieces per sentence when tokenizing; longer sentences are cut
    freeze_embeddings: bool = False  # keep the word embeddings as pretrained (measured: slower to learn, no faster)
    cpu_bf16: bool = True  # on a CPU with bfloat16 instructions, autocast to bfloat16 (on a GPU: lablib's AMP)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0

    def loader(self, features, collator: Callable, seed: int = 0) -> torch.utils.data.DataLoader:
        """Length-grouped batches of ``features`` as the recipe sizes them (lab 03)."""
        return train.make_loader(features, collator, self.batch_size, max_tokens=self.max_tokens, seed=seed)


#: The recipe of lab 03's small profile and of the benchmark.
RECIPE = Recipe()


def recipe_optimizer(model: torch.nn.Module, recipe: Recipe = RECIPE) -> torch.optim.AdamW:
    """AdamW for ``recipe``: frozen word embeddings, the head at its own rate, decay on matrices only (lab 03)."""
    if recipe.freeze_embeddings:
        model.get_input_embeddings().requires_grad_(False)
    return train._adamw(model, recipe.lr, recipe.weight_decay, head_lr=recipe.head_lr)


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX), where bf16 autocast is fast (lab 03)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:  # not Linux: fall back to float32
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def fine_tune(model: torch.nn.Module, train_loader, *, recipe: Recipe = RECIPE, seconds: float | None = None,
              epochs: int | None = None, device=None, **train_options) -> train.History:
    """Fine-tune ``model`` with ``recipe`` for ``seconds`` of training or ``epochs`` passes (lab 03).

    Autocasts to bfloat16 on a CPU with bfloat16 instructions; ``train_options`` go to :func:`lablib.train.train`.
    """
    if device is not None:
        model.to(device)  # before the optimizer is built, so that it is fused for the device
    on_cpu = next(model.parameters()).device.type == "cpu"
    train_options.setdefault("amp", "bf16" if on_cpu and recipe.cpu_bf16 and cpu_has_bf16() else "auto")
    return train.train(model, train_loader, seconds=seconds, epochs=epochs, optimizer=recipe_optimizer(model, recipe),
                       warmup_steps=recipe.warmup_steps, max_grad_norm=recipe.max_grad_norm, device=device,
                       **train_options)
