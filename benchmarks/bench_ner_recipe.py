"""Training throughput of lab 03's NER recipe against the source articles' recipe.

Usage: python benchmarks/bench_ner_recipe.py [--threads 2] [--steps 30] [--batch 32] [--data PATH]

Both recipes fine-tune the same model (the offline MiniLM encoder with a fresh
9-tag token-classification head, the same initial weights) on the same
CoNLL-2003 training sentences, in the same process, on CPU in float32, with
lablib.train.train and the same optimizer settings. They differ only in how
batches are built:

* source articles: every sentence padded to 128 tokens, random batches;
* lab 03: dynamic padding (each batch padded to its longest sentence) and
  length-grouped batches (lablib.train.make_loader).

Each recipe takes one warm-up step on the first batch of an epoch (for the
lab's recipe that is the batch of longest sentences, which it puts first so
that memory runs out at once if it will), then --steps timed steps on the
batches that follow. Prints the
sentences per second of training of each and the ratio lab / source.
Target (issue "NER fine-tuning"): at least 3.5x. This is a benchmark, not a
test: timings depend on the machine and on what else runs on it.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

from lablib import ner
from lablib.models import minilm_path
from lablib.train import make_loader, train

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003" / "train.txt"
MAX_LENGTH = 128


class NextBatches:
    """The next ``n`` batches of a running pass over a loader, with a length (train() plans its schedule from it)."""

    def __init__(self, batches, n: int):
        self.batches, self.n = batches, n

    def __iter__(self):
        for _ in range(self.n):
            yield next(self.batches)

    def __len__(self) -> int:
        return self.n


def load_sentences(path: Path) -> list:
    if not path.is_file():
        sys.exit(f"bench_ner_recipe: CoNLL-2003 training file not found at {path}; it is reference data "
                 "that only the course's own machines have. Pass --data PATH to a CoNLL file.")
    return ner.read_conll(path)


def tokenize(tokenizer, sentences) -> list:
    if hasattr(ner, "tokenize_and_align"):
        return ner.tokenize_and_align(tokenizer, sentences, max_length=MAX_LENGTH)
    # fallback while lablib.ner has no tokenize_and_align: label the first word piece, -100 elsewhere
    encoding = tokenizer([s.tokens for s in sentences], is_split_into_words=True,
                         truncation=True, max_length=MAX_LENGTH)
    features = []
    for row, sentence in enumerate(sentences):
        word_ids, previous, labels = encoding.word_ids(row), None, []
        for word in word_ids:
            labels.append(-100 if word is None or word == previous else ner.TAG2ID[sentence.tags[word]])
            previous = word
        features.append({key: encoding[key][row] for key in ("input_ids", "attention_mask", "token_type_ids")}
                        | {"labels": labels})
    return features


def run(name, loader, args) -> float:
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)  # the same classifier head for both recipes
    model = AutoModelForTokenClassification.from_pretrained(minilm_path(), num_labels=len(ner.TAGS))
    settings = dict(epochs=1, lr=5e-5, device="cpu", amp="off", progress=False)
    batches = iter(loader)  # one pass (epoch): the first batch warms up, the next ones are timed
    train(model, NextBatches(batches, 1), **settings)
    history = train(model, NextBatches(batches, args.steps), **settings)
    print(f"{name:<44} {history.sentences_per_second:>8.1f} sentences/s   "
          f"{history.train_seconds / len(history.step):>6.2f} s/step   "
          f"padding {history.padding_fraction:>4.0%}   loss {history.loss[0]:.2f} -> {history.loss[-1]:.2f}")
    return history.sentences_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers
    from transformers import AutoTokenizer, DataCollatorForTokenClassification

    transformers.logging.set_verbosity_error()  # the "newly initialized classifier" notice, twice
    transformers.logging.disable_progress_bar()
    started = time.perf_counter()
    sentences = load_sentences(args.data)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    features = tokenize(tokenizer, sentences)
    lengths = sorted(len(f["input_ids"]) for f in features)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} thread(s), CPU, float32")
    print(f"data: {args.data} ({len(features)} sentences, word pieces per sentence: median "
          f"{lengths[len(lengths) // 2]}, max {lengths[-1]}, cut at {MAX_LENGTH})")
    print(f"model: MiniLM-L6 (hidden 384) + {len(ner.TAGS)}-tag head; batch {args.batch}; "
          f"1 warm-up step + {args.steps} timed steps per recipe")

    source = make_loader(features, DataCollatorForTokenClassification(
        tokenizer, padding="max_length", max_length=MAX_LENGTH), args.batch, group_by_length=False, seed=args.seed)
    lab = make_loader(features, DataCollatorForTokenClassification(tokenizer), args.batch,
                      group_by_length=True, seed=args.seed)
    if not 1 <= args.steps < len(lab):
        sys.exit(f"bench_ner_recipe: --steps must be between 1 and {len(lab) - 1} (batches per epoch minus the warm-up), got {args.steps}")
    slow = run("source articles (pad to 128, random batches)", source, args)
    fast = run("lab 03 (dynamic padding, length-grouped)", lab, args)
    print(f"speed-up lab / source: {fast / slow:.2f}x (target >= 3.5x)   [total {time.perf_counter() - started:.0f} s]")


if __name__ == "__main__":
    main()
