"""Losses and their gradients, written by hand to be checked against autograd.

Explained in the chapter "The loss math, by hand" (``book/loss_math.md``) and
exercised in ``labs/01_loss_math.ipynb``. Every function here is plain tensor
arithmetic, so a reader can follow each line back to a formula in the chapter;
``tests/test_losses.py`` compares each one with ``torch.nn.functional`` and
autograd.

Conventions (the same as PyTorch's):

* ``logits`` have shape ``(..., C)``: any number of leading dimensions
  (batch, sequence position), the classes last.
* ``targets`` are integer class indices with the leading shape of ``logits``;
  positions equal to ``ignore_index`` (default ``-100``) contribute nothing,
  neither to the loss nor to the count it is averaged over.
* ``reduction`` is ``"mean"`` (over non-ignored positions), ``"sum"`` or
  ``"none"`` (one value per position, 0 at ignored ones).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

IGNORE_INDEX = -100
_REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------- checks
def _check_tensor(name: str, value, *, floating: bool | None = None) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if floating is True and not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if floating is False and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise ValueError(f"{name} must hold integer class indices, got dtype {value.dtype}")
    return value


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction={reduction!r}: expected one of {_REDUCTIONS}")


def _check_class_targets(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Validate (logits, targets) for a C-class loss; return the mask of counted positions."""
    _check_tensor("logits", logits, floating=True)
    _check_tensor("targets", targets, floating=False)
    if logits.dim() < 1:
        raise ValueError("logits must have at least one dimension (the classes, last)")
    if tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(
            f"targets have shape {tuple(targets.shape)} but logits have shape {tuple(logits.shape)}; "
            f"expected targets of shape {tuple(logits.shape[:-1])} (one class index per row of logits)"
        )
    num_classes = logits.shape[-1]
    counted = targets != ignore_index
    bad = counted & ((targets < 0) | (targets >= num_classes))
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"target {int(targets[where])} at position {where} is outside the class range "
            f"0..{num_classes - 1} (and is not ignore_index={ignore_index})"
        )
    return counted


def _reduce(per_position: torch.Tensor, counted: torch.Tensor, reduction: str) -> torch.Tensor:
    per_position = torch.where(counted, per_position, torch.zeros_like(per_position))
    if reduction == "none":
        return per_position
    total = per_position.sum()
    if reduction == "sum":
        return total
    return total / counted.sum()  # 0/0 = nan when every position is ignored, as in PyTorch


# ------------------------------------------------------------ softmax family
def naive_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(z)_i = exp(z_i) / sum_j exp(z_j), computed literally.

    Shown in the chapter to overflow: exp(1000) is inf in float32 and float64,
    so inf/inf gives nan. Use :func:`softmax` instead.
    """
    exps = torch.exp(_check_tensor("logits", logits, floating=True))
    return exps / exps.sum(dim=dim, keepdim=True)


def logsumexp(logits: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """log sum_j exp(z_j) = m + log sum_j exp(z_j - m) with m = max_j z_j (never overflows)."""
    _check_tensor("logits", logits, floating=True)
    m = logits.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf rows stay -inf
    out = m + torch.log(torch.exp(logits - m).sum(dim=dim, keepdim=True))
    return out if keepdim else out.squeeze(dim)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax(z)_i = z_i - logsumexp(z): the stable form the losses use."""
    return logits - logsumexp(logits, dim=dim, keepdim=True)


def softmax(logits: torch.Tensor, dim: int = -1, temperature: float = 1.0) -> torch.Tensor:
    """softmax(z / T), computed stably by subtracting the maximum first.

    A temperature T > 1 flattens the distribution, T < 1 sharpens it, and
    T -> 0 tends to the one-hot of the arg-max.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.exp(log_softmax(logits / temperature, dim=dim))


# ------------------------------------------------------------ cross-entropy
def smoothed_targets(targets: torch.Tensor, num_classes: int, label_smoothing: float = 0.0,
                     dtype: torch.dtype | None = None) -> torch.Tensor:
    """The target distribution q = (1 - eps) * onehot(y) + eps / C, as PyTorch defines it.

    Note that eps is spread over *all* C classes, the true one included: the
    true class gets 1 - eps + eps/C, each other class eps/C. Ignored positions
    (negative targets) get an all-zero row.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    valid = targets >= 0
    onehot = torch.nn.functional.one_hot(torch.where(valid, targets, 0), num_classes).to(dtype or torch.get_default_dtype())
    q = (1.0 - label_smoothing) * onehot + label_smoothing / num_classes
    return q * valid.unsqueeze(-1)


def _target_distribution(logits, targets, ignore_index: int, label_smoothing: float):
    """Validate the inputs; return the mask of counted positions and the target distribution q."""
    counted = _check_class_targets(logits, targets, ignore_index)
    q = smoothed_targets(torch.where(counted, targets, -1), logits.shape[-1], label_smoothing, logits.dtype)
    return counted, q


def cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Softmax cross-entropy: l = -sum_c q_c log softmax(z)_c, q the (smoothed) one-hot target.

    With ``label_smoothing=0`` this is ``-log softmax(z)_y``. Matches
    ``torch.nn.functional.cross_entropy`` with the same arguments.
    """
    _check_reduction(reduction)
    counted, q = _target_distribution(logits, targets, ignore_index, label_smoothing)
    per_position = -(q * log_softmax(logits)).sum(dim=-1)
    return _reduce(per_position, counted, reduction)


def cross_entropy_grad(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """d(cross_entropy)/d(logits) = (softmax(z) - q), divided by the number of counted positions for "mean".

    Rows at ignored positions are zero. ``reduction="none"`` is not accepted:
    the gradient of a vector has no single shape of the logits.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"cross_entropy_grad needs reduction 'mean' or 'sum', got {reduction!r}")
    counted, q = _target_distribution(logits, targets, ignore_index, label_smoothing)
    grad = (softmax(logits) - q) * counted.unsqueeze(-1)
    if reduction == "mean":
        grad = grad / counted.sum()
    return grad


def _check_probabilities(probs: torch.Tensor) -> None:
    _check_tensor("probs", probs, floating=True)
    outside = (probs <= 0) | (probs >= 1) | torch.isnan(probs)
    if bool(outside.any()):
        where = tuple(int(i) for i in outside.nonzero()[0])
        raise ValueError(
            f"probability {float(probs[where])} at position {where} is outside the open interval (0, 1); "
            "log(0) is -inf. Pass logits to binary_cross_entropy_with_logits instead."
        )


def _check_binary_targets(name: str, reference: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    _check_tensor("targets", targets)
    if targets.shape != reference.shape:
        raise ValueError(f"targets have shape {tuple(targets.shape)} but {name} have shape {tuple(reference.shape)}")
    targets = targets.to(reference.dtype)
    if bool(((targets < 0) | (targets > 1)).any()):
        raise ValueError("binary targets must lie in [0, 1]")
    return targets


def binary_cross_entropy(probs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """l = -[y log p + (1 - y) log(1 - p)] for probabilities p in (0, 1), the two-class case of cross-entropy."""
    _check_reduction(reduction)
    _check_probabilities(probs)
    y = _check_binary_targets("probs", probs, targets)
    per_position = -(y * torch.log(probs) + (1 - y) * torch.log1p(-probs))
    return _reduce(per_position, torch.ones_like(per_position, dtype=torch.bool), reduction)


def binary_cross_entropy_with_logits(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """BCE on a logit z (p = sigmoid z), stably: max(z, 0) - z y + log(1 + exp(-|z|))."""
    _check_reduction(reduction)
    _check_tensor("logits", logits, floating=True)
    y = _check_binary_targets("logits", logits, targets)
    per_position = logits.clamp(min=0) - logits * y + torch.log1p(torch.exp(-logits.abs()))
    return _reduce(per_position, torch.ones_like(per_position, dtype=torch.bool), reduction)


def binary_cross_entropy_with_logits_grad(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """d(BCE)/dz = sigmoid(z) - y (divided by the count for "mean"): p - y again."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"binary_cross_entropy_with_logits_grad needs 'mean' or 'sum', got {reduction!r}")
    _check_tensor("logits", logits, floating=True)
    y = _check_binary_targets("logits", logits, targets)
    grad = torch.sigmoid(logits) - y
    return grad / logits.numel() if reduction == "mean" else grad


# -------------------------------------------------------- sequence objectives
def causal_lm_loss(logits: torch.Tensor, tokens: torch.Tensor, *, ignore_index: int = IGNORE_INDEX,
                   reduction: str = "mean") -> torch.Tensor:
    """Next-token loss: -(1/N) sum_b sum_{t=1}^{T-1} log p(x_{b,t+1} | x_{b,<=t}).

    ``logits[:, t]`` is the model's prediction after reading tokens 0..t, so it
    is scored against ``tokens[:, t + 1]``: the last position predicts nothing
    and the first token is never predicted. ``reduction="sum"`` gives the
    negative sequence log-likelihood; ``"mean"`` divides by the N predicted
    (non-ignored) tokens.
    """
    _check_tensor("logits", logits, floating=True)
    _check_tensor("tokens", tokens, floating=False)
    if logits.dim() != 3 or tokens.dim() != 2 or tuple(tokens.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            f"causal_lm_loss expects logits (batch, time, vocab) and tokens (batch, time); "
            f"got logits {tuple(logits.shape)} and tokens {tuple(tokens.shape)}"
        )
    if logits.shape[1] < 2:
        raise ValueError("causal_lm_loss needs sequences of at least 2 tokens (one to read, one to predict)")
    return cross_entropy(logits[:, :-1], tokens[:, 1:], ignore_index=ignore_index, reduction=reduction)


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, *, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Masked-LM loss: mean cross-entropy over the masked positions only.

    ``labels`` hold the original token at masked positions and ``ignore_index``
    everywhere else (as Hugging Face's ``DataCollatorForLanguageModeling``
    writes them), so unmasked tokens, which the model can simply copy, add
    nothing to the loss or to the count.
    """
    return cross_entropy(logits, labels, ignore_index=ignore_index)


def perplexity(mean_cross_entropy) -> float:
    """Perplexity = exp(mean cross-entropy in nats): the effective number of equally likely choices."""
    value = float(mean_cross_entropy)
    if not value >= 0:
        raise ValueError(f"a mean cross-entropy is >= 0, got {value}")
    return math.exp(value)


def accumulated_mean_loss(micro_batch_losses: Sequence[torch.Tensor], micro_batch_counts: Sequence[int]) -> torch.Tensor:
    """The right mean over tokens when a batch is split into micro-batches: sum of sums / total count.

    ``micro_batch_losses[k]`` is the *summed* loss of micro-batch k and
    ``micro_batch_counts[k]`` its number of counted (non-ignored) tokens. The
    average of per-micro-batch *means* differs whenever the counts differ; the
    chapter shows by how much.
    """
    if len(micro_batch_losses) != len(micro_batch_counts) or not micro_batch_losses:
        raise ValueError("give one summed loss and one token count per micro-batch (at least one)")
    total = sum(int(c) for c in micro_batch_counts)
    if total <= 0 or any(int(c) < 0 for c in micro_batch_counts):
        raise ValueError(f"token counts must be >= 0 with a positive total, got {list(micro_batch_counts)}")
    return sum(micro_batch_losses) / total


# ------------------------------------------------------------ backward passes
def linear_backward(x: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor):
    """Gradients of y = x W^T + b given dL/dy: (dL/dx, dL/dW, dL/db).

    dL/dx = dL/dy W,  dL/dW = (dL/dy)^T x,  dL/db = sum over rows of dL/dy.
    Shapes: x (N, D_in), W (D_out, D_in) as in ``nn.Linear``, grad_out (N, D_out).
    """
    for name, value in (("x", x), ("weight", weight), ("grad_out", grad_out)):
        _check_tensor(name, value, floating=True)
        if value.dim() != 2:
            raise ValueError(f"linear_backward: {name} must be 2-D, got shape {tuple(value.shape)}")
    if x.shape[1] != weight.shape[1] or grad_out.shape != (x.shape[0], weight.shape[0]):
        raise ValueError(
            f"linear_backward: shapes do not fit y = x W^T: x {tuple(x.shape)}, W {tuple(weight.shape)}, "
            f"grad_out {tuple(grad_out.shape)} (expected ({x.shape[0]}, {weight.shape[0]}))"
        )
    return grad_out @ weight, grad_out.T @ x, grad_out.sum(dim=0)


def two_layer_loss_and_grads(x: torch.Tensor, targets: torch.Tensor, w1, b1, w2, b2) -> tuple:
    """A two-layer network h = relu(x W1^T + b1), z = h W2^T + b2, with mean softmax cross-entropy.

    Returns ``(loss, {"w1": ..., "b1": ..., "w2": ..., "b2": ...})`` with every
    gradient computed by the chain rule, layer by layer, from dL/dz = (p - y)/N.
    """
    h_pre = x @ w1.T + b1
    h = h_pre.clamp(min=0)
    z = h @ w2.T + b2
    loss = cross_entropy(z, targets)
    dz = cross_entropy_grad(z, targets)
    dh, dw2, db2 = linear_backward(h, w2, dz)
    dh_pre = dh * (h_pre > 0).to(dh.dtype)  # relu'(a) = 1 where a > 0
    _, dw1, db1 = linear_backward(x, w1, dh_pre)
    return loss, {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


def uniform_cross_entropy(num_classes: int) -> float:
    """Cross-entropy of the uniform distribution over C classes: log C (perplexity C)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return math.log(num_classes)


