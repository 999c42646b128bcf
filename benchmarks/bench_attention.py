"""Time lablib's from-scratch attention against torch's scaled_dot_product_attention.

Usage: python benchmarks/bench_attention.py [--threads 1] [--batch 8] [--heads 12] [--head-size 64]

Both run in the same process on the same inputs, at sequence lengths 64-512,
with a padding mask (the case the encoder uses). Prints the median time of
each and the ratio from-scratch / SDPA. Target (issue "The Transformer from
scratch"): no slower than 2x at 128 tokens on CPU. This is a benchmark, not
a test: timings depend on the machine and on what else runs on it.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from lablib.transformer import attention, padding_mask


def median_seconds(function, repeats: int, warmup: int = 5) -> float:
    # Warm-up calls first: the first calls at a new size pay for fresh memory
    # (page faults on newly mapped buffers), which a model running at a fixed
    # size pays once; the from-scratch version, with more intermediate
    # buffers, pays more of it.
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--head-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, {args.heads} heads, "
          f"head size {args.head_size}, float32, CPU, padding mask (last quarter of sample 0 padded)")
    print(f"{'tokens':>6} {'from scratch (ms)':>18} {'SDPA (ms)':>10} {'ratio':>6}")
    with torch.inference_mode():
        for length in (64, 128, 256, 512):
            shape = (args.batch, args.heads, length, args.head_size)
            q, k, v = (torch.randn(shape) for _ in range(3))
            keep = torch.ones(args.batch, length, dtype=torch.long)
            keep[0, 3 * length // 4:] = 0
            mask = padding_mask(keep)
            ours = median_seconds(lambda: attention(q, k, v, mask), args.repeats)
            sdpa = median_seconds(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), args.repeats)
            print(f"{length:>6} {ours * 1e3:>18.2f} {sdpa * 1e3:>10.2f} {ours / sdpa:>6.2f}")


if __name__ == "__main__":
    main()
