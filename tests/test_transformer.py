"""lablib.transformer equals the reference implementations (chapter "The Transformer from scratch").

The from-scratch encoder, loaded with real MiniLM weights or with randomly
initialised BertConfigs, must give the same hidden states as
transformers.BertModel, layer by layer, padding included.
"""
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, BertConfig, BertModel

from lablib import models
from lablib import transformer as T

TOL = dict(rtol=1e-5, atol=1e-5)


def random_qkv(batch=2, heads=3, length=7, d_k=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, length, d_k, generator=generator) for _ in range(3)]


@pytest.mark.parametrize("length, d_k", [(1, 4), (7, 8), (33, 16)])
def test_attention_matches_sdpa_without_mask(length, d_k):
    q, k, v = random_qkv(length=length, d_k=d_k)
    out, weights = T.attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), **TOL)


def test_attention_matches_sdpa_with_padding_and_causal_masks():
    q, k, v = random_qkv(length=6)
    lengths = torch.tensor([6, 3])
    pad = T.padding_mask((torch.arange(6)[None, :] < lengths[:, None]).long())  # (2, 1, 1, 6)
    for mask in (pad, T.causal_mask(6), pad & T.causal_mask(6)):
        out, weights = T.attention(q, k, v, mask)
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)
        assert (weights.masked_select(~mask.expand_as(weights)) == 0).all(), "masked keys get no weight"
    out, _ = T.attention(q, k, v, T.causal_mask(6))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)


def test_multi_head_attention_matches_torch():
    torch.manual_seed(0)
    d, h = 32, 4
    ours = T.MultiHeadAttention(d, h).eval()
    theirs = torch.nn.MultiheadAttention(d, h, batch_first=True).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key.weight, ours.value.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key.bias, ours.value.bias]))
        theirs.out_proj.weight.copy_(ours.output.weight)
        theirs.out_proj.bias.copy_(ours.output.bias)
    x = torch.randn(3, 9, d)
    keep = torch.ones(3, 9, dtype=torch.long)
    keep[1, 5:] = 0
    out, weights = ours(x, T.padding_mask(keep))
    ref, ref_weights = theirs(x, x, x, key_padding_mask=~keep.bool(), average_attn_weights=False)
    torch.testing.assert_close(out, ref, **TOL)
    torch.testing.assert_close(weights, ref_weights, **TOL)


def compare_with_hf(hf_model: BertModel, encoder: T.Encoder, input_ids, attention_mask, token_type_ids=None):
    with torch.no_grad():
        ref = hf_model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                       output_hidden_states=True, output_attentions=True)
        ours = encoder(input_ids, attention_mask, token_type_ids)
    assert len(ours.hidden_states) == len(ref.hidden_states) == hf_model.config.num_hidden_layers + 1
    # Compared at real tokens only: what a model computes at a padding position is never used (no real
    # token attends to it), and there float32 rounding differs with the order of the masked sums.
    real = attention_mask.bool()
    for layer, (a, b) in enumerate(zip(ours.hidden_states, ref.hidden_states)):
        torch.testing.assert_close(a[real], b[real], **TOL, msg=lambda m, layer=layer: f"hidden state {layer}: {m}")
    for layer, (a, b) in enumerate(zip(ours.attentions, ref.attentions)):  # (batch, heads, query, key)
        a, b = a.transpose(1, 2)[real], b.transpose(1, 2)[real]  # the rows of real queries
        torch.testing.assert_close(a, b, **TOL, msg=lambda m, layer=layer: f"attention {layer}: {m}")


@pytest.fixture(scope="module")
def minilm():
    path = models.minilm_path()
    hf = BertModel.from_pretrained(path, add_pooling_layer=False, attn_implementation="eager").eval()
    return path, hf


def test_minilm_weights_give_the_same_outputs_as_hugging_face(minilm):
    path, hf = minilm
    encoder = T.load_hf_bert(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    batch = tokenizer(["The cat sat on the mat", "Foundation models are adapted to many downstream tasks, "
                       "so their defects are inherited downstream too."], padding=True, return_tensors="pt")
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1], "the batch must contain padding"
    compare_with_hf(hf, encoder, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    assert T.count_parameters(encoder) == sum(p.numel() for p in hf.parameters())


def test_loader_accepts_a_model_object_and_matches(minilm):
    _, hf = minilm
    encoder = T.load_hf_bert(hf)
    ids = torch.randint(0, hf.config.vocab_size, (2, 11))
    compare_with_hf(hf, encoder, ids, torch.ones_like(ids))


@pytest.mark.parametrize(
    "hidden, layers, heads, intermediate, length",
    [(32, 1, 1, 64, 5), (48, 2, 4, 96, 17), (64, 3, 8, 256, 40), (96, 2, 12, 384, 130)],
)
def test_random_configs_match_hugging_face(hidden, layers, heads, intermediate, length):
    torch.manual_seed(hidden + layers)
    config = BertConfig(vocab_size=211, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, max_position_embeddings=160, type_vocab_size=2,
                        attn_implementation="eager")
    hf = BertModel(config, add_pooling_layer=False).eval()
    encoder = T.load_hf_bert(hf)
    ids = torch.randint(0, 211, (3, length))
    mask = torch.ones_like(ids)
    mask[1, length // 2:] = 0
    mask[2, 1:] = 0  # a single real token
    types = torch.zeros_like(ids)
    types[:, length // 3:] = 1
    compare_with_hf(hf, encoder, ids, mask, types)


def test_parameter_count_formula():
    layer = T.EncoderLayer(384, 12, 1536)
    assert T.count_parameters(layer) == T.encoder_layer_parameters(384, 1536)
    embeddings = T.Embeddings(T.EncoderConfig(vocab_size=100, hidden_size=8, max_position_embeddings=16))
    assert T.count_parameters(embeddings) == (100 + 16 + 2) * 8 + 2 * 8  # three tables and a LayerNorm
    d = 768
    assert T.encoder_layer_parameters(d, 4 * d) == 12 * d * d + 13 * d


@pytest.fixture
def checkpoint(tmp_path, minilm):
    """A copy of the MiniLM checkpoint folder that a test may damage."""
    path, _ = minilm
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((path / name).read_bytes())
    return tmp_path


def test_missing_tensor_is_named(checkpoint):
    state = load_file(str(checkpoint / "model.safetensors"))
    del state["encoder.layer.3.attention.self.key.weight"]
    save_file(state, str(checkpoint / "model.safetensors"))
    with pytest.raises(KeyError, match=r"encoder\.layer\.3\.attention\.self\.key\.weight.*layers\.3\.attention\.key\.weight"):
        T.load_hf_bert(checkpoint)


def test_misshapen_tensor_is_named(checkpoint):
    state = load_file(str(checkpoint / "model.safetensors"))
    state["encoder.layer.0.intermediate.dense.weight"] = torch.zeros(1000, 384)
    save_file(state, str(checkpoint / "model.safetensors"))
    with pytest.raises(ValueError, match=r"encoder\.layer\.0\.intermediate\.dense\.weight.*\(1000, 384\).*\(1536, 384\)"):
        T.load_hf_bert(checkpoint)


def test_bad_inputs_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        (tmp_path / "config.json").write_text(BertConfig(hidden_size=32, num_attention_heads=2).to_json_string())
        T.load_hf_bert(tmp_path)
    with pytest.raises(TypeError, match="expected a folder"):
        T.load_hf_bert(42)
    with pytest.raises(ValueError, match="not divisible"):
        T.MultiHeadAttention(30, 4)
    with pytest.raises(ValueError, match="mask must be boolean"):
        q, k, v = random_qkv()
        T.attention(q, k, v, torch.ones(7, 7))
    with pytest.raises(ValueError, match="do not fit"):
        T.attention(torch.zeros(2, 5, 8), torch.zeros(2, 5, 4), torch.zeros(2, 5, 4))
    encoder = T.Encoder(T.EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                        intermediate_size=32, max_position_embeddings=8))
    with pytest.raises(ValueError, match="exceeds max_position_embeddings 8"):
        encoder(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"input_ids must be \(batch, length\)"):
        encoder(torch.zeros(9, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden_act='relu'"):
        T.EncoderConfig.from_hf(BertConfig(hidden_act="relu"))


# The GPT-2-style decoder (chapter "Generative pretraining", lab 08)
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402


def random_gpt2(hidden, layers, heads, inner, attn="eager", vocab=97, seed=0):
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab, n_positions=160, n_embd=hidden, n_layer=layers, n_head=heads,
                        n_inner=inner, attn_implementation=attn, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config).eval()


@pytest.mark.parametrize("hidden, layers, heads, inner, length, attn", [
    (32, 1, 1, None, 5, "eager"), (48, 2, 4, 80, 17, "eager"), (60, 3, 5, 7, 40, "sdpa"), (96, 2, 12, None, 130, "sdpa")])
def test_decoder_logits_equal_gpt2_with_padding(hidden, layers, heads, inner, length, attn):
    hf = random_gpt2(hidden, layers, heads, inner, attn, seed=hidden)
    decoder = T.load_hf_gpt2(hf)
    ids = torch.randint(0, 97, (4, length))
    mask = torch.ones_like(ids)
    mask[1, length // 2:] = 0  # right padding
    mask[2, 1:] = 0  # a single real token
    mask[3, :length // 3] = 0  # left padding (positions still count from 0, as GPT2LMHeadModel's default)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).logits
        ours = decoder(ids, mask).logits
    real = mask.bool()  # what a padding position computes is never used, as in compare_with_hf
    torch.testing.assert_close(ours[real], ref[real], **TOL)
    assert T.count_parameters(decoder) == sum(p.numel() for p in hf.parameters()), "the output layer is tied"


def test_decoder_layer_parameters_follow_the_formula():
    d = 24  # one GPT-2 block has the encoder layer's 12 d^2 + 13 d; an attention-only block 4 d^2 + 6 d
    assert T.count_parameters(T.DecoderLayer(d, 3, 4 * d, 0.0, 1e-5)) == 12 * d * d + 13 * d
    assert T.count_parameters(T.DecoderLayer(d, 3, 0, 0.0, 1e-5)) == 4 * d * d + 6 * d


def test_decoder_cache_gives_the_same_logits_as_one_pass():
    decoder = T.load_hf_gpt2(random_gpt2(32, 2, 4, None))
    ids = torch.randint(0, 97, (2, 12))
    cache = [{}, {}]
    with torch.no_grad():
        pieces = [decoder(ids[:, :5], cache=cache).logits, decoder(ids[:, 5:6], cache=cache).logits,
                  decoder(ids[:, 6:], cache=cache).logits]
        whole = decoder(ids).logits
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, **TOL)
    assert cache[1]["k"].shape == (2, 4, 12, 8), "(batch, heads, positions, d_k) per layer"


@pytest.fixture
def gpt2_folder(tmp_path):
    random_gpt2(32, 2, 4, None).save_pretrained(tmp_path)
    return tmp_path


def test_gpt2_folder_loads_and_bad_tensors_are_named(gpt2_folder):
    decoder = T.load_hf_gpt2(gpt2_folder)
    assert decoder.config.n_layer == 2 and not decoder.training
    state = load_file(str(gpt2_folder / "model.safetensors"))
    state["transformer.h.1.attn.c_attn.weight"] = torch.zeros(32, 90)
    save_file(state, str(gpt2_folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"h\.1\.attn\.c_attn\.weight.*\(32, 90\).*expected \(32, 32\)"):
        T.load_hf_gpt2(gpt2_folder)
    del state["transformer.h.0.mlp.c_fc.bias"]
    save_file(state, str(gpt2_folder / "model.safetensors"))
    with pytest.raises(KeyError, match=r"h\.0\.mlp\.c_fc\.bias.*layers\.0\.feed_forward\.up\.bias"):
        T.load_hf_gpt2(gpt2_folder)


def test_decoder_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="activation_function='relu' is not supported"):
        T.DecoderConfig.from_hf(GPT2Config(activation_function="relu"))
    with pytest.raises(ValueError, match="tie_word_embeddings=False"):
        T.DecoderConfig.from_hf(GPT2Config(tie_word_embeddings=False))
    with pytest.raises(TypeError, match="load_hf_gpt2: expected a folder or a GPT2LMHeadModel"):
        T.load_hf_gpt2(3.5)
    decoder = T.Decoder(T.DecoderConfig(vocab_size=10, n_positions=6, n_embd=8, n_layer=1, n_head=2, n_inner=0))
    assert decoder.layers[0].feed_forward is None, "n_inner=0: attention only"
    with pytest.raises(ValueError, match="sequence length 7 exceeds n_positions 6"):
        decoder(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="cache must hold one dict per layer"):
        decoder(torch.zeros(1, 2, dtype=torch.long), cache=[{}, {}])
