"""lablib.train: length-grouped batches, dynamic padding, the training loop, its history."""
import random
import statistics

import pytest
import torch

from lablib import batches as B
from lablib import train as T


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from lablib.models import minilm_path

    return AutoTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="module")
def collator(tokenizer):
    from transformers import DataCollatorForTokenClassification

    return DataCollatorForTokenClassification(tokenizer)


def synthetic_features(n, *, seed, vocab=100, min_len=3, max_len=24):
    """A toy tagging task: the tag of a token is its id mod 3 (id 0 is padding, never used)."""
    rng = random.Random(seed)
    features = []
    for _ in range(n):
        ids = [rng.randrange(1, vocab) for _ in range(rng.randint(min_len, max_len))]
        features.append({
            "input_ids": ids,
            "attention_mask": [1] * len(ids),
            "labels": [i % 3 for i in ids],
            "word_ids": [None] + list(range(len(ids) - 2)) + [None],  # not paddable: must be dropped
        })
    return features


def tiny_bert(seed=0):
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=3)
    return BertForTokenClassification(config)


# --------------------------------------------------------------------------- batches


def test_length_grouped_batches_cover_every_index_once_and_group_by_length():
    rng = random.Random(1)
    lengths = [rng.randint(1, 120) for _ in range(2000)]
    batches = B._length_grouped_batches(lengths, 32, seed=3)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert len(batches) == 63 and sorted(len(b) for b in batches)[:2] == [2000 % 32, 32]  # one partial batch

    def mean_spread(bs):
        return statistics.mean(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in bs)

    order = list(range(len(lengths)))
    random.Random(3).shuffle(order)
    random_batches = [order[i:i + 32] for i in range(0, len(order), 32)]
    assert mean_spread(batches) < 0.1 * mean_spread(random_batches)
    # the longest example is in the first batch (out-of-memory shows at step 1)
    assert max(lengths[i] for i in batches[0]) == max(lengths)
    # the batch order is shuffled, not sorted by length
    firsts = [lengths[b[0]] for b in batches[1:]]
    assert firsts != sorted(firsts, reverse=True) and firsts != sorted(firsts)


def test_length_grouped_batches_are_deterministic_per_seed():
    lengths = [random.Random(0).randint(1, 50) for _ in range(300)]
    assert B._length_grouped_batches(lengths, 8, seed=5) == B._length_grouped_batches(lengths, 8, seed=5)
    assert B._length_grouped_batches(lengths, 8, seed=5) != B._length_grouped_batches(lengths, 8, seed=6)
    state = random.getstate()
    B._length_grouped_batches(lengths, 8, seed=5)
    assert random.getstate() == state, "must not touch the global random state"


# The batch arguments are checked once, by make_loader; the lengths come from the features themselves.
@pytest.mark.parametrize("kwargs, message", [
    ({"features": [{"input_ids": [3, 4]}], "batch_size": 0}, "batch_size must be an integer"),
    ({"features": [{"input_ids": [3, 4]}], "batch_size": 2.5}, "batch_size must be an integer"),
    ({"features": [], "batch_size": 4}, "features is empty"),
    ({"features": [{"input_ids": [3]}, [3, 4]], "batch_size": 4}, r"features\[1\] must be a mapping"),
    ({"features": [{"input_ids": [3, 4]}], "batch_size": 4, "seed": 1.5}, "seed must be an integer"),
])
def test_length_grouped_batches_reject_bad_input(collator, kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        T.make_loader(collator=collator, **kwargs)


# --------------------------------------------------------------------------- loader


def test_loader_pads_dynamically_and_drops_word_ids(collator):
    features = synthetic_features(200, seed=0)
    loader = T.make_loader(features, collator, 16, seed=0)
    assert len(loader) == 13
    seen = []
    for indices, batch in zip(loader.batch_sampler.batches(0), loader):
        longest = max(len(features[i]["input_ids"]) for i in indices)
        assert batch["input_ids"].shape == (len(indices), longest)
        assert batch["labels"].shape == batch["input_ids"].shape
        assert "word_ids" not in batch
        assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
        seen += indices
    assert sorted(seen) == list(range(200))


def test_loader_orders(collator):
    features = synthetic_features(50, seed=1)
    ordered = T.make_loader(features, collator, 8, shuffle=False)
    assert [i for b in ordered.batch_sampler.batches(0) for i in b] == list(range(50))
    grouped = T.make_loader(features, collator, 8, seed=2).batch_sampler
    assert grouped.batches(0) != grouped.batches(1), "each epoch draws a new order"
    assert grouped.batches(0) == T.make_loader(features, collator, 8, seed=2).batch_sampler.batches(0)


def test_make_loader_rejects_bad_input(collator):
    with pytest.raises(ValueError, match="features is empty"):
        T.make_loader([], collator, 8)
    with pytest.raises((TypeError, ValueError), match="batch_size must be an integer"):
        T.make_loader(synthetic_features(4, seed=0), collator, 0)
    with pytest.raises(ValueError, match=r"features\[0\].*input_ids"):
        T.make_loader([{"labels": [1]}], collator, 8)


# --------------------------------------------------------------------------- schedule and optimizer


def test_lr_factor_warms_up_then_decays_to_zero():
    factors = [T._lr_factor(s, warmup_steps=10, total_steps=100) for s in range(101)]
    assert factors[0] == 0 and factors[10] == 1 and factors[100] == 0
    assert all(a < b for a, b in zip(factors[:10], factors[1:11]))
    assert all(a > b for a, b in zip(factors[10:100], factors[11:101]))


@pytest.mark.parametrize("warmup, total", [(10, 100), (0, 37), (5, 5), (3, 250)])
def test_lr_factor_is_transformers_linear_and_constant_schedule(warmup, total):
    from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

    for schedule, make in (("linear", lambda o: get_linear_schedule_with_warmup(o, warmup, total)),
                           ("constant", lambda o: get_constant_schedule_with_warmup(o, warmup))):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        hf = make(optimizer)
        for step in range(total + 3):
            assert T._lr_factor(step, warmup_steps=warmup, total_steps=total, schedule=schedule) == pytest.approx(
                hf.get_last_lr()[0], abs=1e-12), (schedule, step)
            optimizer.step()
            hf.step()


def test_weight_decay_groups_exclude_biases_and_layernorm():
    model = tiny_bert()
    decay, no_decay = T._parameter_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    undecayed = {names[id(p)] for p in no_decay["params"]}
    assert decayed and undecayed and not decayed & undecayed
    assert len(decayed) + len(undecayed) == len(names)
    assert not any("bias" in n or "LayerNorm" in n for n in decayed)
    assert any("LayerNorm.weight" in n for n in undecayed)
    assert "classifier.weight" in decayed


# --------------------------------------------------------------------------- training


def token_accuracy(model, loader):
    right = total = 0
    for batch in loader:
        logits = model(**batch).logits
        keep = batch["labels"] != -100
        right += (logits.argmax(-1)[keep] == batch["labels"][keep]).sum().item()
        total += keep.sum().item()
    return right / total


def test_train_learns_a_toy_tagging_task(collator):
    torch.set_num_threads(1)
    train_loader = T.make_loader(synthetic_features(256, seed=0), collator, 16, seed=0)
    dev_loader = T.make_loader(synthetic_features(64, seed=1), collator, 32, shuffle=False)
    model = tiny_bert()
    history = T.train(model, train_loader, epochs=4, lr=5e-3, device="cpu", progress=False, log_every=3,
                      evaluate=lambda m: {"accuracy": token_accuracy(m, dev_loader)})

    steps = 4 * len(train_loader)
    assert history.step == list(range(1, steps + 1)) and len(history.loss) == steps == len(history.lr)
    assert history.epoch[-1] == pytest.approx(4.0)
    first, last = statistics.mean(history.loss[:5]), statistics.mean(history.loss[-5:])
    assert last < 0.3 * first, (first, last)
    assert [e.step for e in history.evaluations] == [steps // 4 * k for k in (1, 2, 3, 4)]
    assert history.evaluations[-1].metrics["accuracy"] > 0.9
    assert history.eval_seconds > 0 and history.train_seconds > 0
    assert history.total_seconds >= history.train_seconds + history.eval_seconds
    assert history.sentences == 4 * 256 and history.sentences_per_second > 0
    assert 0 < history.padding_fraction < 0.2  # length grouping keeps padding small
    assert history.amp == "off" and history.device == "cpu"
    assert not model.training
    # learning rate: warm-up to the peak, then linear decay towards 0
    peak = history.lr.index(max(history.lr))
    assert max(history.lr) == pytest.approx(5e-3)
    assert 0 < peak < steps // 4
    assert all(a >= b for a, b in zip(history.lr[peak:], history.lr[peak + 1:]))
    assert history.lr[-1] < 5e-3 / (steps - peak) * 1.01


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0, "lr": 1e-3}, "epochs must be an integer"),
    ({"epochs": 1, "lr": 0}, "lr must be a finite number > 0"),
    ({"epochs": 1, "lr": 1e-3, "warmup_ratio": 1.5}, "warmup_ratio"),
    ({"epochs": 1, "lr": 1e-3, "amp": "fp8"}, "amp must be one of"),
    ({"epochs": 1, "lr": 1e-3, "amp": "fp16", "device": "cpu"}, "needs a CUDA device"),
])
def test_train_rejects_bad_arguments(collator, kwargs, message):
    loader = T.make_loader(synthetic_features(8, seed=0), collator, 4)
    with pytest.raises(ValueError, match=message):
        T.train(tiny_bert(), loader, progress=False, **kwargs)


def test_plot_history_draws_loss_and_evaluations():
    history = T.History(step=[1, 2, 3, 4], epoch=[0.5, 1, 1.5, 2], loss=[2.0, 1.5, 1.0, 0.8], lr=[1, 1, 1, 1],
                        evaluations=[T._Evaluation(2, 1.0, 0.1, {"f1": 0.5, "report": "text"}),
                                     T._Evaluation(4, 2.0, 0.1, {"f1": 0.7, "report": "text"})])
    ax = T.plot_history(history)
    assert ax.get_xlabel() == "step"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "f1" in labels and "report" not in labels
    import matplotlib.pyplot as plt

    plt.close("all")


def test_smooth_is_a_trailing_mean_shorter_at_the_start():
    assert T.smooth([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert T.smooth([4.0, 2.0, 0.0], 10) == [4.0, 3.0, 2.0]
    with pytest.raises((TypeError, ValueError), match="window must be an integer"):
        T.smooth([1.0], 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (AMP runs on GPU only)")
@pytest.mark.parametrize("amp, expected", [("auto", None), ("fp16", "fp16"), ("off", "off")])
def test_train_on_gpu_with_amp(collator, amp, expected):
    loader = T.make_loader(synthetic_features(128, seed=0), collator, 16)
    model = tiny_bert()
    history = T.train(model, loader, epochs=3, lr=5e-3, device="cuda", amp=amp, progress=False)
    if expected is None:
        expected = {torch.bfloat16: "bf16", torch.float16: "fp16"}[T._fast_half_dtype(torch.device("cuda"))]
    assert history.amp == expected and history.device.startswith("cuda")
    assert next(model.parameters()).device.type == "cuda"
    assert statistics.mean(history.loss[-3:]) < 0.5 * statistics.mean(history.loss[:3])


# The AMP choice on a GPU, with the device's compute capability mocked: a T4
# (7.5) claims bfloat16 support through emulation but has no bfloat16 tensor
# cores, so it must get float16; Ampere and newer (8.0+) get bfloat16.
def _mock_gpu(monkeypatch, capability):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: including_emulation or capability[0] >= 8)


@pytest.mark.parametrize("capability, expected", [((7, 5), torch.float16), ((7, 0), torch.float16),
                                                  ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_auto_amp_picks_bf16_only_on_compute_capability_8(monkeypatch, capability, expected):
    _mock_gpu(monkeypatch, capability)
    cuda = torch.device("cuda")
    assert T._fast_half_dtype(cuda) == expected
    assert T._amp_dtype("auto", cuda) == expected
    assert T._amp_dtype(True, cuda) == expected
    assert T._amp_dtype("fp16", cuda) == torch.float16 and T._amp_dtype("bf16", cuda) == torch.bfloat16
    assert T._amp_dtype("off", cuda) is None and T._amp_dtype("auto", "cpu") is None


@pytest.mark.parametrize("capability, bf16", [((7, 5), False), ((8, 6), True)])
def test_trainer_arguments_use_fp16_on_a_t4_and_bf16_on_ampere(monkeypatch, capability, bf16):
    _mock_gpu(monkeypatch, capability)
    from transformers import TrainingArguments

    captured = {}
    monkeypatch.setattr(TrainingArguments, "__init__", lambda self, **kwargs: captured.update(kwargs))
    T.trainer_arguments(epochs=1, batch_size=8, lr=1e-4, device="cuda")
    assert captured["bf16"] is bf16 and captured["fp16"] is (not bf16) and captured["use_cpu"] is False


def test_trainer_arguments_reuse_one_output_folder_in_the_temporary_directory():
    """No call leaves a new folder behind (it once made a fresh temporary folder per call)."""
    import tempfile
    from pathlib import Path

    first = T.trainer_arguments(epochs=1, batch_size=8, lr=1e-4, device="cpu")
    second = T.trainer_arguments(epochs=2, batch_size=4, lr=1e-4, device="cpu")
    assert first.output_dir == second.output_dir
    assert Path(first.output_dir).parent == Path(tempfile.gettempdir())


def test_amp_dtype_rejects_bad_choices():
    with pytest.raises(ValueError, match="amp must be one of"):
        T._amp_dtype("fp8", "cpu")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        T._amp_dtype("fp16", "cpu")
    assert T._amp_dtype("bf16", "cpu") == torch.bfloat16 and T._amp_dtype("auto", "cpu") is None


# --------------------------------------------------------------------------- predict


class _Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, x, fail=None):
        assert not self.training and not torch.is_grad_enabled()
        if fail is not None and bool(fail):
            raise RuntimeError("boom")
        return x * self.weight


def test_predict_keeps_order_returns_float32_cpu_and_restores_mode():
    model = _Scaled().train()
    batches = [{"x": torch.full((k + 1,), float(k), dtype=torch.float64)} for k in range(5)]
    outputs = T.predict(model, batches, progress=False)
    assert [o.tolist() for o in outputs] == [[2.0 * k] * (k + 1) for k in range(5)]
    assert all(o.dtype == torch.float32 and o.device.type == "cpu" for o in outputs)
    assert model.training, "training mode restored"
    # a custom output function, and a Hugging Face output's .logits
    halves = T.predict(model, batches, progress=False, output=lambda m, b: m(**b) / 4)
    assert halves[3].tolist() == [1.5] * 4
    bert = tiny_bert().eval()
    ids = torch.tensor([[1, 5, 7, 2]])
    (logits,) = T.predict(bert, [{"input_ids": ids}], progress=False)
    assert logits.shape == (1, 4, 3) and not bert.training
    assert torch.allclose(logits, bert(input_ids=ids).logits)


def test_predict_restores_training_mode_after_an_exception():
    model = _Scaled().train()
    with pytest.raises(RuntimeError, match="boom"):
        T.predict(model, [{"x": torch.ones(2)}, {"x": torch.ones(2), "fail": torch.tensor(True)}], progress=False)
    assert model.training
    with pytest.raises(TypeError, match="mapping of tensors"):
        T.predict(model, [torch.ones(2)], progress=False)
    assert model.training


@pytest.mark.parametrize("capability, expected", [((7, 5), torch.float16), ((8, 0), torch.bfloat16)])
def test_predict_autocasts_on_cuda_with_the_amp_dtype(monkeypatch, capability, expected):
    _mock_gpu(monkeypatch, capability)
    seen = {}

    class FakeAutocast:
        def __init__(self, device_type, dtype=None, enabled=True):
            seen.update(device_type=device_type, dtype=dtype, enabled=enabled)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(torch, "autocast", FakeAutocast)
    model = _Scaled()
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, **k: self)  # no real GPU needed
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: self)
    T.predict(model, [{"x": torch.ones(2)}], device="cuda", progress=False)
    assert seen == {"device_type": "cuda", "dtype": expected, "enabled": True}
    T.predict(model, [{"x": torch.ones(2)}], device="cuda", amp="off", progress=False)
    assert seen["enabled"] is False
    T.predict(model, [{"x": torch.ones(2)}], device="cpu", progress=False)
    assert seen == {"device_type": "cpu", "dtype": None, "enabled": False}


def test_train_by_steps_passes_over_the_loader_again_with_eval_every_loss_fn_and_stop_when():
    torch.set_num_threads(1)
    model = torch.nn.Linear(2, 1)
    batches = [{"x": torch.randn(8, 2, generator=torch.Generator().manual_seed(k)), "y": torch.zeros(8, 1)}
               for k in range(3)]
    calls = []
    history = T.train(model, batches, steps=10, lr=1e-2, device="cpu", progress=False, eval_every=4,
                      loss_fn=lambda m, b: torch.nn.functional.mse_loss(m(b["x"]), b["y"]),
                      evaluate=lambda m: calls.append(m.training) or {"n": len(calls)})
    assert history.step == list(range(1, 11)) and [e.step for e in history.evaluations] == [4, 8, 10]
    assert calls == [False, False, False] and not history.stopped_early
    assert history.epoch[2] == pytest.approx(1.0) and history.epoch[-1] == pytest.approx(10 / 3)
    at = T.train(torch.nn.Linear(2, 1), batches, steps=10, lr=1e-2, device="cpu", progress=False,
                 eval_every=[0, 5, 10], loss_fn=lambda m, b: m(b["x"]).pow(2).mean(), evaluate=lambda m: {"k": 1},
                 stop_when=lambda h: h.evaluations[-1].step >= 5)
    assert [e.step for e in at.evaluations] == [0, 5] and len(at.step) == 5 and at.stopped_early
    with pytest.raises(ValueError, match="exactly one of epochs=, steps= and seconds="):
        T.train(model, batches, epochs=1, steps=3, lr=1e-2, progress=False)
    with pytest.raises(ValueError, match="gave no batch"):
        T.train(model, iter(batches), steps=5, lr=1e-2, device="cpu", progress=False,
                loss_fn=lambda m, b: m(b["x"]).mean())


# --------------------------------------------------------------------------- a time budget, batches by tokens

def test_token_batches_cover_every_index_once_within_the_budget(collator):
    lengths = [random.Random(1).randint(3, 40) for _ in range(500)]
    for max_tokens in (64, 200, 1000):
        batches = B._length_grouped_batches(lengths, None, seed=2, max_tokens=max_tokens)
        assert sorted(i for b in batches for i in b) == list(range(500))
        assert all(len(b) * max(lengths[i] for i in b) <= max_tokens for b in batches)
        assert lengths[batches[0][0]] == max(lengths), "the longest batch comes first"
    features = synthetic_features(120, seed=4)
    loader = T.make_loader(features, collator, max_tokens=96, seed=0)
    shapes = [tuple(batch["input_ids"].shape) for batch in loader]
    assert len(shapes) == len(loader) and sum(rows for rows, _ in shapes) == 120
    assert all(rows * width <= 96 for rows, width in shapes) and len({rows for rows, _ in shapes}) > 1
    unshuffled = T.make_loader(features, collator, max_tokens=96, shuffle=False)
    assert [i for b in unshuffled.batch_sampler for i in b] == list(range(120))


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one of batch_size= and max_tokens="),
    ({"batch_size": 4, "max_tokens": 64}, "exactly one of batch_size= and max_tokens="),
    ({"max_tokens": 10}, "more than max_tokens=10"),
    ({"max_tokens": 0}, "max_tokens must be"),
])
def test_make_loader_by_tokens_rejects_bad_input(collator, kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        T.make_loader(synthetic_features(8, seed=0, min_len=12), collator, **kwargs)


def test_train_for_seconds_uses_the_budget_and_decays_to_zero_at_its_end(collator):
    loader = T.make_loader(synthetic_features(64, seed=0), collator, 8, seed=0)
    calls = []
    history = T.train(tiny_bert(), loader, seconds=1.0, lr=1e-3, warmup_steps=5, progress=False,
                      evaluate=lambda m: calls.append(1) or {"x": 1.0}, eval_every=20)
    steps = len(history.step)
    assert steps > 20 and history.epoch[-1] > 1, "the loader is passed over again until the time is spent"
    assert 1.0 <= history.train_seconds < 1.0 + 10 * history.train_seconds / steps
    assert history.lr[:5] == pytest.approx([1e-3 * s / 5 for s in range(5)]), "warm-up by steps"
    decay = history.lr[5:]
    assert max(decay) <= 1e-3 + 1e-12 and all(a >= b for a, b in zip(decay, decay[1:])), "then a decay with time"
    assert decay[-1] < 1e-3 * 20 / steps, "the rate is nearly zero when the budget ends"
    assert len(calls) == -(-steps // 20) and history.evaluations[-1].step == steps, "every 20 steps, and at the end (once when they coincide)"
    assert [e.step for e in history.evaluations[:-1]] == list(range(20, steps, 20))
    assert not history.stopped_early
    stopped = T.train(tiny_bert(), loader, seconds=30, lr=1e-3, warmup_steps=0, progress=False,
                      evaluate=lambda m: {"x": 1.0}, eval_every=3, stop_when=lambda h: True)
    assert stopped.stopped_early and len(stopped.step) == 3


def test_train_for_seconds_rejects_bad_arguments(collator):
    loader = T.make_loader(synthetic_features(8, seed=0), collator, 4)
    with pytest.raises(ValueError, match="exactly one of epochs=, steps= and seconds="):
        T.train(tiny_bert(), loader, steps=3, seconds=1.0, lr=1e-3)
    with pytest.raises(ValueError, match="give warmup_steps="):
        T.train(tiny_bert(), loader, seconds=1.0, lr=1e-3)
    with pytest.raises((TypeError, ValueError), match="seconds must be"):
        T.train(tiny_bert(), loader, seconds=0, lr=1e-3, warmup_steps=0)


def test_trainer_arguments_drive_the_hugging_face_trainer(collator, tmp_path):
    """Lab 03's Trainer path, run for a few steps: the test-colab stage checks it at Colab's versions."""
    from transformers import Trainer

    features = [{k: v for k, v in f.items() if k != "word_ids"} for f in synthetic_features(48, seed=2)]
    model = tiny_bert()
    arguments = T.trainer_arguments(epochs=2, batch_size=8, lr=1e-3, warmup_steps=2, device="cpu", seed=0,
                                    output_dir=str(tmp_path), logging_steps=1, disable_tqdm=True)
    trainer = Trainer(model=model, args=arguments, train_dataset=features, eval_dataset=features[:16],
                      data_collator=collator)
    result = trainer.train()
    assert result.global_step == 2 * 48 // 8
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == result.global_step and sum(losses[-3:]) / 3 < losses[0], "the Trainer learns the toy task"
    assert "eval_loss" in trainer.evaluate()
