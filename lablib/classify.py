"""Sentence classification: predictions, accuracy by group, and calibration (lab 04).

Explained in ``labs/04_sentiment.ipynb``. Precision, recall, F1 and the
confusion matrix come from scikit-learn; what is here is what the lab needs
more than once, or what it explains by hand: class probabilities for a list
of texts, accuracy broken down by a grouping (the review set's phenomena),
and the reliability diagram with its expected calibration error.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np


def _as_1d(values, name: str, where: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{where}: {name} must be one-dimensional, got shape {array.shape}")
    return array


def _same_length(where: str, **arrays) -> int:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{where}: lengths differ: " + ", ".join(f"{k} {v}" for k, v in lengths.items()))
    (length,) = set(lengths.values())
    if length == 0:
        raise ValueError(f"{where}: no items")
    return length


def predict_proba(model, tokenizer, texts: Sequence[str], *, batch_size: int = 64,
                  max_length: int | None = None, device=None, amp: str | bool = "auto",
                  progress: bool = True, sort_by_length: bool = True) -> np.ndarray:
    """Class probabilities (softmax of the logits), shape ``(len(texts), num_labels)``, in input order.

    Used by ``labs/04_sentiment.ipynb``, which predicts the 25,000 IMDB test
    reviews with it in the ``full`` profile. The model is put in eval mode on
    ``device`` and run without gradients, batch by batch:

    * texts are tokenized and padded per batch (to the batch's longest text,
      at most ``max_length`` tokens); with ``sort_by_length`` (the default)
      batches hold texts of similar length (sorted by characters), so little
      is spent on padding, and the rows are put back in input order;
    * ``amp``: mixed precision, as in :func:`lablib.train.train`. ``"auto"``
      runs the forward pass under ``torch.autocast`` in bfloat16 on GPUs of
      compute capability 8.0 or newer and float16 on older ones
      (:func:`lablib.train.amp_dtype`), and in float32 on CPU; ``"off"``
      disables it. Probabilities are always computed in float32;
    * ``progress``: a progress bar over the batches (``tqdm.auto``).

    Raises:
        ValueError: ``texts`` is one string, empty or not all strings; a
            ``batch_size`` that is not a positive int; an unknown ``amp``.
    """
    import torch
    from tqdm.auto import tqdm

    from .train import amp_dtype

    where = "predict_proba"
    if isinstance(texts, str):
        raise ValueError(f"{where}: texts must be a list of strings, got one string (wrap it in a list)")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{where}: texts must be a non-empty list of strings")
    if not (isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size > 0):
        raise ValueError(f"{where}: batch_size must be a positive int, got {batch_size!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    try:
        dtype = amp_dtype(amp, device)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort_by_length else list(range(len(texts)))
    model.to(device).eval()
    chunks = []
    starts = range(0, len(texts), batch_size)
    with torch.no_grad():
        for start in tqdm(starts, desc="predicting", unit="batch", disable=not progress):
            batch_texts = [texts[i] for i in order[start:start + batch_size]]
            batch = tokenizer(batch_texts, padding=True, truncation=max_length is not None,
                              max_length=max_length, return_tensors="pt").to(device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(**batch).logits
            chunks.append(logits.float().softmax(-1).cpu())
    probabilities = torch.cat(chunks).numpy()
    result = np.empty_like(probabilities)
    result[np.asarray(order)] = probabilities
    return result


def accuracy_by_group(groups: Sequence, y_true: Sequence[int], y_pred: Sequence[int]) -> "OrderedDict":
    """``{group: (accuracy, count)}`` in the order groups first appear (lab 04's per-phenomenon table)."""
    where = "accuracy_by_group"
    groups, y_true, y_pred = (list(groups), _as_1d(y_true, "y_true", where), _as_1d(y_pred, "y_pred", where))
    _same_length(where, groups=groups, y_true=y_true, y_pred=y_pred)
    result: "OrderedDict" = OrderedDict()
    for group in dict.fromkeys(groups):
        chosen = np.array([g == group for g in groups])
        result[group] = (float(np.mean(y_true[chosen] == y_pred[chosen])), int(chosen.sum()))
    return result


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's numbers: per bin of predicted P(positive), what fraction was positive.

    Bins with no prediction are left out. ``ece`` is the expected calibration
    error, ``sum_b (n_b / N) |fraction_positive_b - mean_predicted_b|``.
    """

    bin_edges: np.ndarray
    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    counts: np.ndarray
    ece: float


def reliability(p_positive: Sequence[float], labels: Sequence[int], n_bins: int = 10) -> Reliability:
    """Bin predictions by ``p_positive`` into ``n_bins`` equal-width bins of [0, 1] (lab 04).

    The same bins as ``sklearn.calibration.calibration_curve(strategy="uniform")``
    (a prediction exactly on an inner edge goes to the bin below it). A perfectly calibrated model has, in every bin, a fraction of
    positives equal to its mean predicted probability: the diagonal.

    Raises:
        ValueError: probabilities outside [0, 1], labels other than 0/1,
            mismatched lengths, or ``n_bins`` < 1.
    """
    where = "reliability"
    p = _as_1d(p_positive, "p_positive", where).astype(float)
    y = _as_1d(labels, "labels", where)
    _same_length(where, p_positive=p, labels=y)
    if not (isinstance(n_bins, int) and n_bins >= 1):
        raise ValueError(f"{where}: n_bins must be an int >= 1, got {n_bins!r}")
    if np.isnan(p).any() or p.min() < 0 or p.max() > 1:
        raise ValueError(f"{where}: p_positive must be probabilities in [0, 1], got values in [{p.min()}, {p.max()}]")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError(f"{where}: labels must be 0 or 1, got {sorted(set(np.unique(y).tolist()))}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges[1:-1], p, side="left"), 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    sums_p = np.bincount(which, weights=p, minlength=n_bins)
    sums_y = np.bincount(which, weights=y.astype(float), minlength=n_bins)
    used = counts > 0
    mean_predicted = sums_p[used] / counts[used]
    fraction_positive = sums_y[used] / counts[used]
    ece = float(np.sum(counts[used] / len(p) * np.abs(fraction_positive - mean_predicted)))
    return Reliability(edges, mean_predicted, fraction_positive, counts[used], ece)


def plot_reliability(result: Reliability, ax=None, *, label: str | None = None, color=None):
    """Draw a reliability diagram: the diagonal, and each non-empty bin as a point sized by its count."""
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
