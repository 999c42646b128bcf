"""A plain BERT-style encoder and GPT-2-style decoder, with loaders for real weights (chapters "The Transformer
from scratch" and "Generative pretraining", labs 02 and 08).

In the chapters' order; with :func:`load_hf_bert`'s and :func:`load_hf_gpt2`'s weights they match
``transformers.BertModel`` and ``GPT2LMHeadModel`` to about 1e-5 (tests).
Shapes: B batch, T length, S keys (T plus cached positions), d hidden size, h heads, d_k = d / h.
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

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, cache: dict | None = None):
        q, k, v = (self.split_heads(proj(x)) for proj in (self.query, self.key, self.value))
        if cache is not None:  # the KV cache (lab 08): earlier positions' keys and values are kept, not recomputed
            if cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        heads, weights = attention(q, k, v, mask)  # (B, h, T, d_k), (B, h, T, T)
        concat = heads.transpose(1, 2).flatten(2)  # (B, T, h * d_k)
        return self.dropout(self.output(concat)), weights


class _FeedForward(nn.Module):
    """Position-wise feed-forward block: W_2 GELU(W_1 x + b_1) + b_2, d -> 4d -> d in BERT and GPT-2."""

    def __init__(self, hidden_size: int, intermediate_size: int, dropout: float = 0.0, gelu: str = "none"):
        super().__init__()
        self.up = nn.Linear(hidden_size, intermediate_size)
        self.down = nn.Linear(intermediate_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.gelu = gelu  # "none": the exact (erf) GELU, as BERT; "tanh": GPT-2's approximation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(nn.functional.gelu(self.up(x), approximate=self.gelu)))


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


class _FromHF:
    """``from_hf`` of the two configs: ``_SUPPORTED`` maps a Hugging Face setting to the values implemented here."""

    _SUPPORTED: dict = {}

    @classmethod
    def from_hf(cls, config):
        """Take the sizes from a Hugging Face config; refuse what this model does not implement."""
        for name, supported in cls._SUPPORTED.items():
            if getattr(config, name, supported[0]) not in supported:
                raise ValueError(f"{name}={getattr(config, name)!r} is not supported by this {cls.__name__} "
                                 f"(it implements {supported[0]!r})")
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


@dataclass
class EncoderConfig(_FromHF):
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
    # BERT's exact (erf) GELU and learned absolute positions
    _SUPPORTED = {"hidden_act": ("gelu",), "position_embedding_type": ("absolute",)}


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


#: Our module names -> those of a Hugging Face ``BertModel``; layer i's are under ``encoder.layer.i.`` there.
_BERT_NAMES = {"embeddings.token": "embeddings.word_embeddings", "embeddings.norm": "embeddings.LayerNorm",
               "embeddings.position": "embeddings.position_embeddings",
               "embeddings.segment": "embeddings.token_type_embeddings",
               "attention.query": "attention.self.query", "attention.key": "attention.self.key",
               "attention.value": "attention.self.value", "attention.output": "attention.output.dense",
               "attention_norm": "attention.output.LayerNorm", "feed_forward.up": "intermediate.dense",
               "feed_forward.down": "output.dense", "output_norm": "output.LayerNorm"}


def _checkpoint(source, config_class, model_name: str, prefix: str, caller: str):
    """(config, state dict without ``prefix``) of a checkpoint folder or a model object."""
    if isinstance(source, (str, Path)):
        folder = Path(source)
        if not (folder / "model.safetensors").is_file():
            raise FileNotFoundError(f"{caller}: no model.safetensors in {folder} (for a hub name, pass the "
                                    f"{model_name} that from_pretrained loads)")
        from safetensors.torch import load_file  # read directly: a missing tensor is named, not made up

        config, state = config_class.from_pretrained(str(folder)), load_file(str(folder / "model.safetensors"))
    elif isinstance(source, nn.Module):
        config, state = source.config, source.state_dict()
    else:
        raise TypeError(f"{caller}: expected a folder or a {model_name}, got {type(source).__name__}")
    return config, {k.removeprefix(prefix): v for k, v in state.items()}


def _copy_checked(model: nn.Module, state: dict, names: dict, layers: str, convert=None) -> nn.Module:
    """Copy into each of our tensors the checkpoint's tensor of the module ``names`` maps ours to (layer i's under
    ``layers`` + i), passed through ``convert(our name, tensor)``; a missing or misshapen tensor is named."""
    copied = {}
    for our_name, ours in model.state_dict().items():
        module, kind = our_name.rsplit(".", 1)
        if module.startswith("layers."):
            _, i, module = module.split(".", 2)
            hf_name = f"{layers}{i}.{names[module]}.{kind}"
        else:
            hf_name = f"{names[module]}.{kind}"
        if hf_name not in state:
            raise KeyError(f"checkpoint has no tensor {hf_name!r} (needed for {our_name!r})")
        tensor = state[hf_name] if convert is None else convert(our_name, state[hf_name])
        if tensor.shape != ours.shape:
            given = tuple(state[hf_name].shape)
            gives = "," if given == tuple(tensor.shape) else f", which gives {tuple(tensor.shape)},"
            raise ValueError(f"checkpoint tensor {hf_name!r} has shape {given}{gives} "
                             f"expected {tuple(ours.shape)} for {our_name!r}")
        copied[our_name] = tensor.detach().clone().to(ours.dtype)
    model.load_state_dict(copied, strict=True)
    return model.eval()


def load_hf_bert(source) -> Encoder:
    """An :class:`Encoder` with the weights of a BERT checkpoint folder or ``BertModel``, eval mode (lab 02).

    A folder is read directly, so a missing tensor is named, not initialised at random.
    """
    from transformers import BertConfig

    config, state = _checkpoint(getattr(source, "bert", source), BertConfig, "BertModel", "bert.", "load_hf_bert")
    return _copy_checked(Encoder(EncoderConfig.from_hf(config)), state, _BERT_NAMES, "encoder.layer.")


class DecoderLayer(nn.Module):
    """One GPT-2 block (pre-LN): x = x + MHA(LN(x)); x = x + FFN(LN(x)) (lab 08; chapter "Generative pretraining")."""

    def __init__(self, hidden_size: int, num_heads: int, intermediate_size: int, dropout: float, eps: float):
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden_size, eps=eps)
        self.attention = MultiHeadAttention(hidden_size, num_heads, dropout)
        # intermediate_size 0: an attention-only block, as the induction-head models of lab 08
        self.output_norm = nn.LayerNorm(hidden_size, eps=eps) if intermediate_size else None
        self.feed_forward = _FeedForward(hidden_size, intermediate_size, dropout, "tanh") if intermediate_size else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cache: dict | None = None):
        attended, weights = self.attention(self.attention_norm(x), mask, cache)
        x = x + attended
        if self.feed_forward is not None:
            x = x + self.feed_forward(self.output_norm(x))
        return x, weights


@dataclass
class DecoderConfig(_FromHF):
    """The sizes of a GPT-2-style decoder, named as Hugging Face's ``GPT2Config`` (lab 08).

    ``n_inner``: the feed-forward size, ``None`` for 4 * n_embd, 0 for attention-only layers.
    """

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    layer_norm_epsilon: float = 1e-5
    resid_pdrop: float = 0.1
    # GPT-2's tanh GELU, attention scaled by 1 / sqrt(d_k) only, and the tied output layer
    _SUPPORTED = {"activation_function": ("gelu_new", "gelu_pytorch_tanh"), "scale_attn_weights": (True,),
                  "scale_attn_by_inverse_layer_idx": (False,), "reorder_and_upcast_attn": (False,),
                  "tie_word_embeddings": (True,)}


class _DecoderOutput(NamedTuple):
    logits: torch.Tensor  # (B, T, vocab_size): scores of the next token at every position
    attentions: tuple  # n_layer tensors of (B, h, T, S)


class Decoder(nn.Module):
    """A GPT-2-style language model: token + position embeddings, causal pre-LN layers, tied output (lab 08)."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        inner = 4 * config.n_embd if config.n_inner is None else config.n_inner
        self.token = nn.Embedding(config.vocab_size, config.n_embd)
        self.position = nn.Embedding(config.n_positions, config.n_embd)
        self.dropout = nn.Dropout(config.resid_pdrop)
        self.layers = nn.ModuleList(
            DecoderLayer(config.n_embd, config.n_head, inner, config.resid_pdrop, config.layer_norm_epsilon)
            for _ in range(config.n_layer)
        )
        self.final_norm = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        for module in self.modules():  # GPT-2's initialisation: N(0, 0.02) weights, zero biases
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                cache: list | None = None) -> _DecoderOutput:
        """Next-token logits; ``cache``: a list of one dict per layer that keeps keys and values between calls."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        if cache is not None and len(cache) != len(self.layers):
            raise ValueError(f"cache must hold one dict per layer ({len(self.layers)}), got {len(cache)}")
        past = cache[0]["k"].shape[2] if cache and cache[0] else 0
        length = input_ids.shape[1]
        if past + length > self.config.n_positions:
            raise ValueError(f"sequence length {past + length} exceeds n_positions {self.config.n_positions}")
        x = self.dropout(self.token(input_ids) + self.position(torch.arange(past, past + length,
                                                                             device=input_ids.device)))
        # query t (at position past + t) sees keys 0 .. past + t
        mask = torch.ones(length, past + length, dtype=torch.bool, device=x.device).tril(diagonal=past)
        if attention_mask is not None:  # 1 for real tokens, 0 for padding, over all past + length positions
            mask = mask & padding_mask(attention_mask)
        attentions = []
        for i, layer in enumerate(self.layers):
            x, weights = layer(x, mask, None if cache is None else cache[i])
            attentions.append(weights)
        # weight tying: the output layer is the token embedding, transposed
        return _DecoderOutput(self.final_norm(x) @ self.token.weight.T, tuple(attentions))


#: Our module names -> those of a Hugging Face ``GPT2LMHeadModel``'s ``transformer``; layer i's are under ``h.i.``.
_GPT2_NAMES = {"token": "wte", "position": "wpe", "final_norm": "ln_f", "attention_norm": "ln_1", "output_norm": "ln_2",
               "attention.query": "attn.c_attn", "attention.key": "attn.c_attn", "attention.value": "attn.c_attn",
               "attention.output": "attn.c_proj", "feed_forward.up": "mlp.c_fc", "feed_forward.down": "mlp.c_proj"}


def load_hf_gpt2(source) -> Decoder:
    """A :class:`Decoder` with the weights of a GPT-2 checkpoint folder or ``GPT2LMHeadModel``, eval mode (lab 08).

    GPT-2 stores its linear layers as ``Conv1D`` with weights (in, out): they are transposed to ``nn.Linear``'s
    (out, in), and the fused query-key-value weight ``c_attn`` is split in three.
    """
    from transformers import GPT2Config

    config, state = _checkpoint(source, GPT2Config, "GPT2LMHeadModel", "transformer.", "load_hf_gpt2")
    decoder = Decoder(DecoderConfig.from_hf(config))
    d = decoder.config.n_embd

    def convert(name: str, tensor: torch.Tensor) -> torch.Tensor:
        for i, part in enumerate(("query", "key", "value")):  # c_attn: the three side by side, (d, 3d) and (3d,)
            if f".attention.{part}." in name:
                tensor = tensor[..., i * d:(i + 1) * d]
        return tensor.T if name.startswith("layers.") and tensor.dim() == 2 else tensor  # Conv1D's (in, out)

    return _copy_checked(decoder, state, _GPT2_NAMES, "h.", convert)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameters of a module, every tensor counted once; with ``trainable_only``, those that
    ``requires_grad`` (labs 02, 06; lab 09 counts what each adaptation method trains)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def encoder_layer_parameters(hidden_size: int, intermediate_size: int) -> int:
    """Parameters of one encoder layer by formula; 12 d^2 + 13 d when d_ff = 4d (lab 02)."""
    d, f = hidden_size, intermediate_size
    return 4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d  # Q, K, V, O; feed-forward; two LayerNorms
