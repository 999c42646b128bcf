"""lablib.ner.recipe: lab 03's time-budget recipe (frozen embeddings, a head learning rate, batches by tokens)."""
import dataclasses

import pytest
import torch

from lablib import ner
from test_train import synthetic_features, tiny_bert


@pytest.fixture(scope="module")
def collator():
    from transformers import AutoTokenizer, DataCollatorForTokenClassification

    from lablib.models import minilm_path

    return DataCollatorForTokenClassification(AutoTokenizer.from_pretrained(minilm_path()))


def test_the_optimizer_freezes_embeddings_and_gives_the_head_its_rate():
    model = tiny_bert()
    optimizer = ner.recipe_optimizer(model, ner.Recipe(lr=1e-4, head_lr=1e-2, weight_decay=0.1, freeze_embeddings=True))
    assert not model.get_input_embeddings().weight.requires_grad
    grouped = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    assert id(model.get_input_embeddings().weight) not in grouped
    assert grouped[id(model.classifier.weight)]["lr"] == 1e-2 and grouped[id(model.classifier.bias)]["lr"] == 1e-2
    encoder = model.bert.encoder.layer[0]
    assert grouped[id(encoder.attention.self.query.weight)]["lr"] == 1e-4
    assert grouped[id(encoder.attention.self.query.weight)]["weight_decay"] == 0.1
    assert grouped[id(encoder.attention.output.LayerNorm.weight)]["weight_decay"] == 0.0
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == trainable
    same = ner.recipe_optimizer(tiny_bert(), ner.Recipe(head_lr=None, freeze_embeddings=False))
    assert {g["lr"] for g in same.param_groups} == {ner.RECIPE.lr}


def test_fine_tune_for_seconds_learns_and_leaves_frozen_embeddings_untouched(collator):
    features = synthetic_features(96, seed=1)
    model = tiny_bert()
    before = model.get_input_embeddings().weight.detach().clone()
    recipe = dataclasses.replace(ner.RECIPE, lr=3e-3, head_lr=1e-2, warmup_steps=3, max_tokens=128,
                                 freeze_embeddings=True)
    loader = recipe.loader(features, collator, seed=0)
    assert all(b["input_ids"].numel() <= 128 for b in loader)
    history = ner.fine_tune(model, loader, recipe=recipe, seconds=1.5, progress=False)
    assert history.train_seconds >= 1.5 and history.loss[-1] < 0.7 * history.loss[0]
    assert torch.equal(model.get_input_embeddings().weight, before)
    by_epochs = ner.fine_tune(tiny_bert(), loader, recipe=recipe, epochs=1, progress=False)
    assert len(by_epochs.step) == len(loader)


def test_a_recipe_without_a_batch_size_is_refused(collator):
    with pytest.raises(ValueError, match="exactly one of batch_size= and max_tokens="):
        ner.Recipe(batch_size=None, max_tokens=None).loader(synthetic_features(4, seed=0), collator)


def test_fine_tune_autocasts_to_bf16_only_where_the_cpu_has_bf16_instructions(collator, monkeypatch):
    from lablib.ner import recipe as R

    assert isinstance(ner.cpu_has_bf16(), bool)
    loader = ner.RECIPE.loader(synthetic_features(16, seed=2), collator)
    for has_bf16, wanted, expected in ((True, True, "bf16"), (False, True, "off"), (True, False, "off")):
        monkeypatch.setattr(R, "cpu_has_bf16", lambda: has_bf16)
        recipe = dataclasses.replace(ner.RECIPE, cpu_bf16=wanted)
        history = ner.fine_tune(tiny_bert(), loader, recipe=recipe, epochs=1, device="cpu", progress=False)
        assert history.amp == expected, (has_bf16, wanted)
