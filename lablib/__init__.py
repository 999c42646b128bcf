"""lablib: the helper package of the course "Foundation Models: Emergence and Homogenization".

Code that a lab needs more than once, or that a chapter explains once and
later labs reuse, lives here; each public function's docstring names the
chapter or lab that explains it. Modules:

* :mod:`lablib.env`     -- profile, device, seeding, offline/Colab, versions (preface)
* :mod:`lablib.data`    -- data files with sha256 checks: registry, download, generation
* :mod:`lablib.models`  -- checkpoints per profile; the verified offline MiniLM encoder
* :mod:`lablib.plot`    -- the course's figure style
* :mod:`lablib.grading` -- checks with specific feedback for exercises
* :mod:`lablib.assignments` -- student notebooks, autograder bundles, grading (appendix "For instructors")
* :mod:`lablib.losses`  -- losses and gradients by hand (chapter "The loss math", lab 01)
* :mod:`lablib.transformer` -- a plain BERT encoder that loads real weights (chapter "The Transformer", lab 02)
* :mod:`lablib.ner`, :mod:`lablib.ner_corpus`, :mod:`lablib.hub`, :mod:`lablib.train`
  -- NER data, alignment, scoring, CoNLL-2003 from the hub, the training loop (lab 03)

Modules that need torch (losses, transformer, train) are imported explicitly:
``from lablib import train``.
"""
__version__ = "0.1.0"

from . import data, env, grading, models, plot
from .env import device, in_colab, is_offline, pick_settings, profile, report, seed_everything

__all__ = [
    "__version__",
    "device",
    "in_colab",
    "is_offline",
    "pick_settings",
    "profile",
    "report",
    "seed_everything",
]
