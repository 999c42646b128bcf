"""lablib.metrics: CKA, shared failure, Cohen's kappa, bootstrap (chapter "Homogenization").

Every formula of ``book/homogenization.md`` that lives in lablib is checked
here: against a hand computation, against scikit-learn, or against a simulation
whose true value is known.
"""
import math
from itertools import combinations

import numpy as np
import pytest
import torch
from sklearn.metrics import cohen_kappa_score

from lablib import metrics as M


def random_orthogonal(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def latent_failures(rng, n, error_rates, hard_share):
    """Failures that coincide: a share `hard_share` of items is failed by every model;
    on the others model j fails independently with probability error_rates[j]."""
    hard = rng.random(n) < hard_share
    return hard[:, None] | (rng.random((n, len(error_rates))) < np.asarray(error_rates))


# ---------------------------------------------------------------------- CKA
def test_cka_is_one_for_identical_representations():
    x = np.random.default_rng(0).normal(size=(40, 7))
    assert M.linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert M.linear_cka_kernel(x, x) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cka_is_invariant_to_rotation_isotropic_scaling_and_translation(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(60, 8)), rng.normal(size=(60, 5))
    y = y + 0.5 * x[:, :5]  # some shared structure, so CKA is neither 0 nor 1
    base = M.linear_cka(x, y)
    assert 0.05 < base < 0.95
    q = random_orthogonal(rng, 8)
    assert M.linear_cka(x @ q, y) == pytest.approx(base, rel=1e-10)
    assert M.linear_cka(3.7 * x, 0.02 * y) == pytest.approx(base, rel=1e-10)
    assert M.linear_cka(x + 5.0, y - 2.0) == pytest.approx(base, rel=1e-10)  # centring removes shifts
    assert M.linear_cka(2.0 * x @ q, y @ random_orthogonal(rng, 5)) == pytest.approx(base, rel=1e-10)


def test_cka_is_not_invariant_to_a_general_invertible_linear_map():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 6))
    a = np.diag([10.0, 1, 1, 1, 1, 0.1]) @ random_orthogonal(rng, 6)  # invertible, far from orthogonal
    assert abs(np.linalg.det(a)) > 1e-6
    assert M.linear_cka(x, x @ a) < 0.9
    # anisotropic scaling of the features is such a map too
    assert M.linear_cka(x, x * np.array([5.0, 1, 1, 1, 1, 1])) < 0.99


@pytest.mark.parametrize("n, p, q", [(5, 3, 2), (30, 4, 9), (12, 20, 1)])
def test_feature_space_formula_agrees_with_the_kernel_formula(n, p, q):
    rng = np.random.default_rng(n * p * q)
    x, y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
    assert M.linear_cka(x, y) == pytest.approx(M.linear_cka_kernel(x, y), rel=1e-10)


def test_cka_hand_cases():
    # one feature each: linear CKA is the squared Pearson correlation; corr((1,2,3), (1,3,2)) = 0.5
    assert M.linear_cka([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(0.25)
    assert M.linear_cka([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(np.corrcoef([1, 2, 3], [1, 3, 2])[0, 1] ** 2)
    # X already centred: Y^T X = (2, 0), ||X^T X||_F = sqrt(8), ||Y^T Y||_F = 2, so CKA = 4 / (2 sqrt 8)
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    y = np.array([[1.0], [-1.0], [0.0], [0.0]])
    assert M.linear_cka(x, y) == pytest.approx(1 / math.sqrt(2))
    assert M.linear_cka_kernel(x, y) == pytest.approx(1 / math.sqrt(2))


def test_hsic_of_linear_kernels_is_the_centred_cross_covariance_norm():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 4))
    xc, yc = x - x.mean(0), y - y.mean(0)
    expected = np.linalg.norm(yc.T @ xc) ** 2 / (10 - 1) ** 2
    assert M._hsic(x @ x.T, y @ y.T) == pytest.approx(expected, rel=1e-10)


def test_cka_matrix_is_symmetric_with_unit_diagonal_and_accepts_torch():
    rng = np.random.default_rng(4)
    reps = [rng.normal(size=(20, d)) for d in (3, 5, 2)]
    matrix = M.cka_matrix(reps)
    assert matrix.shape == (3, 3)
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    assert matrix[0, 2] == pytest.approx(M.linear_cka(reps[0], reps[2]))
    np.testing.assert_allclose(M.cka_matrix([torch.tensor(r, dtype=torch.float32) for r in reps]), matrix, rtol=1e-5)
    assert M.mean_offdiagonal(matrix) == pytest.approx(np.mean([matrix[0, 1], matrix[0, 2], matrix[1, 2]]))


# --------------------------------------------------------- shared failure
def test_failure_matrix_rates_and_hand_case():
    labels = np.array([0, 1, 2, 3])
    predictions = [np.array([1, 0, 2, 3]), np.array([1, 1, 2, 3]), np.array([1, 0, 0, 3])]
    f = M.failure_matrix(predictions, labels)
    assert f.dtype == bool and f.shape == (4, 3)
    np.testing.assert_array_equal(f[:, 0], [True, True, False, False])
    np.testing.assert_allclose(M.error_rates(f), [0.5, 0.25, 0.75])
    assert M.systemic_failure_rate(f) == 0.25  # item 0: all three wrong
    assert M.independent_systemic_failure_rate(f) == pytest.approx(0.5 * 0.25 * 0.75)
    assert M.all_correct_rate(f) == 0.25  # item 3
    assert M.independent_all_correct_rate(f) == pytest.approx(0.5 * 0.75 * 0.25)
    # k-way: P(all fail) / prod err = 0.25 / 0.09375
    assert M.homogenization_ratio(f, kind="k-way") == pytest.approx(0.25 / 0.09375)
    # pairwise: pairs (0,1): 0.25/(0.5*0.25) = 2; (0,2): 0.5/(0.5*0.75) = 4/3; (1,2): 0.25/(0.25*0.75) = 4/3
    assert M.homogenization_ratio(f) == pytest.approx((2 + 4 / 3 + 4 / 3) / 3)
    # with two models the two forms coincide
    assert M.homogenization_ratio(f[:, :2], kind="k-way") == pytest.approx(M.homogenization_ratio(f[:, :2]))


def test_independent_failures_give_ratio_one_and_kappa_zero():
    rng = np.random.default_rng(0)
    rates = [0.1, 0.2, 0.3, 0.15]
    f = rng.random((200_000, 4)) < np.array(rates)
    assert M.homogenization_ratio(f) == pytest.approx(1.0, abs=0.03)
    assert M.homogenization_ratio(f, kind="k-way") == pytest.approx(1.0, abs=0.2)
    assert M.systemic_failure_rate(f) == pytest.approx(M.independent_systemic_failure_rate(f), rel=0.2)
    assert M.all_correct_rate(f) == pytest.approx(M.independent_all_correct_rate(f), rel=0.02)
    assert abs(M.mean_pairwise_kappa(f)) < 0.01


def test_correlated_failures_give_ratio_above_one_and_positive_kappa():
    rng = np.random.default_rng(1)
    f = latent_failures(rng, 50_000, [0.05, 0.1, 0.08], hard_share=0.05)
    q = 0.05 + 0.95 * np.array([0.05, 0.1, 0.08])  # each model's true error rate
    true_pairwise = np.mean([(0.05 + 0.95 * r_i * r_j) / (q[i] * q[j])
                             for (i, r_i), (j, r_j) in combinations(enumerate([0.05, 0.1, 0.08]), 2)])
    assert true_pairwise > 2
    assert M.homogenization_ratio(f) == pytest.approx(true_pairwise, rel=0.05)
    assert M.homogenization_ratio(f) > 1.5
    assert M.mean_pairwise_kappa(f) > 0.2
    assert M.systemic_failure_rate(f) > 10 * M.independent_systemic_failure_rate(f)
    assert M.all_correct_rate(f) > M.independent_all_correct_rate(f)  # homogeneous at both ends


def test_pair_ratio_is_capped_by_the_larger_error_rate():
    rng = np.random.default_rng(2)
    for hard_share in (0.0, 0.05, 0.3):
        f = latent_failures(rng, 2_000, [0.02, 0.3], hard_share)
        e = M.error_rates(f)
        assert M.homogenization_ratio(f) <= 1 / e.max() + 1e-12
    same = np.tile(rng.random(1_000)[:, None] < 0.04, (1, 2))  # identical failures reach the cap
    assert M.homogenization_ratio(same) == pytest.approx(1 / M.error_rates(same)[0])


def test_k_way_ratio_explodes_for_shared_rare_failures_but_pairwise_does_not():
    fails = np.zeros(1_000, dtype=bool)
    fails[:40] = True  # error rate 0.04, the same items for all five models
    f = np.tile(fails[:, None], (1, 5))
    assert M.homogenization_ratio(f, kind="k-way") == pytest.approx(0.04 / 0.04**5)  # 390 625
    assert M.homogenization_ratio(f) == pytest.approx(1 / 0.04)  # 25, the cap


def test_metrics_accept_torch_bool_int_and_float_indicators():
    rng = np.random.default_rng(5)
    f = latent_failures(rng, 500, [0.2, 0.3, 0.25], 0.1)
    expected = M.homogenization_ratio(f)
    for version in (torch.tensor(f), torch.tensor(f.astype(np.int64)), f.astype(np.float32), f.astype(int).tolist()):
        assert M.homogenization_ratio(version) == pytest.approx(expected)
        assert M.mean_pairwise_kappa(version) == pytest.approx(M.mean_pairwise_kappa(f))


# ----------------------------------------------------------- Cohen's kappa
@pytest.mark.parametrize("seed", range(5))
def test_kappa_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    f = latent_failures(rng, 300, rng.uniform(0.05, 0.5, size=4), hard_share=rng.uniform(0, 0.2))
    matrix = M.kappa_matrix(f)
    for i, j in combinations(range(4), 2):
        expected = cohen_kappa_score(f[:, i].astype(int), f[:, j].astype(int))
        assert M.cohen_kappa(f[:, i], f[:, j]) == pytest.approx(expected, abs=1e-12)
        assert matrix[i, j] == matrix[j, i] == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(np.diag(matrix), 1.0)


def test_kappa_and_pair_ratio_are_two_views_of_the_same_excess():
    # kappa = 2 q_a q_b (R - 1) / (q_a + q_b - 2 q_a q_b), with R = P(both fail) / (q_a q_b)
    rng = np.random.default_rng(6)
    f = latent_failures(rng, 1_000, [0.1, 0.3], 0.1)
    qa, qb = M.error_rates(f)
    r = M.homogenization_ratio(f)
    assert M.cohen_kappa(f[:, 0], f[:, 1]) == pytest.approx(2 * qa * qb * (r - 1) / (qa + qb - 2 * qa * qb))


def test_kappa_edge_values():
    a = np.array([1, 0, 1, 0, 0, 1])
    assert M.cohen_kappa(a, a) == pytest.approx(1.0)
    assert M.cohen_kappa(a, 1 - a) == pytest.approx(cohen_kappa_score(a, 1 - a))  # complete disagreement
    assert M.cohen_kappa(a, np.zeros(6)) == pytest.approx(0.0)  # one model never fails: no agreement beyond chance


# --------------------------------------------------------------- bootstrap
def test_bootstrap_ci_covers_the_truth_on_a_simulated_case():
    # the true pairwise ratio of latent_failures with rates r and hard share h
    rates, h = np.array([0.1, 0.15, 0.2]), 0.05
    q = h + (1 - h) * rates
    truth = np.mean([(h + (1 - h) * rates[i] * rates[j]) / (q[i] * q[j]) for i, j in combinations(range(3), 2)])
    rng = np.random.default_rng(11)
    covered = 0
    for replicate in range(20):
        f = latent_failures(rng, 2_000, rates, h)
        result = M.bootstrap(M.homogenization_ratio, f, n_resamples=300, seed=replicate)
        assert result.low <= result.estimate <= result.high
        covered += result.low <= truth <= result.high
    assert covered >= 16  # nominal 95%; 16 of 20 fails only if the interval is badly wrong


def test_bootstrap_is_seeded_and_resamples_all_arrays_together():
    rng = np.random.default_rng(8)
    a = rng.random(50)
    first = M.bootstrap(np.mean, a, n_resamples=200, seed=3)
    again = M.bootstrap(np.mean, a, n_resamples=200, seed=3)
    other = M.bootstrap(np.mean, a, n_resamples=200, seed=4)
    assert isinstance(first, M.BootstrapResult) and first.n_undefined == 0 and first.samples.shape == (200,)
    np.testing.assert_array_equal(first.samples, again.samples)
    assert not np.array_equal(first.samples, other.samples)
    assert first.estimate == pytest.approx(a.mean()) and first.low < a.mean() < first.high
    # the same indices for every array: a statistic of aligned copies never changes
    paired = M.bootstrap(lambda u, v: float(np.mean(u == v)), a, a.copy(), n_resamples=100)
    assert paired.low == paired.high == 1.0
    # array-valued statistics give array-valued intervals
    vec = M.bootstrap(lambda u: np.array([u.mean(), u.max()]), a, n_resamples=100)
    assert vec.low.shape == vec.high.shape == (2,) and np.all(vec.low <= vec.high)


def test_bootstrap_undefined_resamples_raise_or_are_skipped():
    f = np.zeros((20, 2), dtype=bool)
    f[0] = True  # one failure for each model: many resamples contain no error at all
    with pytest.raises(ValueError, match="undefined on bootstrap resample"):
        M.bootstrap(M.homogenization_ratio, f, n_resamples=200)
    result = M.bootstrap(M.homogenization_ratio, f, n_resamples=200, on_undefined="skip")
    assert 0 < result.n_undefined < 200 and len(result.samples) == 200 - result.n_undefined


# ------------------------------------------------------------ error paths
@pytest.mark.parametrize("x, y, message", [
    (np.ones((5, 2)) * np.arange(5)[:, None], np.arange(4.0), "5 items but y has 4"),
    (np.arange(2.0), np.arange(2.0), "at least 3"),
    (np.array([0.0, 1.0, np.nan]), np.arange(3.0), "NaN"),
    (np.ones((4, 2)), np.arange(4.0), "same for every item"),
    (np.zeros((3, 2, 2)), np.arange(3.0), "must be 2-D"),
    ("abc", np.arange(3.0), "must be an array"),
    (np.ones((3, 0)), np.arange(3.0), "no features"),
])
def test_cka_rejects_bad_representations(x, y, message):
    for function in (M.linear_cka, M.linear_cka_kernel):
        with pytest.raises(ValueError, match=message):
            function(x, y)


def test_cka_matrix_rejects_a_single_representation_and_mismatched_items():
    with pytest.raises(ValueError, match="at least 2 representations"):
        M.cka_matrix([np.eye(3)])
    with pytest.raises(ValueError, match="list or tuple"):
        M.cka_matrix(np.eye(3))
    with pytest.raises(ValueError, match="items"):
        M.cka_matrix([np.random.default_rng(0).normal(size=(4, 2)), np.random.default_rng(1).normal(size=(5, 2))])


@pytest.mark.parametrize("failures, message", [
    (np.ones((10, 1), dtype=bool), "at least 2 models"),
    (np.ones(10, dtype=bool), "must be 2-D"),
    (np.ones((1, 3), dtype=bool), "at least 2 are needed"),
    (np.array([[0, 2], [1, 0]]), r"entry \(0, 1\) is 2"),
    (np.array([[0.0, 0.5], [1.0, 0.0]]), r"entry \(0, 1\) is 0.5"),
    (np.array([["a", "b"], ["c", "d"]]), "dtype"),
])
def test_failure_measures_reject_bad_failure_matrices(failures, message):
    for function in (M.error_rates, M.systemic_failure_rate, M.homogenization_ratio, M.kappa_matrix, M.all_correct_rate):
        with pytest.raises(ValueError, match=message):
            function(failures)


def test_homogenization_ratio_undefined_for_a_model_without_errors_and_unknown_kind():
    f = np.array([[1, 0], [0, 0], [1, 0]])
    for kind in ("pairwise", "k-way"):
        with pytest.raises(ValueError, match="model 1 makes no errors"):
            M.homogenization_ratio(f, kind=kind)
    with pytest.raises(ValueError, match="kind='triple'"):
        M.homogenization_ratio(np.eye(3, dtype=bool), kind="triple")


def test_failure_matrix_rejects_one_model_and_mismatched_lengths():
    with pytest.raises(ValueError, match="at least 2"):
        M.failure_matrix([np.zeros(3)], np.zeros(3))
    with pytest.raises(ValueError, match=r"predictions\[1\] has 2 items but labels has 3"):
        M.failure_matrix([np.zeros(3), np.zeros(2)], np.zeros(3))
    with pytest.raises(ValueError, match="one 1-D array per model"):
        M.failure_matrix(np.zeros((2, 3)), np.zeros(3))


def test_kappa_rejects_bad_pairs():
    with pytest.raises(ValueError, match="a has 3 items but b has 2"):
        M.cohen_kappa([0, 1, 0], [0, 1])
    with pytest.raises(ValueError, match="undefined"):
        M.cohen_kappa([1, 1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="b must hold failure indicators"):
        M.cohen_kappa([0, 1, 0], [0, 3, 0])
    with pytest.raises(ValueError, match="at least 2"):
        M.cohen_kappa([1], [0])


@pytest.mark.parametrize("kwargs, data, message", [
    (dict(), (np.arange(5.0), np.arange(4.0)), "5 items but data\\[1\\] has 4"),
    (dict(), (np.arange(1.0),), "at least 2 items"),
    (dict(), (), "at least one data array"),
    (dict(), (np.float64(3.0),), "scalar"),
    (dict(n_resamples=0), (np.arange(5.0),), "n_resamples"),
    (dict(n_resamples=True), (np.arange(5.0),), "n_resamples"),
    (dict(confidence=1.0), (np.arange(5.0),), "confidence"),
    (dict(confidence=95), (np.arange(5.0),), "confidence"),
    (dict(on_undefined="ignore"), (np.arange(5.0),), "on_undefined"),
])
def test_bootstrap_rejects_bad_arguments(kwargs, data, message):
    with pytest.raises(ValueError, match=message):
        M.bootstrap(np.mean, *data, **kwargs)


def test_bootstrap_rejects_a_non_callable_statistic_and_all_undefined_resamples():
    with pytest.raises(ValueError, match="statistic must be a function"):
        M.bootstrap("mean", np.arange(5.0))

    def needs_distinct_items(values):
        if len(np.unique(values)) < len(values):
            raise ValueError("repeated items")
        return 0.0

    with pytest.raises(ValueError, match="repeated items"):
        M.bootstrap(needs_distinct_items, np.array([1.0, 1.0, 2.0]))  # undefined on the full data already
    # defined on the full data, undefined on every resample of 20 items (all have repeats)
    with pytest.raises(ValueError, match="undefined on all 50 resamples"):
        M.bootstrap(needs_distinct_items, np.arange(20.0), n_resamples=50, on_undefined="skip")
