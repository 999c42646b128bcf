"""Time generation with the KV cache against without, and lablib's decoder against GPT2LMHeadModel.

Usage: python benchmarks/bench_generation.py [--threads 1] [--new-tokens 256] [--prompt 16] [--repeats 3] [--small]

On 2 CPU cores the uncached run of GPT-2 124M takes minutes: use --repeats 1 there.

One process, one model, one prompt (issue "Chapter and lab: generative pretraining"):

1. ``lablib.generation.generate`` greedy, ``use_cache=True`` against ``use_cache=False``: tokens per second
   for 256 new tokens, and a check that both give the same tokens. Without the cache every step runs the
   whole sequence again, so its cost grows with the square of the length (chapter "Generative pretraining",
   the KV-cache cost model).
2. The forward pass of ``lablib.transformer.Decoder`` against the ``transformers.GPT2LMHeadModel`` it was
   loaded from, on the same batch: median milliseconds and the ratio ours / theirs, and the largest logit
   difference.

The model is a randomly initialised GPT-2 of the smallest size (124M parameters, 12 layers, width 768) unless
``--small`` is given; nothing is downloaded. This is a benchmark, not a test: timings depend on the machine
and on what else runs on it.
"""
import argparse

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from bench_attention import median_seconds  # same folder: one timing helper for the benchmarks
from lablib import generation as G
from lablib import transformer as T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt", type=int, default=16, help="prompt length in tokens")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="a 4-layer width-256 model instead of GPT-2 124M")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sizes = dict(n_embd=256, n_layer=4, n_head=4) if args.small else dict(n_embd=768, n_layer=12, n_head=12)
    config = GPT2Config(n_positions=1024, attn_implementation="sdpa", **sizes)
    hf = GPT2LMHeadModel(config).eval()
    ours = T.load_hf_gpt2(hf)
    prompt = torch.randint(0, config.vocab_size, (1, args.prompt), generator=torch.Generator().manual_seed(1))
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU, float32; random GPT-2 "
          f"(n_layer {config.n_layer}, n_embd {config.n_embd}, {T.count_parameters(ours) / 1e6:.0f}M parameters); "
          f"prompt {args.prompt} tokens, {args.new_tokens} new tokens, greedy, median of {args.repeats}")

    runs = {}
    for use_cache in (True, False):
        G.generate(ours, prompt, 4, temperature=0, use_cache=use_cache)  # warm-up: a short run, not a whole one

        def run():
            runs[use_cache] = G.generate(ours, prompt, args.new_tokens, temperature=0, use_cache=use_cache)
        runs[f"s{use_cache}"] = median_seconds(run, args.repeats, warmup=0)
    same = torch.equal(runs[True].ids, runs[False].ids)
    cached, uncached = args.new_tokens / runs["sTrue"], args.new_tokens / runs["sFalse"]
    print(f"{'generate':<24} {'tokens/s':>9} {'seconds':>8}")
    print(f"{'with the KV cache':<24} {cached:>9.1f} {runs['sTrue']:>8.2f}")
    print(f"{'without (full re-run)':<24} {uncached:>9.1f} {runs['sFalse']:>8.2f}")
    print(f"speed-up of the cache: {cached / uncached:.1f}x; same tokens: {same}")

    batch = torch.randint(0, config.vocab_size, (8, 128), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        ours_s = median_seconds(lambda: ours(batch), args.repeats * 3)
        theirs_s = median_seconds(lambda: hf(input_ids=batch), args.repeats * 3)
        diff = (ours(batch).logits - hf(input_ids=batch).logits).abs().max().item()
    print(f"forward, batch 8 x 128 tokens: lablib Decoder {ours_s * 1e3:.1f} ms, GPT2LMHeadModel (sdpa) "
          f"{theirs_s * 1e3:.1f} ms, ratio ours/theirs {ours_s / theirs_s:.2f}; max |logit difference| {diff:.1e}")


if __name__ == "__main__":
    main()
