"""Losses and their gradients by hand, checked against autograd (chapter "The loss math, by hand", lab 01).

As in PyTorch: ``logits`` are ``(..., C)``, ``targets`` class indices; ``ignore_index`` (-100) positions do not count;
``reduction`` is ``"mean"`` (over counted positions), ``"sum"`` or ``"none"``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from . import checks

#: The label that PyTorch's cross-entropy and the Hugging Face models skip (labs 01, 03, 05).
IGNORE_INDEX = -100


def _check_tensor(name: str, value, *, floating: bool | None = None) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if floating is True and not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if floating is False and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise ValueError(f"{name} must hold integer class indices, got dtype {value.dtype}")
    return value


def _target_distribution(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int, label_smoothing: float):
    """Check (logits, targets) of a C-class loss; return the mask of counted positions and the targets q."""
    _check_tensor("logits", logits, floating=True)
    _check_tensor("targets", targets, floating=False)
    if logits.dim() < 1 or tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"targets have shape {tuple(targets.shape)} but logits have shape {tuple(logits.shape)}; "
                         f"expected targets of shape {tuple(logits.shape[:-1])} (one class index per row of logits)")
    counted = targets != ignore_index
    bad = counted & ((targets < 0) | (targets >= logits.shape[-1]))
    if bool(bad.any()):
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"target {int(targets[first])} at position {first} is outside the class range "
                         f"0..{logits.shape[-1] - 1} (and is not ignore_index={ignore_index})")
    return counted, smoothed_targets(torch.where(counted, targets, -1), logits.shape[-1], label_smoothing, logits.dtype)


def _reduce(per_position: torch.Tensor, counted: torch.Tensor, reduction: str) -> torch.Tensor:
    per_position = torch.where(counted, per_position, torch.zeros_like(per_position))
    if reduction == "none":
        return per_position
    total = per_position.sum()
    return total if reduction == "sum" else total / counted.sum()  # 0/0 = nan when all are ignored, as PyTorch


def naive_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """exp(z_i) / sum_j exp(z_j), literally: overflows (exp(1000) = inf, inf/inf = nan; lab 01)."""
    exps = torch.exp(_check_tensor("logits", logits, floating=True))
    return exps / exps.sum(dim=dim, keepdim=True)


def logsumexp(logits: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """log sum_j exp(z_j) = m + log sum_j exp(z_j - m), m = max_j z_j: never overflows (chapter loss_math)."""
    _check_tensor("logits", logits, floating=True)
    m = logits.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf rows stay -inf
    out = m + torch.log(torch.exp(logits - m).sum(dim=dim, keepdim=True))
    return out if keepdim else out.squeeze(dim)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """z_i - logsumexp(z): the stable form the losses use (lab 01)."""
    return logits - logsumexp(logits, dim=dim, keepdim=True)


def softmax(logits: torch.Tensor, dim: int = -1, temperature: float = 1.0) -> torch.Tensor:
    """softmax(z / T), stably; T > 1 flattens, T < 1 sharpens, T -> 0 gives the arg-max (lab 01)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.exp(log_softmax(logits / temperature, dim=dim))


def smoothed_targets(targets: torch.Tensor, num_classes: int, label_smoothing: float = 0.0,
                     dtype: torch.dtype | None = None) -> torch.Tensor:
    """q = (1 - eps) onehot(y) + eps / C as PyTorch; ignored (negative) targets get a zero row (chapter loss_math)."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    valid = targets >= 0
    onehot = torch.nn.functional.one_hot(torch.where(valid, targets, 0), num_classes)
    q = (1.0 - label_smoothing) * onehot.to(dtype or torch.get_default_dtype()) + label_smoothing / num_classes
    return q * valid.unsqueeze(-1)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int = IGNORE_INDEX,
                  label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """Softmax cross-entropy -sum_c q_c log softmax(z)_c, q the (smoothed) one-hot target, as PyTorch's (lab 01)."""
    checks.one_of(reduction, ("mean", "sum", "none"), "reduction", "cross_entropy")
    counted, q = _target_distribution(logits, targets, ignore_index, label_smoothing)
    return _reduce(-(q * log_softmax(logits)).sum(dim=-1), counted, reduction)


def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int = IGNORE_INDEX,
                       label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """d(cross_entropy)/d(logits) = softmax(z) - q, over the count for "mean"; ignored rows are 0 (lab 01)."""
    checks.one_of(reduction, ("mean", "sum"), "reduction", "cross_entropy_grad")
    counted, q = _target_distribution(logits, targets, ignore_index, label_smoothing)
    grad = (softmax(logits) - q) * counted.unsqueeze(-1)
    return grad / counted.sum() if reduction == "mean" else grad


def _binary_targets(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    _check_tensor("logits", logits, floating=True)
    _check_tensor("targets", targets)
    if targets.shape != logits.shape:
        raise ValueError(f"targets have shape {tuple(targets.shape)} but logits have shape {tuple(logits.shape)}")
    targets = targets.to(logits.dtype)
    if bool(((targets < 0) | (targets > 1)).any()):
        raise ValueError("binary targets must lie in [0, 1]")
    return targets


def binary_cross_entropy_with_logits(logits: torch.Tensor, targets: torch.Tensor,
                                     reduction: str = "mean") -> torch.Tensor:
    """BCE on a logit z (p = sigmoid z), stably: max(z, 0) - z y + log(1 + exp(-|z|)) (lab 01)."""
    checks.one_of(reduction, ("mean", "sum", "none"), "reduction", "binary_cross_entropy_with_logits")
    y = _binary_targets(logits, targets)
    per_position = logits.clamp(min=0) - logits * y + torch.log1p(torch.exp(-logits.abs()))
    return _reduce(per_position, torch.ones_like(per_position, dtype=torch.bool), reduction)


def binary_cross_entropy_with_logits_grad(logits: torch.Tensor, targets: torch.Tensor,
                                          reduction: str = "mean") -> torch.Tensor:
    """d(BCE)/dz = sigmoid(z) - y (over the count for "mean"): p - y again (chapter loss_math)."""
    checks.one_of(reduction, ("mean", "sum"), "reduction", "binary_cross_entropy_with_logits_grad")
    grad = torch.sigmoid(logits) - _binary_targets(logits, targets)
    return grad / logits.numel() if reduction == "mean" else grad


def causal_lm_loss(logits: torch.Tensor, tokens: torch.Tensor, *, ignore_index: int = IGNORE_INDEX,
                   reduction: str = "mean") -> torch.Tensor:
    """Next-token loss -mean log p(x_{t+1} | x_{<=t}): ``logits[:, t]`` vs ``tokens[:, t + 1]`` (chapter loss_math)."""
    _check_tensor("logits", logits, floating=True)
    _check_tensor("tokens", tokens, floating=False)
    if logits.dim() != 3 or tokens.dim() != 2 or tuple(tokens.shape) != tuple(logits.shape[:2]):
        raise ValueError(f"causal_lm_loss expects logits (batch, time, vocab) and tokens (batch, time); "
                         f"got logits {tuple(logits.shape)} and tokens {tuple(tokens.shape)}")
    if logits.shape[1] < 2:
        raise ValueError("causal_lm_loss needs sequences of at least 2 tokens (one to read, one to predict)")
    return cross_entropy(logits[:, :-1], tokens[:, 1:], ignore_index=ignore_index, reduction=reduction)


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, *, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Mean cross-entropy over the masked positions, ``ignore_index`` elsewhere in ``labels`` (chapter loss_math)."""
    return cross_entropy(logits, labels, ignore_index=ignore_index)


def perplexity(mean_cross_entropy) -> float:
    """exp(mean cross-entropy in nats): the effective number of equally likely choices (lab 01)."""
    return math.exp(checks.number(float(mean_cross_entropy), "a mean cross-entropy", "perplexity", low=0.0))


def accumulated_mean_loss(micro_batch_losses: Sequence[torch.Tensor],
                          micro_batch_counts: Sequence[int]) -> torch.Tensor:
    """The mean over tokens of micro-batches: summed losses / total count, not the mean of their means (lab 01)."""
    if len(micro_batch_losses) != len(micro_batch_counts) or not micro_batch_losses:
        raise ValueError("give one summed loss and one token count per micro-batch (at least one)")
    total = sum(int(c) for c in micro_batch_counts)
    if total <= 0 or any(int(c) < 0 for c in micro_batch_counts):
        raise ValueError(f"token counts must be >= 0 with a positive total, got {list(micro_batch_counts)}")
    return sum(micro_batch_losses) / total


def linear_backward(x: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor):
    """Gradients of y = x W^T + b (W as in ``nn.Linear``) from dL/dy: (dL/dy W, (dL/dy)^T x, its row sum) (lab 01)."""
    for name, value in (("x", x), ("weight", weight), ("grad_out", grad_out)):
        if _check_tensor(name, value, floating=True).dim() != 2:
            raise ValueError(f"linear_backward: {name} must be 2-D, got shape {tuple(value.shape)}")
    if x.shape[1] != weight.shape[1] or grad_out.shape != (x.shape[0], weight.shape[0]):
        raise ValueError(f"linear_backward: shapes do not fit y = x W^T: x {tuple(x.shape)}, "
                         f"W {tuple(weight.shape)}, grad_out {tuple(grad_out.shape)} "
                         f"(expected ({x.shape[0]}, {weight.shape[0]}))")
    return grad_out @ weight, grad_out.T @ x, grad_out.sum(dim=0)


def two_layer_loss_and_grads(x: torch.Tensor, targets: torch.Tensor, w1, b1, w2, b2) -> tuple:
    """``(loss, {"w1", "b1", "w2", "b2"})`` of z = relu(x W1^T + b1) W2^T + b2 by the chain rule (chapter loss_math)."""
    h_pre = x @ w1.T + b1
    h = h_pre.clamp(min=0)
    z = h @ w2.T + b2
    dh, dw2, db2 = linear_backward(h, w2, cross_entropy_grad(z, targets))
    _, dw1, db1 = linear_backward(x, w1, dh * (h_pre > 0).to(dh.dtype))  # relu'(a) = 1 where a > 0
    return cross_entropy(z, targets), {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


def uniform_cross_entropy(num_classes: int) -> float:
    """The cross-entropy of the uniform distribution over C classes: log C, perplexity C (lab 01)."""
    return math.log(checks.integer(num_classes, "num_classes", "uniform_cross_entropy"))
