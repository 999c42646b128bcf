"""lablib: the helper package of the course "Foundation Models: Emergence and Homogenization".

Code that a lab needs more than once, or that a chapter explains once and
later labs reuse, lives here; each public function's docstring names the
chapter or lab that explains it. Its modules, in the order the course uses them:

* :mod:`lablib.env`     -- profile, device, seeding, offline/Colab, versions (preface, lab 00)
* :mod:`lablib.checks`  -- the argument checks every module shares (preface)
* :mod:`lablib.data`    -- data files with sha256 checks: registry, generation; ``data.templates``, the one
  seeded template engine of the generated sets, whose pools and frames are JSON files in ``lablib/data/`` (preface)
* :mod:`lablib.models`  -- checkpoints per profile; the verified offline MiniLM encoder (preface)
* :mod:`lablib.plot`    -- the course's figure style (every chapter and lab)
* :mod:`lablib.grading` -- checks with specific feedback for exercises (every lab)
* (not here: assignments and grading are instructor tooling, the package ``coursetools/``, appendix "For instructors")
* :mod:`lablib.losses`  -- losses and gradients by hand (chapter "The loss math", lab 01)
* :mod:`lablib.transformer` -- a plain BERT encoder that loads real weights (chapter "The Transformer", lab 02)
* :mod:`lablib.ner`     -- NER on any IOB2 tag set: ``conll`` files, ``align`` word pieces, ``evaluate`` (lab 03)
* :mod:`lablib.ner_corpus` -- the embedded, generated NER data set of the small profile (labs 03, 05, 07)
* :mod:`lablib.hub`     -- hub data sets of the full profile (CoNLL-2003, IMDB), sources tried in order (labs 03, 04)
* :mod:`lablib.train`   -- the plain PyTorch training loop: dynamic padding, length grouping, AMP, history (lab 03 on)
* :mod:`lablib.reviews` -- the embedded, generated review set of the small profile (lab 04)
* :mod:`lablib.classify` -- sentence-classification predictions, accuracy by group, calibration (lab 04)
* :mod:`lablib.pretraining` -- a tiny foundation model: vocabulary, masking, models, loops, scaling fit
  (chapter "Pretraining", lab 05)
* :mod:`lablib.pretraining_corpus` -- the unlabeled pretraining corpus of lab 05 (re-exported by ``pretraining``)
* :mod:`lablib.emergence` -- grokking and the "mirage": tasks, models, training, metrics (chapter "Emergence", lab 06)
* :mod:`lablib.metrics` -- shared failure, error agreement, CKA, bootstrap (chapter "Homogenization", lab 07)
* :mod:`lablib.homogenization` -- ecosystems of NER taggers and a defect planted in their base (lab 07)
* :mod:`lablib.tokenization`, :mod:`lablib.generation` -- byte-level BPE; sampling from a decoder with a KV cache
  (chapter "Generative pretraining", lab 08)
* :mod:`lablib.adaptation` -- linear probe, LoRA and adapters by hand, merging LoRA (chapter "Adaptation", lab 09)

Only env, data, grading, models and plot are imported with the package
(``data`` imports ``ner`` and with it torch). The others are imported
explicitly, e.g. ``from lablib import train``.
"""
__version__ = "0.6.0"

from . import data, env, grading, models, plot
from .env import device, is_offline, pick_settings, profile, report, seed_everything

__all__ = [
    "__version__",
    "device",
    "is_offline",
    "pick_settings",
    "profile",
    "report",
    "seed_everything",
]
