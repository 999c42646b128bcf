"""Where a lab runs: profile, device, seeding, offline/Colab detection, versions.

Explained in the preface ("Two profiles, one notebook") and used in the first
cells of every lab (``labs/00_getting_started.ipynb`` shows each function).

A lab reads exactly one switch, :func:`profile`:

* ``"full"``  -- a CUDA GPU is present, or ``LABLIB_PROFILE=full``: hub
  checkpoints and hub data sets, minutes on a Colab T4.
* ``"small"`` -- no GPU, or ``LABLIB_PROFILE=small`` (CI sets this together
  with ``HF_HUB_OFFLINE=1``): the embedded models and data, which need no
  download, a few minutes on two CPU cores.
"""
from __future__ import annotations

import os
import platform
import random
import sys
from typing import Any, Mapping

PROFILES = ("full", "small")
PROFILE_VARIABLE = "LABLIB_PROFILE"
_TRUE_WORDS = {"1", "true", "yes", "on"}


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # lablib's core must work before torch is importable
        return False
    return bool(torch.cuda.is_available())


def profile() -> str:
    """Return the active profile, ``"full"`` or ``"small"`` (preface, "Two profiles").

    ``LABLIB_PROFILE`` wins when set (case and surrounding spaces ignored);
    otherwise ``"full"`` when a CUDA GPU is available and ``"small"`` when not.

    Raises:
        ValueError: ``LABLIB_PROFILE`` holds anything but ``full`` or ``small``.
    """
    raw = os.environ.get(PROFILE_VARIABLE)
    if raw is not None and raw.strip() != "":
        value = raw.strip().lower()
        if value not in PROFILES:
            raise ValueError(
                f"{PROFILE_VARIABLE}={raw!r} is not a known profile; "
                f"expected one of {', '.join(repr(p) for p in PROFILES)} "
                f"(or leave it unset to choose by hardware: 'full' with a CUDA GPU, else 'small')."
            )
        return value
    return "full" if _cuda_available() else "small"


def pick_settings(full: Mapping[str, Any], small: Mapping[str, Any], *, show: bool = True) -> dict:
    """Return the settings of the active profile, printing both side by side.

    Every lab shows its settings for both profiles at the top, in plain sight
    (preface, "Two profiles"). ``full`` and ``small`` must have the same keys,
    so a reader can see what changes between them.

    Raises:
        ValueError: the two mappings have different keys.
    """
    if set(full) != set(small):
        only_full = sorted(set(full) - set(small))
        only_small = sorted(set(small) - set(full))
        raise ValueError(
            "pick_settings needs the same keys in both profiles; "
            f"only in full: {only_full}, only in small: {only_small}"
        )
    active = profile()
    chosen = dict(full if active == "full" else small)
    if show:
        width = max([len(k) for k in full] + [7])
        print(f"{'setting':<{width}}  {'full':<28}  {'small':<28}")
        for key in full:
            print(f"{key:<{width}}  {str(full[key]):<28}  {str(small[key]):<28}")
        print(f"-> using the '{active}' profile")
    return chosen


def device(prefer: str | None = None):
    """Return the ``torch.device`` a lab should use: CUDA when present, else CPU.

    ``prefer`` may force ``"cpu"`` or ``"cuda"``; asking for CUDA on a machine
    without it raises a ``RuntimeError`` that says so, rather than failing
    later inside a kernel launch.
    """
    import torch

    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(prefer, str) or prefer.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device(prefer={prefer!r}): expected 'cpu', 'cuda' or 'cuda:N'")
    if prefer.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"device(prefer={prefer!r}) but no CUDA GPU is available here. "
            "On Colab: Runtime > Change runtime type > GPU. Locally: use the 'small' profile."
        )
    return torch.device(prefer)


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU); return the seed.

    Used at the top of every lab so that a rerun gives the same numbers on the
    same machine (GPU kernels may still differ in the last bits).
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed_everything(seed={seed!r}): expected an int")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed_everything(seed={seed}): expected 0 <= seed < 2**32")
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses this lab starts
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)  # seeds every CUDA device too
    except ImportError:
        pass
    return seed


def in_colab() -> bool:
    """True when running inside Google Colab (its ``google.colab`` module is loaded)."""
    return "google.colab" in sys.modules


def is_offline() -> bool:
    """True when the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE`` and friends)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in _TRUE_WORDS:
            return True
    return False


def _version(module_name: str) -> str:
    try:
        module = __import__(module_name)
    except ImportError:
        return "not installed"
    return str(getattr(module, "__version__", "unknown"))


def versions() -> dict:
    """Versions of Python and of the libraries the labs rely on, as a dict."""
    from . import __version__ as lablib_version

    return {
        "python": platform.python_version(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "datasets": _version("datasets"),
        "lablib": lablib_version,
    }


def report() -> dict:
    """Print (and return) where this lab runs: profile, device, GPU, threads, versions.

    Every lab calls it in its first cells, so that a result can always be
    traced to the profile, hardware and library versions that produced it.
    """
    info: dict = {"profile": profile()}
    try:
        import torch

        dev = device()
        info["device"] = str(dev)
        info["gpu"] = torch.cuda.get_device_name(0) if dev.type == "cuda" else "none"
        info["torch threads"] = torch.get_num_threads()
    except ImportError:
        info.update({"device": "cpu (torch not installed)", "gpu": "none"})
    info["offline"] = is_offline()
    info["colab"] = in_colab()
    info.update(versions())
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}} : {value}")
    return info
