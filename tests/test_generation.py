"""lablib.generation: the sampling filters equal Hugging Face's, the KV cache changes nothing (lab 08)."""
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

from lablib import generation as G
from lablib import transformer as T


def hf_probabilities(logits, temperature, top_k, top_p):
    scores = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k is not None:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p is not None:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return scores.softmax(-1)


@pytest.mark.parametrize("temperature, top_k, top_p", [(1.0, None, None), (0.7, 5, None), (1.3, None, 0.9),
                                                       (0.5, 20, 0.6), (1.0, None, 0.05), (2.0, 1, None)])
def test_filters_equal_hugging_face(temperature, top_k, top_p):
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(1)) * 3
    ours = G.next_token_probabilities(logits, temperature, top_k, top_p)
    torch.testing.assert_close(ours, hf_probabilities(logits, temperature, top_k, top_p))


def test_top_k_and_top_p_keep_exactly_the_right_support():
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    support = lambda p: (p[0] > 0).nonzero().flatten().tolist()  # noqa: E731
    assert support(G.next_token_probabilities(logits, top_k=2)) == [0, 1]
    assert support(G.next_token_probabilities(logits, top_p=0.5)) == [0]  # 0.5 reaches p: the nucleus is one token
    assert support(G.next_token_probabilities(logits, top_p=0.51)) == [0, 1]
    assert support(G.next_token_probabilities(logits, top_p=0.85)) == [0, 1, 2]
    assert support(G.next_token_probabilities(logits, top_p=1.0)) == [0, 1, 2, 3, 4]
    kept = G.next_token_probabilities(logits, top_p=0.85)[0, :3]
    torch.testing.assert_close(kept, torch.tensor([0.5, 0.2, 0.15]) / 0.85)  # renormalised over the nucleus


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=61, n_positions=48, n_embd=32, n_layer=2, n_head=4)
    return T.load_hf_gpt2(GPT2LMHeadModel(config))


@pytest.mark.parametrize("settings", [dict(), dict(temperature=0.8, top_k=10), dict(top_p=0.9)])
def test_cached_and_uncached_generation_agree(decoder, settings):
    prompt = torch.randint(0, 61, (3, 5), generator=torch.Generator().manual_seed(2))
    runs = [G.generate(decoder, prompt, 20, use_cache=cache, generator=torch.Generator().manual_seed(3), **settings)
            for cache in (True, False)]
    assert torch.equal(runs[0].ids, runs[1].ids)
    torch.testing.assert_close(runs[0].logits, runs[1].logits, rtol=1e-5, atol=1e-5)
    assert runs[0].ids.shape == (3, 25) and torch.equal(runs[0].ids[:, :5], prompt)
    with torch.no_grad():  # the logits are the model's own at each position
        full = decoder(runs[0].ids[:, :-1]).logits[:, 4:]
    torch.testing.assert_close(runs[0].logits, full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hidden, layers, heads", [(96, 2, 3), (30, 3, 5)])
def test_greedy_continuations_equal_hugging_face_generate(hidden, layers, heads):
    torch.manual_seed(hidden)
    config = GPT2Config(vocab_size=83, n_positions=64, n_embd=hidden, n_layer=layers, n_head=heads,
                        bos_token_id=0, eos_token_id=None, pad_token_id=0)
    hf = GPT2LMHeadModel(config).eval()
    prompt = torch.randint(1, 83, (3, 7), generator=torch.Generator().manual_seed(6))
    ours = G.generate(T.load_hf_gpt2(hf), prompt, 25, temperature=0)
    assert isinstance(ours, G.Generation)
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=25,
                         min_new_tokens=25)
    assert torch.equal(ours.ids, theirs)


def test_temperature_zero_is_greedy(decoder):
    prompt = torch.randint(0, 61, (2, 4), generator=torch.Generator().manual_seed(4))
    greedy = G.generate(decoder, prompt, 12, temperature=0)
    ids = prompt
    for _ in range(12):  # greedy by hand: the arg-max of the full forward pass
        ids = torch.cat([ids, decoder(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(greedy.ids, ids)
    cold = G.generate(decoder, prompt, 12, temperature=1e-4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(cold.ids, greedy.ids), "a temperature near 0 samples the arg-max"


def test_generation_restores_training_mode(decoder):
    decoder.train()
    G.generate(decoder, torch.zeros(1, 1, dtype=torch.long), 2)
    assert decoder.training
    decoder.eval()


def test_bad_arguments_are_explained(decoder):
    ids = torch.zeros(1, 3, dtype=torch.long)
    logits = torch.zeros(1, 5)
    with pytest.raises(ValueError, match="top_p must be a finite number > 0 and <= 1"):
        G.next_token_probabilities(logits, top_p=1.5)
    with pytest.raises(ValueError, match="top_p"):
        G.next_token_probabilities(logits, top_p=0)
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        G.generate(decoder, ids, 3, temperature=-1)
    with pytest.raises(ValueError, match="top_k must be an integer >= 1"):
        G.generate(decoder, ids, 3, top_k=0)
    with pytest.raises(ValueError, match=r"logits must be \(batch, vocab\)"):
        G.next_token_probabilities(torch.zeros(5))
    with pytest.raises(ValueError, match="ids must be non-empty"):
        G.generate(decoder, torch.zeros(3, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="exceed the model's n_positions 48"):
        G.generate(decoder, ids, 46)
    with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 1"):
        G.generate(decoder, ids, 0)
