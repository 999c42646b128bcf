"""Shared failure, error agreement, representational similarity, bootstrap (chapter "Homogenization", lab 07)."""
from __future__ import annotations

from itertools import combinations
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from . import checks as C

_MIN_ITEMS_FAILURES = 2  # rates from one item are 0 or 1
_MIN_ITEMS_CKA = 3  # with 2 items any two non-constant representations have CKA 1


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
        raise ValueError(f"{name} must be 2-D, shape (n_items, n_models), got shape {array.shape}; "
                         "build it with failure_matrix(predictions, labels)")
    n_items, n_models = array.shape
    if n_models < 2:
        raise ValueError(f"{name} has {n_models} model column(s); shared failure needs at least 2 models "
                         f"(shape is (n_items, n_models) = {array.shape}; did you pass it transposed?)")
    if n_items < _MIN_ITEMS_FAILURES:
        raise ValueError(f"{name} has {n_items} item(s); at least {_MIN_ITEMS_FAILURES} are needed")
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
        raise ValueError(f"{name} must hold failure indicators 0 or 1 (or booleans), but entry {shown} is "
                         f"{array[where].item()!r}; threshold scores or compare predictions with labels first")
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
    if array.shape[0] < _MIN_ITEMS_CKA:
        raise ValueError(f"{name} has {array.shape[0]} item(s); CKA needs at least {_MIN_ITEMS_CKA} "
                         "(with 2 items any two representations have CKA 1)")
    if array.shape[1] < 1:
        raise ValueError(f"{name} has no features (shape {array.shape})")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _check_same_items(x: np.ndarray, y: np.ndarray, names: tuple[str, str]) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{names[0]} has {x.shape[0]} items but {names[1]} has {y.shape[0]}; "
                         "both must describe the same items, in the same order")


def _centre(x: np.ndarray, name: str) -> np.ndarray:
    centred = x - x.mean(axis=0, keepdims=True)
    if not np.any(np.abs(centred) > 1e-12 * max(1.0, float(np.abs(x).max()))):
        raise ValueError(f"{name} is the same for every item (zero after centring); CKA is undefined")
    return centred


def linear_cka(x: Any, y: Any) -> float:
    """Linear CKA between two representations of the same items (chapter "Homogenization")."""
    x, y = _check_representation(x, "x"), _check_representation(y, "y")
    _check_same_items(x, y, ("x", "y"))
    return _cka_of_centred(_centre(x, "x"), _centre(y, "y"))


def _cka_of_centred(xc: np.ndarray, yc: np.ndarray, norm_x: float | None = None,
                    norm_y: float | None = None) -> float:
    """The feature-space formula on centred representations; ``norm_x = ||Xc^T Xc||_F`` if already known."""
    norm_x = np.linalg.norm(xc.T @ xc) if norm_x is None else norm_x
    norm_y = np.linalg.norm(yc.T @ yc) if norm_y is None else norm_y
    return float(np.linalg.norm(yc.T @ xc) ** 2 / (norm_x * norm_y))


def _hsic(k: np.ndarray, l: np.ndarray) -> float:
    """The (biased) Hilbert-Schmidt independence criterion of two ``n x n`` kernel matrices of the same items."""
    n = k.shape[0]
    h = np.eye(n) - np.full((n, n), 1.0 / n)
    return float(np.trace(k @ h @ l @ h) / (n - 1) ** 2)


def linear_cka_kernel(x: Any, y: Any) -> float:
    """Linear CKA from kernel matrices, as Kornblith et al. (2019) define it (``book/homogenization.md``)."""
    x, y = _check_representation(x, "x"), _check_representation(y, "y")
    _check_same_items(x, y, ("x", "y"))
    _centre(x, "x"), _centre(y, "y")  # same errors as linear_cka for constant representations
    k, l = x @ x.T, y @ y.T
    return float(_hsic(k, l) / np.sqrt(_hsic(k, k) * _hsic(l, l)))


def cka_matrix(representations: Sequence[Any]) -> np.ndarray:
    """Linear CKA between every pair of representations: a symmetric ``m x m`` matrix (``book/homogenization.md``)."""
    C.instance(representations, (list, tuple), "representations (one array per model)", "cka_matrix")
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


def failure_matrix(predictions: Sequence[Any], labels: Any) -> np.ndarray:
    """The failure matrix ``(n_items, n_models)``, True where model j gets item i wrong (``book/homogenization.md``)."""
    C.instance(predictions, (list, tuple), "predictions (one 1-D array per model)", "failure_matrix")
    labels = _check_vector(labels, "labels")
    if len(predictions) < 2:
        raise ValueError(f"predictions holds {len(predictions)} model(s); shared failure needs at least 2")
    columns = []
    for j, p in enumerate(predictions):
        p = _check_vector(p, f"predictions[{j}]")
        _check_same_items(p, labels, (f"predictions[{j}]", "labels"))
        columns.append(p != labels)
    return _check_failures(np.stack(columns, axis=1))


def error_rates(failures: Any) -> np.ndarray:
    """Each model's error rate, the column means of the failure matrix (``book/homogenization.md``)."""
    return _check_failures(failures).mean(axis=0)


def systemic_failure_rate(failures: Any) -> float:
    """The share of items that *every* model gets wrong (Toups et al., 2023) (``book/homogenization.md``)."""
    return float(_check_failures(failures).all(axis=1).mean())


def independent_systemic_failure_rate(failures: Any) -> float:
    """The systemic failure rate of independent models: the product of error rates (``book/homogenization.md``)."""
    return float(np.prod(error_rates(failures)))


def all_correct_rate(failures: Any) -> float:
    """The share of items that every model gets right (``book/homogenization.md``)."""
    return float((~_check_failures(failures)).all(axis=1).mean())


def independent_all_correct_rate(failures: Any) -> float:
    """The all-correct rate of independent models, ``prod_j (1 - err_j)`` (``book/homogenization.md``)."""
    return float(np.prod(1.0 - error_rates(failures)))


def homogenization_ratio(failures: Any, kind: str = "pairwise") -> float:
    """Observed shared failure over what independence predicts (Bommasani et al., 2022; ``book/homogenization.md``)."""
    if kind not in ("pairwise", "k-way"):
        raise ValueError(f"kind={kind!r}: expected one of ('pairwise', 'k-way')")
    f = _check_failures(failures)
    rates = f.mean(axis=0)
    if not rates.all():
        raise ValueError(f"the {kind} homogenization ratio is undefined: model {int(np.argmin(rates))} makes no "
                         "errors (error rate 0), and the ratio divides by its error rate; drop that model or use "
                         "more items")
    if kind == "k-way":
        return float(f.all(axis=1).mean() / np.prod(rates))
    ratios = [np.mean(f[:, i] & f[:, j]) / (rates[i] * rates[j]) for i, j in combinations(range(f.shape[1]), 2)]
    return float(np.mean(ratios))


def cohen_kappa(a: Any, b: Any) -> float:
    """Cohen's kappa between two binary failure indicators (``book/homogenization.md``)."""
    a_vec, b_vec = _check_vector(a, "a"), _check_vector(b, "b")
    _check_same_items(a_vec, b_vec, ("a", "b"))
    if a_vec.shape[0] < _MIN_ITEMS_FAILURES:
        raise ValueError(f"a and b have {a_vec.shape[0]} item(s); at least {_MIN_ITEMS_FAILURES} are needed")
    return _kappa_of_indicators(_as_indicators(a_vec, "a"), _as_indicators(b_vec, "b"))


def _kappa_of_indicators(fa: np.ndarray, fb: np.ndarray) -> float:
    """Cohen's kappa of two validated boolean vectors."""
    observed = float(np.mean(fa == fb))
    qa, qb = fa.mean(), fb.mean()
    chance = float(qa * qb + (1 - qa) * (1 - qb))
    if chance >= 1.0:
        raise ValueError("Cohen's kappa is undefined: both models give the same outcome on every item "
                         f"(error rates {qa:.0f} and {qb:.0f}), so chance agreement is 1")
    return (observed - chance) / (1.0 - chance)


def kappa_matrix(failures: Any) -> np.ndarray:
    """Cohen's kappa between the failures of every pair of models, diagonal 1 (``book/homogenization.md``)."""
    f = _check_failures(failures)
    k = f.shape[1]
    matrix = np.eye(k)
    for i, j in combinations(range(k), 2):
        matrix[i, j] = matrix[j, i] = _kappa_of_indicators(f[:, i], f[:, j])
    return matrix


def mean_pairwise_kappa(failures: Any) -> float:
    """The mean of Cohen's kappa over the ``k(k-1)/2`` pairs of models (``book/homogenization.md``)."""
    return mean_offdiagonal(kappa_matrix(failures))


def mean_offdiagonal(matrix: Any) -> float:
    """The mean of the entries above the diagonal of a square matrix, e.g. a :func:`cka_matrix` (lab 07)."""
    m = _to_numpy(matrix, "matrix").astype(np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(f"matrix must be square with at least 2 rows, got shape {m.shape}")
    return float(m[np.triu_indices_from(m, k=1)].mean())


class BootstrapResult(NamedTuple):
    """What :func:`bootstrap` returns: the estimate, its percentile interval, the resampled values (lab 07)."""

    estimate: Any  #: the statistic on the full data (a float, or an array for array-valued statistics)
    low: Any  #: lower end of the percentile interval
    high: Any  #: upper end of the percentile interval
    samples: np.ndarray  #: the statistic on each resample that was defined, shape (n_defined, ...)
    n_undefined: int  #: resamples on which the statistic raised ValueError (skipped with on_undefined="skip")


def bootstrap(statistic: Callable[..., Any], *data: Any, n_resamples: int = 1000, confidence: float = 0.95,
              seed: int = 0, on_undefined: str = "raise") -> BootstrapResult:
    """A percentile bootstrap interval, by ``scipy.stats.bootstrap``, resampling items (``book/homogenization.md``)."""
    if not callable(statistic):
        raise ValueError(f"statistic must be a function of the data arrays, got {type(statistic).__name__}")
    if not data:
        raise ValueError("bootstrap needs at least one data array to resample")
    C.integer(n_resamples, "n_resamples", "bootstrap")
    confidence = C.fraction(confidence, "confidence (e.g. 0.95)", "bootstrap")
    C.one_of(on_undefined, ("raise", "skip"), "on_undefined", "bootstrap")
    arrays = [_to_numpy(d, f"data[{i}]") for i, d in enumerate(data)]
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"data[{i}] is a scalar; bootstrap resamples the items along axis 0")
        _check_same_items(arrays[0], a, ("data[0]", f"data[{i}]"))
    n = arrays[0].shape[0]
    if n < 2:
        raise ValueError(f"bootstrap needs at least 2 items to resample, got {n}")

    import inspect
    import warnings

    from scipy import stats

    estimate = statistic(*arrays)
    calls = [0]

    def on_items(index):  # scipy resamples the item indices; every array is indexed by the same ones (paired)
        calls[0] += 1
        try:
            return np.asarray(statistic(*(a[index] for a in arrays)), dtype=np.float64)
        except ValueError as error:
            if on_undefined == "raise":
                raise ValueError(f"the statistic is undefined on bootstrap resample {calls[0]} of {n_resamples} "
                                 f"({error}); use more items, or on_undefined='skip' to leave such resamples out"
                                 ) from error
            return np.full(np.shape(estimate), np.nan)

    with warnings.catch_warnings():  # undefined (NaN) resamples make scipy warn; they are handled below
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        # scipy 1.15 renamed random_state to rng; pyproject allows scipy from 1.13
        seeding = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
        result = stats.bootstrap((np.arange(n),), on_items, n_resamples=n_resamples, confidence_level=confidence,
                                 method="percentile", vectorized=False, **{seeding: np.random.default_rng(seed)})
    distribution = np.moveaxis(np.asarray(result.bootstrap_distribution), -1, 0)  # (n_resamples, ...)
    defined = ~np.isnan(distribution.reshape(len(distribution), -1)).any(axis=1)
    stacked, n_undefined = distribution[defined], int((~defined).sum())
    if not len(stacked):
        raise ValueError(f"the statistic was undefined on all {n_resamples} resamples")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(stacked, [alpha, 1.0 - alpha], axis=0)  # the percentile interval, undefined ones left out
    if stacked.ndim == 1:
        low, high, estimate = float(low), float(high), float(estimate)
    else:
        estimate = np.asarray(estimate, dtype=np.float64)
    return BootstrapResult(estimate, low, high, stacked, n_undefined)
