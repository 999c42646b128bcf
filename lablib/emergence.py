"""Grokking and the "mirage" in small: tasks, models, training and metrics (chapter "Emergence", lab 06)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from . import checks as C
from . import train
from .transformer import MultiHeadAttention, causal_mask, count_parameters  # lab 06 calls E.count_parameters


@dataclass
class ModularSplit:
    """The ``p x p`` table of ``a + b mod p`` split into train and test pairs (lab 06, part 1)."""

    p: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def _modular_addition_table(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``p**2`` pairs ``(a, b)``, row ``a * p + b`` holding ``(a, b)``, and their answers ``(a + b) mod p``."""
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    return torch.stack([a, b], dim=1), (a + b) % p


def modular_addition_split(p: int, train_fraction: float, seed: int) -> ModularSplit:
    """Split the whole ``p x p`` table of ``a + b mod p`` into train and test pairs (lab 06)."""
    if not isinstance(p, int):  # a float modulus is a mistake even when integral (torch would fail later)
        raise TypeError(f"modular_addition_split: p (the modulus) must be an int, got {p!r}")
    x, y = _modular_addition_table(C.integer(p, "p (the modulus)", "modular_addition_split", low=2))
    fraction = C.fraction(train_fraction, "train_fraction", "modular_addition_split")
    C.integer(seed, "seed", "modular_addition_split", low=0)
    n_train = round(fraction * p * p)
    if not 0 < n_train < p * p:
        raise ValueError(f"train_fraction={train_fraction} of p*p={p * p} pairs gives {n_train} training pairs; "
                         "expected at least one training and one test pair")
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    train_index, test_index = order[:n_train].sort().values, order[n_train:].sort().values
    return ModularSplit(p, x[train_index], y[train_index], x[test_index], y[test_index])


def _to_digits(numbers: torch.Tensor, n_digits: int) -> torch.Tensor:
    """(N,) integers in ``[0, 10**n_digits)`` -> (N, n_digits) decimal digits, most significant first."""
    return (numbers[:, None] // 10 ** torch.arange(n_digits - 1, -1, -1)) % 10


def from_digits(digits: torch.Tensor) -> torch.Tensor:
    """(N, L) decimal digits, most significant first, as (N,) integers: read the digit tasks back (lab 06)."""
    digits = torch.as_tensor(digits)
    if digits.dim() != 2 or digits.dtype.is_floating_point:
        raise ValueError(f"from_digits: expected a 2-d integer tensor (N, L), got dtype {digits.dtype}, "
                         f"shape {tuple(digits.shape)}")
    if digits.numel() and (digits.min() < 0 or digits.max() > 9):
        raise ValueError("from_digits: every digit must lie in 0..9")
    powers = 10 ** torch.arange(digits.shape[1] - 1, -1, -1)
    return (digits.long() * powers).sum(dim=1)


def _digit_addition_problems(n_digits: int, n_problems: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_problems`` random problems ``a + b``, ``a, b`` uniform in ``[0, 10**n_digits)``, as digits."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 10**n_digits, (n_problems,), generator=generator)
    b = torch.randint(0, 10**n_digits, (n_problems,), generator=generator)
    inputs = torch.cat([_to_digits(a, n_digits), _to_digits(b, n_digits)], dim=1)
    return inputs, _to_digits(a + b, n_digits + 1)


def digit_addition_split(n_digits: int, n_train: int, n_test: int, seed: int) -> dict:
    """Training and test problems for the mirage (lab 06), with no test problem seen in training."""
    C.integer(n_digits, "n_digits", "digit_addition_split", low=1, high=9)
    C.integer(n_train, "n_train", "digit_addition_split", low=1)
    C.integer(n_test, "n_test", "digit_addition_split", low=1)
    C.integer(seed, "seed", "digit_addition_split", low=0)
    train_x, train_y = _digit_addition_problems(n_digits, n_train, seed)
    test_x, test_y = _digit_addition_problems(n_digits, n_test, seed + 1)
    seen = {tuple(row) for row in train_x.tolist()}
    keep = torch.tensor([tuple(row) not in seen for row in test_x.tolist()])
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x[keep], "test_y": test_y[keep],
            "dropped": int((~keep).sum())}


class GrokkingMLP(nn.Module):
    """Two learned embeddings, concatenated -> one ReLU layer -> ``p`` logits (lab 06, ``small`` profile)."""

    def __init__(self, p: int, embed_dim: int = 64, hidden: int = 256):
        super().__init__()
        C.integer(p, "p", "GrokkingMLP", low=2)
        C.integer(embed_dim, "embed_dim", "GrokkingMLP", low=1)
        C.integer(hidden, "hidden", "GrokkingMLP", low=1)
        self.p = p
        self.embed = nn.Embedding(p, embed_dim)
        self.hidden = nn.Linear(2 * embed_dim, hidden)
        self.out = nn.Linear(hidden, p)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """(B, 2) pairs -> (B, p) logits."""
        if pairs.dim() != 2 or pairs.shape[1] != 2:
            raise ValueError(f"GrokkingMLP expects (batch, 2) pairs, got shape {tuple(pairs.shape)}")
        # hidden([e_a; e_b]) = W_a e_a + W_b e_b + bias: project the p embeddings once, then look rows up
        # (the same function as concatenating, far fewer operations when the batch B >> p)
        d = self.embed.embedding_dim
        w_a, w_b = self.hidden.weight[:, :d], self.hidden.weight[:, d:]
        table = self.embed.weight
        h = (table @ w_a.T)[pairs[:, 0]] + (table @ w_b.T)[pairs[:, 1]] + self.hidden.bias
        return self.out(torch.relu(h))


class GrokkingTransformer(nn.Module):
    """One causal Transformer layer on the tokens ``a b =`` (lab 06, ``full`` profile)."""

    def __init__(self, p: int, d_model: int = 128, num_heads: int = 4, d_mlp: int = 512):
        super().__init__()
        C.integer(p, "p", "GrokkingTransformer", low=2)
        C.integer(d_model, "d_model", "GrokkingTransformer", low=1)
        C.integer(num_heads, "num_heads", "GrokkingTransformer", low=1)
        C.integer(d_mlp, "d_mlp", "GrokkingTransformer", low=1)
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
        # only "=" is read out and no layer follows: the MLP there alone is the same function
        last = x[:, -1]
        return self.unembed(last + self.mlp(last))


class DigitMLP(nn.Module):
    """One-hot digits of ``a`` and ``b`` -> ``depth`` ReLU layers of ``width`` -> 10 logits per digit (lab 06)."""

    def __init__(self, n_digits: int, width: int, depth: int = 2):
        super().__init__()
        C.integer(n_digits, "n_digits", "DigitMLP", low=1)
        C.integer(width, "width", "DigitMLP", low=1)
        C.integer(depth, "depth", "DigitMLP", low=1)
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


def weight_norm(model: nn.Module) -> float:
    """The L2 norm of all parameters together, sqrt(sum of squares): what weight decay shrinks (lab 06)."""
    return math.sqrt(sum(float(p.detach().pow(2).sum()) for p in model.parameters()))


def _logged_steps(steps: int, every: int, per_decade: int = 12) -> list[int]:
    """0, ``steps``, multiples of ``every`` and about ``per_decade`` log-spaced steps per decade."""
    chosen = {0, steps, *range(every, steps + 1, every)}
    for k in range(int(per_decade * math.log10(steps)) + 1):
        chosen.add(min(steps, round(10 ** (k / per_decade))))
    return sorted(chosen)


def _cross_entropy(model, batch):
    return nn.functional.cross_entropy(model(batch["x"]).flatten(0, -2), batch["y"].flatten())


def train_grokking(model: nn.Module, split: ModularSplit, *, steps: int, lr: float = 1e-3, weight_decay: float = 1.0,
                   warmup_steps: int = 0, log_every: int = 10, fourier_top_k: int | None = None,
                   stop_when: Callable[[dict], bool] | None = None, device=None, progress: bool = True,
                   desc: str | None = None, leave: bool = True) -> dict:
    """Full-batch AdamW on all training pairs with :func:`lablib.train.train`; return the history (lab 06)."""
    where = "train_grokking"
    C.integer(steps, "steps", where)
    C.integer(log_every, "log_every", where)
    C.number(weight_decay, "weight_decay", where, low=0)
    if fourier_top_k is not None and not isinstance(getattr(model, "embed", None), nn.Embedding):
        raise ValueError(f"{where}: fourier_top_k needs a model with an nn.Embedding called `embed` (rows 0..p-1)")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    data = {name: (getattr(split, f"{name}_x").to(device), getattr(split, f"{name}_y").to(device))
            for name in ("train", "test")}
    keys = ["step", "train_acc", "test_acc", "train_loss", "test_loss", "weight_norm"]
    keys += ["fourier_share"] if fourier_top_k is not None else []
    history: dict = {key: [] for key in keys}

    def evaluate(m):
        history["step"].append(logged.pop(0))
        for name, (x, y) in data.items():
            logits = m(x)
            history[f"{name}_loss"].append(nn.functional.cross_entropy(logits, y).item())
            history[f"{name}_acc"].append((logits.argmax(-1) == y).float().mean().item())
        history["weight_norm"].append(weight_norm(m))
        if fourier_top_k is not None:
            history["fourier_share"].append(fourier_power_share(m.embed.weight[: split.p], fourier_top_k))
        return {"train_acc": history["train_acc"][-1], "test_acc": history["test_acc"][-1]}

    logged = _logged_steps(steps, log_every)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    desc = desc or f"grokking: {type(model).__name__}, a + b mod {split.p}, weight decay {weight_decay:g}"
    trained = train.train(model, [{"x": data["train"][0], "y": data["train"][1]}], steps=steps, optimizer=optimizer,
                          schedule="constant", warmup_steps=warmup_steps, max_grad_norm=None, device=device,
                          amp="off", loss_fn=_cross_entropy, evaluate=evaluate, eval_every=list(logged),
                          stop_when=stop_when and (lambda _: stop_when(history)), log_every=log_every,
                          progress=progress, leave=leave, desc=desc)
    history["seconds"] = trained.total_seconds
    return history


def first_step(history: dict, key: str, threshold: float) -> int | None:
    """The first logged step at which ``history[key] >= threshold``, or None (lab 06: "grokked at step ...")."""
    if key not in history or "step" not in history:
        raise ValueError(f"first_step: history has no {key!r} (keys: {sorted(history)})")
    return next((step for step, value in zip(history["step"], history[key]) if value >= threshold), None)


def value_at(history: dict, key: str, step: int) -> float:
    """``history[key]`` at the last logged step ``<= step`` (lab 06's assertions at fixed steps)."""
    if key not in history or "step" not in history:
        raise ValueError(f"value_at: history has no {key!r} (keys: {sorted(history)})")
    before = [i for i, s in enumerate(history["step"]) if s <= step]
    if not before:
        raise ValueError(f"value_at: no logged step <= {step}")
    return history[key][before[-1]]


def train_digit_adder(model: nn.Module, inputs: torch.Tensor, answers: torch.Tensor, *, steps: int,
                      batch_size: int = 256, lr: float = 3e-3, seed: int = 0, device=None, progress: bool = True,
                      desc: str | None = None, leave: bool = False) -> list[float]:
    """Adam on random minibatches with :func:`lablib.train.train`, linear decay to 0; each step's loss (lab 06)."""
    where = "train_digit_adder"  # steps are checked by train.train
    C.integer(batch_size, "batch_size", where)
    C.integer(seed, "seed", where, low=0)
    if inputs.shape[0] != answers.shape[0] or inputs.shape[0] == 0:
        raise ValueError(f"{where}: inputs ({inputs.shape[0]}) and answers ({answers.shape[0]}) need the same, "
                         "non-zero number of rows")
    generator = torch.Generator().manual_seed(seed)

    def batches():
        for _ in range(steps):
            index = torch.randint(0, inputs.shape[0], (batch_size,), generator=generator)
            yield {"x": inputs[index], "y": answers[index]}

    history = train.train(model, batches(), steps=steps, optimizer=torch.optim.Adam(model.parameters(), lr=lr),
                          warmup_steps=0, max_grad_norm=None, amp="off", loss_fn=_cross_entropy, log_every=50,
                          device=device if device is not None else next(model.parameters()).device,
                          progress=progress, leave=leave,
                          desc=desc or f"training a digit adder ({count_parameters(model):,} parameters)")
    return history.loss


def _check_pair(name: str, predictions: torch.Tensor, targets: torch.Tensor) -> None:
    if predictions.shape != targets.shape or predictions.dim() != 2 or predictions.shape[0] == 0:
        raise ValueError(f"{name}: predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} "
                         "must have the same shape (N, L) with N >= 1")


def exact_match(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """The fraction of answers with *every* token right (chapter "Emergence", the mirage)."""
    _check_pair("exact_match", predictions, targets)
    return (predictions == targets).all(dim=1).float().mean().item()


def per_token_accuracy(predictions: torch.Tensor, targets: torch.Tensor, *, per_position: bool = False):
    """The fraction of tokens (digits) that are right, over all N x L positions (chapter "Emergence")."""
    _check_pair("per_token_accuracy", predictions, targets)
    correct = (predictions == targets).float()
    return correct.mean(dim=0) if per_position else correct.mean().item()


def answer_log_likelihood(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The mean over answers of log p(right answer) = sum over its tokens of log p(token) (chapter "Emergence")."""
    if logits.dim() != 3 or targets.shape != logits.shape[:2] or logits.shape[0] == 0:
        raise ValueError(f"answer_log_likelihood: logits {tuple(logits.shape)} must be (N, L, V) and targets "
                         f"{tuple(targets.shape)} (N, L), with N >= 1")
    if targets.min() < 0 or targets.max() >= logits.shape[2]:
        raise ValueError(f"answer_log_likelihood: targets must lie in [0, {logits.shape[2] - 1}]")
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    return log_probs.gather(-1, targets.long()[..., None]).squeeze(-1).sum(dim=1).mean().item()


def scaled_token_accuracy(n, c: float, alpha: float) -> torch.Tensor:
    """Per-token accuracy ``exp(-(N / c) ** alpha)`` at model size N (Schaeffer et al. 2023; chapter "Emergence")."""
    C.number(c, "c (the scale)", "scaled_token_accuracy", low=0, low_open=True)
    C.number(alpha, "alpha (the exponent of N/c)", "scaled_token_accuracy", high=0, high_open=True)
    n = torch.as_tensor(n, dtype=torch.float64)
    if (n <= 0).any():
        raise ValueError("n: model sizes must be positive")
    return torch.exp(-((n / c) ** alpha))


def fourier_power_share(embedding: torch.Tensor, top_k: int) -> float:
    """The share of an embedding's power in its ``top_k`` strongest frequencies: grokking's progress (lab 06)."""
    if embedding.dim() != 2 or embedding.shape[0] < 3:
        raise ValueError(f"fourier_power_share: expected a (p, d) embedding with p >= 3, "
                         f"got shape {tuple(embedding.shape)}")
    p = embedding.shape[0]
    C.integer(top_k, f"top_k (of {p // 2} frequencies for p={p})", "fourier_power_share", low=1, high=p // 2)
    spectrum = torch.fft.fft(embedding.detach().double().cpu(), dim=0).abs().pow(2).sum(dim=1)  # (p,)
    power = torch.stack([spectrum[k] + (spectrum[p - k] if p - k != k else 0) for k in range(1, p // 2 + 1)])
    total = power.sum().item()
    return power.topk(top_k).values.sum().item() / total if total else 0.0
