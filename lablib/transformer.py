"""A plain BERT-style encoder and a loader for real BERT weights (chapter "The Transformer from scratch", lab 02).

In the chapter's order; with :func:`load_hf_bert`'s weights it matches ``transformers.BertModel`` to about 1e-5
(tests). Shapes: B batch, T length, d hidden size, h heads, d_k = d / h.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None):
    """softmax(q k^T / sqrt(d_k)) v and the weights (..., T, S); ``mask``: True where a query may attend (lab 02)."""
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} do not fit "
                         "(q and k need the same last dimension, k and v the same length)")
    # scale q (T x d_k numbers), not the scores (T x S): the same result, fewer operations
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)  # (..., T, S)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"attention: mask must be boolean (True = may attend), got {mask.dtype}")
        # the most negative finite number, not -inf: a fully masked row gets uniform weights, not NaN
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, S), 1 for real tokens and 0 for padding -> boolean (B, 1, 1, S) for :func:`attention` (lab 02)."""
    if attention_mask.dim() != 2:
        raise ValueError(f"padding_mask expects (batch, length), got shape {tuple(attention_mask.shape)}")
    return attention_mask.bool()[:, None, None, :]


def causal_mask(length: int, device=None) -> torch.Tensor:
    """(T, T) boolean, True on and below the diagonal: position t attends to positions <= t (lab 02)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


class MultiHeadAttention(nn.Module):
    """h heads in parallel: Concat(head_1..head_h) W_O, head_i = attention(x W_Q^i, x W_K^i, x W_V^i) (lab 02)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.num_heads, self.head_size = num_heads, hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d) -> (B, h, T, d_k)."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        q, k, v = (self.split_heads(proj(x)) for proj in (self.query, self.key, self.value))
        heads, weights = attention(q, k, v, mask)  # (B, h, T, d_k), (B, h, T, T)
        batch, _, length, _ = heads.shape
        concat = heads.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_size)
        return self.dropout(self.output(concat)), weights


class _FeedForward(nn.Module):
    """Position-wise feed-forward block: W_2 GELU(W_1 x + b_1) + b_2, d -> 4d -> d in BERT."""

    def __init__(self, hidden_size: int, intermediate_size: int, dropout: float = 0.0):
        super().__init__()
        self.up = nn.Linear(hidden_size, intermediate_size)
        self.down = nn.Linear(intermediate_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(nn.functional.gelu(self.up(x))))  # exact (erf) GELU, as BERT


class EncoderLayer(nn.Module):
    """One BERT encoder layer (post-LN): x = LN(x + MHA(x)); x = LN(x + FFN(x)) (chapter transformer)."""

    def __init__(self, hidden_size: int, num_heads: int, intermediate_size: int,
                 dropout: float = 0.0, layer_norm_eps: float = 1e-12):
        super().__init__()
        self.attention = MultiHeadAttention(hidden_size, num_heads, dropout)
        self.attention_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.feed_forward = _FeedForward(hidden_size, intermediate_size, dropout)
        self.output_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        attended, weights = self.attention(x, mask)
        x = self.attention_norm(x + attended)
        x = self.output_norm(x + self.feed_forward(x))
        return x, weights


@dataclass
class EncoderConfig:
    """The sizes of a BERT-style encoder, named as Hugging Face's ``BertConfig`` (lab 02)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1

    @classmethod
    def from_hf(cls, config) -> "EncoderConfig":
        """Take the sizes from a ``transformers.BertConfig``; refuse what this encoder does not implement."""
        act = getattr(config, "hidden_act", "gelu")
        if act != "gelu":
            raise ValueError(f"hidden_act={act!r} is not supported: this encoder implements BERT's exact 'gelu'")
        kind = getattr(config, "position_embedding_type", "absolute")
        if kind != "absolute":
            raise ValueError(f"position_embedding_type={kind!r} is not supported: only learned absolute positions")
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


class Embeddings(nn.Module):
    """BERT's input: token + learned position + segment embeddings, then LayerNorm (chapter transformer)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.segment = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        length = input_ids.shape[1]
        if length > self.position.num_embeddings:
            raise ValueError(f"sequence length {length} exceeds max_position_embeddings "
                             f"{self.position.num_embeddings}")
        positions = torch.arange(length, device=input_ids.device)[None, :]
        segments = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        x = self.token(input_ids) + self.position(positions) + self.segment(segments)
        return self.dropout(self.norm(x))


class _EncoderOutput(NamedTuple):
    """Every layer's output: ``hidden_states[0]`` is the embeddings, ``hidden_states[i]`` layer i's output."""

    last_hidden_state: torch.Tensor  # (B, T, d)
    hidden_states: tuple  # num_layers + 1 tensors of (B, T, d)
    attentions: tuple  # num_layers tensors of (B, h, T, T)


class Encoder(nn.Module):
    """A BERT-style encoder: embeddings, then ``num_hidden_layers`` encoder layers (lab 02)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(
            EncoderLayer(config.hidden_size, config.num_attention_heads, config.intermediate_size,
                         config.hidden_dropout_prob, config.layer_norm_eps)
            for _ in range(config.num_hidden_layers)
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> _EncoderOutput:
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        x = self.embeddings(input_ids, token_type_ids)
        mask = None if attention_mask is None else padding_mask(attention_mask)
        hidden_states, attentions = [x], []
        for layer in self.layers:
            x, weights = layer(x, mask)
            hidden_states.append(x)
            attentions.append(weights)
        return _EncoderOutput(x, tuple(hidden_states), tuple(attentions))


def _hf_names(num_layers: int) -> dict:
    """Map our parameter names to the names in a Hugging Face ``BertModel`` state dict."""
    names = {f"embeddings.{ours}": f"embeddings.{theirs}" for ours, theirs in (
        ("token.weight", "word_embeddings.weight"), ("position.weight", "position_embeddings.weight"),
        ("segment.weight", "token_type_embeddings.weight"), ("norm.weight", "LayerNorm.weight"),
        ("norm.bias", "LayerNorm.bias"))}
    per_layer = {"attention.query": "attention.self.query", "attention.key": "attention.self.key",
                 "attention.value": "attention.self.value", "attention.output": "attention.output.dense",
                 "attention_norm": "attention.output.LayerNorm", "feed_forward.up": "intermediate.dense",
                 "feed_forward.down": "output.dense", "output_norm": "output.LayerNorm"}
    for i in range(num_layers):
        for ours, theirs in per_layer.items():
            for kind in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{kind}"] = f"encoder.layer.{i}.{theirs}.{kind}"
    return names


def _read_checkpoint(folder: Path) -> dict:
    """The raw tensors of a checkpoint folder."""
    safetensors_file, torch_file = folder / "model.safetensors", folder / "pytorch_model.bin"
    if safetensors_file.is_file():
        from safetensors.torch import load_file

        return load_file(str(safetensors_file))
    if torch_file.is_file():
        return torch.load(torch_file, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {folder}")


def load_hf_bert(source) -> Encoder:
    """An :class:`Encoder` with the weights of a BERT checkpoint folder, hub name or ``BertModel``, eval mode (lab 02).

    A folder is read directly, so a missing tensor is named, not initialised at random; a hub name is pinned.
    """
    from transformers import BertConfig, BertModel

    if isinstance(source, (str, Path)) and Path(source).is_dir():
        config = BertConfig.from_pretrained(str(source))
        state = _read_checkpoint(Path(source))
    elif isinstance(source, str):
        from .models import pinned

        model = BertModel.from_pretrained(source, add_pooling_layer=False, **pinned(source))
        config, state = model.config, model.state_dict()
    elif isinstance(source, nn.Module):
        model = getattr(source, "bert", source)
        config, state = model.config, model.state_dict()
    else:
        raise TypeError(f"load_hf_bert: expected a folder, a hub name or a BertModel, got {type(source).__name__}")
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    encoder = Encoder(EncoderConfig.from_hf(config))
    ours = encoder.state_dict()
    names = _hf_names(encoder.config.num_hidden_layers)
    if set(names) != set(ours):  # a mistake in the mapping itself, not in the checkpoint
        raise AssertionError(f"name map and Encoder disagree: {sorted(set(names) ^ set(ours))}")
    copied = {}
    for our_name, hf_name in names.items():
        if hf_name not in state:
            raise KeyError(f"checkpoint has no tensor {hf_name!r} (needed for {our_name!r})")
        tensor = state[hf_name]
        if tuple(tensor.shape) != tuple(ours[our_name].shape):
            raise ValueError(f"checkpoint tensor {hf_name!r} has shape {tuple(tensor.shape)}, "
                             f"expected {tuple(ours[our_name].shape)} for {our_name!r}")
        copied[our_name] = tensor.detach().clone().to(ours[our_name].dtype)
    encoder.load_state_dict(copied, strict=True)
    return encoder.eval()


def count_parameters(module: nn.Module) -> int:
    """The number of parameters of a module, every tensor counted once (labs 02, 06)."""
    return sum(p.numel() for p in module.parameters())


def encoder_layer_parameters(hidden_size: int, intermediate_size: int) -> int:
    """Parameters of one encoder layer by formula; 12 d^2 + 13 d when d_ff = 4d (lab 02)."""
    d, f = hidden_size, intermediate_size
    return 4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d  # Q, K, V, O; feed-forward; two LayerNorms
