"""lablib.classify (lab 04) against scikit-learn, and its error messages."""
import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve

from lablib import classify, train


def test_reliability_matches_sklearn_calibration_curve_and_the_ece_formula():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=2000)
    p[:5] = [0.0, 0.1, 0.5, 0.9, 1.0]  # edges
    y = (rng.uniform(size=2000) < p ** 1.5).astype(int)  # over-confident about positives
    result = classify.reliability(p, y, n_bins=10)
    fraction, mean = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(result.fraction_positive, fraction)
    np.testing.assert_allclose(result.mean_predicted, mean)
    assert result.counts.sum() == 2000
    by_hand = sum(n / 2000 * abs(f - m) for n, f, m in zip(result.counts, fraction, mean))
    assert result.ece == pytest.approx(by_hand)
    assert result.ece > 0.05


def test_a_calibrated_predictor_has_a_small_ece():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=20000)
    y = (rng.uniform(size=20000) < p).astype(int)
    assert classify.reliability(p, y).ece < 0.02


def test_reliability_rejects_bad_input():
    with pytest.raises(ValueError, match="lengths differ: p_positive has 3, labels has 2"):
        classify.reliability([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        classify.reliability([0.1, 1.2], [0, 1])
    with pytest.raises(ValueError, match="labels must be 0 or 1, got \\[0, 2\\]"):
        classify.reliability([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="one-dimensional"):
        classify.reliability([[0.1, 0.2]], [[0, 1]])
    with pytest.raises(ValueError, match="n_bins"):
        classify.reliability([0.1], [0], n_bins=0)


def test_plot_reliability_draws_the_diagonal_and_one_point_per_bin():
    import matplotlib.pyplot as plt

    result = classify.reliability([0.1, 0.15, 0.85, 0.9], [0, 0, 1, 0], n_bins=5)
    assert isinstance(result, classify.Reliability) and result.counts.tolist() == [2, 2]
    ax = classify.plot_reliability(result, label="model")
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert labels == {"perfect calibration", f"model: ECE {result.ece:.3f}"}
    assert len(ax.collections[0].get_offsets()) == len(result.counts)
    plt.close("all")


def test_accuracy_by_group_keeps_first_appearance_order():
    result = classify.accuracy_by_group(["b", "a", "b", "a", "b"], [1, 0, 1, 1, 0], [1, 0, 0, 0, 0])
    assert list(result) == ["b", "a"]
    assert result["b"] == (pytest.approx(2 / 3), 3) and result["a"] == (0.5, 2)
    with pytest.raises(ValueError, match="lengths differ"):
        classify.accuracy_by_group(["a"], [1, 0], [1, 0])


class TinyClassifier(torch.nn.Module):
    """Logits from the number of non-padding tokens: enough to test batching and order."""

    def forward(self, input_ids, attention_mask, **_):
        length = attention_mask.sum(-1, keepdim=True).float()
        return type("Out", (), {"logits": torch.cat([-length, length], dim=-1) / 10})()

    def parameters(self):
        return iter([torch.zeros(1)])


class WordTokenizer:
    def __call__(self, texts, padding, truncation, max_length, return_tensors):
        ids = [[1] * len(t.split()) for t in texts]
        width = max(map(len, ids))
        batch = {"input_ids": torch.tensor([i + [0] * (width - len(i)) for i in ids]),
                 "attention_mask": torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])}
        return type("Batch", (dict,), {"to": lambda self, device: self})(batch)


def test_predict_proba_keeps_input_order_across_batches():
    texts = ["a", "a b c", "a b", "a b c d e", "a"]
    probs = classify.predict_proba(TinyClassifier(), WordTokenizer(), texts, batch_size=2)
    lengths = torch.tensor([[1.0], [3], [2], [5], [1]])
    expected = (torch.cat([-lengths, lengths], -1) / 10).softmax(-1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="got one string"):
        classify.predict_proba(TinyClassifier(), WordTokenizer(), "a b")


def test_trainer_arguments_follow_the_recipe_and_reject_unknown_fields():
    arguments = train.trainer_arguments(epochs=2, batch_size=8, lr=3e-5, warmup_steps=4, device="cpu",
                                        eval_strategy="epoch")
    assert (arguments.num_train_epochs, arguments.per_device_train_batch_size, arguments.learning_rate) == (2, 8, 3e-5)
    assert arguments.warmup_steps == 4 and arguments.use_cpu and not (arguments.bf16 or arguments.fp16)
    assert getattr(arguments.eval_strategy, "value", arguments.eval_strategy) == "epoch"
    grouped = getattr(arguments, "train_sampling_strategy", None) == "group_by_length" or \
        getattr(arguments, "group_by_length", False)
    assert grouped
    with pytest.raises(ValueError, match="no TrainingArguments field"):
        train.trainer_arguments(epochs=1, batch_size=8, lr=1e-5, not_a_field=1)


class RecordingClassifier(TinyClassifier):
    """TinyClassifier that remembers, per call, the batch width and whether autocast was on."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, input_ids, attention_mask, **rest):
        self.calls.append({"width": input_ids.shape[1], "autocast": torch.is_autocast_enabled("cpu"),
                           "dtype": torch.get_autocast_dtype("cpu")})
        return super().forward(input_ids, attention_mask, **rest)


def test_predict_proba_groups_batches_by_length_and_still_returns_input_order():
    texts = ["a b c d e f", "a", "a b c d e", "a b", "a b c d e f g", "a b c"]
    model = RecordingClassifier()
    grouped = classify.predict_proba(model, WordTokenizer(), texts, batch_size=2, progress=False)
    assert [c["width"] for c in model.calls] == [2, 5, 7]  # (1, 2), (3, 5), (6, 7) words
    lengths = torch.tensor([[float(len(t.split()))] for t in texts])
    in_order = (torch.cat([-lengths, lengths], -1) / 10).softmax(-1).numpy()
    np.testing.assert_allclose(grouped, in_order, rtol=1e-6)
    assert np.all(grouped[:, 1] > 0.5) and grouped[1, 1] < grouped[0, 1]  # longer text, larger logit


def test_predict_proba_shows_a_progress_bar_over_batches_unless_asked_not_to(capsys):
    texts = ["a b"] * 5
    classify.predict_proba(TinyClassifier(), WordTokenizer(), texts, batch_size=2)
    err = capsys.readouterr().err
    assert "predicting" in err and "3/3" in err
    classify.predict_proba(TinyClassifier(), WordTokenizer(), texts, batch_size=2, progress=False)
    assert capsys.readouterr().err == ""


def test_predict_proba_autocast_follows_train_amp_dtype(monkeypatch):
    texts = ["a b", "a b c"]
    model = RecordingClassifier()
    classify.predict_proba(model, WordTokenizer(), texts, progress=False)  # CPU, amp="auto": float32
    assert not any(c["autocast"] for c in model.calls)

    asked = []

    def fake_amp_dtype(amp, device):  # what lablib.train._amp_dtype picks on a GPU, simulated on the CPU
        asked.append((amp, torch.device(device).type))
        return torch.bfloat16

    monkeypatch.setattr(train, "_amp_dtype", fake_amp_dtype)
    model = RecordingClassifier()
    probs = classify.predict_proba(model, WordTokenizer(), texts, progress=False, device="cpu")
    assert asked == [("auto", "cpu")]
    assert all(c["autocast"] and c["dtype"] == torch.bfloat16 for c in model.calls)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)


def test_predict_proba_rejects_bad_arguments():
    with pytest.raises(ValueError, match="predict_proba: amp must be one of"):
        classify.predict_proba(TinyClassifier(), WordTokenizer(), ["a"], amp="fp8")
    with pytest.raises(ValueError, match="predict_proba: amp='fp16' needs a CUDA device"):
        classify.predict_proba(TinyClassifier(), WordTokenizer(), ["a"], amp="fp16", device="cpu")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        classify.predict_proba(TinyClassifier(), WordTokenizer(), ["a"], batch_size=0)
    with pytest.raises(ValueError, match="non-empty list of strings"):
        classify.predict_proba(TinyClassifier(), WordTokenizer(), [])
