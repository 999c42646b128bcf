"""lablib.adaptation: LoRA and adapters by hand, checked against the peft library (chapter "Adaptation", lab 09)."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertForSequenceClassification

from lablib import adaptation as A
from lablib import transformer as T

peft = pytest.importorskip("peft")


def tiny_bert(seed: int = 0, hidden: int = 30, layers: int = 2, heads: int = 3) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=60, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=44, max_position_embeddings=32, num_labels=3,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(config).eval()


def batch(seed: int = 1, size: int = 4, length: int = 9) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 60, (size, length), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0  # padding in one row
    return {"input_ids": ids, "attention_mask": mask}


def logits(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(**inputs).logits


def randomize_lora_b(modules, seed: int = 3) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for weight in modules:
            weight.copy_(torch.randn(weight.shape, generator=g))


@pytest.mark.parametrize("r, alpha, targets", [(2, 4, ("query", "value")), (5, 5, ("query", "key", "value", "dense")),
                                               (1, 16, ("intermediate.dense",))])
def test_lora_equals_peft(r, alpha, targets):
    base = tiny_bert()
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    wrapped = A.add_lora(ours, r, alpha, targets=targets)
    theirs = peft.get_peft_model(theirs, peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets),
                                                         lora_dropout=0.0, modules_to_save=["classifier"]))
    peft_layers = {name.replace("base_model.model.", ""): m for name, m in theirs.named_modules()
                   if isinstance(m, peft.tuners.lora.Linear)}
    assert sorted(peft_layers) == wrapped, "the same layers are adapted"
    assert T.count_parameters(ours, trainable_only=True) == theirs.get_nb_trainable_parameters()[0]
    inputs = batch()
    torch.testing.assert_close(logits(ours, inputs), logits(base, inputs), rtol=0, atol=0)  # B = 0: the base
    torch.testing.assert_close(logits(theirs, inputs), logits(base, inputs), rtol=0, atol=0)
    randomize_lora_b([m.lora_B["default"].weight for m in peft_layers.values()])
    for name, layer in peft_layers.items():  # the same initial weights: peft's, copied into ours
        mine = ours.get_submodule(name)
        assert isinstance(mine, A.LoRALinear) and mine.scale == pytest.approx(layer.scaling["default"]) == alpha / r
        with torch.no_grad():
            mine.lora_A.copy_(layer.lora_A["default"].weight)
            mine.lora_B.copy_(layer.lora_B["default"].weight)
    expected = logits(theirs, inputs)
    assert (expected - logits(base, inputs)).abs().max() > 1e-4, "the update changes the output"
    torch.testing.assert_close(logits(ours, inputs), expected, rtol=0, atol=1e-6)
    A.merge_lora(ours)
    merged = theirs.merge_and_unload()
    torch.testing.assert_close(logits(ours, inputs), logits(merged, inputs), rtol=0, atol=1e-6)


def test_lora_init_is_kaiming_uniform_as_in_peft():
    layer = A.LoRALinear(torch.nn.Linear(400, 300), r=64, alpha=32)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) on fan_in 400, as nn.Linear and peft initialise A
    assert layer.lora_A.abs().max() <= bound and layer.lora_A.abs().max() > 0.95 * bound
    assert layer.lora_A.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert torch.count_nonzero(layer.lora_B) == 0 and layer.scale == 0.5
    assert not any(p.requires_grad for p in layer.base.parameters())


def test_lora_on_the_offline_minilm_counts_as_peft():
    from transformers import AutoModelForSequenceClassification

    from lablib import models

    base = AutoModelForSequenceClassification.from_pretrained(models.encoder_checkpoint("small"), num_labels=2)
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    A.add_lora(ours, 4, 16)
    theirs = peft.get_peft_model(theirs, peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=4, lora_alpha=16,
                                                         target_modules=["query", "value"]))
    assert T.count_parameters(ours, trainable_only=True) == theirs.get_nb_trainable_parameters()[0] == 37_634
    assert 2 * 6 * 4 * (384 + 384) + 2 * 384 + 2 == 37_634  # the lab's formula


def test_merge_and_unmerge_are_exact():
    base = tiny_bert(hidden=24, heads=2)
    model = copy.deepcopy(base)
    A.add_lora(model, 3, 6, targets=("query", "value", "output.dense"))
    layers = [m for m in model.modules() if isinstance(m, A.LoRALinear)]
    randomize_lora_b([layer.lora_B for layer in layers])
    weights = [layer.base.weight.clone() for layer in layers]
    inputs = batch()
    before = logits(model, inputs)
    assert A.merge_lora(model) == len(layers) == 8  # query, value and both output.dense, in 2 layers
    assert all(layer.merged for layer in layers)
    torch.testing.assert_close(logits(model, inputs), before, rtol=0, atol=1e-6)
    for layer, weight in zip(layers, weights):
        torch.testing.assert_close(layer.base.weight, weight + layer.delta_weight(), rtol=0, atol=0)
    with FlopCounterMode(display=False) as merged_flops:
        logits(model, inputs)
    with FlopCounterMode(display=False) as base_flops:
        logits(base, inputs)
    assert merged_flops.get_total_flops() == base_flops.get_total_flops(), "merged: the base model's cost"
    A.merge_lora(model)  # merging twice changes nothing
    torch.testing.assert_close(logits(model, inputs), before, rtol=0, atol=1e-6)
    assert A.unmerge_lora(model) == 8
    for layer, weight in zip(layers, weights):
        torch.testing.assert_close(layer.base.weight, weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(logits(model, inputs), before, rtol=0, atol=1e-6)


def test_adapter_starts_as_identity_and_counts():
    base = tiny_bert()
    model = copy.deepcopy(base)
    names = A.add_adapters(model, 5)
    d, m, layers = 30, 5, 2
    assert len(names) == 2 * layers and all(n.endswith("output.dense") for n in names)
    head = d * 3 + 3
    assert T.count_parameters(model, trainable_only=True) == 2 * layers * (2 * d * m + d + m) + 2 * layers * 2 * d + head
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    # an adapter is module 1 of the wrapped output.dense (module 0 is the frozen linear layer)
    assert all(".dense.1." in n or "LayerNorm" in n or n.startswith("classifier") for n in trained), trained
    assert sum(".dense.1." in n for n in trained) == 4 * 2 * layers, "down and up, weight and bias, per adapter"
    assert not any("embeddings" in n for n in trained), "the embeddings' LayerNorm is not after an adapter"
    inputs = batch()
    torch.testing.assert_close(logits(model, inputs), logits(base, inputs), rtol=0, atol=0)
    adapter = A.Adapter(8, 2)
    with torch.no_grad():
        adapter.up.weight.normal_()
    h = torch.randn(3, 8)
    expected = h + adapter.up(torch.nn.functional.gelu(adapter.down(h)))
    torch.testing.assert_close(adapter(h), expected)


def test_freeze_all_but_is_a_linear_probe():
    model = tiny_bert()
    assert A.freeze_all_but(model) == 30 * 3 + 3
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"classifier.weight", "classifier.bias"}
    assert T.count_parameters(model, trainable_only=True) == 93 < T.count_parameters(model)
    assert A.freeze_all_but(model, ("pooler", "classifier")) == 93 + 30 * 30 + 30


def test_training_state_bytes_matches_the_formula():
    model = tiny_bert()
    A.add_lora(model, 2, targets=("query", "value"))
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-3)
    assert A.training_state_bytes(model, optimizer)["gradients"] == 0, "nothing exists before a step"
    model.train()
    model(**batch(), labels=torch.tensor([0, 1, 2, 0])).loss.backward()
    optimizer.step()
    n, n_train = T.count_parameters(model), T.count_parameters(model, trainable_only=True)
    state = A.training_state_bytes(model, optimizer)
    assert state["weights"] == 4 * n and state["gradients"] == 4 * n_train
    assert state["optimizer"] == 8 * n_train + 4 * len(trained), "two moments and a step counter per tensor"
    assert state["total"] == state["weights"] + state["gradients"] + state["optimizer"]


@pytest.mark.parametrize("call, message", [
    (lambda m: A.add_lora(m, 2, targets=("q_proj",)), r"no nn.Linear of the model is named \['q_proj'\].*'query'"),
    (lambda m: A.add_lora(m, 0), r"r must be an integer in 1\.\.30, got 0"),
    (lambda m: A.add_lora(m, 31), r"r must be an integer in 1\.\.30"),
    (lambda m: A.add_lora(m, 2, alpha=-1), "alpha must be a finite number > 0"),
    (lambda m: A.add_lora(m, 2, dropout=1.0), "dropout must be a finite number >= 0 and < 1"),
    (lambda m: A.add_lora(m, 2, targets=()), "targets is empty"),
    (lambda m: A.add_adapters(m, 0), "bottleneck must be an integer >= 1, got 0"),
    (lambda m: A.freeze_all_but(m, ("head",)), r"no module of the model is named \['head'\]"),
    (lambda m: A.merge_lora(m), "the model has no LoRA layers; call add_lora first"),
    (lambda m: A.unmerge_lora(m), "the model has no LoRA layers"),
    (lambda m: A.LoRALinear(m.bert.pooler, 2), r"base: expected a Linear, got BertPooler"),
])
def test_bad_arguments_get_clear_errors(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call(tiny_bert())


def test_adapting_twice_is_refused():
    model = tiny_bert()
    A.add_lora(model, 2)
    with pytest.raises(ValueError, match="adapted already"):
        A.add_adapters(model, 4)
