"""Pretraining a tiny foundation model: vocabulary, masking, models, loops and a scaling fit.

Explained in the chapter "Pretraining: self-supervision, transfer and scaling"
(``book/pretraining.md``) and used in ``labs/05_pretraining.ipynb``; the
homogenization lab reuses the course's own pretrained tiny encoder
(:func:`tiny_pretrained`). The module reads top to bottom like the lab:

1. **The corpus**, from :mod:`lablib.pretraining_corpus` (re-exported here:
   :func:`generate`, :func:`load_corpus`, :func:`make_world`, ...).
2. **Words to ids** (:class:`Vocabulary`): a word-level vocabulary with
   ``[PAD] [UNK] [CLS] [SEP] [MASK]``.
3. **Masking** (:func:`mask_tokens`, :class:`MaskingCollator`): BERT's 15%
   with the 80/10/10 rule, labels ``-100`` everywhere else.
4. **Models** (:class:`MaskedLM`, :class:`TokenTagger`) on
   :class:`lablib.transformer.Encoder`.
5. **Loops** (:func:`pretrain`, :func:`fine_tune_tagger`), both on
   :func:`lablib.train.train`, and evaluation (:func:`masked_lm_loss`,
   :func:`fill_in`, :func:`predict_tags`).
6. **The scaling fit** (:func:`fit_power_law`).
7. **The course's tiny encoder** (:func:`tiny_pretrained`).
"""
from __future__ import annotations

import copy
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, NamedTuple, Sequence

import torch
from torch import nn

from .ner import TAGS
from .pretraining_corpus import (  # noqa: F401  (re-exported for the labs)
    CORPUS_SHA256, CORPUS_VERSION, COUNTRIES, DEFAULT_SEED, DEFAULT_SIZE, NUM_PEOPLE, VALIDATION_SIZE, Person,
    World, _check_seed, corpus_file_name, generate, load_corpus, make_world, read_corpus, split_corpus,
    write_corpus,
)
from .transformer import Encoder, EncoderConfig

IGNORE_INDEX = -100
MAX_LENGTH = 48  # a sentence of ner_corpus has at most 40 words, plus [CLS] and [SEP]


# ----------------------------------------------------------------------------- words to ids

#: The special tokens, always ids 0-4 in this order.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class Vocabulary:
    """A word-level vocabulary: the special tokens (ids 0-4), then the words, most frequent first.

    Explained in ``labs/05_pretraining.ipynb``. The corpus is already split
    into words the CoNLL way, so a token is a word and no sub-word pieces are
    needed; words not in the vocabulary become ``[UNK]``. For NER this makes
    label alignment trivial: one label per token, ``-100`` only on ``[CLS]``,
    ``[SEP]`` and padding (real BERTs need ``word_ids()``, lab 03). The price
    is that an unseen word has no representation at all, which sub-word
    vocabularies avoid.
    """

    def __init__(self, words: Iterable[str]):
        words = list(words)
        for word in words:
            if not isinstance(word, str) or not word or any(c.isspace() for c in word):
                raise ValueError(f"Vocabulary: {word!r} is not a word (a non-empty string without spaces)")
        self.itos = list(SPECIAL_TOKENS) + [w for w in words if w not in SPECIAL_TOKENS]
        self.stoi = {word: index for index, word in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("Vocabulary: the words must not repeat")
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(len(SPECIAL_TOKENS))
        self.num_special = len(SPECIAL_TOKENS)

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> "Vocabulary":
        """Every word seen at least ``min_count`` times, ordered by count (ties: alphabetically)."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"Vocabulary.build: min_count must be an int >= 1, got {min_count!r}")
        counts = Counter(word for sentence in sentences for word in sentence)
        if not counts:
            raise ValueError("Vocabulary.build: no words in sentences")
        return cls(w for w, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if n >= min_count)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    @property
    def special_ids(self) -> tuple:
        """The ids of the special tokens (never masked, never predicted)."""
        return tuple(range(self.num_special))

    def encode(self, tokens: Sequence[str], add_special_tokens: bool = True) -> list:
        """Token ids of a list of words, with ``[CLS] ... [SEP]`` around them by default."""
        if isinstance(tokens, str):
            raise ValueError(f"encode: expected a list of words, got the string {tokens!r:.60} (use text.split())")
        ids = [self.stoi.get(token, self.unk_id) for token in tokens]
        return [self.cls_id] + ids + [self.sep_id] if add_special_tokens else ids

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> list:
        """The words of a list (or tensor) of ids."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return [self.itos[i] for i in ids if not (skip_special_tokens and i < self.num_special)]


# ----------------------------------------------------------------------------- masking


def mask_tokens(input_ids, vocab: Vocabulary, generator, probability: float = 0.15) -> tuple:
    """BERT's masking: choose ``probability`` of the positions, corrupt them 80/10/10; return ``(inputs, labels)``.

    Derived in the loss-math chapter (``book/loss_math.md``, the masked LM
    loss) and used in ``labs/05_pretraining.ipynb``. Each position that holds
    a word (never ``[PAD]``, ``[CLS]``, ``[SEP]``, ``[UNK]``, ``[MASK]``) is
    chosen independently with ``probability``; of the chosen positions, 80%
    become ``[MASK]``, 10% a random word and 10% stay unchanged, and the
    label is the original id there and ``-100`` everywhere else, so the loss
    counts only chosen positions. This is what Hugging Face's
    ``DataCollatorForLanguageModeling`` does, except that random words are
    drawn from the words only, never a special token. (A random word can be
    the original word by chance, with probability 1/number of words.)

    Args:
        input_ids: integer tensor of any shape, ids of ``vocab``.
        vocab: the :class:`Vocabulary` (its ``[MASK]`` id and size).
        generator: a ``torch.Generator``, or an int seed for a new one: the
            masks depend only on it, never on the global random state.
        probability: the share of word positions chosen, in (0, 1).

    Returns:
        ``(inputs, labels)``: new tensors shaped like ``input_ids``.

    Raises:
        ValueError: a non-integer tensor, ids outside the vocabulary, a
            probability outside (0, 1), or a generator that is neither.
    """
    if not isinstance(vocab, Vocabulary):
        raise ValueError(f"mask_tokens: vocab must be a lablib.pretraining.Vocabulary, got {type(vocab).__name__}")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"mask_tokens: input_ids must be an integer tensor, got {type(input_ids).__name__} "
                         f"{getattr(input_ids, 'dtype', '')}")
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= len(vocab)):
        raise ValueError(f"mask_tokens: ids must be in [0, {len(vocab) - 1}], got min {int(input_ids.min())}, "
                         f"max {int(input_ids.max())}")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 < probability < 1:
        raise ValueError(f"mask_tokens: probability must be a number in (0, 1), got {probability!r}")
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = torch.Generator().manual_seed(generator)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"mask_tokens: generator must be a torch.Generator or an int seed, got {generator!r}")

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
    """Pad ``input_ids`` (with ``[PAD]``), ``attention_mask`` (0) and ``labels`` (-100) to the longest in the batch."""

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
    """Pad a batch, then mask it afresh with :func:`mask_tokens` (dynamic masking, lab 05).

    Each batch gets new masks from the collator's own ``torch.Generator``
    (seeded with ``seed``), so a sentence seen twice is masked differently,
    and a rerun with the same seed repeats every mask.
    """

    def __init__(self, vocab: Vocabulary, seed: int = 0, probability: float = 0.15):
        super().__init__(vocab)
        self.generator = torch.Generator().manual_seed(_check_seed(seed, "MaskingCollator"))
        self.probability = probability

    def __call__(self, features: Sequence[Mapping]) -> dict:
        batch = super().__call__([{"input_ids": f["input_ids"]} for f in features])
        batch["input_ids"], batch["labels"] = mask_tokens(batch["input_ids"], self.vocab, self.generator,
                                                          self.probability)
        return batch


# ----------------------------------------------------------------------------- models


class Output(NamedTuple):
    """What the models return: ``loss`` (None without labels) and ``logits``."""

    loss: torch.Tensor | None
    logits: torch.Tensor


def tiny_config(vocab_size: int, hidden_size: int = 64, num_layers: int = 2, *, head_size: int = 8,
                max_length: int = MAX_LENGTH) -> EncoderConfig:
    """A small BERT shape: ``hidden_size / head_size`` heads, feed-forward 4x wider, no dropout (lab 05)."""
    for name, value in (("vocab_size", vocab_size), ("hidden_size", hidden_size), ("num_layers", num_layers),
                        ("head_size", head_size), ("max_length", max_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"tiny_config: {name} must be a positive int, got {value!r}")
    if hidden_size % head_size:
        raise ValueError(f"tiny_config: hidden_size {hidden_size} must be a multiple of head_size {head_size}")
    return EncoderConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                         num_attention_heads=hidden_size // head_size, intermediate_size=4 * hidden_size,
                         max_position_embeddings=max_length, type_vocab_size=1, hidden_dropout_prob=0.0)


def _init_bert_style(module: nn.Module) -> None:
    """BERT's initialisation: weights N(0, 0.02), biases 0, LayerNorm gain 1."""
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Embedding)):
            nn.init.normal_(sub.weight, std=0.02)
        if isinstance(sub, nn.Linear) and sub.bias is not None:
            nn.init.zeros_(sub.bias)
        if isinstance(sub, nn.LayerNorm):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)


def new_encoder(config: EncoderConfig, seed: int) -> Encoder:
    """A freshly initialised :class:`~lablib.transformer.Encoder` (BERT-style init) from ``seed``."""
    torch.manual_seed(_check_seed(seed, "new_encoder"))
    encoder = Encoder(config)
    _init_bert_style(encoder)
    return encoder


class MaskedLM(nn.Module):
    """A BERT-style masked language model: the encoder, then a head that scores every word (lab 05).

    The head is BERT's: a dense layer, GELU and LayerNorm, then scores
    against the *input* embedding matrix (tied weights) plus a bias. With
    ``labels`` the forward pass scores only the positions whose label is not
    ``-100`` -- the only ones the loss counts -- so ``logits`` is then
    (number of masked positions, vocabulary); without labels it is
    (batch, length, vocabulary). The loss is the mean cross-entropy over the
    masked positions (the loss-math chapter's :math:`\\mathcal{L}_{MLM}`),
    0 for a batch with none.
    """

    def __init__(self, config: EncoderConfig, seed: int = 0):
        super().__init__()
        self.encoder = new_encoder(config, seed)
        self.transform = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        _init_bert_style(self.transform)

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
    """An encoder with a linear layer that gives each token a score per tag (NER transfer, lab 05).

    Build it with :meth:`from_pretrained` (the encoder of a trained
    :class:`MaskedLM`, copied) or :meth:`from_scratch` (the same architecture,
    random weights); the tag layer is initialised the same way from ``seed``
    in both, so pretraining is the only difference. The loss is softmax
    cross-entropy over the tags, ignoring label ``-100``.
    """

    def __init__(self, encoder: Encoder, num_labels: int = len(TAGS), dropout: float = 0.1, seed: int = 0):
        super().__init__()
        if not isinstance(encoder, Encoder):
            raise ValueError(f"TokenTagger: expected a lablib.transformer.Encoder, got {type(encoder).__name__}")
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        torch.manual_seed(_check_seed(seed, "TokenTagger"))
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)
        _init_bert_style(self.classifier)

    @classmethod
    def from_pretrained(cls, model: MaskedLM, seed: int = 0, **kwargs) -> "TokenTagger":
        """A tagger on a copy of ``model``'s encoder (``model`` itself is not changed)."""
        if not isinstance(model, MaskedLM):
            raise ValueError(f"from_pretrained: expected a MaskedLM, got {type(model).__name__}")
        return cls(copy.deepcopy(model.encoder).train(), seed=seed, **kwargs)

    @classmethod
    def from_scratch(cls, config: EncoderConfig, seed: int = 0, **kwargs) -> "TokenTagger":
        """The same tagger with a randomly initialised encoder (BERT-style init from ``seed``)."""
        return cls(new_encoder(config, seed), seed=seed, **kwargs)

    def forward(self, input_ids, attention_mask=None, labels=None, token_type_ids=None) -> Output:
        hidden = self.encoder(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.classifier(self.dropout(hidden))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
        return Output(loss, logits)


def non_embedding_parameters(model: nn.Module) -> int:
    """Kaplan et al.'s N: the parameters of the encoder layers, without embeddings or heads (lab 05).

    For ``L`` layers of width ``d`` (feed-forward ``4d``) this is
    ``L (12 d^2 + 13 d)`` (:func:`lablib.transformer.encoder_layer_parameters`).
    """
    encoder = getattr(model, "encoder", model)
    if not isinstance(encoder, Encoder):
        raise ValueError(f"non_embedding_parameters: expected a model with a lablib Encoder, got {type(model).__name__}")
    return sum(p.numel() for p in encoder.layers.parameters())


# ----------------------------------------------------------------------------- loops


class Chunks:
    """Serve a long stream of batches as "epochs" of ``chunk`` batches, so :func:`lablib.train.train` evaluates every ``chunk`` steps."""

    def __init__(self, loader, chunk: int):
        self.loader, self.chunk, self._iterator = loader, chunk, None

    def __len__(self) -> int:
        return self.chunk

    def __iter__(self):
        if self._iterator is None:
            self._iterator = iter(self.loader)
        for _ in range(self.chunk):
            yield next(self._iterator)


def _stream(features: list, steps: int, batch_size: int) -> list:
    """``steps * batch_size`` features, cycling through ``features`` (references, not copies)."""
    return [features[i % len(features)] for i in range(steps * batch_size)]


def _check_positive(value, name: str, where: str):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{where}: {name} must be a positive number, got {value!r}")
    return value


class _Counted:
    """A loader that moves a progress bar one step per batch it hands out (the bars of :func:`pretrain`)."""

    def __init__(self, loader, bar):
        self.loader, self.bar = loader, bar

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            yield batch
            self.bar.update(1)


def _progress_bar(steps: int, progress, desc, leave, where: str):
    """A ``tqdm.auto`` bar of ``steps`` steps (a widget in Jupyter, text elsewhere); off if ``progress`` is False."""
    from tqdm.auto import tqdm

    for name, value in (("progress", progress), ("leave", leave)):
        if not isinstance(value, bool):
            raise ValueError(f"{where}: {name} must be True or False, got {value!r}")
    if not isinstance(desc, str) or not desc:
        raise ValueError(f"{where}: desc must be a non-empty string (what is training), got {desc!r}")
    return tqdm(total=steps, desc=desc, unit="step", leave=leave, disable=not progress)


def pretrain(model: MaskedLM, vocab: Vocabulary, sentences: Sequence[Sequence[str]], *, steps: int,
             batch_size: int = 64, lr: float = 2e-3, seed: int = 0, warmup_ratio: float = 0.05,
             evaluate=None, eval_every: int | None = None, device=None, progress: bool = True,
             desc: str | None = None, leave: bool = True):
    """Pretrain ``model`` with masked-LM for exactly ``steps`` steps; return a :class:`lablib.train.History`.

    Explained in ``labs/05_pretraining.ipynb``. The first
    ``steps * batch_size`` sentences are encoded once (all of them, cycling,
    if the corpus is smaller) and served in batches grouped by length; each
    batch is masked afresh by a :class:`MaskingCollator` seeded with ``seed``. The loop is
    :func:`lablib.train.train` (AdamW, linear warm-up and decay, clipping).
    ``evaluate(model)`` runs every ``eval_every`` steps (which must divide
    ``steps``) and at the end. A progress bar (``tqdm.auto``; ``progress=False``
    turns it off) counts the steps under ``desc`` (by default the model's
    shape) and shows the latest evaluation; ``leave=False`` removes it when
    done, for loops over many models.

    Raises:
        ValueError: a model that is not a :class:`MaskedLM`, empty sentences,
            non-positive ``steps``/``batch_size``/``lr``, an ``eval_every``
            that does not divide ``steps``, or a non-bool ``progress``/``leave``.
    """
    from . import train

    where = "pretrain"
    if not isinstance(model, MaskedLM):
        raise ValueError(f"{where}: expected a MaskedLM, got {type(model).__name__}")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    _check_positive(lr, "lr", where)
    if not sentences:
        raise ValueError(f"{where}: sentences is empty")
    chunk = steps if eval_every is None else eval_every
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1 or steps % chunk:
        raise ValueError(f"{where}: eval_every must be a positive int that divides steps={steps}, got {eval_every!r}")
    used = sentences[:steps * batch_size]  # only what the steps will reach is encoded
    features = [{"input_ids": vocab.encode(s)[:model.config.max_position_embeddings]} for s in used]
    loader = train.make_loader(_stream(features, steps, batch_size), MaskingCollator(vocab, seed), batch_size,
                               seed=seed)
    config = model.config
    layers = config.num_hidden_layers
    desc = desc or f"pretraining (masked LM, width {config.hidden_size}, {layers} layer{'s' * (layers != 1)})"
    bar = _progress_bar(steps, progress, desc, leave, where)

    def evaluate_and_show(m):
        metrics = evaluate(m)
        if isinstance(metrics, Mapping):
            bar.set_postfix({k: f"{v:.3f}" for k, v in metrics.items() if isinstance(v, (int, float))})
        return metrics

    try:
        return train.train(model, _Counted(Chunks(loader, chunk), bar), epochs=steps // chunk, lr=lr,
                           warmup_ratio=warmup_ratio, evaluate=evaluate and evaluate_and_show, device=device,
                           progress=False, log_every=max(1, min(50, steps // 20)))
    finally:
        bar.close()


def masked_batches(vocab: Vocabulary, sentences: Sequence[Sequence[str]], *, batch_size: int = 256,
                   seed: int = 0) -> list:
    """Fixed, pre-masked evaluation batches: every model and every evaluation sees the same masks (lab 05)."""
    if not sentences:
        raise ValueError("masked_batches: sentences is empty")
    collator = MaskingCollator(vocab, seed)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))  # little padding
    features = [{"input_ids": vocab.encode(sentences[i])} for i in order]
    return [collator(features[i:i + batch_size]) for i in range(0, len(features), batch_size)]


@torch.no_grad()
def masked_lm_loss(model: MaskedLM, batches: Sequence[Mapping], device=None) -> float:
    """Mean cross-entropy over all masked positions of ``batches`` (a sum over tokens, not a mean of batch means)."""
    if not batches:
        raise ValueError("masked_lm_loss: no batches")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        output = model(**{k: v.to(device) for k, v in batch.items()})
        masked = int((batch["labels"] != IGNORE_INDEX).sum())
        total += float(output.loss) * masked
        count += masked
    model.train(was_training)
    if count == 0:
        raise ValueError("masked_lm_loss: the batches have no masked position")
    return total / count


@torch.no_grad()
def fill_in(model: MaskedLM, vocab: Vocabulary, text: str, k: int = 5) -> list:
    """The ``k`` most probable words for each ``[MASK]`` in ``text`` (words split by spaces), with probabilities.

    Returns one list of ``(word, probability)`` per ``[MASK]``, best first.

    Raises:
        ValueError: ``text`` has no ``[MASK]``.
    """
    tokens = text.split()
    if "[MASK]" not in tokens:
        raise ValueError(f"fill_in: the text needs at least one [MASK] token (separated by spaces), got {text!r}")
    device = next(model.parameters()).device
    ids = torch.tensor([vocab.encode(tokens)], device=device)
    was_training = model.training
    model.eval()
    logits = model(ids).logits[0]
    model.train(was_training)
    logits[:, :vocab.num_special] = float("-inf")  # a blank is a word, never a special token
    answers = []
    for position in (ids[0] == vocab.mask_id).nonzero().flatten().tolist():
        probs = torch.softmax(logits[position], dim=-1)
        top = probs.topk(k)
        answers.append([(vocab.itos[i], float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist())])
    return answers


def tagger_features(vocab: Vocabulary, sentences: Sequence, tags: Sequence[str] = TAGS) -> list:
    """NER features: ``[CLS] words [SEP]`` ids, one label per word, ``-100`` on ``[CLS]``/``[SEP]``."""
    index = {tag: i for i, tag in enumerate(tags)}
    features = []
    for number, (tokens, sentence_tags) in enumerate(sentences):
        if len(tokens) != len(sentence_tags):
            raise ValueError(f"tagger_features: sentence {number} has {len(tokens)} words but {len(sentence_tags)} tags")
        unknown = [t for t in sentence_tags if t not in index]
        if unknown:
            raise ValueError(f"tagger_features: sentence {number} has tag {unknown[0]!r}; allowed: {', '.join(tags)}")
        features.append({"input_ids": vocab.encode(tokens),
                         "labels": [IGNORE_INDEX] + [index[t] for t in sentence_tags] + [IGNORE_INDEX]})
    return features


def fine_tune_tagger(model: TokenTagger, vocab: Vocabulary, sentences: Sequence, *, steps: int,
                     batch_size: int = 16, lr: float = 1e-3, seed: int = 0, device=None, progress: bool = True,
                     desc: str | None = None, leave: bool = False):
    """Fine-tune a :class:`TokenTagger` on labelled sentences for exactly ``steps`` steps (labs 05 and 07).

    A fixed number of steps, not of epochs, so that 50 and 1,000 labelled
    sentences get the same compute and differ only in how much they show
    (the 50 are seen many times over). Returns the :class:`lablib.train.History`.
    A progress bar counts the steps under ``desc`` (by default the number of
    sentences); labs call this in loops, so by default it is removed when
    done (``leave=False``); ``progress=False`` turns it off.
    """
    from . import train

    if not isinstance(model, TokenTagger):
        raise ValueError(f"fine_tune_tagger: expected a TokenTagger, got {type(model).__name__}")
    if not sentences:
        raise ValueError("fine_tune_tagger: sentences is empty")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"fine_tune_tagger: {name} must be a positive int, got {value!r}")
    features = tagger_features(vocab, sentences)
    loader = train.make_loader(_stream(features, steps, batch_size), PaddingCollator(vocab), batch_size, seed=seed)
    desc = desc or f"fine-tuning an NER tagger on {len(sentences):,} labelled sentences"
    bar = _progress_bar(steps, progress, desc, leave, "fine_tune_tagger")
    try:
        return train.train(model, _Counted(loader, bar), epochs=1, lr=lr, device=device, progress=False)
    finally:
        bar.close()


@torch.no_grad()
def predict_tags(model: TokenTagger, vocab: Vocabulary, sentences: Sequence, batch_size: int = 256,
                 tags: Sequence[str] = TAGS) -> list:
    """One predicted tag per word of each sentence (sentences: word lists or ``(tokens, tags)`` pairs)."""
    device = next(model.parameters()).device
    words = [s.tokens if hasattr(s, "tokens") else list(s) for s in sentences]
    was_training = model.training
    model.eval()
    collator = PaddingCollator(vocab)
    predicted = []
    for start in range(0, len(words), batch_size):
        chunk = words[start:start + batch_size]
        batch = collator([{"input_ids": vocab.encode(w)} for w in chunk])
        best = model(**{k: v.to(device) for k, v in batch.items()}).logits.argmax(-1).cpu()
        predicted += [[tags[i] for i in best[row, 1:1 + len(w)].tolist()] for row, w in enumerate(chunk)]
    model.train(was_training)
    return predicted


# ----------------------------------------------------------------------------- the scaling fit


@dataclass
class PowerLawFit:
    """The fit of ``loss - irreducible = (n_c / n) ** alpha`` on log-log axes (:func:`fit_power_law`)."""

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
        import numpy as np

        return self.irreducible + (self.n_c / np.asarray(n, dtype=float)) ** self.alpha

    def __str__(self) -> str:
        return (f"alpha = {self.alpha:.4f} ({self.confidence:.0%} CI {self.alpha_low:.4f} to {self.alpha_high:.4f}), "
                f"N_c = {self.n_c:.3g}, R^2 = {self.r2:.4f}, {self.points} points"
                + (f", irreducible loss {self.irreducible:g}" if self.irreducible else ""))


def fit_power_law(n, loss, *, irreducible: float = 0.0, confidence: float = 0.95) -> PowerLawFit:
    """Fit Kaplan et al.'s ``L(N) = (N_c / N) ** alpha`` by least squares on log-log axes (lab 05).

    Taking logs, ``log(L - E) = alpha log N_c - alpha log N``: a straight
    line in ``log N`` with slope ``-alpha``, fitted by ordinary least squares
    (``E`` is ``irreducible``, 0 for the pure power law). The confidence
    interval is ``alpha +- t * SE``, where ``SE`` is the slope's standard error
    from the residuals (``k - 2`` degrees of freedom for ``k`` points) and
    ``t`` the Student-t quantile for ``confidence``: exact if the log-residuals
    are independent and normal, which a handful of training runs only
    approximates. ``R^2`` is measured on the log scale, where the fit is made.

    Raises:
        ValueError: fewer than 3 points, lengths that differ, non-positive or
            non-finite values, all ``n`` equal, ``loss <= irreducible``, or a
            ``confidence`` outside (0, 1).
    """
    import numpy as np
    from scipy import stats

    where = "fit_power_law"
    try:
        n = np.asarray(n, dtype=float)
        loss = np.asarray(loss, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: n and loss must be sequences of numbers, got {n!r:.60} and {loss!r:.60}") from None
    if n.ndim != 1 or loss.ndim != 1 or len(n) != len(loss):
        raise ValueError(f"{where}: n and loss must be 1-D and of equal length, got shapes {n.shape} and {loss.shape}")
    if len(n) < 3:
        raise ValueError(f"{where}: need at least 3 points for a line with a confidence interval, got {len(n)}")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(loss))) or np.any(n <= 0):
        raise ValueError(f"{where}: n must be positive and finite and loss finite, got n={n.tolist()}, loss={loss.tolist()}")
    if isinstance(irreducible, bool) or not isinstance(irreducible, (int, float)) or not math.isfinite(irreducible) or irreducible < 0:
        raise ValueError(f"{where}: irreducible must be a finite number >= 0, got {irreducible!r}")
    if np.any(loss <= irreducible):
        raise ValueError(f"{where}: every loss must exceed irreducible={irreducible}, got min loss {loss.min()}")
    if isinstance(confidence, bool) or not isinstance(confidence, float) or not 0 < confidence < 1:
        raise ValueError(f"{where}: confidence must be a float in (0, 1), got {confidence!r}")
    x, y = np.log(n), np.log(loss - irreducible)
    sxx = float(np.sum((x - x.mean()) ** 2))
    if sxx == 0:
        raise ValueError(f"{where}: all n are equal ({n[0]:g}); the slope needs at least two sizes")
    slope = float(np.sum((x - x.mean()) * (y - y.mean())) / sxx)
    intercept = float(y.mean() - slope * x.mean())
    residuals = y - (intercept + slope * x)
    ssr, sst = float(np.sum(residuals ** 2)), float(np.sum((y - y.mean()) ** 2))
    dof = len(x) - 2
    stderr = math.sqrt(ssr / dof / sxx)
    t = float(stats.t.ppf(0.5 + confidence / 2, dof))
    alpha = -slope
    return PowerLawFit(alpha=alpha, alpha_low=alpha - t * stderr, alpha_high=alpha + t * stderr,
                       n_c=math.exp(intercept / alpha) if alpha != 0 else float("nan"),
                       r2=1 - ssr / sst if sst > 0 else 1.0, stderr=stderr, confidence=confidence,
                       irreducible=float(irreducible), points=len(x))


# ----------------------------------------------------------------------------- the course's tiny encoder

#: The recipe of the course's own pretrained tiny encoder (small profile of lab 05).
TINY_RECIPE = {"hidden_size": 64, "num_layers": 2, "steps": 1500, "batch_size": 16, "lr": 2e-3}


class Pretrained(NamedTuple):
    """A pretrained model with what it needs: its vocabulary, training history and time."""

    model: MaskedLM
    vocab: Vocabulary
    history: object  # lablib.train.History
    seconds: float


_PRETRAINED: dict = {}


def tiny_pretrained(seed: int = 0, *, folder: str | os.PathLike | None = None, progress: bool = True,
                    **recipe) -> Pretrained:
    """The course's own pretrained tiny encoder, made reproducibly from ``seed`` (labs 05 and 07).

    Pretrains a :class:`MaskedLM` (:func:`tiny_config`) on the default corpus
    (:func:`load_corpus`, its training part) with :func:`pretrain`, following
    :data:`TINY_RECIPE`; keyword arguments override entries of the recipe.
    It takes about half a minute on one CPU thread. Within one Python process
    the result is kept, so a second call with the same arguments returns at
    once; every call returns a fresh copy of the model, so fine-tuning it
    never changes the kept one. On the same machine and torch version the
    same seed gives the same weights (GPU kernels may differ in the last bits).
    While it trains, a progress bar (``progress=False`` turns it off) says
    which seed; it is removed when done.

    Raises:
        ValueError: an unknown recipe entry (the message lists the known ones).
    """
    unknown = sorted(set(recipe) - set(TINY_RECIPE))
    if unknown:
        raise ValueError(f"tiny_pretrained: unknown recipe entries {unknown}; known: {sorted(TINY_RECIPE)}")
    settings = {**TINY_RECIPE, **recipe}
    key = (_check_seed(seed, "tiny_pretrained"), tuple(sorted(settings.items())))
    if key not in _PRETRAINED:
        start = time.perf_counter()
        train_sentences, _ = split_corpus(load_corpus(folder=folder))
        vocab = Vocabulary.build(train_sentences)
        model = MaskedLM(tiny_config(len(vocab), settings["hidden_size"], settings["num_layers"]), seed=seed)
        history = pretrain(model, vocab, train_sentences, steps=settings["steps"],
                           batch_size=settings["batch_size"], lr=settings["lr"], seed=seed, progress=progress,
                           desc=f"pretraining the course's tiny encoder (seed {seed})", leave=False)
        _PRETRAINED[key] = Pretrained(model.cpu().eval(), vocab, history, time.perf_counter() - start)
    kept = _PRETRAINED[key]
    return Pretrained(copy.deepcopy(kept.model), kept.vocab, kept.history, kept.seconds)
