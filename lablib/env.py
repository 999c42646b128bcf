"""Where a lab runs: profile, device, seeding, offline/Colab detection, versions (preface, lab 00).

A lab reads one switch, :func:`profile`: ``"full"`` (a CUDA GPU, or ``LABLIB_PROFILE=full``: hub checkpoints
and data, minutes on a Colab T4) or ``"small"`` (no GPU, or ``LABLIB_PROFILE=small`` as in CI: the embedded
models and data, no download, a few minutes on two CPU cores).
"""
from __future__ import annotations

import os
import platform
import random
import sys
from typing import Any, Mapping

import numpy as np
import torch

from . import checks


def profile() -> str:
    """The active profile: ``LABLIB_PROFILE`` when set, else ``"full"`` with a CUDA GPU, else ``"small"`` (lab 00)."""
    raw = os.environ.get("LABLIB_PROFILE")
    if raw is not None and raw.strip() != "":
        value = raw.strip().lower()
        if value not in ("full", "small"):
            raise ValueError(f"LABLIB_PROFILE={raw!r} is not a known profile; expected one of 'full', 'small' "
                             "(or leave it unset to choose by hardware: 'full' with a CUDA GPU, else 'small').")
        return value
    return "full" if torch.cuda.is_available() else "small"


def pick_settings(full: Mapping[str, Any], small: Mapping[str, Any]) -> dict:
    """The settings of the active profile; prints both profiles' side by side (every lab, first in lab 00).

    ``full`` and ``small`` must have the same keys, so a reader sees what changes.
    """
    if set(full) != set(small):
        raise ValueError(f"pick_settings needs the same keys in both profiles; only in full: "
                         f"{sorted(set(full) - set(small))}, only in small: {sorted(set(small) - set(full))}")
    active = profile()
    width = max([len(k) for k in full] + [7])
    print(f"{'setting':<{width}}  {'full':<28}  {'small':<28}")
    for key in full:
        print(f"{key:<{width}}  {str(full[key]):<28}  {str(small[key]):<28}")
    print(f"-> using the '{active}' profile")
    return dict(full if active == "full" else small)


def device():
    """The ``torch.device`` labs and lablib use by default: CUDA when present, else CPU (lab 00)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU); return the seed (every lab, first in lab 00).

    A rerun then gives the same numbers on the same machine (GPU kernels may differ in the last bits).
    String hashing is not affected: Python fixes it at start-up (``PYTHONHASHSEED``); lablib never depends on it.
    """
    checks.integer(seed, "seed", "seed_everything", low=0, high=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    return seed


def is_offline() -> bool:
    """True when the Hugging Face hub must not be contacted: ``HF_HUB_OFFLINE`` and friends (labs 03, 04)."""
    return any(os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"))


def _version(module_name: str) -> str:
    try:
        module = __import__(module_name)
    except ImportError:
        return "not installed"
    return str(getattr(module, "__version__", "unknown"))


def report() -> dict:
    """Print and return where this lab runs, so a result can be traced to what produced it (every lab, lab 00)."""
    from . import __version__

    dev = device()
    info = {"profile": profile(), "device": str(dev),
            "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else "none",
            "torch threads": torch.get_num_threads(), "offline": is_offline(),
            "colab": "google.colab" in sys.modules, "python": platform.python_version(),
            **{name: _version(name) for name in ("torch", "transformers", "datasets")}, "lablib": __version__}
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}} : {value}")
    return info
