"""Measures of homogenization: shared failures, error agreement, representational similarity.

Explained in the chapter "Homogenization" (``book/homogenization.md``) and used
in ``labs/07_homogenization.ipynb``, which compares an ecosystem of models
adapted from one shared base with an ecosystem of diverse models.
``tests/test_metrics.py`` checks every formula here.

Two kinds of input, with one convention each:

* A **failure matrix** ``failures`` of shape ``(n_items, n_models)``: entry
  ``[i, j]`` is 1 (or ``True``) when model ``j`` gets item ``i`` wrong, 0 when it
  gets it right. Rows are the people (test items) an ecosystem decides about,
  columns are the deployed models, as in the "failure matrix" of ecosystem-level
  analysis (Toups et al., 2023). :func:`failure_matrix` builds one from
  predictions and labels.
* A **representation** of shape ``(n_items, n_features)``: one row per item, the
  same items in the same order for every model (for example a model's hidden
  state, or its class probabilities, on the test set).

Everything accepts NumPy arrays, torch tensors (moved to the CPU, detached) or
nested lists, computes in float64 and returns plain Python floats or NumPy
arrays. Inputs on which a measure is undefined (a single model, mismatched
lengths, too few items, failure indicators other than 0/1, a model that never
fails where a ratio divides by its error rate) raise ``ValueError`` with a
message that names the problem.
"""
from __future__ import annotations

from itertools import combinations
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

#: Fewest items a failure matrix may have (rates from one item are 0 or 1).
MIN_ITEMS_FAILURES = 2
#: Fewest items for CKA: with 2 items any two non-constant representations have CKA 1.
MIN_ITEMS_CKA = 3
HOMOGENIZATION_KINDS = ("pairwise", "k-way")


# ------------------------------------------------------------------- inputs
def _to_numpy(value: Any, name: str) -> np.ndarray:
    """A NumPy copy of ``value``; torch tensors are detached and moved to the CPU."""
    if value is None or isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be an array or tensor, got {type(value).__name__}")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor; no torch import needed
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:  # ragged lists
        raise ValueError(f"{name} could not be read as a rectangular array: {error}") from None
    if array.dtype == object:
        raise ValueError(f"{name} could not be read as a rectangular numeric array (ragged or mixed types)")
    return array


def _check_failures(failures: Any, name: str = "failures") -> np.ndarray:
    """Validate a failure matrix ``(n_items, n_models)`` of 0/1 values; return it as bool."""
    array = _to_numpy(failures, name)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D, shape (n_items, n_models), got shape {array.shape}; "
            f"build it with failure_matrix(predictions, labels)"
        )
    n_items, n_models = array.shape
    if n_models < 2:
        raise ValueError(
            f"{name} has {n_models} model column(s); shared failure needs at least 2 models "
            f"(shape is (n_items, n_models) = {array.shape}; did you pass it transposed?)"
        )
    if n_items < MIN_ITEMS_FAILURES:
        raise ValueError(f"{name} has {n_items} item(s); at least {MIN_ITEMS_FAILURES} are needed")
    return _as_indicators(array, name)


def _as_indicators(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` as bool, if it holds only 0/1 (or booleans); else a ValueError naming the bad entry."""
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must hold 0/1 failure indicators, got dtype {array.dtype}")
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        shown = where[0] if len(where) == 1 else where
        raise ValueError(
            f"{name} must hold failure indicators 0 or 1 (or booleans), but entry {shown} is "
            f"{array[where].item()!r}; threshold scores or compare predictions with labels first"
        )
    return array.astype(bool)


def _check_vector(values: Any, name: str) -> np.ndarray:
    array = _to_numpy(values, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per item), got shape {array.shape}")
    return array


def _check_representation(x: Any, name: str) -> np.ndarray:
    """Validate a representation ``(n_items, n_features)``; 1-D means one feature."""
    array = _to_numpy(x, name)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, shape (n_items, n_features), got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if array.shape[0] < MIN_ITEMS_CKA:
        raise ValueError(
            f"{name} has {array.shape[0]} item(s); CKA needs at least {MIN_ITEMS_CKA} "
            f"(with 2 items any two representations have CKA 1)"
        )
    if array.shape[1] < 1:
        raise ValueError(f"{name} has no features (shape {array.shape})")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _check_same_items(x: np.ndarray, y: np.ndarray, names: tuple[str, str]) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{names[0]} has {x.shape[0]} items but {names[1]} has {y.shape[0]}; "
            f"both must describe the same items, in the same order"
        )


def _centre(x: np.ndarray, name: str) -> np.ndarray:
    centred = x - x.mean(axis=0, keepdims=True)
    if not np.any(np.abs(centred) > 1e-12 * max(1.0, float(np.abs(x).max()))):
        raise ValueError(f"{name} is the same for every item (zero after centring); CKA is undefined")
    return centred


# ---------------------------------------------------------------------- CKA
def linear_cka(x: Any, y: Any) -> float:
    """Linear CKA between two representations of the same items (chapter "Homogenization").

    With ``X`` (``n x p``) and ``Y`` (``n x q``) centred column by column,

        CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F * ||Y^T Y||_F)

    (Kornblith et al., 2019). It lies in [0, 1], is 1 for identical
    representations, and does not change when either representation is rotated
    (multiplied by an orthogonal matrix) or scaled by a positive number; it does
    change under a general invertible linear map. ``p`` and ``q`` may differ.
    See ``book/homogenization.md``; used in ``labs/07_homogenization.ipynb``.

    Raises:
        ValueError: not 2-D (1-D counts as one feature), different numbers of
            items, fewer than 3 items, NaN/inf, or a constant representation.
    """
    x = _check_representation(x, "x")
    y = _check_representation(y, "y")
    _check_same_items(x, y, ("x", "y"))
    return _cka_of_centred(_centre(x, "x"), _centre(y, "y"))


def _cka_of_centred(xc: np.ndarray, yc: np.ndarray, norm_x: float | None = None, norm_y: float | None = None) -> float:
    """The feature-space formula on centred representations; ``norm_x = ||Xc^T Xc||_F`` if already known."""
    norm_x = np.linalg.norm(xc.T @ xc) if norm_x is None else norm_x
    norm_y = np.linalg.norm(yc.T @ yc) if norm_y is None else norm_y
    return float(np.linalg.norm(yc.T @ xc) ** 2 / (norm_x * norm_y))


def hsic(k: Any, l: Any) -> float:
    """The (biased) Hilbert-Schmidt independence criterion of two ``n x n`` kernel matrices.

    ``HSIC(K, L) = tr(K H L H) / (n - 1)^2`` with the centring matrix
    ``H = I - 11^T / n``. Linear CKA is ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``
    with ``K = X X^T`` and ``L = Y Y^T`` (:func:`linear_cka_kernel`; chapter
    "Homogenization", ``book/homogenization.md``).
    """
    k = _to_numpy(k, "k").astype(np.float64)
    l = _to_numpy(l, "l").astype(np.float64)
    for name, m in (("k", k), ("l", l)):
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"{name} must be a square n x n kernel matrix, got shape {m.shape}")
    if k.shape != l.shape:
        raise ValueError(f"k has shape {k.shape} but l has shape {l.shape}; both must be n x n for the same n items")
    n = k.shape[0]
    if n < 2:
        raise ValueError(f"HSIC needs at least 2 items, got {n}")
    h = np.eye(n) - np.full((n, n), 1.0 / n)
    return float(np.trace(k @ h @ l @ h) / (n - 1) ** 2)


def linear_cka_kernel(x: Any, y: Any) -> float:
    """Linear CKA computed from kernel matrices, the way Kornblith et al. (2019) define it.

    ``K = X X^T`` and ``L = Y Y^T`` are the items' pairwise dot products; then
    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` (:func:`hsic`). Equal to
    :func:`linear_cka` (the feature-space formula), which is faster when there
    are more items than features; this form shows that CKA compares the
    *similarity structure* of the items. Chapter "Homogenization"
    (``book/homogenization.md``). Raises ``ValueError`` like :func:`linear_cka`.
    """
    x = _check_representation(x, "x")
    y = _check_representation(y, "y")
    _check_same_items(x, y, ("x", "y"))
    _centre(x, "x"), _centre(y, "y")  # same errors as linear_cka for constant representations
    k, l = x @ x.T, y @ y.T
    return float(hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l)))


def cka_matrix(representations: Sequence[Any]) -> np.ndarray:
    """Linear CKA between every pair of representations: an ``m x m`` symmetric matrix.

    ``representations`` is a sequence of ``m >= 2`` arrays, each
    ``(n_items, n_features_i)`` for the same items. The diagonal is 1. This is
    the matrix drawn as a heatmap in ``book/homogenization.md`` and
    ``labs/07_homogenization.ipynb``.
    """
    if isinstance(representations, (str, bytes)) or not isinstance(representations, Sequence):
        raise ValueError(
            f"representations must be a list or tuple of arrays, got {type(representations).__name__}"
        )
    m = len(representations)
    if m < 2:
        raise ValueError(f"cka_matrix needs at least 2 representations, got {m}")
    reps = [_check_representation(r, f"representations[{i}]") for i, r in enumerate(representations)]
    for i in range(1, m):
        _check_same_items(reps[0], reps[i], ("representations[0]", f"representations[{i}]"))
    centred = [_centre(r, f"representations[{i}]") for i, r in enumerate(reps)]  # centre each one once
    norms = [np.linalg.norm(c.T @ c) for c in centred]
    matrix = np.eye(m)
    for i, j in combinations(range(m), 2):
        matrix[i, j] = matrix[j, i] = _cka_of_centred(centred[i], centred[j], norms[i], norms[j])
    return matrix


# ---------------------------------------------------------- failure matrix
def failure_matrix(predictions: Sequence[Any], labels: Any) -> np.ndarray:
    """The failure matrix ``(n_items, n_models)``: ``True`` where model ``j`` gets item ``i`` wrong.

    ``predictions`` is a sequence of ``n_models >= 2`` 1-D arrays (one per
    model, each one prediction per item); ``labels`` is the 1-D array of true
    labels. Chapter "Homogenization" (``book/homogenization.md``), lab
    ``labs/07_homogenization.ipynb``.
    """
    if isinstance(predictions, (str, bytes)) or not isinstance(predictions, Sequence):
        raise ValueError(
            f"predictions must be a list or tuple with one 1-D array per model, got {type(predictions).__name__}"
        )
    labels = _check_vector(labels, "labels")
    if len(predictions) < 2:
        raise ValueError(f"predictions holds {len(predictions)} model(s); shared failure needs at least 2")
    columns = []
    for j, p in enumerate(predictions):
        p = _check_vector(p, f"predictions[{j}]")
        if p.shape[0] != labels.shape[0]:
            raise ValueError(
                f"predictions[{j}] has {p.shape[0]} items but labels has {labels.shape[0]}; "
                f"every model must be scored on the same items"
            )
        columns.append(p != labels)
    return _check_failures(np.stack(columns, axis=1))


def error_rates(failures: Any) -> np.ndarray:
    """Each model's error rate, the column means of the failure matrix (``book/homogenization.md``)."""
    return _check_failures(failures).mean(axis=0)


def systemic_failure_rate(failures: Any) -> float:
    """The share of items that *every* model gets wrong (Toups et al., 2023).

    Chapter "Homogenization" (``book/homogenization.md``); compare it with
    :func:`independent_systemic_failure_rate`, what independent models would give.
    """
    return float(_check_failures(failures).all(axis=1).mean())


def independent_systemic_failure_rate(failures: Any) -> float:
    """The systemic failure rate that independent models would have: the product of error rates.

    If model ``j`` fails each item with probability ``err_j``, independently of
    the others, all ``k`` fail an item with probability ``prod_j err_j``.
    Chapter "Homogenization" (``book/homogenization.md``).
    """
    return float(np.prod(error_rates(failures)))


def all_correct_rate(failures: Any) -> float:
    """The share of items that every model gets right (``book/homogenization.md``).

    Toups et al. (2023) observe that deployed models are homogeneous at both
    ends: more items than independence predicts are failed by all models, and
    more are got right by all (:func:`independent_all_correct_rate`).
    """
    return float((~_check_failures(failures)).all(axis=1).mean())


def independent_all_correct_rate(failures: Any) -> float:
    """The all-correct rate that independent models would have: ``prod_j (1 - err_j)``.

    Chapter "Homogenization" (``book/homogenization.md``).
    """
    return float(np.prod(1.0 - error_rates(failures)))


def _check_defined_rates(rates: np.ndarray, what: str) -> None:
    zero = np.flatnonzero(rates == 0)
    if zero.size:
        raise ValueError(
            f"the {what} is undefined: model {int(zero[0])} makes no errors (error rate 0), "
            f"and the ratio divides by its error rate; drop that model or use more items"
        )


def homogenization_ratio(failures: Any, kind: str = "pairwise") -> float:
    """Observed shared failure over what independence predicts (Bommasani et al., 2022).

    ``kind="pairwise"`` (the default, and the one to report): the mean over the
    ``k(k-1)/2`` pairs of models of

        P(i and j both fail) / (err_i * err_j),

    which is 1 when every pair fails independently and larger when failures
    coincide. ``kind="k-way"``: the individual-level measure of Bommasani et al.
    (2022), ``P(all k fail) / prod_j err_j``, the observed systemic failure rate
    over the independent one. With small error rates the k-way denominator is
    tiny and the ratio explodes (up to ``1 / prod of the k-1 largest error
    rates``), which is why the course reports the pairwise form. Either form is
    capped by the error rates: a pair's ratio is at most ``1 / max(err_i,
    err_j)`` (the accuracy confound). Chapter "Homogenization"
    (``book/homogenization.md``), lab ``labs/07_homogenization.ipynb``.

    Raises:
        ValueError: an unknown ``kind``, an invalid failure matrix, or a model
            with error rate 0 (the ratio is undefined).
    """
    if kind not in HOMOGENIZATION_KINDS:
        raise ValueError(f"kind={kind!r}: expected one of {HOMOGENIZATION_KINDS}")
    f = _check_failures(failures)
    rates = f.mean(axis=0)
    _check_defined_rates(rates, f"{kind} homogenization ratio")
    if kind == "k-way":
        return float(f.all(axis=1).mean() / np.prod(rates))
    ratios = [np.mean(f[:, i] & f[:, j]) / (rates[i] * rates[j]) for i, j in combinations(range(f.shape[1]), 2)]
    return float(np.mean(ratios))


# ------------------------------------------------------------ Cohen's kappa
def cohen_kappa(a: Any, b: Any) -> float:
    """Cohen's kappa between two binary failure indicators (``book/homogenization.md``).

    ``kappa = (p_o - p_e) / (1 - p_e)``, where ``p_o`` is the share of items on
    which the two models agree (both fail or both succeed) and
    ``p_e = q_a q_b + (1 - q_a)(1 - q_b)`` the agreement expected by chance from
    their error rates ``q_a``, ``q_b``. 0 means no more agreement than
    independent models with these error rates would have, 1 means the same
    failures. Equal to scikit-learn's ``cohen_kappa_score`` on 0/1 labels.

    Raises:
        ValueError: not 1-D 0/1 vectors of the same length (at least 2 items), or
            both models constant and equal, where chance agreement is 1 and
            kappa is 0/0.
    """
    a_vec, b_vec = _check_vector(a, "a"), _check_vector(b, "b")
    if a_vec.shape[0] != b_vec.shape[0]:
        raise ValueError(f"a has {a_vec.shape[0]} items but b has {b_vec.shape[0]}; both must cover the same items")
    if a_vec.shape[0] < MIN_ITEMS_FAILURES:
        raise ValueError(f"a and b have {a_vec.shape[0]} item(s); at least {MIN_ITEMS_FAILURES} are needed")
    return _kappa_of_indicators(_as_indicators(a_vec, "a"), _as_indicators(b_vec, "b"))


def _kappa_of_indicators(fa: np.ndarray, fb: np.ndarray) -> float:
    """Cohen's kappa of two validated boolean vectors."""
    observed = float(np.mean(fa == fb))
    qa, qb = fa.mean(), fb.mean()
    chance = float(qa * qb + (1 - qa) * (1 - qb))
    if chance >= 1.0:
        raise ValueError(
            "Cohen's kappa is undefined: both models give the same outcome on every item "
            f"(error rates {qa:.0f} and {qb:.0f}), so chance agreement is 1"
        )
    return (observed - chance) / (1.0 - chance)


def kappa_matrix(failures: Any) -> np.ndarray:
    """Cohen's kappa between the failure indicators of every pair of models: ``k x k``, diagonal 1.

    Chapter "Homogenization" (``book/homogenization.md``), lab
    ``labs/07_homogenization.ipynb``.
    """
    f = _check_failures(failures)
    k = f.shape[1]
    matrix = np.eye(k)
    for i, j in combinations(range(k), 2):
        matrix[i, j] = matrix[j, i] = _kappa_of_indicators(f[:, i], f[:, j])
    return matrix


def mean_pairwise_kappa(failures: Any) -> float:
    """The mean of Cohen's kappa over the ``k(k-1)/2`` pairs of models (``book/homogenization.md``)."""
    matrix = kappa_matrix(failures)
    return float(matrix[np.triu_indices_from(matrix, k=1)].mean())


def mean_offdiagonal(matrix: Any) -> float:
    """The mean of the entries above the diagonal of a square matrix (e.g. of :func:`cka_matrix`).

    Chapter "Homogenization" (``book/homogenization.md``).
    """
    m = _to_numpy(matrix, "matrix").astype(np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(f"matrix must be square with at least 2 rows, got shape {m.shape}")
    return float(m[np.triu_indices_from(m, k=1)].mean())


# ----------------------------------------------------------------- bootstrap
class BootstrapResult(NamedTuple):
    """What :func:`bootstrap` returns."""

    estimate: Any  #: the statistic on the full data (a float, or an array for array-valued statistics)
    low: Any  #: lower end of the percentile interval
    high: Any  #: upper end of the percentile interval
    samples: np.ndarray  #: the statistic on each resample that was defined, shape (n_defined, ...)
    n_undefined: int  #: resamples on which the statistic raised ValueError (skipped with on_undefined="skip")


def bootstrap(
    statistic: Callable[..., Any],
    *data: Any,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    on_undefined: str = "raise",
) -> BootstrapResult:
    """A percentile bootstrap interval for a statistic of items (``book/homogenization.md``).

    Each resample draws ``n`` items with replacement; the *same* item indices
    are applied to every array in ``data`` (axis 0), so a failure matrix and the
    representations of the same test items stay aligned. ``statistic`` is called
    as ``statistic(*resampled_data)`` and returns a number (or an array). The
    interval is the ``(1 - confidence)/2`` and ``(1 + confidence)/2`` quantiles
    of the resampled statistics; ``seed`` makes it reproducible. Used for every
    interval in ``labs/07_homogenization.ipynb``.

    A resample can make a statistic undefined (for example a model with no
    errors in it, for a homogenization ratio). With ``on_undefined="raise"`` the
    ``ValueError`` is re-raised with the resample's number; with ``"skip"`` such
    resamples are left out and counted in ``n_undefined``.

    Raises:
        ValueError: ``statistic`` not callable, no data, arrays with different
            numbers of items or fewer than 2 items, ``n_resamples < 1``,
            ``confidence`` outside (0, 1), an unknown ``on_undefined``, or the
            statistic undefined on the full data or on a resample (see above).
    """
    if not callable(statistic):
        raise ValueError(f"statistic must be a function of the data arrays, got {type(statistic).__name__}")
    if not data:
        raise ValueError("bootstrap needs at least one data array to resample")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive int, got {n_resamples!r}")
    if not (isinstance(confidence, (float, int)) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be a number strictly between 0 and 1 (e.g. 0.95), got {confidence!r}")
    if on_undefined not in ("raise", "skip"):
        raise ValueError(f"on_undefined={on_undefined!r}: expected 'raise' or 'skip'")
    arrays = [_to_numpy(d, f"data[{i}]") for i, d in enumerate(data)]
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"data[{i}] is a scalar; bootstrap resamples the items along axis 0")
    n = arrays[0].shape[0]
    for i, a in enumerate(arrays[1:], start=1):
        if a.shape[0] != n:
            raise ValueError(
                f"data[0] has {n} items but data[{i}] has {a.shape[0]}; every array must have one row per item"
            )
    if n < 2:
        raise ValueError(f"bootstrap needs at least 2 items to resample, got {n}")

    estimate = statistic(*arrays)
    rng = np.random.default_rng(seed)
    samples, n_undefined = [], 0
    for r in range(n_resamples):
        index = rng.integers(0, n, size=n)
        try:
            samples.append(np.asarray(statistic(*(a[index] for a in arrays)), dtype=np.float64))
        except ValueError as error:
            if on_undefined == "raise":
                raise ValueError(
                    f"the statistic is undefined on bootstrap resample {r} of {n_resamples} ({error}); "
                    f"use more items, or on_undefined='skip' to leave such resamples out"
                ) from error
            n_undefined += 1
    if not samples:
        raise ValueError(f"the statistic was undefined on all {n_resamples} resamples")
    stacked = np.stack(samples)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(stacked, [alpha, 1.0 - alpha], axis=0)
    if stacked.ndim == 1:
        low, high = float(low), float(high)
        estimate = float(estimate)
    else:
        estimate = np.asarray(estimate, dtype=np.float64)
    return BootstrapResult(estimate, low, high, stacked, n_undefined)
