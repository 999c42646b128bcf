"""Full fine-tuning against LoRA (r = 8): seconds per step and peak memory, same model and batches.

Usage: python benchmarks/bench_adaptation.py [--threads 2] [--steps 20] [--batch 16] [--length 64] [--bert-base]

Issue "Chapter and lab: adaptation". Each method runs in a fresh process of its own, so that its peak memory
is its own and not what an earlier run left in the allocator:

* the model: the offline MiniLM-L6 (22.7M parameters) with a two-class head, or with ``--bert-base`` a
  randomly initialised BERT-base (110M; nothing is downloaded);
* the batches: the same random token ids for both methods, ``--batch`` x ``--length``;
* full fine-tuning trains everything; LoRA r = 8, alpha = 16 on the query and value projections
  (``lablib.adaptation.add_lora``) trains those factors and the head; both with fused AdamW;
* seconds per step: the median over ``--steps`` steps after 3 warm-up steps;
* peak memory. CPU: the process's peak resident set size (Linux's VmHWM), everything of the run included
  (model, batches, warm-up and timed steps), minus its size once the libraries were loaded (a peak counted
  from the timed steps alone proved noisy: the allocator keeps memory freed in the warm-up); plus the bytes of weights, gradients
  and AdamW state read from the tensors (``training_state_bytes``), and the peak of Python's own
  allocations (``tracemalloc``, which does not see PyTorch's tensors). GPU:
  ``torch.cuda.max_memory_allocated`` during the steps.

This is a benchmark, not a test: timings depend on the machine and on what else runs on it.
"""
import argparse
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

from bench_attention import median_seconds  # same folder: one timing helper for the benchmarks


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def one_method(args) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    from lablib import adaptation as A
    from lablib import models
    from lablib import transformer as T

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    before_model = rss_kib("VmRSS")  # the libraries are loaded; nothing of the run exists yet
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.bert_base:
        model = BertForSequenceClassification(BertConfig(num_labels=2))
    else:
        model = AutoModelForSequenceClassification.from_pretrained(models.encoder_checkpoint("small"), num_labels=2)
    if args.method == "lora":
        A.add_lora(model, 8, 16, targets=("query", "value"))
    model.to(device).train()
    g = torch.Generator().manual_seed(1)
    batches = [{"input_ids": torch.randint(1000, 20000, (args.batch, args.length), generator=g).to(device),
                "attention_mask": torch.ones(args.batch, args.length, dtype=torch.long, device=device),
                "labels": torch.randint(0, 2, (args.batch,), generator=g).to(device)}
               for _ in range(args.steps + 3)]
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-4, fused=True)

    def step(batch):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()

    for batch in batches[:3]:  # warm-up: AdamW's state exists from here on
        step(batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tracemalloc.start()
    timed = iter(batches[3:])  # a new batch for every timed step
    seconds = median_seconds(lambda: step(next(timed)), args.steps, warmup=0)
    python_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    model(**batches[0]).loss.backward()  # gradients exist again, for the state's bytes
    return {"method": args.method, "trainable": T.count_parameters(model, trainable_only=True),
            "parameters": T.count_parameters(model), "seconds per step": seconds,
            "peak RSS MiB": (rss_kib("VmHWM") - before_model) / 1024,
            "state MiB": A.training_state_bytes(model, optimizer)["total"] / 2**20,
            "python peak MiB": python_peak / 2**20,
            "GPU peak MiB": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
            "device": str(device), "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--bert-base", action="store_true", help="a random BERT-base instead of the offline MiniLM")
    parser.add_argument("--method", choices=("full", "lora"), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.method:
        print(json.dumps(one_method(args)))
        return
    rows = []
    for method in ("full", "lora"):
        done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--method", method], capture_output=True,
                              text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    full, lora = rows
    print(f"torch {full['torch']}, {args.threads} thread(s), {full['device']}, float32; "
          f"{'random BERT-base' if args.bert_base else 'MiniLM-L6 (offline)'} with a 2-class head, "
          f"{full['parameters'] / 1e6:.1f}M parameters; batches {args.batch} x {args.length} tokens, "
          f"median of {args.steps} steps after 3 warm-up steps; one process per method")
    gpu = full["GPU peak MiB"] is not None
    print(f"{'method':<18}{'trainable':>12}{'s/step':>9}{'peak RSS':>11}{'state':>9}{'python':>8}"
          + (f"{'GPU peak':>10}" if gpu else ""))
    for name, row in (("full fine-tuning", full), ("LoRA r=8", lora)):
        print(f"{name:<18}{row['trainable']:>12,}{row['seconds per step']:>9.3f}"
              f"{row['peak RSS MiB']:>9.0f}Mi{row['state MiB']:>7.0f}Mi{row['python peak MiB']:>6.1f}Mi"
              + (f"{row['GPU peak MiB']:>8.0f}Mi" if gpu else ""))
    print(f"LoRA / full: seconds per step {lora['seconds per step'] / full['seconds per step']:.2f}, "
          f"training state {lora['state MiB'] / full['state MiB']:.2f}"
          + (f", GPU peak {lora['GPU peak MiB'] / full['GPU peak MiB']:.2f}" if gpu else
             f", peak RSS {lora['peak RSS MiB'] / full['peak RSS MiB']:.2f}"))
    print("(peak RSS: the process's peak resident set, model, batches and training included, above its size once "
          "the libraries were loaded; state: weights, "
          "gradients and AdamW moments from the tensors; python: tracemalloc's peak, Python objects only)")


if __name__ == "__main__":
    main()
