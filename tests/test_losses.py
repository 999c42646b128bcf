"""lablib.losses against torch.nn.functional and autograd (chapter "The loss math, by hand")."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from lablib import losses as L

SHAPES = [(1, 2), (5, 3), (4, 7, 9), (2, 3, 5, 11)]
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-10, atol=1e-12)}


def random_case(shape, dtype, seed, scale=3.0, ignore_fraction=0.0):
    generator = torch.Generator().manual_seed(seed)
    logits = (torch.randn(shape, generator=generator, dtype=torch.float64) * scale).to(dtype)
    targets = torch.randint(0, shape[-1], shape[:-1], generator=generator)
    if ignore_fraction:
        drop = torch.rand(shape[:-1], generator=generator) < ignore_fraction
        drop.view(-1)[0] = False  # keep at least one counted position
        targets[drop] = L.IGNORE_INDEX
    return logits, targets


def reference_ce(logits, targets, **kwargs):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), **kwargs)


@pytest.mark.parametrize("shape, dtype, smoothing, reduction, seed",
                         list(itertools.product(SHAPES, DTYPES, [0.0, 0.1, 0.5], ["mean", "sum"], [0, 1])))
def test_cross_entropy_and_gradient_match_pytorch(shape, dtype, smoothing, reduction, seed):
    logits, targets = random_case(shape, dtype, seed, ignore_fraction=0.3)
    z = logits.clone().requires_grad_(True)
    expected = reference_ce(z, targets, label_smoothing=smoothing, reduction=reduction)
    (expected_grad,) = torch.autograd.grad(expected, z)
    mine = L.cross_entropy(logits, targets, label_smoothing=smoothing, reduction=reduction)
    torch.testing.assert_close(mine, expected.detach(), **TOL[dtype])
    grad = L.cross_entropy_grad(logits, targets, label_smoothing=smoothing, reduction=reduction)
    torch.testing.assert_close(grad, expected_grad, **TOL[dtype])


def test_cross_entropy_none_reduction_is_zero_at_ignored_positions():
    logits, targets = random_case((6, 5), torch.float64, 3, ignore_fraction=0.5)
    per_position = L.cross_entropy(logits, targets, reduction="none")
    expected = F.cross_entropy(logits, targets, reduction="none")
    torch.testing.assert_close(per_position, expected)
    assert (per_position[targets == L.IGNORE_INDEX] == 0).all()


@pytest.mark.parametrize("extreme", [1e4, -1e4, 1e30])
def test_extreme_logits_stay_finite_and_correct(extreme):
    logits = torch.tensor([[extreme, 0.0, -3.0], [0.0, extreme, 1.0]], dtype=torch.float32)
    targets = torch.tensor([0, 2])
    mine = L.cross_entropy(logits, targets)
    torch.testing.assert_close(mine, F.cross_entropy(logits, targets))
    assert torch.isfinite(L.cross_entropy_grad(logits, targets)).all()
    assert torch.isnan(L.naive_softmax(torch.tensor([1000.0, 0.0]))).any(), "the naive formula overflows"
    torch.testing.assert_close(L.softmax(torch.tensor([1000.0, 0.0])), torch.tensor([1.0, 0.0]))


@pytest.mark.parametrize("shape, temperature", [((3, 4), 1.0), ((2, 5, 7), 0.3), ((8,), 4.0)])
def test_softmax_family_matches_pytorch(shape, temperature):
    z = torch.randn(shape, dtype=torch.float64) * 5
    torch.testing.assert_close(L.softmax(z, temperature=temperature), torch.softmax(z / temperature, dim=-1))
    torch.testing.assert_close(L.log_softmax(z), torch.log_softmax(z, dim=-1))
    torch.testing.assert_close(L.logsumexp(z), torch.logsumexp(z, dim=-1))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        L.softmax(z, temperature=0.0)


def test_gradcheck_float64():
    logits, targets = random_case((4, 6), torch.float64, 7, ignore_fraction=0.25)
    z = logits.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: L.cross_entropy(t, targets, label_smoothing=0.1), (z,))
    z = (torch.randn(5, dtype=torch.float64) * 3).requires_grad_(True)
    y = torch.randint(0, 2, (5,)).double()
    assert torch.autograd.gradcheck(lambda t: L.binary_cross_entropy_with_logits(t, y), (z,))


def test_label_smoothing_spreads_eps_over_all_classes_including_the_true_one():
    q = L.smoothed_targets(torch.tensor([2]), num_classes=4, label_smoothing=0.2)
    torch.testing.assert_close(q, torch.tensor([[0.05, 0.05, 0.85, 0.05]]))
    torch.testing.assert_close(q.sum(), torch.tensor(1.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_is_the_two_class_case(dtype):
    generator = torch.Generator().manual_seed(0)
    z = (torch.randn(50, dtype=torch.float64, generator=generator) * 4).to(dtype)
    y = torch.randint(0, 2, (50,), generator=generator)
    torch.testing.assert_close(L.binary_cross_entropy_with_logits(z, y), F.binary_cross_entropy_with_logits(z, y.to(dtype)), **TOL[dtype])
    # the probability form, computed in float64: in float32 sigmoid(z) rounds to 1 for large z and loses log(1 - p)
    by_probability = F.binary_cross_entropy(torch.sigmoid(z.double()), y.double())
    torch.testing.assert_close(L.binary_cross_entropy_with_logits(z, y).double(), by_probability, **TOL[dtype])
    # two-class softmax CE on logits (0, z) equals BCE on z
    two_class = torch.stack([torch.zeros_like(z), z], dim=-1)
    torch.testing.assert_close(L.cross_entropy(two_class, y), L.binary_cross_entropy_with_logits(z, y), **TOL[dtype])
    zz = z.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(zz, y.to(dtype)), zz)
    torch.testing.assert_close(L.binary_cross_entropy_with_logits_grad(z, y), g, **TOL[dtype])


def test_causal_and_masked_lm_losses():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 11, dtype=torch.float64)
    tokens = torch.randint(0, 11, (2, 6))
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 11), tokens[:, 1:].reshape(-1))
    torch.testing.assert_close(L.causal_lm_loss(logits, tokens), expected)
    # the sum form is the negative log-likelihood of the sequences
    log_p = torch.log_softmax(logits, -1)
    nll = -sum(log_p[b, t, tokens[b, t + 1]] for b in range(2) for t in range(5))
    torch.testing.assert_close(L.causal_lm_loss(logits, tokens, reduction="sum"), nll)
    labels = torch.full((2, 6), L.IGNORE_INDEX)
    labels[0, 2], labels[1, 4] = tokens[0, 2], tokens[1, 4]
    expected_mlm = -(log_p[0, 2, tokens[0, 2]] + log_p[1, 4, tokens[1, 4]]) / 2
    torch.testing.assert_close(L.masked_lm_loss(logits, labels), expected_mlm)
    assert math.isclose(L.perplexity(L.uniform_cross_entropy(11)), 11.0)


def test_a_uniform_model_has_cross_entropy_log_v():
    logits = torch.zeros(3, 9)
    assert math.isclose(float(L.cross_entropy(logits, torch.tensor([0, 4, 8]))), math.log(9), rel_tol=1e-6)
    assert math.isclose(L.uniform_cross_entropy(9), 2.1972245773, rel_tol=1e-9)


def test_accumulated_mean_differs_from_mean_of_means():
    logits, targets = random_case((2, 8, 5), torch.float64, 11)
    targets[1, 2:] = L.IGNORE_INDEX  # micro-batch 1 has 2 counted tokens, micro-batch 0 has 8
    sums = [L.cross_entropy(logits[k], targets[k], reduction="sum") for k in range(2)]
    counts = [int((targets[k] != L.IGNORE_INDEX).sum()) for k in range(2)]
    right = L.accumulated_mean_loss(sums, counts)
    torch.testing.assert_close(right, L.cross_entropy(logits, targets))
    mean_of_means = sum(s / c for s, c in zip(sums, counts)) / 2
    assert abs(float(mean_of_means - right)) > 1e-3


def test_linear_and_two_layer_backward_match_autograd():
    torch.manual_seed(1)
    x = torch.randn(7, 4, dtype=torch.float64)
    targets = torch.randint(0, 3, (7,))
    params = {"w1": torch.randn(5, 4), "b1": torch.randn(5), "w2": torch.randn(3, 5), "b2": torch.randn(3)}
    params = {k: v.double().requires_grad_(True) for k, v in params.items()}
    loss, grads = L.two_layer_loss_and_grads(x, targets, *(p.detach() for p in params.values()))
    reference = F.cross_entropy(F.relu(x @ params["w1"].T + params["b1"]) @ params["w2"].T + params["b2"], targets)
    reference.backward()
    torch.testing.assert_close(loss, reference.detach())
    for name, p in params.items():
        torch.testing.assert_close(grads[name], p.grad, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: L.cross_entropy(torch.zeros(3, 4), torch.tensor([0, 1])), r"targets have shape \(2,\).*expected targets of shape \(3,\)"),
        (lambda: L.cross_entropy(torch.zeros(3, 4), torch.tensor([0, 4, 1])), r"target 4 at position \(1,\) is outside the class range 0..3"),
        (lambda: L.cross_entropy(torch.zeros(3, 4), torch.tensor([0, -5, 1])), r"target -5"),
        (lambda: L.cross_entropy(torch.zeros(3, 4), torch.tensor([0.0, 1.0, 1.0])), "integer class indices"),
        (lambda: L.cross_entropy(torch.zeros(3, 4, dtype=torch.long), torch.tensor([0, 1, 1])), "floating-point"),
        (lambda: L.cross_entropy(torch.zeros(3, 4), torch.tensor([0, 1, 1]), reduction="avg"), "reduction must be one of .*got 'avg'"),
        (lambda: L.cross_entropy([[0.0, 1.0]], torch.tensor([0])), "must be a torch.Tensor, got list"),
        (lambda: L.binary_cross_entropy_with_logits(torch.tensor([0.5, 0.2]), torch.tensor([1, 2])), r"must lie in \[0, 1\]"),
        (lambda: L.binary_cross_entropy_with_logits(torch.tensor([0.5, 0.2]), torch.tensor([1, 0, 1])), "shape"),
        (lambda: L.cross_entropy_grad(torch.zeros(3, 4), torch.tensor([0, 1, 1]), reduction="none"), "got 'none'"),
        (lambda: L.causal_lm_loss(torch.zeros(2, 5), torch.zeros(2, 5, dtype=torch.long)), r"logits \(batch, time, vocab\)"),
        (lambda: L.linear_backward(torch.zeros(2, 3), torch.zeros(4, 5), torch.zeros(2, 4)), "shapes do not fit"),
        (lambda: L.smoothed_targets(torch.tensor([0]), 3, 1.5), r"label_smoothing must be in \[0, 1\]"),
        (lambda: L.perplexity(-0.5), ">= 0"),
        (lambda: L.accumulated_mean_loss([torch.tensor(1.0)], [0]), "positive total"),
    ],
)
def test_bad_inputs_say_what_is_wrong(call, match):
    with pytest.raises(ValueError, match=match):
        call()
