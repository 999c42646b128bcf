"""Pretraining a tiny foundation model: vocabulary, masking, models, loops and a scaling fit (lab 05).

Explained in the chapter "Pretraining" (``book/pretraining.md``) and used in ``labs/05_pretraining.ipynb``;
the homogenization lab (07) reuses the course's own pretrained tiny encoder (:func:`tiny_pretrained`).
"""
from __future__ import annotations

import copy
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from . import checks as C
from . import env, train
from .data import load_corpus  # noqa: F401  (re-exported for the labs)
from .losses import IGNORE_INDEX
from .ner.conll import TAG2ID, TAGS, _sentence_parts
from .pretraining_corpus import (  # noqa: F401  (re-exported for the labs)
    CORPUS_VERSION, World, corpus_file_name, generate, make_world, split_corpus,
)
from .transformer import Encoder, EncoderConfig

_MAX_LENGTH = 48  # a sentence of ner_corpus has at most 40 words, plus [CLS] and [SEP]
_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # always ids 0-4, in this order


class Vocabulary:
    """A word-level vocabulary: the special tokens (ids 0-4), then the words, most frequent first (lab 05)."""

    def __init__(self, words: Iterable[str]):
        words = list(words)
        for word in words:
            if not isinstance(word, str) or not word or any(c.isspace() for c in word):
                raise ValueError(f"Vocabulary: {word!r} is not a word (a non-empty string without spaces)")
        self.itos = list(_SPECIAL_TOKENS) + [w for w in words if w not in _SPECIAL_TOKENS]
        self.stoi = {word: index for index, word in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("Vocabulary: the words must not repeat")
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(len(_SPECIAL_TOKENS))
        self.num_special = len(_SPECIAL_TOKENS)

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> "Vocabulary":
        """Every word seen at least ``min_count`` times, ordered by count (ties: alphabetically)."""
        C.integer(min_count, "min_count", "Vocabulary.build")
        counts = Counter(word for sentence in sentences for word in sentence)
        if not counts:
            raise ValueError("Vocabulary.build: no words in sentences")
        return cls(w for w, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if n >= min_count)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: Sequence[str], add_special_tokens: bool = True) -> list:
        """Token ids of a list of words, with ``[CLS] ... [SEP]`` around them by default."""
        if isinstance(tokens, str):
            raise ValueError(f"encode: expected a list of words, got the string {tokens!r:.60} (use text.split())")
        ids = [self.stoi.get(token, self.unk_id) for token in tokens]
        return [self.cls_id] + ids + [self.sep_id] if add_special_tokens else ids

    def decode(self, ids: Iterable[int]) -> list:
        """The words of a list (or tensor) of ids."""
        return [self.itos[i] for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]


def mask_tokens(input_ids, vocab: Vocabulary, generator, probability: float = 0.15) -> tuple:
    """BERT's masking: corrupt a ``probability`` share of the words 80/10/10, ``(inputs, labels)`` (lab 05)."""
    C.instance(vocab, Vocabulary, "vocab", "mask_tokens")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"mask_tokens: input_ids must be an integer tensor, got {type(input_ids).__name__} "
                         f"{getattr(input_ids, 'dtype', '')}")
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= len(vocab)):
        raise ValueError(f"mask_tokens: ids must be in [0, {len(vocab) - 1}], got min {int(input_ids.min())}, "
                         f"max {int(input_ids.max())}")
    C.fraction(probability, "probability", "mask_tokens")
    if not isinstance(generator, torch.Generator):
        seed = C.integer(generator, "generator (a seed, if not a torch.Generator)", "mask_tokens", low=None)
        generator = torch.Generator().manual_seed(seed)

    input_ids = input_ids.long()
    shape = input_ids.shape
    maskable = input_ids >= vocab.num_special  # special ids are 0 .. num_special - 1
    chosen = (torch.rand(shape, generator=generator) < probability) & maskable
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    how = torch.rand(shape, generator=generator)  # < 0.8: [MASK]; 0.8-0.9: a random word; else unchanged
    random_words = torch.randint(vocab.num_special, len(vocab), shape, generator=generator)
    inputs = torch.where(chosen & (how < 0.8), torch.full_like(input_ids, vocab.mask_id), input_ids)
    inputs = torch.where(chosen & (how >= 0.8) & (how < 0.9), random_words, inputs)
    return inputs, labels


def _pad(features: Sequence[Mapping], key: str, value: int):
    longest = max(len(f[key]) for f in features)
    return torch.tensor([list(f[key]) + [value] * (longest - len(f[key])) for f in features], dtype=torch.long)


class PaddingCollator:
    """Pad ``input_ids`` (``[PAD]``), ``attention_mask`` (0) and ``labels`` (-100) to the batch's longest (lab 05)."""

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab

    def __call__(self, features: Sequence[Mapping]) -> dict:
        if not features:
            raise ValueError("collator: empty batch")
        ids = _pad(features, "input_ids", self.vocab.pad_id)
        batch = {"input_ids": ids, "attention_mask": (ids != self.vocab.pad_id).long()}
        if "labels" in features[0]:
            batch["labels"] = _pad(features, "labels", IGNORE_INDEX)
        return batch


class MaskingCollator(PaddingCollator):
    """Pad a batch, then mask it afresh with :func:`mask_tokens` (dynamic masking, lab 05)."""

    def __init__(self, vocab: Vocabulary, seed: int = 0, probability: float = 0.15):
        super().__init__(vocab)
        self.generator = torch.Generator().manual_seed(C.integer(seed, "seed", "MaskingCollator", low=None))
        self.probability = probability

    def __call__(self, features: Sequence[Mapping]) -> dict:
        batch = super().__call__([{"input_ids": f["input_ids"]} for f in features])
        batch["input_ids"], batch["labels"] = mask_tokens(batch["input_ids"], self.vocab, self.generator,
                                                          self.probability)
        return batch


class Output(NamedTuple):
    """What the models of lab 05 return: ``loss`` (None without labels) and ``logits``."""

    loss: torch.Tensor | None
    logits: torch.Tensor


def tiny_config(vocab_size: int, hidden_size: int = 64, num_layers: int = 2, *, head_size: int = 8,
                max_length: int = _MAX_LENGTH) -> EncoderConfig:
    """A small BERT shape: ``hidden_size / head_size`` heads, feed-forward 4x wider, no dropout (lab 05)."""
    for name, value in (("vocab_size", vocab_size), ("hidden_size", hidden_size), ("num_layers", num_layers),
                        ("head_size", head_size), ("max_length", max_length)):
        C.integer(value, name, "tiny_config")
    if hidden_size % head_size:
        raise ValueError(f"tiny_config: hidden_size {hidden_size} must be a multiple of head_size {head_size}")
    return EncoderConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                         num_attention_heads=hidden_size // head_size, intermediate_size=4 * hidden_size,
                         max_position_embeddings=max_length, type_vocab_size=1, hidden_dropout_prob=0.0)


def _built(make, seed: int, where: str):
    """``make()``, then BERT's init from a local ``torch.Generator(seed)``; the global RNG is left as it was."""
    generator = torch.Generator().manual_seed(C.integer(seed, "seed", where, low=None))
    with torch.random.fork_rng(devices=[]):  # the layers' default init must not draw from the global stream
        module = make()
    for sub in module.modules():  # weights N(0, 0.02), biases 0, LayerNorm gain 1
        if isinstance(sub, (nn.Linear, nn.Embedding)):
            nn.init.normal_(sub.weight, std=0.02, generator=generator)
        if isinstance(sub, nn.Linear) and sub.bias is not None:
            nn.init.zeros_(sub.bias)
        if isinstance(sub, nn.LayerNorm):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)
    return module


class MaskedLM(nn.Module):
    """A BERT-style masked language model: the encoder, then a head that scores every word (lab 05)."""

    def __init__(self, config: EncoderConfig, seed: int = 0):
        super().__init__()
        self.encoder = _built(lambda: Encoder(config), seed, "MaskedLM")
        self.transform = _built(lambda: nn.Linear(config.hidden_size, config.hidden_size), seed + 1, "MaskedLM")
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    @property
    def config(self) -> EncoderConfig:
        return self.encoder.config

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Word scores from hidden vectors: (..., d) -> (..., vocabulary)."""
        x = self.norm(nn.functional.gelu(self.transform(hidden)))
        return x @ self.encoder.embeddings.token.weight.T + self.bias

    def forward(self, input_ids, attention_mask=None, labels=None, token_type_ids=None) -> Output:
        hidden = self.encoder(input_ids, attention_mask, token_type_ids).last_hidden_state
        if labels is None:
            return Output(None, self.head(hidden))
        chosen = labels != IGNORE_INDEX
        logits = self.head(hidden[chosen])
        loss = nn.functional.cross_entropy(logits, labels[chosen], reduction="sum") / max(1, logits.shape[0])
        return Output(loss, logits)


class TokenTagger(nn.Module):
    """An encoder with a linear layer that gives each token a score per tag (NER transfer, lab 05)."""

    def __init__(self, encoder: Encoder, num_labels: int = len(TAGS), dropout: float = 0.1, seed: int = 0):
        super().__init__()
        self.encoder = C.instance(encoder, Encoder, "encoder", "TokenTagger")
        self.dropout = nn.Dropout(dropout)
        self.classifier = _built(lambda: nn.Linear(encoder.config.hidden_size, num_labels), seed + 2, "TokenTagger")

    @classmethod
    def from_pretrained(cls, model: MaskedLM, seed: int = 0, **kwargs) -> "TokenTagger":
        """A tagger on a copy of ``model``'s encoder (``model`` itself is not changed)."""
        C.instance(model, MaskedLM, "model", "from_pretrained")
        return cls(copy.deepcopy(model.encoder).train(), seed=seed, **kwargs)

    @classmethod
    def from_scratch(cls, config: EncoderConfig, seed: int = 0, **kwargs) -> "TokenTagger":
        """The same tagger with a randomly initialised encoder (BERT-style init from ``seed``)."""
        return cls(_built(lambda: Encoder(config), seed, "from_scratch"), seed=seed, **kwargs)

    def forward(self, input_ids, attention_mask=None, labels=None, token_type_ids=None) -> Output:
        hidden = self.encoder(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.classifier(self.dropout(hidden))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
        return Output(loss, logits)


def non_embedding_parameters(model: nn.Module) -> int:
    """Kaplan et al.'s N: the parameters of the encoder layers, without embeddings or heads (lab 05)."""
    encoder = C.instance(getattr(model, "encoder", model), Encoder, "model.encoder", "non_embedding_parameters")
    return sum(p.numel() for p in encoder.layers.parameters())


def pretrain(model: MaskedLM, vocab: Vocabulary, sentences: Sequence[Sequence[str]], *, steps: int,
             batch_size: int = 64, lr: float = 2e-3, seed: int = 0, warmup_ratio: float = 0.05,
             evaluate=None, eval_every: int | None = None, device=None, progress: bool = True,
             desc: str | None = None, leave: bool = True):
    """Masked-LM pretraining for exactly ``steps`` steps with :func:`lablib.train.train`; its History (lab 05)."""
    where = "pretrain"
    C.instance(model, MaskedLM, "model", where)
    C.integer(steps, "steps", where)
    C.integer(batch_size, "batch_size", where)
    if not sentences:
        raise ValueError(f"{where}: sentences is empty")
    if eval_every is not None and steps % C.integer(eval_every, "eval_every", where):
        raise ValueError(f"{where}: eval_every must be a positive int that divides steps={steps}, got {eval_every!r}")
    limit = model.config.max_position_embeddings
    features = [{"input_ids": vocab.encode(s)[:limit]} for s in sentences[:steps * batch_size]]
    loader = train.make_loader(features, MaskingCollator(vocab, seed), batch_size, seed=seed)
    layers = model.config.num_hidden_layers
    return train.train(model, loader, steps=steps, lr=lr, warmup_ratio=warmup_ratio, evaluate=evaluate,
                       eval_every=eval_every, device=device, progress=progress, leave=leave,
                       log_every=max(1, min(50, steps // 20)),
                       desc=desc or f"pretraining (masked LM, width {model.config.hidden_size}, "
                                    f"{layers} layer{'s' * (layers != 1)})")


def masked_batches(vocab: Vocabulary, sentences: Sequence[Sequence[str]], *, batch_size: int = 256,
                   seed: int = 0) -> list:
    """Fixed, pre-masked evaluation batches: every model and every evaluation sees the same masks (lab 05)."""
    if not sentences:
        raise ValueError("masked_batches: sentences is empty")
    collator = MaskingCollator(vocab, seed)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))  # little padding
    features = [{"input_ids": vocab.encode(sentences[i])} for i in order]
    return [collator(features[i:i + batch_size]) for i in range(0, len(features), batch_size)]


def validation_loss(model: MaskedLM, batches: Sequence[Mapping], device=None) -> float:
    """The masked-LM loss on fixed batches: mean cross-entropy over all their masked positions (lab 05)."""
    if not batches:
        raise ValueError("validation_loss: no batches")

    def summed(m, batch):  # (loss x masked positions, masked positions) of one batch
        masked = (batch["labels"] != IGNORE_INDEX).sum()
        return torch.stack([m(**batch).loss.float() * masked, masked.float()])

    total, count = torch.stack(train.predict(model, batches, device=device, amp="off", progress=False,
                                       output=summed)).double().sum(0).tolist()
    if count == 0:
        raise ValueError("validation_loss: the batches have no masked position")
    return total / count


def fill_in(model: MaskedLM, vocab: Vocabulary, text: str, k: int = 5) -> list:
    """The ``k`` most probable words, with probabilities, for each ``[MASK]`` in ``text`` (labs 05 and 07)."""
    tokens = text.split()
    if "[MASK]" not in tokens:
        raise ValueError(f"fill_in: the text needs at least one [MASK] token (separated by spaces), got {text!r}")
    ids = torch.tensor([vocab.encode(tokens)])
    (logits,) = train.predict(model, [{"input_ids": ids}], amp="off", progress=False)
    blanks = logits[0, ids[0] == vocab.mask_id]
    blanks[:, :vocab.num_special] = float("-inf")  # a blank is a word, never a special token
    top = torch.softmax(blanks, dim=-1).topk(k)
    return [[(vocab.itos[i], p) for p, i in zip(probs, indices)]
            for probs, indices in zip(top.values.tolist(), top.indices.tolist())]


def _tagger_features(vocab: Vocabulary, sentences: Sequence) -> list:
    """NER features: ``[CLS] words [SEP]`` ids, one label per word, ``-100`` on ``[CLS]``/``[SEP]``."""
    features = []
    for number, (tokens, tags) in enumerate(sentences):
        if len(tokens) != len(tags):
            raise ValueError(f"fine_tune_tagger: sentence {number} has {len(tokens)} words but {len(tags)} tags")
        unknown = [t for t in tags if t not in TAG2ID]
        if unknown:
            raise ValueError(f"fine_tune_tagger: sentence {number} has tag {unknown[0]!r}; allowed: {', '.join(TAGS)}")
        features.append({"input_ids": vocab.encode(tokens),
                         "labels": [IGNORE_INDEX] + [TAG2ID[t] for t in tags] + [IGNORE_INDEX]})
    return features


def fine_tune_tagger(model: TokenTagger, vocab: Vocabulary, sentences: Sequence, *, steps: int,
                     batch_size: int = 16, lr: float = 1e-3, seed: int = 0, device=None, progress: bool = True,
                     desc: str | None = None, leave: bool = False):
    """Fine-tune a :class:`TokenTagger` for exactly ``steps`` steps with :func:`lablib.train.train` (labs 05 and 07)."""
    where = "fine_tune_tagger"
    C.instance(model, TokenTagger, "model", where)
    if not sentences:
        raise ValueError(f"{where}: sentences is empty")
    C.integer(steps, "steps", where)
    C.integer(batch_size, "batch_size", where)
    features = _tagger_features(vocab, sentences)
    cycled = [features[i % len(features)] for i in range(steps * batch_size)]  # full batches, however few sentences
    loader = train.make_loader(cycled, PaddingCollator(vocab), batch_size, seed=seed)
    return train.train(model, loader, steps=steps, lr=lr, device=device, progress=progress, leave=leave,
                       desc=desc or f"fine-tuning an NER tagger on {len(sentences):,} labelled sentences")


def tagger_predictions(model: TokenTagger, vocab: Vocabulary, sentences: Sequence, batch_size: int = 256,
                       tags: Sequence[str] = TAGS) -> list:
    """One predicted tag per word of each sentence (word lists or ``(tokens, tags)`` pairs) (labs 05 and 07)."""
    if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
        raise ValueError("tagger_predictions: sentences must be lists of words (or (tokens, tags) pairs), "
                         "not strings; split a text with text.split()")
    words = [_sentence_parts(s, i, need_tags=False)[0] for i, s in enumerate(sentences)]
    collator = PaddingCollator(vocab)
    C.integer(batch_size, "batch_size", "tagger_predictions")
    batches = [collator([{"input_ids": vocab.encode(w)} for w in words[i:i + batch_size]])
               for i in range(0, len(words), batch_size)]
    logits = train.predict(model, batches, amp="off", progress=False)
    best = [row for scores in logits for row in scores.argmax(-1).tolist()]  # one row of tag ids per sentence
    return [[tags[i] for i in row[1:1 + len(w)]] for row, w in zip(best, words)]


@dataclass
class PowerLawFit:
    """The fit of ``loss - irreducible = (n_c / n) ** alpha`` on log-log axes (:func:`fit_power_law`, lab 05)."""

    alpha: float
    alpha_low: float
    alpha_high: float
    n_c: float
    r2: float
    stderr: float
    confidence: float
    irreducible: float
    points: int

    def predict(self, n):
        """The fitted loss at ``n`` (a number or a sequence/array of numbers)."""
        return self.irreducible + (self.n_c / np.asarray(n, dtype=float)) ** self.alpha

    def __str__(self) -> str:
        return (f"alpha = {self.alpha:.4f} ({self.confidence:.0%} CI {self.alpha_low:.4f} to {self.alpha_high:.4f}), "
                f"N_c = {self.n_c:.3g}, R^2 = {self.r2:.4f}, {self.points} points"
                + (f", irreducible loss {self.irreducible:g}" if self.irreducible else ""))


def fit_power_law(n, loss, *, irreducible: float = 0.0, confidence: float = 0.95) -> PowerLawFit:
    """Fit Kaplan et al.'s ``L(N) = (N_c / N) ** alpha`` on log-log axes with ``scipy.stats.linregress`` (lab 05)."""
    from scipy import stats

    where = "fit_power_law"
    try:
        n, loss = np.asarray(n, dtype=float), np.asarray(loss, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: n and loss must be sequences of numbers, got {n!r:.60} and {loss!r:.60}") from None
    if n.ndim != 1 or loss.ndim != 1 or len(n) != len(loss):
        raise ValueError(f"{where}: n and loss must be 1-D and of equal length, got shapes {n.shape} and {loss.shape}")
    if len(n) < 3:
        raise ValueError(f"{where}: need at least 3 points for a line with a confidence interval, got {len(n)}")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(loss))) or np.any(n <= 0):
        raise ValueError(f"{where}: n must be positive and finite and loss finite, "
                         f"got n={n.tolist()}, loss={loss.tolist()}")
    irreducible = C.number(irreducible, "irreducible", where, low=0)
    if np.any(loss <= irreducible):
        raise ValueError(f"{where}: every loss must exceed irreducible={irreducible}, got min loss {loss.min()}")
    confidence = C.fraction(confidence, "confidence", where)
    x, y = np.log(n), np.log(loss - irreducible)
    if np.all(x == x[0]):
        raise ValueError(f"{where}: all n are equal ({n[0]:g}); the slope needs at least two sizes")
    line = stats.linregress(x, y)
    t = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 2))
    alpha, stderr = -float(line.slope), float(line.stderr)
    return PowerLawFit(alpha=alpha, alpha_low=alpha - t * stderr, alpha_high=alpha + t * stderr,
                       n_c=math.exp(line.intercept / alpha) if alpha != 0 else float("nan"),
                       r2=float(line.rvalue) ** 2 if np.ptp(y) > 0 else 1.0, stderr=stderr,
                       confidence=confidence, irreducible=float(irreducible), points=len(x))


#: The recipe of the course's own pretrained tiny encoder (small profile of lab 05).
TINY_RECIPE = {"hidden_size": 64, "num_layers": 2, "steps": 1500, "batch_size": 16, "lr": 2e-3}


class Pretrained(NamedTuple):
    """A pretrained model with what it needs: its vocabulary, training history and time (labs 05 and 07)."""

    model: MaskedLM
    vocab: Vocabulary
    history: object  # lablib.train.History
    seconds: float


_PRETRAINED: dict = {}


def tiny_pretrained(seed: int = 0, *, folder: str | os.PathLike | None = None, progress: bool = True,
                    device=None, **recipe) -> Pretrained:
    """The course's own pretrained tiny encoder, made reproducibly from ``seed`` (labs 05 and 07)."""
    unknown = sorted(set(recipe) - set(TINY_RECIPE))
    if unknown:
        raise ValueError(f"tiny_pretrained: unknown recipe entries {unknown}; known: {sorted(TINY_RECIPE)}")
    settings = {**TINY_RECIPE, **recipe}
    device = torch.device(device) if device is not None else env.device()  # GPU weights differ: in the key
    key = (C.integer(seed, "seed", "tiny_pretrained", low=None), str(device), os.fspath(folder or ""),
           tuple(sorted(settings.items())))
    if key not in _PRETRAINED:
        start = time.perf_counter()
        train_sentences, _ = split_corpus(load_corpus(folder=folder))
        vocab = Vocabulary.build(train_sentences)
        model = MaskedLM(tiny_config(len(vocab), settings["hidden_size"], settings["num_layers"]), seed=seed)
        history = pretrain(model, vocab, train_sentences, steps=settings["steps"], batch_size=settings["batch_size"],
                           lr=settings["lr"], seed=seed, progress=progress, device=device, leave=False,
                           desc=f"pretraining the course's tiny encoder (seed {seed})")
        _PRETRAINED[key] = Pretrained(model.cpu().eval(), vocab, history, time.perf_counter() - start)
    return _PRETRAINED[key]._replace(model=copy.deepcopy(_PRETRAINED[key].model))  # a copy the lab may change
