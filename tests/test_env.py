"""lablib.env: profile, settings, device, seeding, offline/Colab detection, report."""
import os
import random
import sys
import types

import numpy as np
import pytest
import torch

import lablib
from lablib import env


@pytest.mark.parametrize("value, expected", [("full", "full"), ("small", "small"), ("  FULL ", "full"), ("Small", "small")])
def test_profile_reads_the_variable(monkeypatch, value, expected):
    monkeypatch.setenv("LABLIB_PROFILE", value)
    assert env.profile() == expected


@pytest.mark.parametrize("value", ["bogus", "gpu", "ful", "tiny"])
def test_unknown_profile_names_value_and_allowed_ones(monkeypatch, value):
    monkeypatch.setenv("LABLIB_PROFILE", value)
    with pytest.raises(ValueError) as error:
        env.profile()
    message = str(error.value)
    assert repr(value) in message and "'full'" in message and "'small'" in message


@pytest.mark.parametrize("cuda, expected", [(True, "full"), (False, "small")])
def test_profile_follows_hardware_when_unset(monkeypatch, cuda, expected):
    monkeypatch.delenv("LABLIB_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert env.profile() == expected
    monkeypatch.setenv("LABLIB_PROFILE", "")  # empty counts as unset
    assert env.profile() == expected


def test_pick_settings_returns_active_profile_and_prints_both(monkeypatch, capsys):
    monkeypatch.setenv("LABLIB_PROFILE", "small")
    chosen = env.pick_settings(full={"model": "bert-base-cased", "epochs": 3}, small={"model": "minilm", "epochs": 1})
    assert chosen == {"model": "minilm", "epochs": 1}
    printed = capsys.readouterr().out
    assert "bert-base-cased" in printed and "minilm" in printed and "'small'" in printed
    monkeypatch.setenv("LABLIB_PROFILE", "full")
    assert env.pick_settings(full={"a": 1}, small={"a": 2}) == {"a": 1}


def test_pick_settings_rejects_different_keys():
    with pytest.raises(ValueError, match=r"only in full: \['epochs'\], only in small: \['steps'\]"):
        env.pick_settings(full={"lr": 1, "epochs": 3}, small={"lr": 1, "steps": 10})


@pytest.mark.parametrize("cuda, expected", [(True, "cuda"), (False, "cpu")])
def test_device_is_cuda_when_present_else_cpu(monkeypatch, cuda, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert env.device() == torch.device(expected)


def test_seed_everything_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    env.seed_everything(123)
    first = draw()
    env.seed_everything(123)
    assert draw() == first
    env.seed_everything(124)
    assert draw() != first


def test_seed_everything_leaves_the_hash_seed_alone(monkeypatch):
    """PYTHONHASHSEED is read once at start-up; seed_everything neither sets it nor claims to."""
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    env.seed_everything(7)
    assert "PYTHONHASHSEED" not in os.environ
    assert "PYTHONHASHSEED" in env.seed_everything.__doc__


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError), ("1", TypeError), (True, TypeError)])
def test_seed_everything_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        env.seed_everything(seed)


def test_offline_and_colab_detection(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    assert not env.is_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not env.is_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert env.is_offline()
    assert lablib.report()["colab"] is False
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert lablib.report()["colab"] is True


def test_report_prints_profile_device_and_versions(monkeypatch, capsys):
    monkeypatch.setenv("LABLIB_PROFILE", "small")
    info = lablib.report()
    printed = capsys.readouterr().out
    for key in ("profile", "device", "gpu", "python", "torch", "transformers", "datasets", "lablib"):
        assert key in info and key in printed
    assert info["profile"] == "small"
    assert info["torch"] == torch.__version__
    assert info["lablib"] == lablib.__version__
