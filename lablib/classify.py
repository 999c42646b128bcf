"""Sentence classification: predictions, accuracy by group, and calibration (lab 04)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import checks as C


def _as_1d(values, name: str, where: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{where}: {name} must be one-dimensional, got shape {array.shape}")
    return array


def _same_length(where: str, **arrays) -> None:
    if C.same_length(where, **arrays) == 0:
        raise ValueError(f"{where}: no items")


def predict_proba(model, tokenizer, texts: Sequence[str], *, batch_size: int = 64,
                  max_length: int | None = None, device=None, amp: str | bool = "auto",
                  progress: bool = True) -> np.ndarray:
    """Class probabilities, ``(len(texts), num_labels)`` in input order, with :func:`lablib.train.predict` (lab 04)."""
    import torch

    from .train import predict

    where = "predict_proba"
    if isinstance(texts, str):
        raise ValueError(f"{where}: texts must be a list of strings, got one string (wrap it in a list)")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{where}: texts must be a non-empty list of strings")
    C.integer(batch_size, "batch_size", where)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # shortest first: a batch pads little
    batches = (tokenizer([texts[i] for i in order[start:start + batch_size]], padding=True, return_tensors="pt",
                         truncation=max_length is not None, max_length=max_length)
               for start in range(0, len(texts), batch_size))
    try:
        logits = predict(model, batches, device=device, amp=amp, progress=progress,
                         total=-(-len(texts) // batch_size))
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return torch.cat(logits).softmax(-1).numpy()[np.argsort(order)]  # back in input order


def accuracy_by_group(groups: Sequence, y_true: Sequence[int], y_pred: Sequence[int]) -> "OrderedDict":
    """``{group: (accuracy, count)}`` in the order groups first appear (lab 04's per-phenomenon table)."""
    where = "accuracy_by_group"
    groups, y_true, y_pred = list(groups), _as_1d(y_true, "y_true", where), _as_1d(y_pred, "y_pred", where)
    _same_length(where, groups=groups, y_true=y_true, y_pred=y_pred)
    result: "OrderedDict" = OrderedDict()
    for group in dict.fromkeys(groups):
        chosen = np.array([g == group for g in groups])
        result[group] = (float(np.mean(y_true[chosen] == y_pred[chosen])), int(chosen.sum()))
    return result


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's numbers: per bin of predicted P(positive), the fraction that was positive (lab 04)."""

    bin_edges: np.ndarray
    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    counts: np.ndarray
    ece: float


def reliability(p_positive: Sequence[float], labels: Sequence[int], n_bins: int = 10) -> Reliability:
    """Bin predictions by ``p_positive`` into ``n_bins`` equal-width bins of [0, 1] (lab 04)."""
    where = "reliability"
    p = _as_1d(p_positive, "p_positive", where).astype(float)
    y = _as_1d(labels, "labels", where)
    _same_length(where, p_positive=p, labels=y)
    C.integer(n_bins, "n_bins", where)
    if np.isnan(p).any() or p.min() < 0 or p.max() > 1:
        raise ValueError(f"{where}: p_positive must be probabilities in [0, 1], "
                         f"got values in [{p.min()}, {p.max()}]")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError(f"{where}: labels must be 0 or 1, got {sorted(set(np.unique(y).tolist()))}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], p, side="left")  # bin i holds (edges[i], edges[i + 1]], bin 0 also 0
    counts = np.bincount(which, minlength=n_bins)
    sums_p = np.bincount(which, weights=p, minlength=n_bins)
    sums_y = np.bincount(which, weights=y.astype(float), minlength=n_bins)
    used = counts > 0
    mean_predicted = sums_p[used] / counts[used]
    fraction_positive = sums_y[used] / counts[used]
    ece = float(np.sum(counts[used] / len(p) * np.abs(fraction_positive - mean_predicted)))
    return Reliability(edges, mean_predicted, fraction_positive, counts[used], ece)


def plot_reliability(result: Reliability, ax=None, *, label: str | None = None, color=None):
    """Draw a reliability diagram: the diagonal, and each non-empty bin as a point sized by its count (lab 04)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    sizes = 20 + 180 * result.counts / result.counts.max()
    text = f"{label}: ECE {result.ece:.3f}" if label else f"ECE {result.ece:.3f}"
    ax.plot(result.mean_predicted, result.fraction_positive, "-", color=color, linewidth=1, alpha=0.7)
    ax.scatter(result.mean_predicted, result.fraction_positive, s=sizes, color=color, label=text, zorder=3)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted P(positive), bin mean",
           ylabel="fraction actually positive", aspect="equal")
    ax.legend(loc="upper left", fontsize="small")
    return ax
