"""Sampling text from a decoder: temperature, top-k, top-p and the KV cache (chapter "Generative pretraining", lab 08).

:func:`next_token_probabilities` turns the logits of the last position into the distribution that is sampled;
:func:`generate` repeats that, one token at a time, with or without the KV cache of
:class:`lablib.transformer.Decoder`.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from . import checks as C


def next_token_probabilities(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                             top_p: float | None = None) -> torch.Tensor:
    """(B, V) logits -> (B, V) probabilities after temperature, then top-k, then top-p, as Hugging Face (lab 08).

    Temperature 0 is greedy decoding: all the probability on the arg-max. Top-k keeps the k most likely tokens;
    top-p keeps the most likely tokens until their probability reaches p (the nucleus: the token that crosses p
    is kept, so at least one token always is).
    """
    where = "next_token_probabilities"
    if logits.dim() != 2:
        raise ValueError(f"{where}: logits must be (batch, vocab), got shape {tuple(logits.shape)}")
    C.number(temperature, "temperature", where, low=0)
    if top_p is not None:
        C.number(top_p, "top_p", where, low=0, low_open=True, high=1)
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    logits = logits / temperature
    if top_k is not None:
        C.integer(top_k, "top_k", where)
        kth_largest = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if top_p is not None:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        before = sorted_logits.softmax(-1).cumsum(-1) - sorted_logits.softmax(-1)  # probability of the tokens ahead
        drop = (before >= top_p).scatter(-1, order, before >= top_p)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits.softmax(-1)


class Generation(NamedTuple):
    """What :func:`generate` returns (lab 08)."""

    ids: torch.Tensor  # (B, T + new): the prompt and the generated tokens
    logits: torch.Tensor  # (B, new, V): the logits each new token was sampled from


@torch.no_grad()
def generate(model, ids: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, use_cache: bool = True, generator: torch.Generator | None = None) -> Generation:
    """Sample ``max_new_tokens`` tokens after the prompts ``ids`` (B, T) from a :class:`Decoder` (lab 08).

    With ``use_cache`` the model sees each token once and keeps every layer's keys and values; without it
    the whole sequence is run again for every new token. Both give the same tokens (tests).
    """
    where = "generate"
    if ids.dim() != 2 or ids.dtype != torch.long or ids.shape[1] == 0:
        raise ValueError(f"{where}: ids must be non-empty (batch, length) token ids, got {ids.dtype} "
                         f"of shape {tuple(ids.shape)}")
    C.integer(max_new_tokens, "max_new_tokens", where)
    limit = model.config.n_positions
    if ids.shape[1] + max_new_tokens > limit:
        raise ValueError(f"{where}: {ids.shape[1]} prompt tokens + {max_new_tokens} new ones exceed the model's "
                         f"n_positions {limit}")
    was_training = model.training
    model.eval()
    try:
        cache = [{} for _ in range(model.config.n_layer)] if use_cache else None
        step_input, scores = ids, []
        for _ in range(max_new_tokens):
            logits = model(step_input if use_cache else ids, cache=cache).logits[:, -1]
            probabilities = next_token_probabilities(logits, temperature, top_k, top_p)
            token = torch.multinomial(probabilities, 1, generator=generator)
            ids, step_input = torch.cat([ids, token], dim=1), token
            scores.append(logits)
        return Generation(ids, torch.stack(scores, dim=1))
    finally:
        model.train(was_training)
