"""lablib.emergence: the tasks, models, training loop and metrics of lab 06 (chapter "Emergence")."""
import math

import pytest
import torch

from lablib import emergence as E
from lablib.transformer import causal_mask


# --------------------------------------------------------------------- tasks
@pytest.mark.parametrize("p", [2, 7, 59])
def test_table_holds_every_pair_once_with_its_sum(p):
    x, y = E._modular_addition_table(p)
    assert x.shape == (p * p, 2) and y.shape == (p * p,)
    assert len({tuple(row) for row in x.tolist()}) == p * p
    assert torch.equal(y, (x[:, 0] + x[:, 1]) % p)
    a, b = p - 1, 1
    assert x[a * p + b].tolist() == [a, b]  # row a * p + b holds (a, b)


@pytest.mark.parametrize("p,fraction", [(7, 0.5), (13, 0.3), (59, 0.5), (113, 0.3)])
def test_split_has_no_overlap_and_covers_the_table_exactly(p, fraction):
    split = E.modular_addition_split(p, fraction, seed=3)
    assert isinstance(split, E.ModularSplit) and split.p == p
    train = {tuple(r) for r in split.train_x.tolist()}
    test = {tuple(r) for r in split.test_x.tolist()}
    assert not train & test
    assert train | test == {(a, b) for a in range(p) for b in range(p)}
    assert len(train) + len(test) == p * p == len(split.train_x) + len(split.test_x)  # no duplicates either
    assert len(train) == round(fraction * p * p)
    assert torch.equal(split.train_y, split.train_x.sum(1) % p) and torch.equal(split.test_y, split.test_x.sum(1) % p)


def test_split_is_deterministic_and_depends_on_the_seed():
    first, again = E.modular_addition_split(59, 0.5, 0), E.modular_addition_split(59, 0.5, 0)
    other = E.modular_addition_split(59, 0.5, 1)
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.test_x, again.test_x)
    assert not torch.equal(first.train_x, other.train_x)
    # the split must not depend on the global torch seed
    torch.manual_seed(123)
    assert torch.equal(E.modular_addition_split(59, 0.5, 0).train_x, first.train_x)


@pytest.mark.parametrize("kwargs,message", [
    (dict(p=1, train_fraction=0.5, seed=0), "p.*got 1"),
    (dict(p=7.0, train_fraction=0.5, seed=0), "p.*got 7.0"),
    (dict(p=True, train_fraction=0.5, seed=0), "p.*got True"),
    (dict(p=7, train_fraction=0.0, seed=0), "train_fraction.*got 0.0"),
    (dict(p=7, train_fraction=1.0, seed=0), "train_fraction.*got 1.0"),
    (dict(p=7, train_fraction="half", seed=0), "train_fraction.*got 'half'"),
    (dict(p=2, train_fraction=0.1, seed=0), "0 training pairs"),
    (dict(p=7, train_fraction=0.5, seed=-1), "seed.*got -1"),
])
def test_split_rejects_bad_inputs(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        E.modular_addition_split(**kwargs)


def test_digits_round_trip_and_reject_what_does_not_fit():
    numbers = torch.tensor([0, 7, 42, 9999])
    digits = E._to_digits(numbers, 4)
    assert digits.tolist() == [[0, 0, 0, 0], [0, 0, 0, 7], [0, 0, 4, 2], [9, 9, 9, 9]]
    assert torch.equal(E.from_digits(digits), numbers)
    with pytest.raises(ValueError, match="0..9"):
        E.from_digits(torch.tensor([[1, 10]]))


def test_digit_addition_problems_are_right_and_deterministic():
    inputs, answers = E._digit_addition_problems(4, 1000, seed=5)
    assert inputs.shape == (1000, 8) and answers.shape == (1000, 5)
    a, b = E.from_digits(inputs[:, :4]), E.from_digits(inputs[:, 4:])
    assert torch.equal(E.from_digits(answers), a + b)
    assert set(answers[:, 0].tolist()) == {0, 1}  # the carry out, both values occur
    again, _ = E._digit_addition_problems(4, 1000, seed=5)
    other, _ = E._digit_addition_problems(4, 1000, seed=6)
    assert torch.equal(inputs, again) and not torch.equal(inputs, other)
    for bad, message in ((dict(n_digits=0, n_train=5, n_test=5, seed=0), "n_digits"),
                         (dict(n_digits=10, n_train=5, n_test=5, seed=0), "n_digits"),
                         (dict(n_digits=4, n_train=0, n_test=5, seed=0), "n_train"),
                         (dict(n_digits=4, n_train=5, n_test=5, seed=1.5), "seed")):
        with pytest.raises((TypeError, ValueError), match=message):
            E.digit_addition_split(**bad)


def test_digit_addition_split_drops_test_problems_seen_in_training():
    data = E.digit_addition_split(1, 50, 40, seed=0)  # only 100 possible problems: many collide
    train = {tuple(r) for r in data["train_x"].tolist()}
    assert data["dropped"] > 0 and len(data["test_x"]) == 40 - data["dropped"]
    assert not any(tuple(r) in train for r in data["test_x"].tolist())
    assert torch.equal(E.from_digits(data["test_y"]), data["test_x"].sum(1))
    again = E.digit_addition_split(1, 50, 40, seed=0)
    assert torch.equal(again["test_x"], data["test_x"]) and again["dropped"] == data["dropped"]
    with pytest.raises(ValueError, match="n_test.*got 0"):
        E.digit_addition_split(4, 10, 0, seed=0)


# ------------------------------------------------------------------- metrics
PRED = torch.tensor([[1, 2, 3], [1, 2, 4], [0, 2, 3]])
GOLD = torch.tensor([[1, 2, 3], [1, 2, 3], [1, 2, 3]])


def test_metrics_on_a_hand_computed_case():
    assert E.exact_match(PRED, GOLD) == pytest.approx(1 / 3)
    assert E.per_token_accuracy(PRED, GOLD) == pytest.approx(7 / 9)
    assert torch.allclose(E.per_token_accuracy(PRED, GOLD, per_position=True), torch.tensor([2 / 3, 1.0, 2 / 3]))


def test_answer_log_likelihood_by_hand():
    uniform = torch.zeros(4, 5, 10)  # every digit has probability 1/10
    targets = torch.randint(0, 10, (4, 5))
    assert E.answer_log_likelihood(uniform, targets) == pytest.approx(5 * math.log(0.1))
    # two answers of one binary token: p(target) = 3/4 and 1/4
    logits = torch.tensor([[[0.0, math.log(3.0)]], [[0.0, math.log(3.0)]]])
    assert E.answer_log_likelihood(logits, torch.tensor([[1], [0]])) == pytest.approx(
        (math.log(0.75) + math.log(0.25)) / 2)


def test_exact_match_is_the_product_of_per_digit_accuracies_when_digits_err_independently():
    generator = torch.Generator().manual_seed(0)
    n, accuracies = 200_000, torch.tensor([0.99, 0.9, 0.7, 0.8, 0.95])
    gold = torch.randint(0, 10, (n, 5), generator=generator)
    wrong = torch.rand(n, 5, generator=generator) > accuracies  # each digit wrong independently
    predictions = torch.where(wrong, (gold + 1) % 10, gold)
    per_digit = E.per_token_accuracy(predictions, gold, per_position=True)
    assert torch.allclose(per_digit, accuracies, atol=0.005)
    assert E.exact_match(predictions, gold) == pytest.approx(per_digit.prod().item(), abs=0.005)
    # ... and not when errors are correlated: every digit wrong together
    together = torch.rand(n, 1, generator=generator) > 0.8
    correlated = torch.where(together.expand(n, 5), (gold + 1) % 10, gold)
    assert E.exact_match(correlated, gold) - E.per_token_accuracy(correlated, gold, per_position=True).prod().item() > 0.4


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        E.exact_match(PRED, GOLD[:, :2])
    with pytest.raises(ValueError, match="same shape"):
        E.per_token_accuracy(PRED[0], GOLD[0])
    with pytest.raises(ValueError, match=r"\(N, L, V\)"):
        E.answer_log_likelihood(torch.zeros(3, 10), GOLD)
    with pytest.raises(ValueError, match=r"lie in \[0, 9\]"):
        E.answer_log_likelihood(torch.zeros(1, 1, 10), torch.tensor([[10]]))


def test_schaeffer_curve_and_its_power():
    n = torch.logspace(0, 6, 61)
    accuracy = E.scaled_token_accuracy(n, c=1e3, alpha=-0.5)
    assert accuracy[30].item() == pytest.approx(math.exp(-1))  # N = c
    assert (accuracy.diff() > 0).all()
    # exact match p^L: the longer the answer, the later it leaves 0.5
    half = [n[(accuracy ** L >= 0.5).nonzero()[0]].item() for L in (1, 5, 10)]
    assert half[0] < half[1] < half[2]
    for bad in (dict(c=0.0, alpha=-0.5), dict(c=1.0, alpha=0.5)):
        with pytest.raises(ValueError):
            E.scaled_token_accuracy(n, **bad)


def test_fourier_share_of_a_two_frequency_embedding_is_one():
    p, d = 59, 16
    a = torch.arange(p, dtype=torch.float64)[:, None]
    mix = torch.randn(4, d, dtype=torch.float64)
    waves = torch.cat([torch.cos(2 * math.pi * 3 * a / p), torch.sin(2 * math.pi * 3 * a / p),
                       torch.cos(2 * math.pi * 11 * a / p), torch.sin(2 * math.pi * 11 * a / p)], dim=1)
    assert E.fourier_power_share(waves @ mix, top_k=2) == pytest.approx(1.0)
    assert E.fourier_power_share(waves @ mix, top_k=1) < 0.999
    torch.manual_seed(0)
    random_share = E.fourier_power_share(torch.randn(p, 256), top_k=5)
    assert abs(random_share - 5 / (p // 2)) < 0.05  # spread over all 29 frequencies
    with pytest.raises(ValueError, match="top_k.*got 30"):
        E.fourier_power_share(torch.randn(p, 4), top_k=30)


# ---------------------------------------------------------- models, training
def test_grokking_mlp_is_the_concatenation_mlp():
    torch.manual_seed(0)
    model = E.GrokkingMLP(11, embed_dim=8, hidden=16)
    pairs, _ = E._modular_addition_table(11)
    concat = model.embed(pairs).flatten(1)
    naive = model.out(torch.relu(model.hidden(concat)))
    assert torch.allclose(model(pairs), naive, atol=1e-5)
    with pytest.raises(ValueError, match="pairs"):
        model(pairs[:, :1])


def test_grokking_transformer_reads_both_numbers_at_the_equals_sign():
    torch.manual_seed(0)
    model = E.GrokkingTransformer(13, d_model=32, num_heads=4, d_mlp=64)
    pairs = torch.tensor([[1, 2], [1, 5], [4, 2]])
    logits = model(pairs)
    assert logits.shape == (3, 13)
    assert not torch.allclose(logits[0], logits[1]) and not torch.allclose(logits[0], logits[2])
    # the same as running the whole causal layer on "a b =" and reading the last position
    tokens = torch.cat([pairs, torch.full((3, 1), 13)], dim=1)
    x = model.embed(tokens) + model.position.weight[None]
    x = x + model.attention(x, causal_mask(3))[0]
    x = x + model.mlp(x)
    assert torch.allclose(logits, model.unembed(x)[:, -1], atol=1e-5)


def test_logged_steps_cover_start_end_and_multiples():
    steps = E._logged_steps(1000, 100)
    assert steps[0] == 0 and steps[-1] == 1000 and steps == sorted(set(steps))
    assert {1, 2, 3, 10, 100, 500}.issubset(steps)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        E.train_grokking(E.GrokkingMLP(7), E.modular_addition_split(7, 0.5, 0), steps=0, progress=False)


def test_train_grokking_memorises_a_small_table_and_records_history():
    torch.manual_seed(0)
    split = E.modular_addition_split(13, 0.5, 0)
    model = E.GrokkingMLP(13, embed_dim=16, hidden=64)
    history = E.train_grokking(model, split, steps=150, lr=1e-2, weight_decay=0.1, log_every=50, fourier_top_k=3)
    lengths = {len(history[k]) for k in ("step", "train_acc", "test_acc", "train_loss", "test_loss",
                                          "weight_norm", "fourier_share")}
    assert lengths == {len(E._logged_steps(150, 50))}
    assert history["step"][0] == 0 and history["step"][-1] == 150
    assert history["train_acc"][0] < 0.3 and history["train_acc"][-1] == 1.0
    assert history["train_loss"][-1] < history["train_loss"][0] / 10
    assert E.first_step(history, "train_acc", 1.0) <= 150
    assert E.value_at(history, "step", 149) == max(s for s in history["step"] if s <= 149)
    assert E.value_at(history, "train_acc", 150) == history["train_acc"][-1]
    stopped = E.train_grokking(E.GrokkingMLP(13, 16, 64), split, steps=150, lr=1e-2, log_every=10,
                               stop_when=lambda h: h["step"][-1] >= 20)
    assert stopped["step"][-1] == 20
    with pytest.raises(ValueError, match="weight_decay.*got -1"):
        E.train_grokking(model, split, steps=10, weight_decay=-1)
    with pytest.raises(ValueError, match="fourier_top_k"):
        E.train_grokking(E.DigitMLP(2, 8), split, steps=10, fourier_top_k=2)


def test_training_loops_show_a_progress_bar_that_says_what_trains(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # tqdm cuts a bar to the terminal width (80 when not a terminal)
    split = E.modular_addition_split(13, 0.5, 0)
    history = E.train_grokking(E.GrokkingMLP(13, 16, 64), split, steps=100, lr=1e-2, weight_decay=0.5,
                               log_every=10, stop_when=lambda h: h["step"][-1] >= 30)
    shown = capsys.readouterr().err
    assert "grokking: GrokkingMLP, a + b mod 13, weight decay 0.5" in shown and "test_acc=" in shown, shown[-300:]
    assert history["step"][-1] == 30 and "30/30" in shown, "a planned early stop ends the bar where it stopped"
    inputs, answers = E._digit_addition_problems(1, 100, seed=0)
    E.train_digit_adder(E.DigitMLP(1, width=8), inputs, answers, steps=5, batch_size=16, desc="mirage: width 8")
    assert "mirage: width 8" in capsys.readouterr().err
    E.train_grokking(E.GrokkingMLP(13, 16, 64), split, steps=5, progress=False)
    E.train_digit_adder(E.DigitMLP(1, width=8), inputs, answers, steps=5, progress=False)
    assert capsys.readouterr().err == "", "progress=False must print nothing"
    with pytest.raises(ValueError, match="progress must be True or False, got 1"):
        E.train_grokking(E.GrokkingMLP(13, 16, 64), split, steps=5, progress=1)
    with pytest.raises(ValueError, match="desc must be a non-empty string, got 3"):
        E.train_digit_adder(E.DigitMLP(1, width=8), inputs, answers, steps=5, desc=3)


def test_weight_norm_is_the_l2_norm_of_all_parameters():
    model = torch.nn.Linear(4, 4)
    norm = E.weight_norm(model)
    assert norm == pytest.approx(math.sqrt(sum((p ** 2).sum().item() for p in model.parameters())))


def test_train_digit_adder_learns_one_digit_sums():
    torch.manual_seed(0)
    inputs, answers = E._digit_addition_problems(1, 2000, seed=0)
    model = E.DigitMLP(1, width=64)
    losses = E.train_digit_adder(model, inputs, answers, steps=300, batch_size=128, lr=1e-2, seed=0)
    assert losses[-1] < losses[0] / 5
    with torch.no_grad():
        logits = model(inputs)
    assert E.exact_match(logits.argmax(-1), answers) > 0.9
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        E.train_digit_adder(model, inputs, answers[:10], steps=1)
    with pytest.raises(ValueError, match=r"\(batch, 2\) digits"):
        model(inputs[:, :1])
