"""The numpy n-gram hashing gives scikit-learn's HashingVectorizer counts, entry for entry.

Topic models store weights by hashed feature index; a running bot computes the indices with
:mod:`bot.pipeline.hashing` so that it never imports scikit-learn, and training (and every
model shipped or trained so far) used scikit-learn's vectorizer. These tests hold the two
together: on real news texts, on texts built to hit the edge cases, and through the shipped
model's probabilities.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.utils import murmurhash3_32 as sklearn_murmurhash

from bot.pipeline.classify import FeatureSpec, TopicModel, prepare_text
from bot.pipeline.hashing import hashed_counts, murmurhash3_32
from bot.pipeline.text import english_common_words

EDGE_CASES = [
    "",
    "a",
    "ab",
    "I",
    "  x  y\n\nz\t w\u00a0v ",
    "Hash probe: 42 Ministers' budget; café e-mail",
    "Москва Ελλάδα 東京 emoji 😀 über naïve ÄÖÜ İstanbul ǅ",
    "x" * 57,
    "ab cd",
    "word_with_underscores and 123 4 digits",
    "\u2028line\u2029separators\x1cand\x1fcontrol",
]


def _sklearn_counts(texts: list[str], spec: FeatureSpec) -> sp.csr_matrix:
    """The counts as scikit-learn's HashingVectorizer computes them (what models were built on)."""
    options = {"n_features": spec.n_features, "alternate_sign": False, "norm": None}
    blocks = [
        HashingVectorizer(ngram_range=spec.word_ngrams, dtype=np.float32, **options).transform(
            texts
        )
    ]
    if spec.char_ngrams:
        blocks.append(
            HashingVectorizer(
                analyzer="char_wb", ngram_range=spec.char_ngrams, dtype=np.float32, **options
            ).transform(texts)
        )
    matrix = sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float32)
    matrix.sort_indices()
    return matrix


def _news_texts(shared_data: Path, count: int) -> list[str]:
    texts = []
    for name in ("bbc_news/bbc_news.dev.jsonl", "ag_news/ag_news_test.dev.jsonl"):
        with (shared_data / name).open(encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                texts.append(prepare_text(row.get("title") or "", row.get("text") or "", 4000))
    random.Random(3).shuffle(texts)
    return texts[:count]


def _assert_same_counts(texts: list[str], spec: FeatureSpec) -> None:
    expected = _sklearn_counts(texts, spec)
    indptr, indices, data = hashed_counts(
        texts, spec.n_features, spec.word_ngrams, spec.char_ngrams
    )
    assert np.array_equal(indptr, expected.indptr)
    assert np.array_equal(indices, expected.indices)
    assert np.array_equal(data, expected.data)


def test_murmurhash_matches_scikit_learn_on_every_tail_length() -> None:
    rng = random.Random(5)
    pieces = [bytes(rng.randrange(256) for _ in range(length)) for length in range(0, 41)]
    pieces += [b"", b"a", "café".encode(), "😀".encode()]
    data = b"".join(pieces)
    lengths = np.array([len(piece) for piece in pieces], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    expected = [sklearn_murmurhash(piece, seed=0, positive=False) for piece in pieces]
    assert murmurhash3_32(data, starts, lengths).tolist() == expected


@pytest.mark.parametrize(
    "spec",
    [
        FeatureSpec(),
        FeatureSpec(word_ngrams=(1, 1), char_ngrams=None, n_features=2**18),
        FeatureSpec(word_ngrams=(2, 3), char_ngrams=(1, 4), n_features=1000),
        FeatureSpec(word_ngrams=(1, 2), char_ngrams=(3, 3), n_features=2**20),
    ],
    ids=["shipped", "words", "small-space", "trigrams"],
)
def test_counts_match_scikit_learn_on_edge_cases(spec: FeatureSpec) -> None:
    _assert_same_counts(EDGE_CASES, spec)
    _assert_same_counts(EDGE_CASES[:1], spec)


def test_counts_match_scikit_learn_on_news_texts(shared_data: Path) -> None:
    _assert_same_counts(_news_texts(shared_data, 1500), FeatureSpec())


def test_the_shipped_model_scores_as_it_did_with_scikit_learn(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [
        (text.partition("\n")[0], text.partition("\n")[2])
        for text in _news_texts(shared_data, 2000)
    ]
    model = TopicModel.load()
    now = model.scores_many(items)
    monkeypatch.setattr(FeatureSpec, "counts", lambda spec, texts: _sklearn_counts(texts, spec))
    before = TopicModel.load().scores_many(items)
    assert now.shape == (len(items), len(model.labels))
    np.testing.assert_allclose(now, before, rtol=0, atol=1e-9)


def test_the_english_common_words_are_scikit_learns_stop_words() -> None:
    assert english_common_words() == frozenset(ENGLISH_STOP_WORDS)


def test_classifying_deduplicating_and_matching_import_no_scikit_learn() -> None:
    """What a running bot does to every story loads neither scikit-learn nor its ~75 MB."""
    script = """
import sys
from bot.pipeline.classify import TopicModel
from bot.pipeline.dedup import StoryIndex
from bot.pipeline.language import detect_language, key_terms
from bot.pipeline.query import is_common_word, parse_query
text = "A magnitude 6.4 earthquake struck off the northern coast of Japan early on Tuesday."
TopicModel.load().classify("Earthquake shakes coastal towns", text)
StoryIndex().add("s1", "Earthquake shakes coastal towns", text)
detect_language(text)
key_terms("Earthquake shakes coastal towns", text)
parse_query("earthquake AND japan")
is_common_word("the")
print(sorted({name.split(".")[0] for name in sys.modules} & {"sklearn"}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_dense_weights_score_as_the_sparse_product_did() -> None:
    """Scores come from sparse features times dense weights; they were a sparse product."""
    model = TopicModel.load()
    rng = np.random.default_rng(3)
    rows, width = 200, model._weights.shape[0]
    features = sp.random(rows, width, density=300 / width, format="csr", rng=rng, dtype=np.float32)
    features.data = features.data.astype(np.float32)
    dense = np.asarray(features @ model._weights)
    sparse = (features @ sp.csr_matrix(model._weights)).toarray()
    assert dense.dtype == sparse.dtype == np.float32
    assert np.array_equal(dense, sparse)
