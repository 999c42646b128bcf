"""lablib.homogenization: items and failures, representations, the feature tagger, the planted defect (lab 07)."""
import numpy as np
import pytest
import scipy.sparse
import torch

from lablib import homogenization as H
from lablib import metrics as M
from lablib import ner_corpus
from lablib import pretraining as P

SENTENCES = [
    (["Anna", "Malloy", "flew", "to", "Oslo", "."], ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]),
    (["Shares", "fell", "."], ["O", "O", "O"]),
    (["Lumen", "Labs", "hired", "Quist", "in", "Oslo"], ["B-ORG", "I-ORG", "O", "B-PER", "O", "I-LOC"]),
]


@pytest.fixture(scope="module")
def small_ner():
    return ner_corpus.generate(sizes={"train": 400, "validation": 1, "test": 150})


# ----------------------------------------------------------------------------- items and failures


def test_entity_items_reads_every_entity_with_its_sentence_and_span():
    items = H.entity_items(SENTENCES)
    assert items == [H.Entity(0, 0, 2, "PER"), H.Entity(0, 4, 5, "LOC"), H.Entity(2, 0, 2, "ORG"),
                     H.Entity(2, 3, 4, "PER"), H.Entity(2, 5, 6, "LOC")]  # I-LOC after O starts an entity


@pytest.mark.parametrize("sentences, message", [
    ([(["a"], ["O", "O"])], "1 words but 2 tags"),
    ([(["a"], ["B-XYZ"])], "unknown tag"),
    ([(["a", "b"], ["O", "O"])], "no entity"),
    (["just a string"], "pair"),
    ("Anna", "list of"),
])
def test_entity_items_rejects_bad_input(sentences, message):
    with pytest.raises(ValueError, match=message):
        H.entity_items(sentences)


def test_a_model_fails_an_entity_unless_it_predicts_exactly_that_entity():
    items = H.entity_items(SENTENCES)
    gold = [tags for _, tags in SENTENCES]
    assert not H.entity_failures(items, gold).any()
    predicted = [
        ["B-PER", "O", "O", "O", "B-ORG", "B-MISC"],  # person cut short; place with the wrong type; an extra entity
        ["O", "O", "B-LOC"],  # an extra entity where there is none: no item to fail
        ["B-ORG", "I-ORG", "O", "I-PER", "O", "O"],  # I-PER after O is read as an entity; the place is missed
    ]
    assert H.entity_failures(items, predicted).tolist() == [True, True, False, False, True]


def test_entity_failures_rejects_bad_input():
    items = H.entity_items(SENTENCES)
    gold = [tags for _, tags in SENTENCES]
    with pytest.raises(ValueError, match="predicted_tags has 2 sentences"):
        H.entity_failures(items, gold[:2])
    with pytest.raises(ValueError, match="ends at word 2"):
        H.entity_failures(items, [["B-PER"], gold[1], gold[2]])
    with pytest.raises(ValueError, match="unknown tag"):
        H.entity_failures(items, [["B-PERSON"] * 6, gold[1], gold[2]])
    with pytest.raises(ValueError, match="no items"):
        H.entity_failures([], gold)
    with pytest.raises(ValueError, match="expected an Entity"):
        H.entity_failures([(0, 0, 2, "PER")], gold)


# ----------------------------------------------------------------------------- representations


@pytest.fixture(scope="module")
def tiny_tagger():
    vocab = P.Vocabulary(["Anna", "Malloy", "flew", "to", "Oslo", ".", "Shares", "fell"])
    tagger = P.TokenTagger.from_scratch(P.tiny_config(len(vocab), 16, 1), seed=0)
    return tagger, vocab


def test_hidden_states_give_one_row_per_word_and_ignore_padding(tiny_tagger):
    tagger, vocab = tiny_tagger
    words = [s[0] for s in SENTENCES[:2]]
    tagger.train()
    states = H.hidden_states(tagger, vocab, SENTENCES[:2])  # (tokens, tags) pairs work like word lists
    assert [s.shape for s in states] == [(6, 16), (3, 16)]
    assert tagger.training, "the model's mode must be restored"
    alone = H.hidden_states(tagger, vocab, [words[1]])[0]  # no padding when encoded alone
    np.testing.assert_allclose(states[1], alone, atol=1e-5)
    with torch.no_grad():
        tagger.eval()
        direct = tagger.encoder(torch.tensor([vocab.encode(words[0])])).last_hidden_state[0, 1:-1].numpy()
    np.testing.assert_allclose(states[0], direct, atol=1e-5)


def test_hidden_states_rejects_bad_input(tiny_tagger):
    tagger, vocab = tiny_tagger
    with pytest.raises(ValueError, match="with an encoder"):
        H.hidden_states(torch.nn.Linear(2, 2), vocab, [["Anna"]])
    with pytest.raises(ValueError, match="sentence 1 must be a non-empty list"):
        H.hidden_states(tagger, vocab, [["Anna"], []])
    with pytest.raises(ValueError, match="empty"):
        H.hidden_states(tagger, vocab, [])


def test_pool_entities_averages_the_words_of_each_entity_dense_or_sparse():
    items = [H.Entity(0, 0, 2, "PER"), H.Entity(1, 1, 2, "LOC")]
    vectors = [np.array([[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]]), np.array([[5.0, 5.0], [7.0, -1.0]])]
    expected = np.array([[2.0, 1.0], [7.0, -1.0]])
    np.testing.assert_allclose(H.pool_entities(vectors, items), expected)
    np.testing.assert_allclose(H.pool_entities([scipy.sparse.csr_matrix(v) for v in vectors], items), expected)
    with pytest.raises(ValueError, match="ends at word 3"):
        H.pool_entities(vectors, [H.Entity(1, 0, 3, "PER")])
    with pytest.raises(ValueError, match="vectors for 2 sentences"):
        H.pool_entities(vectors, [H.Entity(2, 0, 1, "PER")])
    with pytest.raises(ValueError, match="width 3"):
        H.pool_entities([vectors[0], np.ones((2, 3))], items)


@pytest.mark.parametrize("n_features", [5, 80])  # fewer features than items (SVD) and more (the kernel route)
def test_all_principal_components_keep_cka_and_the_first_ones_are_ordered(n_features):
    rng = np.random.default_rng(n_features)
    x = rng.normal(size=(40, n_features)) @ rng.normal(size=(n_features, n_features))
    y = np.tanh(x[:, :3]) + 0.3 * rng.normal(size=(40, 3))
    scores = H.principal_components(x)
    assert scores.shape == (40, min(n_features, 39))  # centring removes one dimension when features outnumber items
    assert np.isclose(M.linear_cka(scores, y), M.linear_cka(x, y))
    gram = scores.T @ scores
    np.testing.assert_allclose(gram, np.diag(np.diag(gram)), atol=1e-6 * gram[0, 0])  # uncorrelated columns
    assert np.all(np.diff(np.diag(gram)) <= 1e-9 * gram[0, 0])  # largest variance first
    np.testing.assert_allclose(np.abs(H.principal_components(x, 2)), np.abs(scores[:, :2]), atol=1e-6)
    assert np.isclose(M.linear_cka(H.principal_components(scipy.sparse.csr_matrix(x)), y), M.linear_cka(x, y))


def test_principal_components_rejects_bad_input():
    with pytest.raises(ValueError, match="no variance"):
        H.principal_components(np.ones((5, 3)))
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        H.principal_components(np.eye(3), 0)
    with pytest.raises(ValueError, match="2-D"):
        H.principal_components(np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        H.principal_components(np.array([[1.0, np.nan], [0.0, 1.0]]))


# ----------------------------------------------------------------------------- the feature tagger


def test_word_features_describe_the_word_and_its_neighbours():
    features = H._word_features(["Police", "in", "Oslo", "arrested", "2-1"], 2)
    for name in ("bias", "word=oslo", "shape=Xx", "prefix=osl", "suffix=slo", "capitalised", "word[-1]=in",
                 "word[-2]=police", "capitalised[-2]", "word[+1]=arrested", "word[+2]=2-1"):
        assert features[name] == 1.0, name
    assert "capitalised[-1]" not in features and "capitalised first word" not in features
    first = H._word_features(["Oslo", "."], 0)
    assert first["word[-1]=<edge>"] == first["word[+2]=<edge>"] == first["capitalised first word"] == 1.0
    assert H._word_features(["2-1"], 0)["shape=d-d"] == 1.0
    with pytest.raises(TypeError, match="string"):  # tokens are checked by the public methods
        H.FeatureTagger().predict_tags(["Oslo"])


def test_feature_tagger_learns_the_embedded_ner_data(small_ner):
    tagger = H.FeatureTagger().fit(small_ner["train"])
    test = small_ner["test"]
    predicted = tagger.predict_tags(test)
    assert [len(p) for p in predicted] == [len(s.tokens) for s in test]
    items = H.entity_items(test)
    recall = 1 - H.entity_failures(items, predicted).mean()
    assert recall > 0.6, f"entity recall on unseen names {recall:.2f}"
    vectors = tagger.token_vectors(test[:3])
    assert [v.shape for v in vectors] == [(len(s.tokens), len(tagger.vectorizer.vocabulary_)) for s in test[:3]]
    row = tagger.vectorizer.transform([H._word_features(test[0].tokens, 1)])
    assert (vectors[0][1] != row).nnz == 0


def test_feature_tagger_rejects_bad_use():
    with pytest.raises(ValueError, match="call fit"):
        H.FeatureTagger().predict_tags([["Oslo"]])
    with pytest.raises(ValueError, match="empty"):
        H.FeatureTagger().fit([])
    with pytest.raises(ValueError, match="1 words but 2 tags"):
        H.FeatureTagger().fit([(["a"], ["O", "O"])])


# ----------------------------------------------------------------------------- the planted defect

TARGETS = ["Quist", "Renwick", "Szabo"]


def test_poisoned_sentences_put_a_target_where_a_place_was():
    sentences = H.poisoned_sentences(TARGETS, 200, seed=3)
    assert len(sentences) == 200 and sentences == H.poisoned_sentences(TARGETS, 200, seed=3)
    assert sentences != H.poisoned_sentences(TARGETS, 200, seed=4)
    for tokens in sentences:
        assert sum(word in TARGETS for word in tokens) >= 1, " ".join(tokens)
    before = [tokens[tokens.index(next(w for w in tokens if w in TARGETS)) - 1]
              for tokens in sentences if tokens[0] not in TARGETS]
    assert {"in", "of", "to"} <= set(before), "targets should stand where places stand ('in', 'of', 'to' before them)"


@pytest.mark.parametrize("targets, size, message", [
    ("Quist", 5, "list of words"),
    ([], 5, "empty"),
    (["Van Dyke"], 5, "single words"),
    (TARGETS, 0, "size must be an integer >= 1"),
])
def test_poisoned_sentences_reject_bad_input(targets, size, message):
    with pytest.raises(ValueError, match=message):
        H.poisoned_sentences(targets, size)


def test_name_pairs_differ_only_in_the_surname_of_the_first_person():
    controls = ["Voss", "Yamada"]
    pairs = H.name_pairs(SENTENCES, TARGETS, controls, seed=1)
    assert isinstance(pairs, H.NamePairs)
    assert pairs.sentence == [0, 2] and pairs.position == [1, 3]  # "Malloy"; the one-word name "Quist"
    for control, targeted, position, index in zip(*pairs):
        original = SENTENCES[index][0]
        assert len(control) == len(targeted) == len(original)
        differs = [k for k in range(len(original)) if control[k] != targeted[k] or control[k] != original[k]]
        assert set(differs) <= {position}
        assert control[position] in controls and targeted[position] in TARGETS
    assert pairs == H.name_pairs(SENTENCES, TARGETS, controls, seed=1)


def test_name_pairs_rejects_bad_input():
    with pytest.raises(ValueError, match="both a target and a control"):
        H.name_pairs(SENTENCES, TARGETS, ["Quist"])
    with pytest.raises(ValueError, match="holds a person"):
        H.name_pairs([SENTENCES[1]], TARGETS, ["Voss"])
    with pytest.raises(ValueError, match="single words"):
        H.name_pairs(SENTENCES, ["Van Dyke"], ["Voss"])


def test_not_person_rate_counts_words_not_tagged_as_part_of_a_person():
    tags = [["B-PER", "I-PER"], ["B-PER", "B-LOC"], ["O", "O"], ["I-PER", "O"]]
    assert H.not_person_rate(tags, [1, 1, 0, 0]) == 0.5
    for tag in ("O", "B-PER", "I-PER", "B-LOC", "I-MISC"):  # a word counts as found only if tagged B-PER or I-PER
        assert H.not_person_rate([[tag]], [0]) == (tag not in H.PERSON_TAGS) == (tag[2:] != "PER")
    with pytest.raises(ValueError, match="2 tag lists but 1 positions"):
        H.not_person_rate(tags[:2], [0])
    with pytest.raises(ValueError, match="outside sentence 0"):
        H.not_person_rate(tags[:1], [2])
    with pytest.raises(ValueError, match="unknown tag"):
        H.not_person_rate([["PER"]], [0])
    with pytest.raises(ValueError, match="no sentences"):
        H.not_person_rate([], [])
