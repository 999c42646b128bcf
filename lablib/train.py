"""The course's training loop and its inference (lab 03, "The training loop"; labs 04-07); batches: lablib.batches."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import torch

from . import checks as C
from . import env, plot
from .batches import make_loader  # noqa: F401  (train.make_loader, as the labs call it)


def _device(device) -> torch.device:
    return torch.device(device) if device is not None else env.device()


def _parameter_groups(model: torch.nn.Module, weight_decay: float, head_lr: float | None = None) -> list:
    """AdamW groups: weight decay on matrices, none on biases and LayerNorm gains, as BERT did; with ``head_lr``,
    the parameters outside ``model.base_model`` (a new head) learn at that rate."""
    body = {id(p) for p in model.base_model.parameters()} if head_lr is not None else None
    groups = {}  # (in the head, decayed) -> parameters
    for parameter in model.parameters():
        if parameter.requires_grad:
            in_head = body is not None and id(parameter) not in body
            groups.setdefault((in_head, parameter.ndim >= 2), []).append(parameter)
    if not groups:
        raise ValueError("model has no trainable parameters (all requires_grad=False); nothing to optimize")
    return [{"params": groups[in_head, decay], "weight_decay": weight_decay if decay else 0.0,
             **({"lr": head_lr} if in_head else {})}
            for in_head in (False, True) for decay in (True, False) if (in_head, decay) in groups]


def _adamw(model: torch.nn.Module, lr: float, weight_decay: float, *, head_lr: float | None = None):
    """AdamW on :func:`_parameter_groups`; fused (one kernel for the whole update, about 5x faster on CPU) if it can."""
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in model.parameters())
    return torch.optim.AdamW(_parameter_groups(model, weight_decay, head_lr), lr=lr, fused=fused)


def _lr_factor(step: int, *, warmup_steps: int, total_steps: int, schedule: str = "linear") -> float:
    """The multiplier of the peak learning rate at ``step``: linear warm-up, then linear decay or constant."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    if schedule == "constant":
        return 1.0
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


class _Evaluation(NamedTuple):
    """One call of the ``evaluate`` callback: after which step, how long it took, what it returned."""

    step: int
    epoch: float
    seconds: float
    metrics: dict


@dataclass
class History:
    """What :func:`train` records (lab 03): ``step``, ``epoch``, ``loss``, ``lr`` per step; the evaluations."""

    step: list = field(default_factory=list)
    epoch: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    evaluations: list = field(default_factory=list)  # (step, epoch, seconds, metrics) per call of evaluate
    sentences: int = 0  # training examples seen
    tokens: int = 0  # real (non-padding) tokens seen
    positions: int = 0  # positions computed, padding included
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    total_seconds: float = 0.0
    device: str = "cpu"
    amp: str = "off"
    stopped_early: bool = False  # stop_when ended training before the planned steps

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
        return text + (" (stopped early)" if self.stopped_early else "")


def _fast_half_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on compute capability 8.0+ (Ampere and newer), else float16 (lab 03, "Mixed precision")."""
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 and torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16


def _amp_dtype(amp: Any, device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``, None for float32 (lab 03, "Mixed precision")."""
    device = torch.device(device)
    amp = "auto" if amp is True else "off" if amp is False or amp is None else amp
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"amp must be one of ('auto', 'bf16', 'fp16', 'off') (or True/False), got {amp!r}")
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    # bf16 on a CPU only when asked: fast on CPUs with bfloat16 instructions (lab 03's recipe)
    if device.type != "cuda" and not (device.type == "cpu" and amp == "bf16"):
        raise ValueError(f"amp={amp!r} needs a CUDA device (on CPU only 'bf16' is allowed); 'auto' trains "
                         "in float32 on CPU")
    return _fast_half_dtype(device) if amp == "auto" else torch.bfloat16 if amp == "bf16" else torch.float16


def predict(model: torch.nn.Module, batches, *, device=None, amp: str | bool = "auto", progress: bool = True,
            desc: str = "predicting", total: int | None = None, output: Callable | None = None) -> list:
    """``model(**batch)`` (or ``output(model, batch)``) for each batch, no gradients, eval mode (lab 03)."""
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    dtype = _amp_dtype(amp, device)
    was_training = model.training
    model.to(device).eval()
    outputs = []
    try:
        with torch.no_grad():
            for index, batch in enumerate(tqdm(batches, desc=desc, unit="batch", total=total, disable=not progress)):
                if not isinstance(batch, Mapping):
                    raise TypeError(f"predict: batch {index} must be a mapping of tensors, got {type(batch).__name__}")
                batch = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                         for k, v in batch.items()}
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    result = output(model, batch) if output is not None else model(**batch)
                if not isinstance(result, torch.Tensor):
                    result = result.logits if hasattr(result, "logits") else result[0]
                outputs.append(result.float().cpu())
    finally:
        model.train(was_training)
    return outputs


def _default_loss(model, batch):
    loss = getattr(model(**batch), "loss", None)
    if loss is None:
        raise ValueError(f"train: the model returned no loss; the batches need 'labels' ({sorted(batch)} given)")
    return loss


def train(model: torch.nn.Module, train_loader, *, epochs: int | None = None, steps: int | None = None,
          seconds: float | None = None, lr: float | None = None, weight_decay: float = 0.01,
          optimizer: torch.optim.Optimizer | None = None, schedule: str = "linear", warmup_ratio: float = 0.1,
          warmup_steps: int | None = None, max_grad_norm: float | None = 1.0, device=None, amp: str | bool = "auto",
          loss_fn: Callable | None = None, evaluate: Callable[[torch.nn.Module], Mapping] | None = None,
          eval_every: int | Iterable[int] | None = None, stop_when: Callable[["History"], bool] | None = None,
          log_every: int = 10, progress: bool = True, desc: str = "training", leave: bool = True) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``, ``steps`` steps or ``seconds``; a History (lab 03).

    With ``seconds`` it trains until that much time is spent; after warm-up the rate decays to zero with the time left.
    """
    from tqdm.auto import tqdm

    where = "train"
    if sum(x is not None for x in (epochs, steps, seconds)) != 1:
        raise ValueError(f"{where}: give exactly one of epochs=, steps= and seconds=, "
                         f"got epochs={epochs!r}, steps={steps!r}, seconds={seconds!r}")
    C.integer(log_every, "log_every", where)
    if not isinstance(progress, bool) or not isinstance(leave, bool):
        raise ValueError(f"{where}: progress must be True or False, got {progress!r}" if not isinstance(progress, bool)
                         else f"{where}: leave must be True or False, got {leave!r}")
    if not isinstance(desc, str) or not desc:
        raise ValueError(f"{where}: desc must be a non-empty string, got {desc!r}")
    C.one_of(schedule, ("linear", "constant"), "schedule", where)
    if optimizer is None:
        C.number(lr, "lr", where, low=0, low_open=True)
    C.number(weight_decay, "weight_decay", where, low=0)
    C.number(warmup_ratio, "warmup_ratio", where, low=0, high=1)
    if seconds is not None:
        seconds = C.number(seconds, "seconds", where, low=0, low_open=True)
    try:
        per_epoch = len(train_loader)
    except TypeError:
        per_epoch = None
        if epochs is not None:
            raise ValueError(f"{where}: train_loader must have a length for epochs= "
                             "(a DataLoader, or a list of batches)") from None
    if per_epoch == 0:
        raise ValueError(f"{where}: train_loader is empty; nothing to train on")
    total = (C.integer(epochs, "epochs", where) * per_epoch if epochs is not None
             else C.integer(steps, "steps", where) if steps is not None else None)  # None: until time runs out
    if eval_every is None or isinstance(eval_every, int):  # every n steps (by default each epoch) and at the end
        every = C.integer(eval_every, "eval_every", where) if eval_every is not None else per_epoch if epochs else 0

        def due(step: int) -> bool:  # evaluate after this step?
            return step > 0 and (step == total or bool(every) and step % every == 0)
    else:
        due = {C.integer(s, "eval_every step", where, low=0, high=total) for s in eval_every}.__contains__
    if warmup_steps is None and total is None:
        raise ValueError(f"{where}: with seconds= give warmup_steps= (warmup_ratio needs a known number of steps)")
    warmup = (round(warmup_ratio * total) if warmup_steps is None
              else C.integer(warmup_steps, "warmup_steps", where, low=0))

    device = _device(device)
    autocast_dtype = _amp_dtype(amp, device)
    model.to(device)
    if optimizer is None:
        optimizer = _adamw(model, lr, weight_decay)
    amp_name = {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[autocast_dtype]
    history = History(device=str(device), amp=amp_name)
    clock = {"start": time.perf_counter(), "warm": 0.0}  # start of the running stretch of training; end of warm-up

    def trained() -> float:  # training seconds so far
        return history.train_seconds + time.perf_counter() - clock["start"]

    def lr_factor(step: int) -> float:  # the schedule by steps; with seconds= the decay follows the time left
        if total is not None or step < warmup or schedule == "constant":
            return _lr_factor(step, warmup_steps=warmup, total_steps=total or 0, schedule=schedule)
        if step == warmup:
            clock["warm"] = trained()
        return max(0.0, (seconds - trained()) / max(1e-9, seconds - clock["warm"]))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    scaler = torch.amp.GradScaler("cuda", enabled=autocast_dtype == torch.float16)
    loss_fn = loss_fn or _default_loss
    bar = tqdm(total=total if total is not None else round(seconds), desc=desc, leave=leave,
               unit="step" if total is not None else "s", disable=not progress)
    pending = []  # (step, epoch, loss tensor, lr) not yet copied from the device: one copy per log_every steps
    step, epoch, began = 0, 0, time.perf_counter()

    def sync():  # wait for the GPU, so that timings are honest
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def flush():
        if pending:
            steps_, epochs_, losses, lrs = zip(*pending)
            history.step += steps_
            history.epoch += epochs_
            history.loss += torch.stack(losses).float().tolist()
            history.lr += lrs
            pending.clear()

    def pause():  # end a stretch of training: copy the losses, wait for the GPU, add up the time
        flush()
        sync()
        history.train_seconds += time.perf_counter() - clock["start"]

    def run_evaluation() -> bool:  # True: stop training
        if evaluate is None:
            return False
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            metrics = evaluate(model)
        sync()
        spent = time.perf_counter() - start
        if not isinstance(metrics, Mapping):
            raise ValueError(f"{where}: evaluate(model) must return a dict of metrics, got {metrics!r:.80}")
        history.evaluations.append(_Evaluation(step, step / per_epoch if per_epoch else epoch, spent, dict(metrics)))
        history.eval_seconds += spent
        bar.set_postfix({k: f"{v:.3f}" for k, v in metrics.items() if isinstance(v, (int, float))}, refresh=False)
        model.train()
        return stop_when is not None and bool(stop_when(history))

    try:
        stop, out_of_time = due(0) and run_evaluation(), False  # stop: stop_when said so
        while (total is None or step < total) and not (stop or out_of_time):
            model.train()
            sync()
            clock["start"], seen = time.perf_counter(), 0
            for batch in train_loader:
                seen += 1
                ids = batch.get("input_ids", next(iter(batch.values())))
                history.sentences += ids.shape[0]
                history.positions += ids.numel()
                mask = batch.get("attention_mask")
                history.tokens += int(mask.sum()) if mask is not None else ids.numel()
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    loss = loss_fn(model, batch)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if max_grad_norm is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                step += 1
                pending.append((step, step / per_epoch if per_epoch else epoch + 1, loss.detach(),
                                scheduler.get_last_lr()[0]))
                scheduler.step()
                elapsed = trained()
                bar.update(1 if total is not None else min(bar.total, int(elapsed)) - bar.n)
                if step % log_every == 0:
                    flush()
                    bar.set_postfix(loss=f"{history.loss[-1]:.4f}", refresh=False)
                out_of_time = seconds is not None and elapsed >= seconds
                if due(step) or out_of_time:
                    pause()
                    stop = run_evaluation()
                    clock["start"] = time.perf_counter()
                if stop or out_of_time or step == total:
                    break
            epoch += 1
            pause()
            if seen == 0:
                raise ValueError(f"{where}: train_loader gave no batch in pass {epoch} after {step} steps "
                                 "(a one-shot iterator? pass a list or a DataLoader)")
        history.stopped_early = step < total if total is not None else stop
        if history.stopped_early:
            bar.total = bar.n  # a planned stop, not an interruption (a notebook bar would turn red)
            bar.refresh()
    finally:
        bar.close()
    history.total_seconds = time.perf_counter() - began
    model.eval()
    return history


def smooth(values: Sequence[float], window: int) -> list:
    """Trailing moving average over ``window`` values, shorter at the start: a noisy loss curve (labs 03 and 05)."""
    C.integer(window, "window", "smooth")
    totals = np.cumsum(np.asarray(values, dtype=float))
    sums = totals.copy()
    sums[window:] -= totals[:-window]  # the sum of the last ``window`` values
    return (sums / np.minimum(np.arange(1, len(sums) + 1), window)).tolist()


def plot_history(history: History, ax=None):
    """The training loss per step (raw and smoothed) and the evaluations on a second axis (lab 03)."""
    C.instance(history, History, "history", "plot_history")
    if ax is None:
        _fig, ax = plot.figure()
    if history.loss:
        window = max(1, len(history.loss) // 20)
        ax.plot(history.step, history.loss, color=plot.PALETTE[0], alpha=0.25, linewidth=1)
        ax.plot(history.step, smooth(history.loss, window), color=plot.PALETTE[0],
                label=f"training loss (mean of {window})" if window > 1 else "training loss")
    ax.set(xlabel="step", ylabel="loss")
    handles, labels = ax.get_legend_handles_labels()

    names = [name for name, value in (history.evaluations[0].metrics.items() if history.evaluations else ())
             if isinstance(value, (int, float)) and not isinstance(value, bool)]
    if names:
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


def trainer_arguments(*, epochs: int, batch_size: int, lr: float, warmup_steps: int = 0, device=None, seed: int = 0,
                      **extra: Any):
    """``TrainingArguments`` for the ``Trainer`` path of labs 03 and 04, the recipe of :func:`train`.

    ``extra`` goes to ``TrainingArguments``; the default ``output_dir`` is one folder per user in the temporary
    directory, reused by every call (``save_strategy="no"``), so that no call leaves a new folder behind.
    """
    import dataclasses
    import os
    import tempfile

    from transformers import TrainingArguments

    C.integer(epochs, "epochs", "trainer_arguments")
    C.integer(batch_size, "batch_size", "trainer_arguments")
    device = _device(device)
    on_gpu = device.type == "cuda"
    bf16 = on_gpu and _fast_half_dtype(device) == torch.bfloat16
    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    grouping = ({"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in known
                else {"group_by_length": True})
    user = os.getuid() if hasattr(os, "getuid") else "user"  # without getuid (Windows) the temp dir is per user
    settings = dict(output_dir=os.path.join(tempfile.gettempdir(), f"lablib-trainer-{user}"), num_train_epochs=epochs,
                    per_device_train_batch_size=batch_size, per_device_eval_batch_size=64, learning_rate=lr,
                    weight_decay=0.01, lr_scheduler_type="linear", warmup_steps=warmup_steps, save_strategy="no",
                    bf16=bf16, fp16=on_gpu and not bf16, use_cpu=not on_gpu, report_to="none", seed=seed)
    settings.update(grouping, **extra)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"trainer_arguments: this transformers version has no TrainingArguments field(s) {unknown}")
    return TrainingArguments(**settings)
