"""Adapting a pretrained model: linear probing, LoRA and adapters, written by hand (chapter "Adaptation", lab 09).

Each method wraps or freezes parts of any PyTorch model (a Hugging Face one included) in place:

* :func:`freeze_all_but` -- a linear probe: only the new head trains.
* :func:`add_lora` -- LoRA (Hu et al. 2022): a chosen ``nn.Linear`` computes ``W x + b + (alpha / r) B A x``,
  with ``A`` (r x in) random and ``B`` (out x r) zero, so training starts from the pretrained model; only
  ``A``, ``B`` and the head train. :func:`merge_lora` folds ``(alpha / r) B A`` into ``W`` for inference at no
  extra cost, :func:`unmerge_lora` takes it out again.
* :func:`add_adapters` -- bottleneck adapters (Houlsby et al. 2019) after the output projection of each
  attention and feed-forward sublayer: ``h + W_up f(W_down h)``, ``W_up`` zero so the start is the base model.

:func:`training_state_bytes` measures the memory that weights, gradients and the optimizer's state take.
``tests/test_adaptation.py`` checks the LoRA layer against the ``peft`` library.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from . import checks as C


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update (alpha / r) B A (chapter "Adaptation", lab 09).

    ``A`` is initialised as ``nn.Linear`` initialises its weight (Kaiming-uniform, as ``peft`` does) and ``B``
    with zeros. ``dropout`` acts on the input of the low-rank path only. After :meth:`merge` the update lives
    in ``base.weight`` and the layer costs what the base layer costs.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float | None = None, dropout: float = 0.0):
        super().__init__()
        where = "LoRALinear"
        C.instance(base, nn.Linear, "base", where)
        self.r = C.integer(r, "r", where, low=1, high=min(base.in_features, base.out_features))
        self.alpha = C.number(r if alpha is None else alpha, "alpha", where, low=0, low_open=True)
        self.scale = self.alpha / self.r
        self.base = base
        for parameter in base.parameters():
            parameter.requires_grad_(False)
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(self.r, base.in_features, **factory))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.r, **factory))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(C.number(dropout, "dropout", where, low=0, high=1, high_open=True))
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) B A`` that LoRA adds to the weight, shape (out, in) (chapter "Adaptation")."""
        return self.scale * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        return out + self.scale * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update to ``base.weight``; the forward pass is then the base layer's alone (lab 09)."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the update again, so that training can go on (lab 09)."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}, scale={self.scale:g}, merged={self.merged}"


class Adapter(nn.Module):
    """A bottleneck adapter ``h + W_up gelu(W_down h)`` of width ``bottleneck`` (chapter "Adaptation", lab 09).

    ``W_up`` and its bias start at zero, so the adapter starts as the identity (Houlsby et al. start near it).
    """

    def __init__(self, dim: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(C.integer(dim, "dim", "Adapter"), C.integer(bottleneck, "bottleneck", "Adapter"))
        self.up = nn.Linear(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(nn.functional.gelu(self.down(h)))


class _AfterLinear(nn.Sequential):
    """A frozen linear layer followed by an adapter (so the adapter sits before the residual and LayerNorm)."""


def freeze_all_but(model: nn.Module, train: Sequence[str] = ("classifier",)) -> int:
    """Freeze every parameter except those of the modules named in ``train`` (a name or a name's last parts,
    e.g. ``classifier``); with only the head left, this is a linear probe. Returns the trainable count
    (chapter "Adaptation", lab 09)."""
    where = "freeze_all_but"
    train = [C.instance(t, str, "train", where) for t in train]
    unknown = [t for t in train if not _matching(model, t, any_module=True)]
    if unknown:
        raise ValueError(f"{where}: no module of the model is named {unknown}; "
                         f"its top-level modules are {[n for n, _ in model.named_children()]}")
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(any(f".{t}." in f".{name}" for t in train))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _matching(model: nn.Module, target: str, any_module: bool = False) -> list[str]:
    """The names of the modules (the ``nn.Linear`` ones, unless ``any_module``) called ``target`` or ``*.target``."""
    return [name for name, module in model.named_modules() if (name == target or name.endswith("." + target))
            and (any_module or isinstance(module, nn.Linear))]


def _wrap_linears(model: nn.Module, targets: Sequence[str], wrap: Callable[[nn.Linear], nn.Module],
                  train: Sequence[str], where: str) -> list[str]:
    targets = [C.instance(t, str, "targets", where) for t in targets]
    if not targets:
        raise ValueError(f"{where}: targets is empty; name the linear layers to adapt, e.g. ('query', 'value')")
    found = {t: _matching(model, t) for t in targets}
    missing = [t for t, names in found.items() if not names]
    if missing:
        linears = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"{where}: no nn.Linear of the model is named {missing}; its linear layers are called "
                         f"{linears}")
    if any(isinstance(m, (LoRALinear, _AfterLinear)) for m in model.modules()):
        raise ValueError(f"{where}: the model is adapted already; start again from a fresh copy of the base model")
    freeze_all_but(model, train)
    names = sorted({name for names in found.values() for name in names})
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, wrap(getattr(parent, child)))
    return names


def add_lora(model: nn.Module, r: int, alpha: float | None = None, *, targets: Sequence[str] = ("query", "value"),
             dropout: float = 0.0, train: Sequence[str] = ("classifier",)) -> list[str]:
    """Replace each ``nn.Linear`` named in ``targets`` by a :class:`LoRALinear` of rank ``r``, and freeze
    everything but the LoRA factors and the modules in ``train`` (the head). Returns the names wrapped
    (chapter "Adaptation", lab 09). ``alpha`` defaults to ``r`` (scale 1)."""
    def wrap(linear: nn.Linear) -> LoRALinear:
        return LoRALinear(linear, r, alpha, dropout)
    return _wrap_linears(model, targets, wrap, train, "add_lora")


def add_adapters(model: nn.Module, bottleneck: int, *, targets: Sequence[str] = ("output.dense",),
                 train: Sequence[str] = ("classifier",)) -> list[str]:
    """Put an :class:`Adapter` after each ``nn.Linear`` named in ``targets`` (in a BERT, ``output.dense`` is
    the output projection of both the attention and the feed-forward sublayer, as in Houlsby et al.) and
    freeze everything but the adapters, the LayerNorms after them and ``train``. Returns the names wrapped
    (chapter "Adaptation", lab 09)."""
    C.integer(bottleneck, "bottleneck", "add_adapters")

    def wrap(linear: nn.Linear) -> nn.Module:
        return _AfterLinear(linear, Adapter(linear.out_features, bottleneck).to(linear.weight.device))
    names = _wrap_linears(model, targets, wrap, train, "add_adapters")
    for name, module in model.named_modules():  # Houlsby et al. train the LayerNorms too
        if isinstance(module, nn.LayerNorm) and any(name.startswith(n.rsplit(".", 1)[0] + ".") for n in names):
            module.requires_grad_(True)
    return names


def _each_lora_layer(model: nn.Module, method: Callable[[LoRALinear], None], where: str) -> int:
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    if not layers:
        raise ValueError(f"{where}: the model has no LoRA layers; call add_lora first")
    for layer in layers:
        method(layer)
    return len(layers)


def merge_lora(model: nn.Module) -> int:
    """Merge every LoRA update into its base weight (inference at the base model's cost); returns how many
    layers (chapter "Adaptation", lab 09)."""
    return _each_lora_layer(model, LoRALinear.merge, "merge_lora")


def unmerge_lora(model: nn.Module) -> int:
    """Undo :func:`merge_lora`; returns how many layers (chapter "Adaptation", lab 09)."""
    return _each_lora_layer(model, LoRALinear.unmerge, "unmerge_lora")


def training_state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Bytes held by the weights, the gradients and the optimizer's state tensors, measured from the tensors
    themselves (after a step, so that they exist); activations are not included (chapter "Adaptation", lab 09)."""
    def size(tensors) -> int:
        return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))
    gradients = size(p.grad for p in model.parameters() if p.grad is not None)
    state = 0 if optimizer is None else sum(size(s.values()) for s in optimizer.state.values())
    weights = size(model.parameters())
    return {"weights": weights, "gradients": gradients, "optimizer": state, "total": weights + gradients + state}
