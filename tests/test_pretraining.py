"""lablib.pretraining: the generated corpus, the vocabulary, masking, the models, the loops and the scaling fit."""
import math
import random

import numpy as np
import pytest
import torch

from lablib import data, ner, ner_corpus, pretraining_corpus, transformer
from lablib import pretraining as P


@pytest.fixture(scope="module")
def corpus_folder(tmp_path_factory):
    """A cache folder holding the default corpus, written (and checked) once for this module."""
    folder = tmp_path_factory.mktemp("pretraining-cache")
    P.load_corpus(folder=folder)
    return folder


@pytest.fixture(scope="module")
def sentences():
    return P.generate(size=2000)


@pytest.fixture(scope="module")
def vocab(sentences):
    return P.Vocabulary.build(sentences)


# ------------------------------------------------------------------ the corpus


def test_same_seed_same_corpus_other_seed_other_corpus():
    first = P.generate(7, 300)
    assert first == P.generate(7, 300)
    assert first[:100] == P.generate(7, 100), "the first k sentences must not depend on size"
    assert first != P.generate(8, 300)
    assert len(first) == 300 and P.generate(7, 0) == []


def test_default_corpus_file_has_the_recorded_checksum(corpus_folder):
    """The cross-version guard: generation must reproduce the corpus byte for byte."""
    path = corpus_folder / P.corpus_file_name()
    assert data.sha256_file(path) == data._CORPUS_SHA256
    assert b"\r" not in path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o644, "a shared cache needs files that others can read"
    again = P.load_corpus(folder=corpus_folder)  # a verified cache hit
    assert len(again) == pretraining_corpus._DEFAULT_SIZE
    assert again[:500] == P.generate(size=500)


def test_a_changed_corpus_file_fails_loudly(tmp_path):
    (tmp_path / P.corpus_file_name()).write_text("Anna Malloy works for Corvel .\n", encoding="utf-8")
    with pytest.raises(data.ChecksumError, match="checksum mismatch"):
        P.load_corpus(folder=tmp_path)


def test_load_corpus_goes_through_fetch_and_refuses_a_changed_generator(tmp_path, monkeypatch):
    """Generated, verified, then moved into place: a wrong corpus never sits under the final name."""
    assert data._REGISTRY[P.corpus_file_name()].sha256 == data._CORPUS_SHA256
    monkeypatch.setattr(pretraining_corpus, "generate", lambda *args: [["Anna", "Malloy", "works", "."]])
    with pytest.raises(data.ChecksumError, match="was generated but its sha256"):
        P.load_corpus(folder=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [P.corpus_file_name() + ".rejected"]


def test_corpus_files_round_trip_and_the_defaults(tmp_path):
    path = data._write_corpus(tmp_path / "small.txt", P.generate(7, 50))
    assert data._read_corpus(path) == P.generate(7, 50)
    defaults = f"seed{pretraining_corpus._DEFAULT_SEED}-{pretraining_corpus._DEFAULT_SIZE}"
    assert P.corpus_file_name() == f"pretraining-corpus-{P.CORPUS_VERSION}-{defaults}.txt"
    train, validation = P.split_corpus(P.generate(size=pretraining_corpus._VALIDATION_SIZE + 10))
    assert len(train) == 10 and len(validation) == pretraining_corpus._VALIDATION_SIZE
    world = P.make_world()
    assert isinstance(world, P.World)
    assert all(isinstance(person, pretraining_corpus._Person) for person in world.people)
    (tmp_path / P.corpus_file_name()).write_text("one line\n\n", encoding="utf-8")
    with pytest.raises(data.ChecksumError, match="left untouched"):  # a changed file is refused before it is read
        P.load_corpus(folder=tmp_path)


def test_sentences_are_clean_and_in_length(sentences):
    for tokens in sentences:
        assert 5 <= len(tokens) <= 40
        assert all(token and not any(c.isspace() for c in token) for token in tokens)
        assert not set(tokens) & set(P._SPECIAL_TOKENS)


def test_the_world_is_consistent_and_the_corpus_states_its_facts(sentences):
    world = P.make_world()
    assert len(world.people) == pretraining_corpus._NUM_PEOPLE == len({p.name for p in world.people})
    towns = [town for _c, _n, _l, ts in pretraining_corpus._COUNTRIES for town in ts]
    assert len(towns) == len(set(towns)), "a town must belong to one country"
    assert world.country_of_town["Berlin"] == "Germany" and world.country_of_town["Lima"] == "Peru"
    by_name = {p.name: p for p in world.people}
    checked = 0
    for tokens in sentences:
        text = " ".join(tokens)
        if " is a town in " in text:
            town, country = text[:-2].split(" is a town in ")
            assert world.country_of_town[town] == country, text
            checked += 1
        if " works for " in text and text.endswith(" ."):
            name = " ".join(tokens[:2])
            if name in by_name and text.startswith(name + " works for "):
                employer_town = text[len(name + " works for "):-2]
                person = by_name[name]
                assert employer_town == f"{person.employer} in {world.org_town[person.employer]}", text
                checked += 1
    assert checked > 20, f"only {checked} fact sentences were checked"


def test_corpus_mentions_names_that_only_the_ner_test_split_labels(sentences):
    """Unlabeled text may mention any name; the labelled NER train split never shows the test names."""
    words = {w for s in sentences for w in s}
    test_only = [n for n in ner_corpus.POOLS["test"]["first"] if n not in ner_corpus.POOLS["train"]["first"]]
    assert len(test_only) > 10 and all(n in words for n in test_only[:10])


def test_bad_corpus_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="seed must be an int"):
        P.generate("7")
    with pytest.raises(ValueError, match="size must be an int >= 0"):
        P.generate(7, -1)
    with pytest.raises(ValueError, match="validation must be an int"):
        P.split_corpus([["a"]] * 10, validation=10)


# ------------------------------------------------------------------ the vocabulary


def test_vocabulary_specials_encode_decode(vocab, sentences):
    assert vocab.itos[:5] == list(P._SPECIAL_TOKENS) and vocab.num_special == 5
    ids = vocab.encode(["Anna", "flew", "to", "Qwertyuiop", "."])
    assert ids[0] == vocab.cls_id and ids[-1] == vocab.sep_id and ids[4] == vocab.unk_id
    assert vocab.decode(ids) == ["[CLS]", "Anna", "flew", "to", "[UNK]", ".", "[SEP]"]
    assert vocab.encode(["[MASK]"], add_special_tokens=False) == [vocab.mask_id]
    counts = [sum(s.count(w) for s in sentences) for w in vocab.itos[5:8]]
    assert counts == sorted(counts, reverse=True), "most frequent words first"


def test_vocabulary_rejects_bad_input():
    with pytest.raises(ValueError, match="min_count"):
        P.Vocabulary.build([["a"]], min_count=0)
    with pytest.raises(ValueError, match="not a word"):
        P.Vocabulary(["two words"])
    with pytest.raises(ValueError, match="use text.split"):
        P.Vocabulary(["a"]).encode("a b")


# ------------------------------------------------------------------ masking


def sample_ids(vocab, rows=2000, length=50, seed=0):
    """Word ids with [CLS] ... [SEP] and some padding and [UNK]s: the specials must never be masked."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(vocab.num_special, len(vocab), (rows, length), generator=g)
    ids[:, 0], ids[:, -1] = vocab.cls_id, vocab.sep_id
    ids[::3, 40:] = vocab.pad_id
    ids[::7, 5] = vocab.unk_id
    return ids


def test_masking_statistics_follow_15_percent_and_80_10_10(vocab):
    ids = sample_ids(vocab)
    inputs, labels = P.mask_tokens(ids, vocab, torch.Generator().manual_seed(1))
    special = ids < vocab.num_special
    chosen = labels != -100
    words = int((~special).sum())
    rate = int(chosen.sum()) / words
    assert abs(rate - 0.15) < 0.005, f"masked {rate:.4f} of the word positions, expected 0.15"
    n = int(chosen.sum())
    as_mask = int((inputs[chosen] == vocab.mask_id).sum()) / n
    unchanged = int((inputs[chosen] == ids[chosen]).sum()) / n
    random_word = 1 - as_mask - unchanged
    chance = 1 / (len(vocab) - vocab.num_special)  # a random word that happens to be the original
    assert abs(as_mask - 0.8) < 0.015 and abs(random_word - 0.1 * (1 - chance)) < 0.01 \
        and abs(unchanged - 0.1 * (1 + chance)) < 0.01, (as_mask, random_word, unchanged)
    replaced = chosen & (inputs != vocab.mask_id) & (inputs != ids)
    assert bool((inputs[replaced] >= vocab.num_special).all()), "a random replacement must be a word"


def test_specials_are_never_masked_and_labels_are_minus_100_elsewhere(vocab):
    ids = sample_ids(vocab, rows=500)
    inputs, labels = P.mask_tokens(ids, vocab, 3)
    special = ids < vocab.num_special
    assert bool((labels[special] == -100).all()) and torch.equal(inputs[special], ids[special])
    chosen = labels != -100
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen]), "unchosen positions must be left as they are"


def test_masking_depends_only_on_its_generator(vocab):
    ids = sample_ids(vocab, rows=50)
    state = torch.get_rng_state()
    first = P.mask_tokens(ids, vocab, torch.Generator().manual_seed(5))
    assert torch.equal(state, torch.get_rng_state()), "the global random state must not be used"
    again = P.mask_tokens(ids, vocab, 5)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    other = P.mask_tokens(ids, vocab, 6)
    assert not torch.equal(first[1], other[1])


def test_masking_rejects_bad_input(vocab):
    ids = sample_ids(vocab, rows=4)
    with pytest.raises(ValueError, match="integer tensor"):
        P.mask_tokens(ids.float(), vocab, 0)
    with pytest.raises(ValueError, match="ids must be in"):
        P.mask_tokens(ids + len(vocab), vocab, 0)
    with pytest.raises(ValueError, match="probability"):
        P.mask_tokens(ids, vocab, 0, probability=1.5)
    with pytest.raises(ValueError, match="generator"):
        P.mask_tokens(ids, vocab, "seed")
    with pytest.raises(ValueError, match="Vocabulary"):
        P.mask_tokens(ids, None, 0)


def test_padding_collator_pads_to_the_longest_in_the_batch():
    vocab = P.Vocabulary(["Anna", "left", "."])
    batch = P.PaddingCollator(vocab)([{"input_ids": vocab.encode(["Anna", "left", "."]), "labels": [1, 2, 3, 4, 5]},
                                      {"input_ids": vocab.encode(["Anna"]), "labels": [1, 2, 3]}])
    assert batch["input_ids"].tolist()[1] == vocab.encode(["Anna"]) + [vocab.pad_id] * 2
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert batch["labels"].tolist() == [[1, 2, 3, 4, 5], [1, 2, 3, -100, -100]]
    assert set(P.PaddingCollator(vocab)([{"input_ids": [2, 3]}])) == {"input_ids", "attention_mask"}
    with pytest.raises(ValueError, match="empty batch"):
        P.PaddingCollator(vocab)([])


def test_masking_collator_never_masks_padding(vocab, sentences):
    collator = P.MaskingCollator(vocab, seed=0)
    batch = collator([{"input_ids": vocab.encode(s)} for s in sentences[:64]])
    pad = batch["attention_mask"] == 0
    assert bool(pad.any()) and bool((batch["labels"][pad] == -100).all())
    assert bool((batch["input_ids"][pad] == vocab.pad_id).all())


# ------------------------------------------------------------------ models


def test_validation_loss_is_the_mean_over_masked_positions(vocab, sentences):
    model = P.MaskedLM(P.tiny_config(len(vocab), 16, 1), seed=0).eval()
    batch = P.MaskingCollator(vocab, seed=1)([{"input_ids": vocab.encode(s)} for s in sentences[:8]])
    full = model(batch["input_ids"], batch["attention_mask"]).logits
    assert full.shape == (*batch["input_ids"].shape, len(vocab))
    out = model(**batch)
    assert isinstance(out, P.Output) and out == (out.loss, out.logits)
    expected = torch.nn.functional.cross_entropy(full.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100)
    assert torch.isclose(out.loss, expected, atol=1e-5)
    assert out.logits.shape == (int((batch["labels"] != -100).sum()), len(vocab))
    assert model.head(torch.zeros(1, 16)).shape == (1, len(vocab))
    none = dict(batch, labels=torch.full_like(batch["labels"], -100))
    assert model(**none).loss.item() == 0.0, "a batch without masked positions has loss 0, not nan"


def test_non_embedding_parameters_follow_the_formula(vocab):
    for d, layers in ((16, 1), (32, 2), (48, 3)):
        model = P.MaskedLM(P.tiny_config(len(vocab), d, layers))
        assert P.non_embedding_parameters(model) == layers * transformer.encoder_layer_parameters(d, 4 * d) \
            == layers * (12 * d * d + 13 * d)


def test_tagger_from_pretrained_copies_and_from_scratch_differs_only_in_the_encoder(vocab):
    mlm = P.MaskedLM(P.tiny_config(len(vocab), 16, 1), seed=3)
    pre, scratch = P.TokenTagger.from_pretrained(mlm, seed=1), P.TokenTagger.from_scratch(mlm.config, seed=1)
    assert torch.equal(pre.classifier.weight, scratch.classifier.weight), "same head initialisation"
    assert torch.equal(pre.encoder.embeddings.token.weight, mlm.encoder.embeddings.token.weight)
    assert not torch.equal(scratch.encoder.embeddings.token.weight, mlm.encoder.embeddings.token.weight)
    with torch.no_grad():
        pre.encoder.embeddings.token.weight.add_(1.0)
    assert not torch.equal(pre.encoder.embeddings.token.weight, mlm.encoder.embeddings.token.weight), \
        "fine-tuning the tagger must not change the pretrained model"


def test_tagger_features_give_one_label_per_word():
    sentences = [ner.Sentence(["Anna", "Malloy", "left", "."], ["B-PER", "I-PER", "O", "O"])]
    vocab = P.Vocabulary.build([s.tokens for s in sentences])
    (feature,) = P._tagger_features(vocab, sentences)
    assert feature["labels"] == [-100, ner.TAG2ID["B-PER"], ner.TAG2ID["I-PER"], 0, 0, -100]
    assert len(feature["input_ids"]) == len(feature["labels"])
    with pytest.raises(ValueError, match="4 words but 3 tags"):
        P._tagger_features(vocab, [ner.Sentence(sentences[0].tokens, ["O"] * 3)])


# ------------------------------------------------------------------ loops


def test_pretraining_is_reproducible_and_learns(vocab, sentences):
    val = P.masked_batches(vocab, sentences[-200:])
    runs = []
    for _ in range(2):
        model = P.MaskedLM(P.tiny_config(len(vocab), 16, 1), seed=0)
        before = P.validation_loss(model, val)
        history = P.pretrain(model, vocab, sentences[:-200], steps=30, batch_size=16, lr=1e-2, seed=0,
                             eval_every=15, evaluate=lambda m: {"loss": P.validation_loss(m, val)})
        runs.append((model, history))
    (first, h1), (second, h2) = runs
    assert len(h1.step) == 30 and [e.step for e in h1.evaluations] == [15, 30]
    assert h1.loss == h2.loss and all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                                        second.state_dict().values()))
    assert h1.evaluations[-1].metrics["loss"] < before - 0.5, "30 steps should lower the masked-LM loss"
    with pytest.raises(ValueError, match="divides steps"):
        P.pretrain(first, vocab, sentences, steps=10, eval_every=3)
    with pytest.raises(ValueError, match="expected a MaskedLM"):
        P.pretrain(torch.nn.Linear(2, 2), vocab, sentences, steps=10)


def test_fill_in_and_fine_tuning_run_end_to_end(vocab):
    model = P.MaskedLM(P.tiny_config(len(vocab), 16, 1), seed=0)
    (answers,) = P.fill_in(model, vocab, "Berlin is a town in [MASK] .", k=3)
    assert len(answers) == 3 and answers[0][1] >= answers[1][1] >= answers[2][1]
    assert all(word not in P._SPECIAL_TOKENS for word, _ in answers)
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        P.fill_in(model, vocab, "no blank here")
    labelled = [ner.Sentence(["Anna", "Malloy", "left", "Berlin", "."], ["B-PER", "I-PER", "O", "B-LOC", "O"])] * 4
    tagger = P.TokenTagger.from_pretrained(model)
    history = P.fine_tune_tagger(tagger, vocab, labelled, steps=30, batch_size=4, lr=1e-2)
    assert len(history.step) == 30 and history.loss[-1] < history.loss[0]
    predicted = P.tagger_predictions(tagger, vocab, labelled[:2] + [["Just", "three", "words"]])
    assert [len(p) for p in predicted] == [5, 5, 3] and predicted[0] == labelled[0].tags


def test_loops_show_a_progress_bar_that_says_what_trains(vocab, sentences, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # tqdm cuts a bar to the terminal width (80 when not a terminal)
    model = P.MaskedLM(P.tiny_config(len(vocab), 16, 1), seed=0)
    val = P.masked_batches(vocab, sentences[-50:])
    P.pretrain(model, vocab, sentences, steps=4, batch_size=4, eval_every=2,
               evaluate=lambda m: {"validation loss": P.validation_loss(m, val)})
    shown = capsys.readouterr().err
    assert "pretraining (masked LM, width 16, 1 layer)" in shown and "4/4" in shown, shown[-300:]
    assert "validation loss=" in shown, "the bar shows the latest evaluation"
    labelled = [ner.Sentence(["Anna", "Malloy", "left", "."], ["B-PER", "I-PER", "O", "O"])] * 3
    P.fine_tune_tagger(P.TokenTagger.from_pretrained(model), vocab, labelled, steps=3, batch_size=2)
    assert "fine-tuning an NER tagger on 3 labelled sentences" in capsys.readouterr().err
    P.fine_tune_tagger(P.TokenTagger.from_pretrained(model), vocab, labelled, steps=3, batch_size=2,
                       desc="random encoder, 3 sentences")
    assert "random encoder, 3 sentences" in capsys.readouterr().err
    P.pretrain(model, vocab, sentences, steps=2, batch_size=4, progress=False)
    P.fine_tune_tagger(P.TokenTagger.from_pretrained(model), vocab, labelled, steps=2, progress=False)
    assert capsys.readouterr().err == "", "progress=False must print nothing"
    with pytest.raises(ValueError, match="progress must be True or False"):
        P.pretrain(model, vocab, sentences, steps=2, progress="yes")
    with pytest.raises(ValueError, match="leave must be True or False"):
        P.fine_tune_tagger(P.TokenTagger.from_pretrained(model), vocab, labelled, steps=2, leave=None)


def test_tiny_pretrained_follows_the_recipe_and_returns_copies(corpus_folder):
    recipe = {"hidden_size": 16, "num_layers": 1, "steps": 10, "batch_size": 8}
    first = P.tiny_pretrained(seed=4, folder=corpus_folder, **recipe)
    again = P.tiny_pretrained(seed=4, folder=corpus_folder, **recipe)
    assert isinstance(first, P.Pretrained) and first.model is not again.model
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    train_sentences, _ = P.split_corpus(P.load_corpus(folder=corpus_folder))
    model = P.MaskedLM(P.tiny_config(len(first.vocab), 16, 1), seed=4)
    P.pretrain(model, first.vocab, train_sentences, steps=10, batch_size=8, lr=P.TINY_RECIPE["lr"], seed=4)
    for a, b in zip(model.state_dict().values(), first.model.state_dict().values()):
        assert torch.equal(a, b), "tiny_pretrained must be exactly the recipe of lab 05"
    with pytest.raises(ValueError, match="unknown recipe entries"):
        P.tiny_pretrained(seed=0, width=3)


# ------------------------------------------------------------------ the scaling fit


def test_fit_recovers_a_known_exponent_from_noisy_points():
    rng = np.random.default_rng(0)
    n = np.geomspace(6e3, 2e5, 6)
    for alpha, n_c in ((0.076, 8.8e13), (0.05, 1e20), (0.3, 1e7)):
        loss = (n_c / n) ** alpha * np.exp(rng.normal(0, 0.003, size=n.size))
        fit = P.fit_power_law(n, loss)
        assert abs(fit.alpha - alpha) < 0.05 * alpha, (alpha, fit)
        assert fit.alpha_low < alpha < fit.alpha_high and fit.r2 > 0.95
        assert math.isclose(fit.alpha, -np.polyfit(np.log(n), np.log(loss), 1)[0], rel_tol=1e-9)
    exact = P.fit_power_law(n, (8.8e13 / n) ** 0.076)
    assert isinstance(exact, P.PowerLawFit) and str(exact).startswith("alpha = 0.0760 (95% CI")
    assert math.isclose(exact.alpha, 0.076, rel_tol=1e-9) and math.isclose(exact.n_c, 8.8e13, rel_tol=1e-6)
    assert math.isclose(exact.r2, 1.0) and np.allclose(exact.predict(n), (8.8e13 / n) ** 0.076)


def test_confidence_interval_uses_the_t_quantile():
    n = np.array([1e3, 3e3, 1e4, 3e4])
    loss = np.array([5.0, 4.7, 4.5, 4.1])
    fit = P.fit_power_law(n, loss, confidence=0.9)
    x, y = np.log(n), np.log(loss)
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    se = math.sqrt(residuals @ residuals / 2 / ((x - x.mean()) @ (x - x.mean())))
    assert math.isclose(fit.stderr, se, rel_tol=1e-9)
    assert math.isclose(fit.alpha_high - fit.alpha, 2.919986 * se, rel_tol=1e-5)  # t(0.95, 2 dof)


def test_fit_with_a_fixed_irreducible_loss():
    n = np.geomspace(1e3, 1e6, 5)
    loss = 1.5 + (1e9 / n) ** 0.2
    assert math.isclose(P.fit_power_law(n, loss, irreducible=1.5).alpha, 0.2, rel_tol=1e-9)
    assert P.fit_power_law(n, loss).alpha < 0.2, "ignoring a floor flattens the fitted exponent"


@pytest.mark.parametrize("n, loss, kwargs, message", [
    ([1e3, 1e4], [2.0, 1.0], {}, "at least 3 points"),
    ([1e3, 1e4, 1e5], [2.0, 1.0], {}, "equal length"),
    ([1e3, -1e4, 1e5], [3.0, 2.0, 1.0], {}, "positive and finite"),
    ([1e3, 1e4, 1e5], [3.0, float("nan"), 1.0], {}, "positive and finite"),
    ([1e4, 1e4, 1e4], [3.0, 2.0, 1.0], {}, "all n are equal"),
    ([1e3, 1e4, 1e5], [3.0, 2.0, 1.0], {"irreducible": 1.0}, "exceed irreducible"),
    ([1e3, 1e4, 1e5], [3.0, 2.0, 1.0], {"confidence": 95}, "confidence"),
    ("abc", [3.0, 2.0, 1.0], {}, "sequences of numbers"),
])
def test_fit_rejects_bad_input(n, loss, kwargs, message):
    with pytest.raises(ValueError, match=message):
        P.fit_power_law(n, loss, **kwargs)


def test_masking_shares_match_hugging_faces_collator():
    """80/10/10 over many positions: the same shares as DataCollatorForLanguageModeling on the same shape."""
    from transformers import BertTokenizerFast, DataCollatorForLanguageModeling

    words = [f"w{i}" for i in range(200)]
    vocab = P.Vocabulary(words)
    ids = torch.randint(vocab.num_special, len(vocab), (400, 50), generator=torch.Generator().manual_seed(0))
    inputs, labels = P.mask_tokens(ids, vocab, 1)
    import tempfile, os
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "vocab.txt"), "w") as f:
            f.write("\n".join(vocab.itos))
        tokenizer = BertTokenizerFast(os.path.join(folder, "vocab.txt"), pad_token="[PAD]", unk_token="[UNK]",
                                      cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    hf = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")(
        [{"input_ids": row} for row in ids.tolist()])

    def shares(inp, lab):
        chosen = lab != -100
        n = int(chosen.sum())
        counts = (((inp == vocab.mask_id) & chosen).sum(), ((inp != vocab.mask_id) & (inp != ids) & chosen).sum(),
                  ((inp == ids) & chosen).sum())
        return n / ids.numel(), [float(x) / n for x in counts]

    ours, theirs = shares(inputs, labels), shares(hf["input_ids"], hf["labels"])
    # 20,000 positions, about 3,000 chosen: shares agree to a few standard errors
    assert abs(ours[0] - theirs[0]) < 0.01 and abs(ours[0] - 0.15) < 0.01
    for a, b, expected in zip(ours[1], theirs[1], (0.8, 0.1 * 199 / 200, 0.1 + 0.1 / 200)):
        assert abs(a - b) < 0.035 and abs(a - expected) < 0.025, (ours, theirs)


def test_building_models_leaves_the_global_rng_alone_and_depends_only_on_the_seed():
    config = P.tiny_config(50, 16, 1)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = P.MaskedLM(config, seed=4)
    tagger = P.TokenTagger.from_scratch(config, seed=4)
    assert torch.equal(torch.get_rng_state(), state), "constructing a model must not touch the global RNG"
    torch.manual_seed(999)
    again = P.MaskedLM(config, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    other = P.MaskedLM(config, seed=5)
    assert not torch.equal(first.encoder.embeddings.token.weight, other.encoder.embeddings.token.weight)
    assert torch.equal(tagger.classifier.weight, P.TokenTagger.from_pretrained(first, seed=4).classifier.weight)


def test_tagger_predictions_refuses_a_string(vocab):
    tagger = P.TokenTagger.from_scratch(P.tiny_config(len(vocab), 16, 1), seed=0)
    with pytest.raises(ValueError, match="not strings"):
        P.tagger_predictions(tagger, vocab, "Hana Osei lives in Lima")
    with pytest.raises(ValueError, match="not strings"):
        P.tagger_predictions(tagger, vocab, ["Hana Osei lives in Lima"])
