"""The members of a user-trained topic model and how their scores are stacked.

``newsbot train`` sees a few thousand labelled rows at most, where one linear model over
n-grams levels off early. Three members that err differently do better together:

* a linear SVM on TF-IDF of word and character n-grams (the strongest single member);
* complement naive Bayes on the same features, which generalises from fewer examples per
  n-gram and so helps most on short texts;
* a multinomial logistic regression on the *shipped* model's raw topic scores, which brings in
  what that model learnt from over ten thousand headlines and the seed lexicon (words the
  user's rows never contain still move the score);
* a logistic regression on the mean GloVe word vector of the title and of the whole story
  (shipped in ``bot/data/word_vectors/``). Vectors learnt from billions of words of newswire
  and encyclopaedia text place "striker" near "midfielder" and "merger" near "takeover", so
  this member scores words that never occur in the user's rows, and unlike the shipped topic
  scores it does not depend on the user's labels resembling our twelve topics.

Every member is linear in its input, and so is a weighted sum of their centred scores, so the
stacked model folds back into one weight matrix plus small maps from the shipped model's topic
scores and from the two mean word vectors: scoring costs one extra hashing pass for the shipped
model's words and one tokenising pass for the word vectors, not one pass per member. The member
weights are fitted by minimising the multinomial log-loss of out-of-fold scores, so a member
that does not help for a user's labels (the shipped topics say little about, say, gardening
versus sailing) gets a small weight instead of a fixed share.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# Chosen by 5-fold cross-validation on the training part of the benchmark sets (BBC News and
# AG News, 80 % splits), never on their test part: for the SVM, C=2 beat 0.5 and 1 and tied
# with 4 and 8 (within a few rows either way) while converging faster; alpha=0.1 beat 0.03, 0.3
# and 1 for naive Bayes; the prior map's C made no difference between 0.1 and 100.
# For the word-vector member, C=0.1 beat 1 and 10 on AG News and tied with 1 on BBC News
# (cross-validated on the training parts); the inputs are standardised first, so C does not
# depend on the vectors' scale.
SVM_C = 2.0
NB_ALPHA = 0.1
PRIOR_C = 1.0
WORDS_C = 0.1


def centre(values: np.ndarray) -> np.ndarray:
    """Subtract the mean over labels (the last axis).

    Only differences between labels matter for the best label, and centring is linear, so it
    can be applied to weights instead of scores. It also puts members with very different
    offsets (naive Bayes log-likelihoods, SVM margins) on a common footing before scaling.
    """
    return values - values.mean(axis=-1, keepdims=True)


@dataclass
class Members:
    """Weights of the member models fitted on one set of rows, as label-centred columns.

    ``svm_coef`` and ``nb_coef`` are (features, labels) over the same TF-IDF columns;
    ``prior_coef`` is (prior topics, labels) over the shipped model's raw scores, or None when
    there is no prior model; ``word_coef`` is (word-vector features, labels) over
    :meth:`WordVectors.features`, or None without word vectors. Members are ordered SVM, naive
    Bayes, prior, word vectors, skipping the absent ones.
    """

    svm_coef: np.ndarray
    svm_intercept: np.ndarray
    nb_coef: np.ndarray
    prior_coef: np.ndarray | None
    prior_intercept: np.ndarray | None
    word_coef: np.ndarray | None = None
    word_intercept: np.ndarray | None = None

    @property
    def count(self) -> int:
        return 2 + (self.prior_coef is not None) + (self.word_coef is not None)

    def decide(
        self,
        features: sp.csr_matrix,
        prior_scores: np.ndarray | None,
        word_features: np.ndarray | None = None,
    ) -> np.ndarray:
        """Centred scores of each member, shape (members, rows, labels)."""
        out = [
            np.asarray(features @ self.svm_coef) + self.svm_intercept,
            np.asarray(features @ self.nb_coef),
        ]
        if self.prior_coef is not None and self.prior_intercept is not None:
            if prior_scores is None:
                raise ValueError("members with a prior need the prior model's scores")
            out.append(prior_scores @ self.prior_coef + self.prior_intercept)
        if self.word_coef is not None and self.word_intercept is not None:
            if word_features is None:
                raise ValueError("members with word vectors need the rows' word features")
            out.append(word_features @ self.word_coef + self.word_intercept)
        return np.stack(out)

    def fold(
        self, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """One model from the weighted members: TF-IDF weights, intercepts, prior and word maps.

        ``weights`` already include each member's scale (see :func:`member_spread`).
        """
        coef = weights[0] * self.svm_coef + weights[1] * self.nb_coef
        intercept = weights[0] * self.svm_intercept
        position = 2
        prior_map = word_map = None
        if self.prior_coef is not None and self.prior_intercept is not None:
            prior_map = weights[position] * self.prior_coef
            intercept = intercept + weights[position] * self.prior_intercept
            position += 1
        if self.word_coef is not None and self.word_intercept is not None:
            word_map = weights[position] * self.word_coef
            intercept = intercept + weights[position] * self.word_intercept
        return coef.astype(np.float32), intercept.astype(np.float32), prior_map, word_map


def fit_members(
    features: sp.csr_matrix,
    targets: np.ndarray,
    n_labels: int,
    prior_scores: np.ndarray | None,
    *,
    seed: int,
    word_features: np.ndarray | None = None,
) -> Members:
    """Fit the SVM, naive Bayes and, when their inputs are given, the prior and word maps."""
    from sklearn.naive_bayes import ComplementNB

    from bot.pipeline.classify import fit_svm

    svm_coef, svm_intercept = fit_svm(features, targets, n_labels, seed=seed, c=SVM_C)
    # A label without rows here keeps the SVM's "not this label" intercept and a neutral
    # naive Bayes column (the mean of the others, which centring turns into zero).
    bayes = ComplementNB(alpha=NB_ALPHA).fit(features, targets)
    present = bayes.classes_.astype(int)
    nb_coef = np.repeat(bayes.feature_log_prob_.mean(axis=0)[:, None], n_labels, axis=1)
    nb_coef[:, present] = bayes.feature_log_prob_.T
    prior_coef = prior_intercept = None
    if prior_scores is not None:
        prior_coef, prior_intercept = _fit_logistic(prior_scores, targets, n_labels, PRIOR_C)
    word_coef = word_intercept = None
    if word_features is not None:
        # Standardised so that one C suits every dimension; the standardisation is folded into
        # the weights, so scoring needs no extra arrays.
        mean = word_features.mean(axis=0)
        spread = word_features.std(axis=0) + 1e-6
        coef, intercept = _fit_logistic((word_features - mean) / spread, targets, n_labels, WORDS_C)
        word_coef = coef / spread[:, None]
        word_intercept = intercept - (mean / spread) @ coef
    return Members(
        svm_coef=centre(svm_coef),
        svm_intercept=centre(svm_intercept),
        nb_coef=centre(nb_coef.astype(np.float32)),
        prior_coef=prior_coef,
        prior_intercept=prior_intercept,
        word_coef=word_coef,
        word_intercept=word_intercept,
    )


def _fit_logistic(
    inputs: np.ndarray, targets: np.ndarray, n_labels: int, c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression as centred (inputs, labels) weights and intercepts.

    A label without rows keeps zero weights, which centring makes neutral.
    """
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((inputs.shape[1], n_labels))
    intercept = np.zeros(n_labels)
    mapper = LogisticRegression(C=c, max_iter=3000).fit(inputs, targets)
    classes = mapper.classes_.astype(int)
    if len(classes) == 2:
        # One log-odds column for two labels: split it evenly, as centring would.
        coef[:, classes[1]] = mapper.coef_[0] / 2
        coef[:, classes[0]] = -mapper.coef_[0] / 2
        intercept[classes[1]] = mapper.intercept_[0] / 2
        intercept[classes[0]] = -mapper.intercept_[0] / 2
    else:
        coef[:, classes] = mapper.coef_.T
        intercept[classes] = mapper.intercept_
    return centre(coef), centre(intercept)


def member_spread(scores: np.ndarray) -> np.ndarray:
    """Standard deviation of each member's centred scores (no labels used).

    Naive Bayes log-likelihoods span tens of units, SVM margins about one: dividing by the
    spread lets the stacker's weights start on a common scale.
    """
    spread = scores.reshape(scores.shape[0], -1).std(axis=1)
    return np.where(spread > 0, spread, 1.0)


def fit_stack(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Non-negative member weights minimising the multinomial log-loss of ``scores``.

    ``scores`` are out-of-fold member scores, shape (members, rows, labels), already divided by
    :func:`member_spread`. One weight per member (not per label) and no per-label bias keep the
    stacker to a handful of parameters, so it cannot overfit a few hundred rows: the members'
    own intercepts already carry class balance, and fitted biases lowered cross-validated
    accuracy on both benchmark sets. The weights are non-negative because a member pointing the
    wrong way would mean it is broken, not informative.
    """
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    n_members, n_rows, _ = scores.shape
    rows = np.arange(n_rows)

    def loss(weights: np.ndarray) -> tuple[float, np.ndarray]:
        logits = np.tensordot(weights, scores, axes=1)
        log_probs = logits - logsumexp(logits, axis=1, keepdims=True)
        residual = np.exp(log_probs)
        residual[rows, targets] -= 1.0
        gradient = np.einsum("rl,mrl->m", residual, scores) / n_rows
        return float(-log_probs[rows, targets].mean()), gradient

    result = minimize(
        loss, np.ones(n_members), jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * n_members
    )
    weights = np.asarray(result.x)
    if not np.any(weights > 0):
        # With a handful of rows no member beats a uniform guess out of fold; a model that
        # scores every story the same would be useless, so weigh the members equally instead.
        return np.ones(n_members)
    return weights


def stack(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Combined scores, shape (rows, labels)."""
    return np.asarray(np.tensordot(weights, scores, axes=1))


# ---------------------------------------------------------------------- word vectors
VECTORS_FILE = "vectors.npz"
DIMENSIONS = 100
# Lower-cased words and numbers, and words joined by hyphens, dots, apostrophes or ampersands,
# which GloVe's tokenizer kept whole ("e-mail", "world-class"). A joined token the vectors lack
# ("striker's", "u.s") is looked up part by part instead.
_TOKEN = re.compile(r"[a-z0-9]+(?:[-.'&][a-z0-9]+)*")
_JOINER = re.compile(r"[-.'&]")
# Smooth inverse frequency (Arora, Liang and Ma, 2017): a word weighs a / (a + p(word)), with
# p from the word's rank in GloVe's frequency order under Zipf's law, so "the" counts about a
# hundredth of a rare word without any counts from the user's rows. a=1e-4 is the paper's
# usual range; the ranks run over the full 341,479-word list the vectors were cut from.
_SIF_A = 1e-4
_ZIPF_OFFSET = 10.0
_ZIPF_TOTAL = 10.489316693396207  # sum of 1 / (rank + 10) over ranks 0..341478


def is_token(word: str) -> bool:
    """Whether ``word`` is a whole token as :meth:`WordVectors.features` splits text."""
    return _TOKEN.fullmatch(word) is not None


def _digest(words: np.ndarray, vectors: np.ndarray, scales: np.ndarray, ranks: np.ndarray) -> str:
    """A checksum of the vectors' content (not of the zip file, whose layout may vary)."""
    digest = hashlib.sha256()
    for array in (words, vectors, scales, ranks):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return "sha256:" + digest.hexdigest()


def write_vectors(path: Path, words: Sequence[str], matrix: np.ndarray, ranks: np.ndarray) -> str:
    """Quantise ``matrix`` to int8 with one scale per word and write it; returns its digest.

    Written through :mod:`zipfile` with a fixed timestamp so that the same input gives the
    same bytes (``numpy.savez`` stamps the current time).
    """
    scales = (np.abs(matrix).max(axis=1) / 127.0).astype(np.float32)
    scales[scales == 0] = 1.0
    arrays = {
        "words": np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8),
        "vectors": np.round(matrix / scales[:, None]).astype(np.int8),
        "scales": scales,
        "ranks": np.asarray(ranks, dtype=np.int32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(entry, buffer.getvalue())
    return _digest(arrays["words"], arrays["vectors"], arrays["scales"], arrays["ranks"])


@dataclass(frozen=True)
class WordVectors:
    """Shipped GloVe vectors with their smooth-inverse-frequency weights already applied.

    ``weighted`` has one row per word, already multiplied by the word's weight, so a text's
    feature is a sparse count row times this matrix.
    """

    vocabulary: dict[str, int]
    weighted: np.ndarray
    digest: str

    @classmethod
    def load(cls, path: Path | None = None) -> WordVectors:
        """The shipped vectors (``None``) or a file written by :func:`write_vectors`."""
        return _load_vectors(str(path) if path is not None else None)

    @property
    def feature_count(self) -> int:
        return 2 * self.weighted.shape[1]

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """How often each known word occurs in each text, shape (texts, words)."""
        vocabulary = self.vocabulary
        columns: list[int] = []
        indptr = [0]
        for text in texts:
            for token in _TOKEN.findall(text.lower()):
                column = vocabulary.get(token)
                if column is not None:
                    columns.append(column)
                elif not token.isalnum():
                    columns.extend(
                        vocabulary[part] for part in _JOINER.split(token) if part in vocabulary
                    )
            indptr.append(len(columns))
        data = np.ones(len(columns), np.float32)
        matrix = sp.csr_matrix(
            (data, np.asarray(columns, np.int64), np.asarray(indptr, np.int64)),
            shape=(len(texts), len(vocabulary)),
        )
        matrix.sum_duplicates()
        return matrix

    def mean_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Weighted sum of each text's word vectors, scaled to unit length (zero if no words).

        Unit length rather than a division by the word count: a long article and its headline
        then land on the same scale, and only the direction carries the topic.
        """
        summed = np.asarray(self.counts(texts) @ self.weighted, dtype=np.float64)
        norms = np.linalg.norm(summed, axis=1, keepdims=True)
        return summed / np.where(norms > 0, norms, 1.0)

    def features(self, titles: Sequence[str], stories: Sequence[str]) -> np.ndarray:
        """The member's input: the mean vector of each title, then of the whole story.

        ``stories`` are the texts the n-gram features see (title and body joined). The title
        gets half of the features on its own because a headline states the topic while a body
        wanders; on AG News this beat one vector per story.
        """
        return np.hstack([self.mean_vectors(titles), self.mean_vectors(stories)])


@lru_cache(maxsize=2)
def _load_vectors(path: str | None) -> WordVectors:
    """Read and dequantise a vectors file once per process (about 20 MB as float32)."""
    if path is None:
        path = str(resources.files("bot").joinpath("data", "word_vectors", VECTORS_FILE))
    with np.load(path, allow_pickle=False) as arrays:
        words, vectors, scales, ranks = (
            arrays[name] for name in ("words", "vectors", "scales", "ranks")
        )
    digest = _digest(words, vectors, scales, ranks)
    vocabulary = {word: row for row, word in enumerate(words.tobytes().decode("utf-8").split("\n"))}
    frequency = 1.0 / ((ranks.astype(np.float64) + _ZIPF_OFFSET) * _ZIPF_TOTAL)
    weight = _SIF_A / (_SIF_A + frequency)
    weighted = (vectors.astype(np.float32) * (scales * weight.astype(np.float32))[:, None]).astype(
        np.float32
    )
    return WordVectors(vocabulary=vocabulary, weighted=weighted, digest=digest)
