"""A plain PyTorch training loop: dynamic padding, length-grouped batches, AMP on GPU, history.

Explained in ``labs/03_ner_finetuning.ipynb`` ("Batches that waste nothing" and
"The training loop"), and reused by the later fine-tuning labs. Everything the
loop does is visible in :func:`train`: no ``Trainer`` class hides the
optimizer, the schedule, the clipping or the mixed precision.

Two ideas make fine-tuning several times faster than padding every sentence to
a fixed 128 tokens, without changing what is learned:

* **dynamic padding** -- a batch is padded only to its own longest sequence
  (the collator does this, e.g. ``DataCollatorForTokenClassification``);
* **length grouping** -- sentences of similar length share a batch, so that
  the longest in the batch is not much longer than the rest
  (:func:`length_grouped_batches`). Randomness is kept: mega-batches are drawn
  at random and the order of batches is shuffled.
"""
from __future__ import annotations

import math
import operator
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

#: Keys any collator of this course can pad; others (e.g. ``word_ids``) are dropped.
PADDABLE_KEYS = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask", "labels", "label")
AMP_CHOICES = ("auto", "bf16", "fp16", "off")


def _positive_int(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return value


# --------------------------------------------------------------------------- batching


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, *, seed: int = 0, mega_batch_factor: int = 50
) -> list:
    """Split ``range(len(lengths))`` into batches of similar length, in random order.

    The recipe of ``labs/03_ner_finetuning.ipynb`` (also the ``group_by_length``
    option of Hugging Face's Trainer):

    1. shuffle all indices;
    2. cut them into mega-batches of ``batch_size * mega_batch_factor``;
    3. sort each mega-batch by length, longest first, and cut it into batches;
    4. shuffle the order of the batches, then move the batch holding the
       longest sequence to the front, so that running out of memory happens
       at the first step rather than an hour in.

    Every index appears exactly once; only one batch (the tail of the last
    mega-batch) may be smaller than ``batch_size``. The result depends only on the inputs
    and ``seed`` (a private ``random.Random(seed)``; global random state is
    neither read nor changed).

    Returns:
        A list of batches, each a list of indices into ``lengths``.

    Raises:
        ValueError: ``lengths`` is empty or holds a negative or non-integer
            length; ``batch_size`` or ``mega_batch_factor`` is not a positive int.
    """
    where = "length_grouped_batches"
    _positive_int(batch_size, "batch_size", where)
    _positive_int(mega_batch_factor, "mega_batch_factor", where)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{where}: seed must be an int, got {seed!r}")
    try:
        lengths = [operator.index(n) for n in lengths]
    except TypeError:
        raise ValueError(f"{where}: lengths must be a sequence of ints (tokens per example), got {lengths!r:.80}") from None
    if not lengths:
        raise ValueError(f"{where}: lengths is empty; need the length of at least one example")
    negative = [n for n in lengths if n < 0]
    if negative:
        raise ValueError(f"{where}: lengths must be >= 0, got {negative[0]}")

    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch_size * mega_batch_factor
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start:start + mega], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
    batches[0], batches[longest] = batches[longest], batches[0]
    return batches


class BatchOrder:
    """The batch sampler behind :func:`make_loader`: which indices form each batch.

    Every pass (epoch) draws a new order from ``seed + epoch``, so epochs differ
    from each other but a rerun with the same seed repeats them exactly.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool, group_by_length: bool, seed: int):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.seed = seed
        self.epoch = 0

    def batches(self, epoch: int) -> list:
        """The batches of pass number ``epoch`` (0-based)."""
        n, size = len(self.lengths), self.batch_size
        if not self.shuffle:
            return [list(range(i, min(i + size, n))) for i in range(0, n, size)]
        if self.group_by_length:
            return length_grouped_batches(self.lengths, size, seed=self.seed + epoch)
        order = list(range(n))
        random.Random(self.seed + epoch).shuffle(order)
        return [order[i:i + size] for i in range(0, n, size)]

    def __iter__(self):
        batches = self.batches(self.epoch)
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


class PaddableOnly:
    """Wrap a collator so that it only sees the keys it can pad (drops e.g. ``word_ids``)."""

    def __init__(self, collator: Callable, keep: Sequence[str]):
        self.collator = collator
        self.keep = frozenset(keep)

    def __call__(self, features: list):
        return self.collator([{k: v for k, v in f.items() if k in self.keep} for f in features])


def make_loader(
    features: Sequence[Mapping],
    collator: Callable,
    batch_size: int,
    *,
    shuffle: bool = True,
    group_by_length: bool = True,
    seed: int = 0,
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` of collated batches, padded per batch by ``collator`` (lab 03).

    ``features`` are tokenized examples: mappings with ``input_ids`` (a list of
    token ids) and usually ``attention_mask``, ``labels`` and ``token_type_ids``.
    Keys the collator cannot pad -- such as the ``word_ids`` kept for decoding
    predictions back to words -- are dropped before collating; the paddable
    keys are :data:`PADDABLE_KEYS` plus the tokenizer's ``model_input_names``.

    Order of the batches:

    * ``shuffle=True, group_by_length=True`` (training, the lab's recipe):
      :func:`length_grouped_batches`, a new order each epoch;
    * ``shuffle=True, group_by_length=False``: random batches (the source
      articles' recipe);
    * ``shuffle=False`` (evaluation): consecutive batches in input order, so
      that predictions line up with the examples; ``group_by_length`` only
      affects the order of training batches.

    The index lists are available as ``loader.batch_sampler.batches(epoch)``.

    Raises:
        ValueError: empty ``features``, a feature without ``input_ids``, or a
            ``batch_size`` that is not a positive int.
    """
    where = "make_loader"
    _positive_int(batch_size, "batch_size", where)
    if not callable(collator):
        raise ValueError(f"{where}: collator must be callable (e.g. DataCollatorForTokenClassification(tokenizer)), got {collator!r}")
    if len(features) == 0:
        raise ValueError(f"{where}: features is empty; need at least one tokenized example")
    lengths = []
    for index in range(len(features)):
        feature = features[index]
        if not isinstance(feature, Mapping) or "input_ids" not in feature:
            raise ValueError(f"{where}: features[{index}] must be a mapping with 'input_ids', got {feature!r:.80}")
        lengths.append(len(feature["input_ids"]))
    tokenizer = getattr(collator, "tokenizer", None)
    keep = set(PADDABLE_KEYS) | set(getattr(tokenizer, "model_input_names", ()))
    order = BatchOrder(lengths, batch_size, shuffle=shuffle, group_by_length=group_by_length, seed=seed)
    return torch.utils.data.DataLoader(features, batch_sampler=order, collate_fn=PaddableOnly(collator, keep))


# --------------------------------------------------------------------------- optimizer and schedule


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list:
    """AdamW parameter groups: weight decay on matrices, none on biases and LayerNorm (lab 03).

    Decaying a bias or a LayerNorm gain towards zero only constrains the
    model's offsets and scales, not its capacity, so -- as in BERT's original
    recipe -- every one-dimensional parameter is left undecayed. Frozen
    parameters (``requires_grad=False``) are left out.
    """
    decay, no_decay = [], []
    for _name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    if not decay and not no_decay:
        raise ValueError("parameter_groups: the model has no trainable parameters (all requires_grad=False)")
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_factor(step: int, *, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at ``step``: linear warm-up, then linear decay to 0.

    The same curve as ``transformers.get_linear_schedule_with_warmup``:
    ``step / warmup_steps`` while warming up, then falling linearly to 0 at
    ``total_steps``.
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


# --------------------------------------------------------------------------- training


@dataclass
class Evaluation:
    """One call of the ``evaluate`` callback: after which step, how long it took, what it returned."""

    step: int
    epoch: float
    seconds: float
    metrics: dict


@dataclass
class History:
    """What :func:`train` records, for plots (:func:`plot_history`) and for the text.

    ``step``, ``epoch``, ``loss`` and ``lr`` have one entry per optimizer step:
    the step number (1-based), the epoch as a fraction (1.0 = end of the first
    epoch), the training loss of that batch and the learning rate it used.
    """

    step: list = field(default_factory=list)
    epoch: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    evaluations: list = field(default_factory=list)
    sentences: int = 0  # training examples seen
    tokens: int = 0  # real (non-padding) tokens seen
    positions: int = 0  # positions computed, padding included
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    total_seconds: float = 0.0
    device: str = "cpu"
    amp: str = "off"
    stopped_early: bool = False  # max_seconds ran out before the last epoch ended

    @property
    def sentences_per_second(self) -> float:
        """Training throughput: examples per second of training time (evaluation excluded)."""
        return self.sentences / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def padding_fraction(self) -> float:
        """Share of computed positions that were padding (0 = no waste)."""
        return 1 - self.tokens / self.positions if self.positions else 0.0

    def summary(self) -> str:
        """One line: steps, final loss, throughput, padding, time, device."""
        last = f"{self.loss[-1]:.4f}" if self.loss else "n/a"
        text = (f"{len(self.step)} steps, last loss {last}, {self.sentences_per_second:.1f} sentences/s, "
                f"{self.padding_fraction:.0%} padding, training {self.train_seconds:.2f} s, "
                f"evaluation {self.eval_seconds:.2f} s, device {self.device}, AMP {self.amp}")
        return text + (" (stopped early: max_seconds)" if self.stopped_early else "")


def fast_half_dtype(device: torch.device) -> torch.dtype:
    """The half-precision dtype that is fast on this CUDA GPU: bfloat16 or float16 (lab 03, "Mixed precision").

    bfloat16 only on compute capability 8.0 or newer (Ampere: A100, L4, H100,
    RTX 30xx), which have bfloat16 tensor cores. Older GPUs such as Colab's
    T4 (7.5) report ``torch.cuda.is_bf16_supported()`` as True because
    PyTorch emulates bfloat16 there, but the emulation is several times
    slower than float16 on their tensor cores, so they get float16 (with a
    ``GradScaler`` in :func:`train`).
    """
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 and torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16


def amp_dtype(amp: Any, device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``, or None for full float32 (lab 03, "Mixed precision").

    ``amp`` is ``"auto"`` (or True): :func:`fast_half_dtype` on a CUDA
    device, float32 elsewhere; ``"bf16"``/``"fp16"`` force one (CUDA only);
    ``"off"`` (or False/None) is float32. Used by :func:`train`,
    :func:`trainer_arguments` and the labs' batched inference.
    """
    device = torch.device(device)
    if amp is True:
        amp = "auto"
    if amp is False or amp is None:
        amp = "off"
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {AMP_CHOICES} (or True/False), got {amp!r}")
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if device.type != "cuda":
        raise ValueError(f"amp={amp!r} needs a CUDA device; this course trains in float32 on CPU (use amp='auto' or 'off')")
    if amp == "auto":
        return fast_half_dtype(device)
    return torch.bfloat16 if amp == "bf16" else torch.float16


def train(
    model: torch.nn.Module,
    train_loader,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.01,
    warmup_ratio: float = 0.1,
    max_grad_norm: float | None = 1.0,
    device=None,
    amp: str | bool = "auto",
    evaluate: Callable[[torch.nn.Module], Mapping] | None = None,
    log_every: int = 10,
    progress: bool = True,
    max_seconds: float | None = None,
) -> History:
    """Fine-tune ``model`` on ``train_loader``; return a :class:`History` (lab 03).

    Each step: move the batch to ``device``, ``loss = model(**batch).loss``
    (a Hugging Face model computes softmax cross-entropy over the tags, ignoring
    label -100), backpropagate, clip the gradient norm to ``max_grad_norm``,
    take an AdamW step (weight decay on matrices only, see
    :func:`parameter_groups`) and advance the learning rate schedule (linear
    warm-up over ``warmup_ratio`` of all steps, then linear decay to 0, see
    :func:`lr_factor`).

    Mixed precision (``amp``): on a CUDA GPU, ``"auto"`` runs the forward pass
    in bfloat16 where the GPU supports it and otherwise in float16 with a
    ``GradScaler`` (which prevents small float16 gradients from underflowing);
    ``"bf16"``/``"fp16"`` force one, ``"off"`` disables it. On CPU there is no
    AMP: training runs in float32 (``"auto"`` means off; asking for bf16 or
    fp16 on CPU raises ``ValueError``).

    ``evaluate(model)`` is called at the end of every epoch -- and once more if
    ``max_seconds`` stops training mid-epoch -- with the model in eval mode and
    gradients off; it returns a dict of metrics, recorded with its own timing
    (evaluation time never counts as training time). ``max_seconds`` stops
    training once that much training time has passed (benchmarks and
    time-boxed labs use it); the learning-rate schedule is still the one
    planned for all ``epochs``.

    The loss is copied from the device every ``log_every`` steps (not every
    step, which would stall a GPU), and the progress bar then shows it.

    Returns:
        The :class:`History`; ``model`` is left on ``device`` in eval mode.

    Raises:
        ValueError: a non-positive ``epochs``, ``lr`` or ``log_every``, a
            negative ``weight_decay``, ``warmup_ratio`` outside [0, 1], an
            unknown ``amp``, an empty loader, or a model output without a loss.
    """
    from tqdm.auto import tqdm

    where = "train"
    _positive_int(epochs, "epochs", where)
    _positive_int(log_every, "log_every", where)
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"{where}: lr must be a positive number, got {lr!r}")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(f"{where}: weight_decay must be >= 0, got {weight_decay!r}")
    if not (isinstance(warmup_ratio, (int, float)) and 0 <= warmup_ratio <= 1):
        raise ValueError(f"{where}: warmup_ratio must be in [0, 1], got {warmup_ratio!r}")
    if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and max_seconds >= 0):
        raise ValueError(f"{where}: max_seconds must be None or >= 0, got {max_seconds!r}")
    try:
        steps_per_epoch = len(train_loader)
    except TypeError:
        raise ValueError(f"{where}: train_loader must have a length (a DataLoader, or a list of batches)") from None
    if steps_per_epoch == 0:
        raise ValueError(f"{where}: train_loader is empty; nothing to train on")

    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    autocast_dtype = amp_dtype(amp, device)
    model.to(device)
    # fused=True: one kernel for the whole update, about 5x faster than the per-tensor loop on CPU
    fused = device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in model.parameters())
    optimizer = torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr, fused=fused)
    total_steps = epochs * steps_per_epoch
    warmup_steps = round(warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup_steps=warmup_steps, total_steps=total_steps))
    scaler = torch.amp.GradScaler("cuda", enabled=autocast_dtype == torch.float16)
    history = History(device=str(device), amp={None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[autocast_dtype])

    def sync():  # wait for the GPU, so that timings are honest
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    pending = []  # (step, epoch, loss tensor, lr) not yet copied from the device

    def flush():  # one copy from the device for all pending losses
        if pending:
            steps_, epochs_, losses, lrs = zip(*pending)
            history.step += steps_
            history.epoch += epochs_
            history.loss += torch.stack(losses).float().tolist()
            history.lr += lrs
            pending.clear()

    def run_evaluation(epoch_: float):
        if evaluate is None:
            return
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            metrics = evaluate(model)
        sync()
        seconds = time.perf_counter() - start
        if not isinstance(metrics, Mapping):
            raise ValueError(f"{where}: evaluate(model) must return a dict of metrics, got {metrics!r:.80}")
        history.evaluations.append(Evaluation(step, epoch_, seconds, dict(metrics)))
        history.eval_seconds += seconds
        model.train()

    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not progress)
    began = time.perf_counter()
    step = 0
    for epoch in range(epochs):
        model.train()
        sync()
        start = time.perf_counter()
        for batch in train_loader:
            history.sentences += batch["input_ids"].shape[0]
            history.positions += batch["input_ids"].numel()
            mask = batch.get("attention_mask")
            history.tokens += int(mask.sum()) if mask is not None else batch["input_ids"].numel()
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}

            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                output = model(**batch)
            loss = getattr(output, "loss", None)
            if loss is None:
                raise ValueError(f"{where}: the model returned no loss; the batches need 'labels' ({sorted(batch)} given)")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if max_grad_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            pending.append((step, step / steps_per_epoch, loss.detach(), scheduler.get_last_lr()[0]))
            scheduler.step()

            bar.update(1)
            if step % log_every == 0:
                flush()
                bar.set_postfix(loss=f"{history.loss[-1]:.4f}", epoch=epoch + 1)
            if max_seconds is not None and history.train_seconds + time.perf_counter() - start >= max_seconds:
                history.stopped_early = step < total_steps
                break
        flush()
        sync()
        history.train_seconds += time.perf_counter() - start
        run_evaluation(step / steps_per_epoch)
        if history.stopped_early:
            break
    bar.close()
    history.total_seconds = time.perf_counter() - began
    model.eval()
    return history


# --------------------------------------------------------------------------- plotting


def smooth(values: Sequence[float], window: int) -> list:
    """Trailing moving average over ``window`` values (shorter at the start)."""
    _positive_int(window, "window", "smooth")
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_history(history: History, ax=None, *, metrics: Sequence[str] | None = None, window: int | None = None):
    """Plot the training loss per step (raw and smoothed) and the evaluations (lab 03).

    Each evaluation metric (every numeric value of the ``evaluate`` dicts, or
    only those named in ``metrics``) is drawn as markers on a second y axis at
    the step where it was measured. ``window`` is the smoothing window in
    steps (default: about a twentieth of the run). Returns the loss axes.
    """
    from . import plot

    if not isinstance(history, History):
        raise ValueError(f"plot_history: expected a lablib.train.History, got {type(history).__name__}")
    if ax is None:
        _fig, ax = plot.figure()
    else:
        plot.use_style()
    if history.loss:
        window = window or max(1, len(history.loss) // 20)
        ax.plot(history.step, history.loss, color=plot.PALETTE[0], alpha=0.25, linewidth=1)
        ax.plot(history.step, smooth(history.loss, window), color=plot.PALETTE[0],
                label=f"training loss (mean of {window})" if window > 1 else "training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()

    names = list(metrics) if metrics is not None else [
        name for name, value in (history.evaluations[0].metrics.items() if history.evaluations else ())
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    if names and history.evaluations:
        right = ax.twinx()
        for colour, name in zip(plot.PALETTE[1:], names):
            points = [(e.step, e.metrics[name]) for e in history.evaluations if name in e.metrics]
            if points:
                right.plot(*zip(*points), marker="o", linestyle="--", linewidth=1, color=colour, label=name)
        right.set_ylabel("evaluation")
        right.grid(False)
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if handles:
        ax.legend(handles, labels, loc="upper center")  # loss falls from the top left, metrics rise at the right
    ax.set_title("Training history")
    return ax


# --------------------------------------------------------------------------- the Hugging Face Trainer


def trainer_arguments(
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    warmup_steps: int = 0,
    device=None,
    group_by_length: bool = True,
    seed: int = 0,
    output_dir: str | None = None,
    **extra: Any,
):
    """``TrainingArguments`` for the ``Trainer`` path of labs 03 and 04, the same recipe as :func:`train`.

    Linear schedule with ``warmup_steps``, weight decay 0.01, no checkpoints
    saved, no logging service; mixed precision on a CUDA ``device`` (bfloat16
    on compute capability 8.0 or newer, else float16: :func:`fast_half_dtype`) and the CPU otherwise. Length-grouped
    batches are asked for by the name this transformers version uses
    (``train_sampling_strategy="group_by_length"`` in recent 5.x releases,
    ``group_by_length=True`` in earlier ones). ``extra`` is passed on
    (e.g. ``eval_strategy="epoch"``, ``logging_steps=10``) and overrides the defaults.
    """
    import dataclasses
    import tempfile

    from transformers import TrainingArguments

    _positive_int(epochs, "epochs", "trainer_arguments")
    _positive_int(batch_size, "batch_size", "trainer_arguments")
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = device.type == "cuda"
    bf16 = on_gpu and fast_half_dtype(device) == torch.bfloat16
    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    grouping = {}
    if group_by_length:
        grouping = ({"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in known
                    else {"group_by_length": True})
    settings = dict(
        output_dir=output_dir or tempfile.mkdtemp(prefix="lablib-trainer-"),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=64,
        learning_rate=lr,
        weight_decay=0.01,
        lr_scheduler_type="linear",
        warmup_steps=warmup_steps,
        save_strategy="no",
        bf16=bf16,
        fp16=on_gpu and not bf16,
        use_cpu=not on_gpu,
        report_to="none",
        seed=seed,
        **grouping,
    )
    settings.update(extra)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"trainer_arguments: this transformers version has no TrainingArguments field(s) {unknown}")
    return TrainingArguments(**settings)
