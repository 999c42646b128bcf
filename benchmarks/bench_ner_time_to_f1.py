"""Time-to-F1 on real CoNLL-2003: entity F1 on the test set after a fixed training-time budget.

Usage: python benchmarks/bench_ner_time_to_f1.py [--seconds 240] [--threads 2]

Needs the reference copy in ../shared/data/conll2003 (never in the repository).
Fine-tunes the small profile's MiniLM encoder twice in one process, each for
the same wall-clock training budget, and scores entity F1 on the full test set
(scoring time is not counted):

* baseline: a plain loop over length-grouped batches at a constant learning
  rate (AdamW, lr 5e-5, no warm-up, no decay);
* lab recipe: ``lablib.train.train`` -- linear warm-up (10%) and decay planned to
  end when the budget does (the number of sentences is set from a measured
  throughput), lr 1e-4, weight decay on matrices only, gradient clipping.

Target (NER issue): the lab recipe reaches test F1 >= 0.83 in 240 s on 2 CPU
cores. A benchmark, not a test: it depends on the machine and its load.
"""
import argparse
import time
from pathlib import Path

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification

from lablib import hub, models, ner, train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "conll2003"
BATCH_SIZE = 16


def new_model():
    torch.manual_seed(0)
    return AutoModelForTokenClassification.from_pretrained(
        models.minilm_path(), num_labels=len(ner.TAGS), id2label=dict(enumerate(ner.TAGS)), label2id=ner.TAG2ID)


def test_f1(model, tokenizer, data) -> float:
    predicted = ner.predict_tags(model, tokenizer, data["test"], batch_size=64)
    return ner.entity_scores([s.tags for s in data["test"]], predicted)["f1"]


def baseline(features, collator, seconds: float):
    """Constant learning rate, length-grouped batches; stops when the budget is spent."""
    model = new_model().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    loader = train.make_loader(features, collator, BATCH_SIZE, seed=0)
    spent, sentences = 0.0, 0
    while spent < seconds:
        for batch in loader:
            start = time.perf_counter()
            loss = model(**batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            spent += time.perf_counter() - start
            sentences += batch["input_ids"].shape[0]
            if spent >= seconds:
                break
    return model.eval(), sentences, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"the reference CoNLL-2003 copy is not at {DATA}; this benchmark needs it")
    torch.set_num_threads(args.threads)
    data = hub.conll2003_from_folder(DATA)
    tokenizer = AutoTokenizer.from_pretrained(models.minilm_path())
    collator = DataCollatorForTokenClassification(tokenizer)
    features = ner.tokenize_and_align(tokenizer, data["train"], max_length=128)
    print(f"torch {torch.__version__}, {args.threads} thread(s), MiniLM-L6, real CoNLL-2003, "
          f"budget {args.seconds:.0f} s of training, batch size {BATCH_SIZE}")

    model, sentences, spent = baseline(features, collator, args.seconds)
    print(f"baseline (constant lr 5e-5)       : {sentences:,} sentences in {spent:.0f} s "
          f"({sentences / spent:.1f}/s), test entity F1 {test_f1(model, tokenizer, data):.3f}")

    # Plan the schedule to end with the budget: measure throughput on a few steps first.
    probe = train.train(new_model(), train.make_loader(features[:BATCH_SIZE * 12], collator, BATCH_SIZE, seed=1),
                        epochs=1, lr=1e-4, progress=False)
    planned = min(len(features), int(probe.sentences_per_second * args.seconds))
    loader = train.make_loader(features[:planned], collator, BATCH_SIZE, seed=0)
    model = new_model()
    history = train.train(model, loader, epochs=1, lr=1e-4, warmup_ratio=0.1, max_seconds=args.seconds,
                          progress=False)
    print(f"lab recipe (warm-up+decay, 1e-4) : {history.sentences:,} sentences in {history.train_seconds:.0f} s "
          f"({history.sentences_per_second:.1f}/s), test entity F1 {test_f1(model, tokenizer, data):.3f}"
          + (" (stopped at the time guard)" if history.stopped_early else ""))


if __name__ == "__main__":
    main()
