"""Emergence in small: tasks, models, a training loop and metrics for grokking and the "mirage".

Explained in the chapter "Emergence" (``book/emergence.md``) and used in
``labs/06_emergence.ipynb``. The module reads top to bottom like the lab:

1. **Tasks.** Modular addition ``a + b mod p`` over the whole ``p x p`` table,
   split into train and test pairs by a seed (:func:`modular_addition_split`);
   multi-digit addition problems with their digit encodings
   (:func:`digit_addition_problems`, :func:`digit_addition_split`).
2. **Models.** :class:`GrokkingMLP` (two learned embeddings -> ReLU -> ``p``
   logits; the ``small`` profile's grokking model), :class:`GrokkingTransformer`
   (one causal Transformer layer in the setting of Nanda et al. 2023, built
   from :mod:`lablib.transformer`'s attention; the ``full`` profile's model),
   :class:`DigitMLP` (the models of increasing width for the mirage).
3. **Training.** :func:`train_grokking`, full-batch AdamW that records train
   and test accuracy and loss, the weight norm and the Fourier-power share of
   the embeddings at logged steps; :func:`train_digit_adder`, minibatch Adam
   for the digit-addition models.
4. **Metrics.** :func:`exact_match`, :func:`per_token_accuracy`,
   :func:`answer_log_likelihood` (three scores of the same predictions),
   :func:`fourier_power_share` (a progress measure of grokking) and
   Schaeffer et al.'s analytic curve :func:`scaled_token_accuracy`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from .transformer import MultiHeadAttention, causal_mask


# ---------------------------------------------------------------- validation
def _check_int(name: str, value, low: int, high: int | None = None, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={value!r}: expected an int{what}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}={value}: expected an int {bound}{what}")
    return value


def _check_fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name}={value!r}: expected a number strictly between 0 and 1")
    return float(value)


# ===================================================================== tasks
@dataclass
class ModularSplit:
    """The ``p x p`` table of ``a + b mod p`` split into train and test pairs (lab 06, part 1).

    ``train_x``/``test_x`` are (n, 2) long tensors of ``(a, b)``; ``train_y``/
    ``test_y`` the answers ``(a + b) % p``. ``train_index``/``test_index`` are
    the positions ``a * p + b`` of the pairs in the full table.
    """

    p: int
    train_fraction: float
    seed: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_index: torch.Tensor
    test_index: torch.Tensor


def modular_addition_table(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``p**2`` pairs ``(a, b)`` with ``0 <= a, b < p`` and their answers ``(a + b) mod p``.

    Row ``a * p + b`` holds the pair ``(a, b)``. The task of grokking
    (chapter "Emergence", lab 06): ``p`` need not be prime, but the lab's
    values (59, 113) are.
    """
    _check_int("p", p, 2, what=" (the modulus)")
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    return torch.stack([a, b], dim=1), (a + b) % p


def modular_addition_split(p: int, train_fraction: float, seed: int) -> ModularSplit:
    """Split the whole ``p x p`` table of ``a + b mod p`` into train and test pairs.

    ``round(train_fraction * p**2)`` pairs, drawn by a permutation seeded with
    ``seed``, go to training; every other pair goes to test. So the two sets do
    not overlap, together they cover the table exactly once, and the same
    ``(p, train_fraction, seed)`` gives the same split on every machine
    (``torch.Generator`` on the CPU). Used in lab 06 (grokking).
    """
    _check_int("p", p, 2, what=" (the modulus)")
    fraction = _check_fraction("train_fraction", train_fraction)
    _check_int("seed", seed, 0)
    x, y = modular_addition_table(p)
    n_train = round(fraction * p * p)
    if not 0 < n_train < p * p:
        raise ValueError(
            f"train_fraction={train_fraction} of p*p={p * p} pairs gives {n_train} training pairs; "
            "expected at least one training and one test pair"
        )
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(p * p, generator=generator)
    train_index, test_index = order[:n_train].sort().values, order[n_train:].sort().values
    return ModularSplit(p, fraction, seed, x[train_index], y[train_index], x[test_index], y[test_index],
                        train_index, test_index)


def to_digits(numbers: torch.Tensor, n_digits: int) -> torch.Tensor:
    """Write non-negative integers as ``n_digits`` decimal digits, most significant first.

    ``numbers`` of shape (N,) -> long tensor (N, n_digits); raises if a number
    needs more digits. The encoding of the mirage's addition problems (lab 06).
    """
    _check_int("n_digits", n_digits, 1)
    numbers = torch.as_tensor(numbers)
    if numbers.dtype.is_floating_point or numbers.dim() != 1:
        raise ValueError(f"to_digits: expected a 1-d integer tensor, got dtype {numbers.dtype}, shape {tuple(numbers.shape)}")
    if numbers.numel() and (numbers.min() < 0 or numbers.max() >= 10**n_digits):
        raise ValueError(
            f"to_digits: numbers must lie in [0, {10**n_digits - 1}] for n_digits={n_digits}, "
            f"got min {numbers.min().item()}, max {numbers.max().item()}"
        )
    powers = 10 ** torch.arange(n_digits - 1, -1, -1)
    return (numbers.long()[:, None] // powers) % 10


def from_digits(digits: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`to_digits`: (N, L) digits, most significant first -> (N,) integers."""
    digits = torch.as_tensor(digits)
    if digits.dim() != 2 or digits.dtype.is_floating_point:
        raise ValueError(f"from_digits: expected a 2-d integer tensor (N, L), got dtype {digits.dtype}, shape {tuple(digits.shape)}")
    if digits.numel() and (digits.min() < 0 or digits.max() > 9):
        raise ValueError("from_digits: every digit must lie in 0..9")
    powers = 10 ** torch.arange(digits.shape[1] - 1, -1, -1)
    return (digits.long() * powers).sum(dim=1)


def digit_addition_problems(n_digits: int, n_problems: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_problems`` random problems ``a + b`` with ``a, b`` uniform in ``[0, 10**n_digits)``.

    Returns ``(inputs, answers)``: inputs (N, 2 * n_digits) are the digits of
    ``a`` then of ``b``, most significant first; answers (N, n_digits + 1) are
    the digits of ``a + b`` (the first is the carry out, 0 or 1). The same seed
    gives the same problems. The mirage's task (chapter "Emergence", lab 06);
    use different seeds for training and test problems.
    """
    _check_int("n_digits", n_digits, 1, 9)
    _check_int("n_problems", n_problems, 1)
    _check_int("seed", seed, 0)
    generator = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 10**n_digits, (n_problems,), generator=generator)
    b = torch.randint(0, 10**n_digits, (n_problems,), generator=generator)
    inputs = torch.cat([to_digits(a, n_digits), to_digits(b, n_digits)], dim=1)
    return inputs, to_digits(a + b, n_digits + 1)


def digit_addition_split(n_digits: int, n_train: int, n_test: int, seed: int) -> dict:
    """Training and test problems for the mirage (lab 06), with no test problem seen in training.

    Draws ``n_train`` problems with ``seed`` and ``n_test`` with ``seed + 1``
    (:func:`digit_addition_problems`), then drops every test problem whose
    ``(a, b)`` also occurs in training, so the test set measures addition, not
    recall. Returns a dict with ``train_x``, ``train_y``, ``test_x``,
    ``test_y`` and ``dropped`` (how many test problems were removed).
    """
    _check_int("n_train", n_train, 1)
    _check_int("n_test", n_test, 1)
    _check_int("seed", seed, 0)
    train_x, train_y = digit_addition_problems(n_digits, n_train, seed)
    test_x, test_y = digit_addition_problems(n_digits, n_test, seed + 1)
    seen = {tuple(row) for row in train_x.tolist()}
    keep = torch.tensor([tuple(row) not in seen for row in test_x.tolist()])
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x[keep], "test_y": test_y[keep],
            "dropped": int((~keep).sum())}


# ==================================================================== models
class GrokkingMLP(nn.Module):
    """Two learned embeddings, concatenated -> one ReLU layer -> ``p`` logits (lab 06, ``small`` profile).

    ``a`` and ``b`` are looked up in one shared table ``embed`` (p, embed_dim),
    so the Fourier analysis of :func:`fourier_power_share` applies to it.
    """

    def __init__(self, p: int, embed_dim: int = 64, hidden: int = 256):
        super().__init__()
        _check_int("p", p, 2)
        _check_int("embed_dim", embed_dim, 1)
        _check_int("hidden", hidden, 1)
        self.p = p
        self.embed = nn.Embedding(p, embed_dim)
        self.hidden = nn.Linear(2 * embed_dim, hidden)
        self.out = nn.Linear(hidden, p)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """(B, 2) pairs -> (B, p) logits."""
        if pairs.dim() != 2 or pairs.shape[1] != 2:
            raise ValueError(f"GrokkingMLP expects (batch, 2) pairs, got shape {tuple(pairs.shape)}")
        # hidden([e_a; e_b]) = W_a e_a + W_b e_b + bias. Projecting the p
        # embeddings once (p x hidden) and then looking rows up is the same
        # function as concatenating B pairs and multiplying, with far fewer
        # operations when B >> p (full batch: B is about p**2 / 2).
        d = self.embed.embedding_dim
        w_a, w_b = self.hidden.weight[:, :d], self.hidden.weight[:, d:]
        table = self.embed.weight
        h = (table @ w_a.T)[pairs[:, 0]] + (table @ w_b.T)[pairs[:, 1]] + self.hidden.bias
        return self.out(torch.relu(h))


class GrokkingTransformer(nn.Module):
    """One causal Transformer layer on the tokens ``a b =`` (lab 06, ``full`` profile).

    The setting of Nanda et al. (2023): vocabulary ``p + 1`` (the numbers and
    ``=``), learned positions, one attention layer (``lablib.transformer``'s
    :class:`~lablib.transformer.MultiHeadAttention` with a causal mask), a ReLU
    MLP, residual connections, no LayerNorm; the answer is read from the
    logits at the ``=`` position.
    """

    def __init__(self, p: int, d_model: int = 128, num_heads: int = 4, d_mlp: int = 512):
        super().__init__()
        _check_int("p", p, 2)
        _check_int("d_model", d_model, 1)
        _check_int("num_heads", num_heads, 1)
        _check_int("d_mlp", d_mlp, 1)
        self.p = p
        self.embed = nn.Embedding(p + 1, d_model)  # token p is "="
        self.position = nn.Embedding(3, d_model)
        self.attention = MultiHeadAttention(d_model, num_heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_mlp), nn.ReLU(), nn.Linear(d_mlp, d_model))
        self.unembed = nn.Linear(d_model, p)
        self.register_buffer("mask", causal_mask(3), persistent=False)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """(B, 2) pairs -> (B, p) logits at the ``=`` position."""
        if pairs.dim() != 2 or pairs.shape[1] != 2:
            raise ValueError(f"GrokkingTransformer expects (batch, 2) pairs, got shape {tuple(pairs.shape)}")
        equals = torch.full_like(pairs[:, :1], self.p)
        tokens = torch.cat([pairs, equals], dim=1)  # (B, 3)
        x = self.embed(tokens) + self.position.weight[None]
        x = x + self.attention(x, self.mask)[0]
        # Only the "=" position is read out and there is no later layer, so the
        # MLP is applied there alone: the same function, a third of the work.
        last = x[:, -1]
        return self.unembed(last + self.mlp(last))


class DigitMLP(nn.Module):
    """One-hot digits of ``a`` and ``b`` -> ``depth`` ReLU layers of ``width`` -> 10 logits per answer digit.

    The models of increasing size in the mirage part of lab 06. Input (B,
    2 * n_digits) digits; output (B, n_digits + 1, 10) logits.
    """

    def __init__(self, n_digits: int, width: int, depth: int = 2):
        super().__init__()
        _check_int("n_digits", n_digits, 1)
        _check_int("width", width, 1)
        _check_int("depth", depth, 1)
        self.n_digits = n_digits
        layers, size = [], 20 * n_digits
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.ReLU()]
            size = width
        layers.append(nn.Linear(size, 10 * (n_digits + 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, digits: torch.Tensor) -> torch.Tensor:
        if digits.dim() != 2 or digits.shape[1] != 2 * self.n_digits:
            raise ValueError(f"DigitMLP expects (batch, {2 * self.n_digits}) digits, got shape {tuple(digits.shape)}")
        x = nn.functional.one_hot(digits, 10).flatten(1).float()
        return self.net(x).view(-1, self.n_digits + 1, 10)


def count_parameters(model: nn.Module) -> int:
    """The number of parameters of a model (the "size" on the mirage's x axis, lab 06)."""
    return sum(p.numel() for p in model.parameters())


def weight_norm(model: nn.Module) -> float:
    """The L2 norm of all parameters together, sqrt(sum of squares): what weight decay shrinks (lab 06)."""
    return math.sqrt(sum(float(p.detach().pow(2).sum()) for p in model.parameters()))


# ================================================================== training
def _progress_bar(steps: int, progress, desc: str, leave, where: str):
    """A ``tqdm.auto`` bar of ``steps`` steps (a widget in Jupyter, text elsewhere); off if ``progress`` is False."""
    from tqdm.auto import tqdm

    for name, value in (("progress", progress), ("leave", leave)):
        if not isinstance(value, bool):
            raise ValueError(f"{where}: {name}={value!r}: expected True or False")
    if not isinstance(desc, str) or not desc:
        raise ValueError(f"{where}: desc={desc!r}: expected a non-empty string (what is training)")
    return tqdm(total=steps, desc=desc, unit="step", leave=leave, disable=not progress)


def logged_steps(steps: int, every: int, per_decade: int = 12) -> list[int]:
    """The steps at which :func:`train_grokking` evaluates: 0, ``steps``, every multiple of
    ``every``, and about ``per_decade`` log-spaced steps per decade (so that curves on a
    log-step axis, as in lab 06, have points at the start too)."""
    _check_int("steps", steps, 1)
    _check_int("every", every, 1)
    _check_int("per_decade", per_decade, 1)
    chosen = {0, steps, *range(every, steps + 1, every)}
    for k in range(int(per_decade * math.log10(steps)) + 1):
        chosen.add(min(steps, round(10 ** (k / per_decade))))
    return sorted(chosen)


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(-1) == y).float().mean().item()


def train_grokking(
    model: nn.Module,
    split: ModularSplit,
    *,
    steps: int,
    lr: float = 1e-3,
    weight_decay: float = 1.0,
    betas: tuple[float, float] = (0.9, 0.98),
    warmup_steps: int = 0,
    log_every: int = 10,
    fourier_top_k: int | None = None,
    stop_when: Callable[[dict], bool] | None = None,
    device=None,
    progress: bool = True,
    desc: str | None = None,
    leave: bool = True,
) -> dict:
    """Train on all training pairs at once (full batch) with AdamW; return the history (lab 06).

    At each step of :func:`logged_steps` the history records ``step``,
    ``train_acc``, ``test_acc``, ``train_loss``, ``test_loss`` (mean
    cross-entropy) and ``weight_norm``; with ``fourier_top_k`` also
    ``fourier_share``, the :func:`fourier_power_share` of the rows ``0..p-1`` of
    ``model.embed``. ``step`` 0 is the initialisation, step ``t`` is after
    ``t`` updates. ``warmup_steps`` raises the learning rate linearly from 0
    (Nanda et al. use 10). ``stop_when(history)`` is called after each logged
    step; training stops early when it returns True. ``history["seconds"]`` is
    the wall time. A progress bar (``tqdm.auto``; ``progress=False`` turns it
    off) counts the steps under ``desc`` (by default the model, ``p`` and the
    weight decay) and shows the latest train and test accuracy; a run that
    stops early ends its bar there. ``leave=False`` removes it when done.
    """
    _check_int("steps", steps, 1)
    _check_int("warmup_steps", warmup_steps, 0)
    for name, value in (("lr", lr), ("weight_decay", weight_decay)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (name == "lr" and value == 0):
            raise ValueError(f"{name}={value!r}: expected a {'positive' if name == 'lr' else 'non-negative'} number")
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ValueError(f"betas={betas!r}: expected two numbers in [0, 1)")
    if fourier_top_k is not None and not isinstance(getattr(model, "embed", None), nn.Embedding):
        raise ValueError("fourier_top_k needs a model with an nn.Embedding called `embed` (rows 0..p-1 = the numbers)")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    train_x, train_y = split.train_x.to(device), split.train_y.to(device)
    test_x, test_y = split.test_x.to(device), split.test_y.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=betas)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup_steps) if warmup_steps else 1.0)
    keys = ["step", "train_acc", "test_acc", "train_loss", "test_loss", "weight_norm"]
    keys += ["fourier_share"] if fourier_top_k is not None else []
    history: dict = {key: [] for key in keys}
    to_log = set(logged_steps(steps, log_every))
    desc = desc or f"grokking: {type(model).__name__}, a + b mod {split.p}, weight decay {weight_decay:g}"
    bar = _progress_bar(steps, progress, desc, leave, "train_grokking")
    start = time.perf_counter()

    def log(step: int) -> None:
        model.eval()
        train_loss, train_acc = _evaluate(model, train_x, train_y)
        test_loss, test_acc = _evaluate(model, test_x, test_y)
        model.train()
        values = [step, train_acc, test_acc, train_loss, test_loss, weight_norm(model)]
        if fourier_top_k is not None:
            values.append(fourier_power_share(model.embed.weight[: split.p], fourier_top_k))
        for key, value in zip(keys, values):
            history[key].append(value)

    try:
        log(0)
        model.train()
        for step in range(1, steps + 1):
            loss = nn.functional.cross_entropy(model(train_x), train_y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
            if step in to_log:
                log(step)
                bar.set_postfix(train_acc=f"{history['train_acc'][-1]:.3f}",
                                test_acc=f"{history['test_acc'][-1]:.3f}", refresh=False)
                if stop_when is not None and stop_when(history):
                    bar.total = bar.n  # a planned stop, not an interruption (a notebook bar would turn red)
                    bar.refresh()
                    break
    finally:
        bar.close()
    history["seconds"] = time.perf_counter() - start
    return history


def first_step(history: dict, key: str, threshold: float) -> int | None:
    """The first logged step at which ``history[key] >= threshold``, or None (lab 06: "grokked at step ...")."""
    if key not in history or "step" not in history:
        raise ValueError(f"first_step: history has no {key!r} (keys: {sorted(history)})")
    for step, value in zip(history["step"], history[key]):
        if value >= threshold:
            return step
    return None


def value_at(history: dict, key: str, step: int) -> float:
    """``history[key]`` at the last logged step ``<= step`` (lab 06's assertions at fixed steps)."""
    if key not in history or "step" not in history:
        raise ValueError(f"value_at: history has no {key!r} (keys: {sorted(history)})")
    before = [i for i, s in enumerate(history["step"]) if s <= step]
    if not before:
        raise ValueError(f"value_at: no logged step <= {step}")
    return history[key][before[-1]]


def train_digit_adder(
    model: nn.Module,
    inputs: torch.Tensor,
    answers: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str | None = None,
    leave: bool = False,
) -> list[float]:
    """Train a digit-addition model with Adam on random minibatches; return the loss every step (lab 06).

    The loss is the mean over answer digits of the softmax cross-entropy, that
    is the per-digit negative log-likelihood. The learning rate decays linearly
    to zero, so runs of different sizes end equally settled. Minibatches are
    drawn with a generator seeded by ``seed``. A progress bar counts the steps
    under ``desc`` (by default the model's size); the lab trains ten of these
    in a loop, so by default it is removed when done (``leave=False``).
    """
    _check_int("steps", steps, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    if inputs.shape[0] != answers.shape[0] or inputs.shape[0] == 0:
        raise ValueError(f"inputs ({inputs.shape[0]}) and answers ({answers.shape[0]}) need the same, non-zero number of rows")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).train()
    inputs, answers = inputs.to(device), answers.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 - s / steps)
    generator = torch.Generator().manual_seed(seed)
    desc = desc or f"training a digit adder ({count_parameters(model):,} parameters)"
    bar = _progress_bar(steps, progress, desc, leave, "train_digit_adder")
    losses = []
    try:
        for _ in range(steps):
            batch = torch.randint(0, inputs.shape[0], (batch_size,), generator=generator).to(device)
            logits = model(inputs[batch])
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), answers[batch].flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.update(1)
    finally:
        bar.close()
    model.eval()
    return losses


# =================================================================== metrics
def _check_pair(name: str, predictions: torch.Tensor, targets: torch.Tensor) -> None:
    if predictions.shape != targets.shape or predictions.dim() != 2 or predictions.shape[0] == 0:
        raise ValueError(
            f"{name}: predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} "
            "must have the same shape (N, L) with N >= 1"
        )


def exact_match(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """The fraction of answers with *every* token right (chapter "Emergence", the mirage).

    ``predictions`` and ``targets`` are (N, L) integer tensors (N answers of L
    tokens). One wrong digit makes the whole answer wrong: a discontinuous
    metric in the sense of Schaeffer et al. (2023).
    """
    _check_pair("exact_match", predictions, targets)
    return (predictions == targets).all(dim=1).float().mean().item()


def per_token_accuracy(predictions: torch.Tensor, targets: torch.Tensor, *, per_position: bool = False):
    """The fraction of tokens (digits) that are right, over all N x L positions (chapter "Emergence").

    With ``per_position=True``, a tensor (L,) with the accuracy of each
    position instead. If the positions were right independently, exact match
    would be the product of these L numbers.
    """
    _check_pair("per_token_accuracy", predictions, targets)
    correct = (predictions == targets).float()
    return correct.mean(dim=0) if per_position else correct.mean().item()


def answer_log_likelihood(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The mean over answers of log p(right answer) = sum over its tokens of log p(token) (chapter "Emergence").

    ``logits`` (N, L, V), ``targets`` (N, L) integer in [0, V). A continuous
    metric: it improves as the probability of the right digits rises, before
    the arg max flips.
    """
    if logits.dim() != 3 or targets.shape != logits.shape[:2] or logits.shape[0] == 0:
        raise ValueError(
            f"answer_log_likelihood: logits {tuple(logits.shape)} must be (N, L, V) and targets "
            f"{tuple(targets.shape)} (N, L), with N >= 1"
        )
    if targets.min() < 0 or targets.max() >= logits.shape[2]:
        raise ValueError(f"answer_log_likelihood: targets must lie in [0, {logits.shape[2] - 1}]")
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    return log_probs.gather(-1, targets.long()[..., None]).squeeze(-1).sum(dim=1).mean().item()


def scaled_token_accuracy(n, c: float, alpha: float) -> torch.Tensor:
    """Per-token accuracy ``exp(-(N / c) ** alpha)`` of a model of size N (Schaeffer et al. 2023).

    With ``alpha < 0`` the per-token loss ``(N / c) ** alpha`` falls as a power
    law and the accuracy rises smoothly towards 1. Exact match on answers of L
    tokens is then this accuracy to the power L (chapter "Emergence", lab 06).
    """
    if not c > 0:
        raise ValueError(f"c={c!r}: expected a positive scale")
    if not alpha < 0:
        raise ValueError(f"alpha={alpha!r}: expected a negative exponent (the loss must fall with size)")
    n = torch.as_tensor(n, dtype=torch.float64)
    if (n <= 0).any():
        raise ValueError("n: model sizes must be positive")
    return torch.exp(-((n / c) ** alpha))


def fourier_power_share(embedding: torch.Tensor, top_k: int) -> float:
    """The share of an embedding's power in its ``top_k`` strongest frequencies (grokking's progress measure).

    ``embedding`` is (p, d): row ``a`` is the vector of the number ``a``. Take
    the discrete Fourier transform along the numbers, add the power of
    frequencies ``k`` and ``p - k`` (a cosine and sine pair of period p/k) over
    all d dimensions, drop the constant term (k = 0), and return the fraction
    of the remaining power in the ``top_k`` largest frequencies. A random
    embedding spreads power over all ``p // 2`` frequencies (share about
    ``top_k / (p // 2)``); Nanda et al. (2023) found that a network that has
    grokked modular addition uses a handful of frequencies (share near 1).
    """
    if embedding.dim() != 2 or embedding.shape[0] < 3:
        raise ValueError(f"fourier_power_share: expected a (p, d) embedding with p >= 3, got shape {tuple(embedding.shape)}")
    p = embedding.shape[0]
    _check_int("top_k", top_k, 1, p // 2, what=f" (there are {p // 2} frequencies for p={p})")
    spectrum = torch.fft.fft(embedding.detach().double().cpu(), dim=0).abs().pow(2).sum(dim=1)  # (p,)
    power = torch.stack([spectrum[k] + (spectrum[p - k] if p - k != k else 0) for k in range(1, p // 2 + 1)])
    total = power.sum().item()
    if total == 0:
        return 0.0
    return power.topk(top_k).values.sum().item() / total


__all__: Sequence[str] = [
    "ModularSplit", "modular_addition_table", "modular_addition_split", "to_digits", "from_digits",
    "digit_addition_problems", "digit_addition_split", "GrokkingMLP", "GrokkingTransformer", "DigitMLP", "count_parameters",
    "weight_norm", "logged_steps", "train_grokking", "first_step", "value_at", "train_digit_adder",
    "exact_match", "per_token_accuracy", "answer_log_likelihood", "scaled_token_accuracy",
    "fourier_power_share",
]
