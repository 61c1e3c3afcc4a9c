"""Topic classification: a shipped default model, user-trained models, and JSONL helpers.

Every model here, shipped or trained by a user, is the same small thing: words (and optionally
characters) are hashed into a fixed feature space, weighted by TF-IDF, scored by one linear
function per label, and each score is squashed into [0, 1] by a per-label sigmoid that was fitted
on cross-validated scores. A user-trained model may also carry a *prior view*: a frozen copy of
the shipped model's linear scorer whose topic scores are mapped linearly onto the user's labels
and added in, so knowledge from the shipped model's training data transfers to small user data
sets; since format version 3 it may also map the story's mean pretrained word vectors (shipped
in ``bot/data/word_vectors/``, checked by checksum) onto its labels. Because the feature
hashing is stateless, a model is just arrays plus a JSON description:
it is stored as ``model.json`` + ``weights.npz`` and loaded with ``allow_pickle=False``, so
opening a model file can never run code.

The stage is pure: nothing is read or computed at import time, and scikit-learn is imported
only to train (a running bot that only applies models never loads it).
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import scipy.sparse as sp

from bot.pipeline.classify_ensemble import WordVectors
from bot.pipeline.hashing import hashed_counts
from bot.pipeline.jsonl import text_records
from bot.pipeline.language import detect_language

log = logging.getLogger(__name__)

TOPICS: tuple[str, ...] = (
    "world",
    "politics",
    "conflict",
    "crime",
    "disaster",
    "business",
    "technology",
    "science",
    "health",
    "environment",
    "sport",
    "entertainment",
)

TOPIC_NAMES: dict[str, str] = {
    "world": "World",
    "politics": "Politics",
    "conflict": "Conflict & defence",
    "crime": "Crime & justice",
    "disaster": "Disasters & accidents",
    "business": "Business & economy",
    "technology": "Technology",
    "science": "Science",
    "health": "Health",
    "environment": "Environment & climate",
    "sport": "Sport",
    "entertainment": "Entertainment & culture",
}

MODEL_FORMAT = "newsbot-topic-model"
# Version 2 added the optional prior view, version 3 the optional word-vector map; a model is
# written with the lowest version that can hold it, so older releases keep reading the models
# they can score correctly.
MODEL_VERSION = 3
MODEL_JSON = "model.json"
WEIGHTS_NPZ = "weights.npz"

# Models are fitted on single-label data, so their calibrated scores for one story roughly sum
# to one: a 0.5 cut would almost never give a second label. 0.35 lets a clearly mixed story
# (a footballer in court) carry both topics while a plain story keeps one.
DEFAULT_THRESHOLD = 0.35

#: Languages a model was trained on when its ``meta`` does not say (``meta["languages"]``): the
#: shipped model learned from English headlines and English seed terms only.
DEFAULT_LANGUAGES: tuple[str, ...] = ("en",)
# For a story in another language the model mostly sees shared names (Microsoft, Chelsea,
# Dow Jones) and noise; its best score is then usually near the floor of the sigmoid and the
# "at least one label" rule would pick a topic at random. Such a story keeps only the topics
# that reach this score. On the non-English items of the shared feed corpus (German,
# Spanish, Portuguese, Russian...) every topic at 0.5 or more was right, while two of the
# eight between 0.35 and 0.5 were wrong ("Game of Thrones" stamps as sport).
FOREIGN_LANGUAGE_FLOOR = 0.5

# A fixed text whose hashed feature indices are stored in every model and checked at load time,
# so a change in the hashing library is reported instead of silently scrambling the weights.
_HASH_PROBE = "Hash probe: 42 Ministers' budget; café e-mail"

_BROKEN_ENTITY = re.compile(r"(?<!&)#(\d{2,5});")


def _shipped_model_dir() -> Path:
    return Path(str(resources.files("bot").joinpath("data", "topic_model")))


def prepare_text(title: str, text: str, max_chars: int) -> str:
    """Join title and body into the string the features are computed from.

    The body is cut to ``max_chars``: the topic of a news story is set by its title and lead,
    and the cut keeps classification time flat for very long articles. HTML entities are decoded,
    including the ``#39;`` form that some feeds emit without its ampersand.
    """
    body = text[:max_chars] if max_chars > 0 else text
    joined = f"{title}\n{body}" if title and body else title or body
    if "&" in joined:
        joined = html.unescape(joined)
    if "#" in joined:
        joined = _BROKEN_ENTITY.sub(lambda match: _safe_chr(int(match.group(1))), joined)
    return joined


def _safe_chr(code: int) -> str:
    try:
        return chr(code)
    except (ValueError, OverflowError):
        return " "


@dataclass(frozen=True)
class FeatureSpec:
    """How text becomes a sparse count vector; stored in ``model.json`` with the weights.

    ``n_features`` is the size of each hashed block (word n-grams, then character n-grams when
    ``char_ngrams`` is set). Indices are those of scikit-learn's HashingVectorizer (signed 32-bit
    MurmurHash3), which models have always been built with; they are computed by
    :func:`bot.pipeline.hashing.hashed_counts`, so applying a model needs no scikit-learn.
    """

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] | None = (2, 5)
    n_features: int = 2**20
    max_chars: int = 4000

    @property
    def total_features(self) -> int:
        return self.n_features * (2 if self.char_ngrams else 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams) if self.char_ngrams else None,
            "n_features": self.n_features,
            "max_chars": self.max_chars,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSpec:
        word = data["word_ngrams"]
        char = data.get("char_ngrams")
        return cls(
            word_ngrams=(int(word[0]), int(word[1])),
            char_ngrams=(int(char[0]), int(char[1])) if char else None,
            n_features=int(data["n_features"]),
            max_chars=int(data["max_chars"]),
        )

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Raw hashed n-gram counts, one row per prepared text (see :mod:`bot.pipeline.hashing`)."""
        indptr, indices, data = hashed_counts(
            texts, self.n_features, self.word_ngrams, self.char_ngrams
        )
        return sp.csr_matrix((data, indices, indptr), shape=(len(texts), self.total_features))

    def probe_indices(self) -> list[int]:
        return sorted(int(i) for i in self.counts([_HASH_PROBE]).indices)


def fit_idf(counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, float]:
    """Smoothed IDF (as scikit-learn computes it) for the features seen in ``counts``.

    Returns the seen feature indices (sorted), their IDF, and the IDF of an unseen feature.
    Only seen features are stored, which keeps model files small.
    """
    n_docs = counts.shape[0]
    doc_freq = np.bincount(counts.indices, minlength=counts.shape[1])
    seen = np.flatnonzero(doc_freq).astype(np.int64)
    idf = np.log((1.0 + n_docs) / (1.0 + doc_freq[seen])) + 1.0
    unseen_idf = math.log(1.0 + n_docs) + 1.0
    return seen, idf.astype(np.float32), float(unseen_idf)


def tfidf(
    counts: sp.csr_matrix, index: np.ndarray, idf: np.ndarray, unseen_idf: float
) -> sp.csr_matrix:
    """Sublinear TF x IDF with L2-normalised rows, keeping the full hashed column space.

    Done by hand (not with TfidfTransformer) because a model stores the IDF only for the
    features it saw, as plain arrays, never as a pickled estimator.
    """
    out = counts.copy()
    out.data = (np.log(out.data) + 1.0).astype(np.float32)
    position = np.searchsorted(index, out.indices)
    position_clipped = np.minimum(position, max(len(index) - 1, 0))
    found = (
        index[position_clipped] == out.indices if len(index) else np.zeros(len(out.indices), bool)
    )
    weights = np.where(found, idf[position_clipped] if len(idf) else 0.0, unseen_idf)
    out.data *= weights.astype(np.float32)
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags((1.0 / norms).astype(np.float32)) @ out)


@dataclass
class TopicModel:
    """A linear multi-label topic model over hashed n-grams (see the module docstring).

    ``coef`` has one row per stored feature (``feature_index``, sorted) and one column per label.
    A story's score for a label is ``sigmoid(scale * (x . w + intercept + p . m + v . u) +
    offset)``, where ``p`` are the raw scores of the optional ``prior`` model and ``m`` the
    matching column of ``prior_map``, and ``v`` the story's mean word vectors (see
    :meth:`WordVectors.features`) and ``u`` the matching column of ``word_map`` (all absent in
    the shipped model).
    """

    spec: FeatureSpec
    labels: tuple[str, ...]
    feature_index: np.ndarray
    idf: np.ndarray
    unseen_idf: float
    coef: np.ndarray
    intercept: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    threshold: float = DEFAULT_THRESHOLD
    names: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    hash_probe: list[int] | None = None
    prior: TopicModel | None = None
    prior_map: np.ndarray | None = None
    word_vectors: WordVectors | None = None
    word_map: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_labels = len(self.labels)
        if n_labels < 2:
            raise ValueError("a topic model needs at least two labels")
        if self.coef.shape != (len(self.feature_index), n_labels):
            raise ValueError(
                f"weights have shape {self.coef.shape}, expected "
                f"({len(self.feature_index)}, {n_labels})"
            )
        for name in ("intercept", "scale", "offset"):
            if getattr(self, name).shape != (n_labels,):
                raise ValueError(f"{name} must have one value per label")
        if len(self.idf) != len(self.feature_index):
            raise ValueError("idf must have one value per stored feature")
        if np.any(np.diff(self.feature_index) <= 0):
            raise ValueError("feature_index must be strictly increasing")
        if (self.prior is None) != (self.prior_map is None):
            raise ValueError("a prior model and its prior_map go together")
        if self.prior is not None and self.prior_map is not None:
            if self.prior.prior is not None:
                raise ValueError("a prior model cannot have a prior of its own")
            if self.prior_map.shape != (len(self.prior.labels), n_labels):
                raise ValueError(
                    f"prior_map has shape {self.prior_map.shape}, expected "
                    f"({len(self.prior.labels)}, {n_labels})"
                )
        if (self.word_vectors is None) != (self.word_map is None):
            raise ValueError("word vectors and their word_map go together")
        if self.word_vectors is not None and self.word_map is not None:
            expected = (self.word_vectors.feature_count, n_labels)
            if self.word_map.shape != expected:
                raise ValueError(f"word_map has shape {self.word_map.shape}, expected {expected}")
        # Map the whole hashed space onto the stored features, plus one zero row for the rest,
        # so scoring is a single product of the sparse features with these dense weights
        # (``coef`` is a view of them: one copy, not a sparse one beside it, whose indices
        # took as much again). The sum runs over each row's features in order, as the sparse
        # product did, so the scores are the same to the bit.
        self._weights = np.vstack(
            [self.coef.astype(np.float32), np.zeros((1, n_labels), np.float32)]
        )
        self.coef = self._weights[:-1]
        self._hashing_checked = self.hash_probe is None

    def _check_hashing(self) -> None:
        """Compare the stored probe indices with this installation's hashing, once.

        Done on first use rather than in :meth:`load`, so loading stays a plain array read.
        """
        if self._hashing_checked:
            return
        if self.spec.probe_indices() != self.hash_probe:
            raise ValueError(
                "this installation hashes text differently from the one that built the model; "
                "retrain it with `newsbot train`"
            )
        self._hashing_checked = True
        if self.prior is not None:
            self.prior._check_hashing()

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def load(cls, path: Path | None = None) -> TopicModel:
        """Load the shipped default model (``None``) or a directory written by :func:`train`."""
        directory = _shipped_model_dir() if path is None else Path(path)
        meta_path = directory / MODEL_JSON
        weights_path = directory / WEIGHTS_NPZ
        if not meta_path.is_file() or not weights_path.is_file():
            raise FileNotFoundError(
                f"{directory} is not a topic model directory ({MODEL_JSON} and {WEIGHTS_NPZ})"
            )
        data = json.loads(meta_path.read_text(encoding="utf-8"))
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"{meta_path} is not a {MODEL_FORMAT} file")
        if int(data.get("version", 0)) > MODEL_VERSION:
            raise ValueError(
                f"{meta_path} has format version {data['version']}; "
                f"this release reads up to {MODEL_VERSION}"
            )
        spec = FeatureSpec.from_json(data["features"])
        with np.load(weights_path, allow_pickle=False) as arrays:
            prior = prior_map = None
            if data.get("prior"):
                prior = cls._load_prior(data["prior"], arrays)
                prior_map = arrays["prior_map"].astype(np.float32)
            word_vectors = word_map = None
            if data.get("word_vectors"):
                word_vectors = _matching_word_vectors(data["word_vectors"], meta_path)
                word_map = arrays["word_map"].astype(np.float32)
            return cls(
                spec=spec,
                labels=tuple(data["labels"]),
                feature_index=arrays["feature_index"].astype(np.int64),
                idf=arrays["idf"].astype(np.float32),
                unseen_idf=float(data["unseen_idf"]),
                coef=arrays["coef"].astype(np.float32),
                intercept=arrays["intercept"].astype(np.float32),
                scale=arrays["scale"].astype(np.float32),
                offset=arrays["offset"].astype(np.float32),
                threshold=float(data["threshold"]),
                names=dict(data.get("names", {})),
                meta=dict(data.get("meta", {})),
                hash_probe=data.get("hash_probe"),
                prior=prior,
                prior_map=prior_map,
                word_vectors=word_vectors,
                word_map=word_map,
            )

    @classmethod
    def _load_prior(cls, data: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> TopicModel:
        """Rebuild the frozen prior scorer; only its raw scores are used, so no calibration."""
        labels = tuple(data["labels"])
        ones = np.ones(len(labels), np.float32)
        return cls(
            spec=FeatureSpec.from_json(data["features"]),
            labels=labels,
            feature_index=arrays["prior_feature_index"].astype(np.int64),
            idf=arrays["prior_idf"].astype(np.float32),
            unseen_idf=float(data["unseen_idf"]),
            coef=arrays["prior_coef"].astype(np.float32),
            intercept=arrays["prior_intercept"].astype(np.float32),
            scale=ones,
            offset=np.zeros(len(labels), np.float32),
            meta={"source": data.get("source", "")},
            hash_probe=data.get("hash_probe"),
        )

    def save(self, out_dir: Path, *, coef_dtype: type = np.float32) -> None:
        """Write ``model.json`` and ``weights.npz`` into ``out_dir`` (created if needed)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "feature_index": self.feature_index.astype(np.int32),
            "idf": self.idf.astype(np.float32),
            "coef": self.coef.astype(coef_dtype),
            "intercept": self.intercept.astype(np.float32),
            "scale": self.scale.astype(np.float32),
            "offset": self.offset.astype(np.float32),
        }
        prior_document: dict[str, Any] | None = None
        if self.prior is not None and self.prior_map is not None:
            # The shipped model's weights are float16 already, so this loses nothing for it.
            arrays |= {
                "prior_feature_index": self.prior.feature_index.astype(np.int32),
                "prior_idf": self.prior.idf.astype(np.float32),
                "prior_coef": self.prior.coef.astype(np.float16),
                "prior_intercept": self.prior.intercept.astype(np.float32),
                "prior_map": self.prior_map.astype(np.float32),
            }
            prior_document = {
                "labels": list(self.prior.labels),
                "features": self.prior.spec.to_json(),
                "unseen_idf": self.prior.unseen_idf,
                "hash_probe": self.prior.spec.probe_indices(),
                "source": self.prior.meta.get("source", ""),
            }
        vectors_document: dict[str, Any] | None = None
        if self.word_vectors is not None and self.word_map is not None:
            arrays["word_map"] = self.word_map.astype(np.float32)
            # The vectors themselves ship with the package; the digest ties the map to them.
            vectors_document = {
                "file": "bot/data/word_vectors/vectors.npz",
                "digest": self.word_vectors.digest,
                "words": len(self.word_vectors.vocabulary),
            }
        # numpy's stubs type **kwds as its keyword options; the arrays are all ndarrays.
        np.savez_compressed(out_dir / WEIGHTS_NPZ, **arrays)  # type: ignore[arg-type]
        version = 3 if vectors_document else 2 if prior_document else 1
        document: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "version": version,
            "labels": list(self.labels),
            "names": self.names,
            "threshold": self.threshold,
            "unseen_idf": self.unseen_idf,
            "features": self.spec.to_json(),
            "hash_probe": self.spec.probe_indices(),
            "meta": self.meta,
        }
        if prior_document:
            document["prior"] = prior_document
        if vectors_document:
            document["word_vectors"] = vectors_document
        (out_dir / MODEL_JSON).write_text(
            json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    # ------------------------------------------------------------------ scoring
    def display_name(self, label: str) -> str:
        return self.names.get(label, label)

    def decision(self, items: Sequence[tuple[str, str]]) -> np.ndarray:
        """Raw linear scores, shape (len(items), len(labels))."""
        texts = [
            prepare_text(title or "", text or "", self.spec.max_chars) for title, text in items
        ]
        if not texts:
            return np.zeros((0, len(self.labels)), np.float32)
        self._check_hashing()
        features = tfidf(self.spec.counts(texts), self.feature_index, self.idf, self.unseen_idf)
        position = np.searchsorted(self.feature_index, features.indices)
        clipped = np.minimum(position, len(self.feature_index) - 1)
        found = self.feature_index[clipped] == features.indices
        compact = sp.csr_matrix(
            (features.data, np.where(found, clipped, len(self.feature_index)), features.indptr),
            shape=(features.shape[0], len(self.feature_index) + 1),
        )
        scores = np.asarray(compact @ self._weights) + self.intercept
        if self.prior is not None and self.prior_map is not None:
            scores += self.prior.decision(items) @ self.prior_map
        if self.word_vectors is not None and self.word_map is not None:
            scores += _word_features(self.word_vectors, items, texts) @ self.word_map
        return scores

    def scores_many(self, items: Sequence[tuple[str, str]]) -> np.ndarray:
        """Calibrated scores in [0, 1], shape (len(items), len(labels))."""
        logits = self.decision(items) * self.scale + self.offset
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0)))).astype(np.float64)

    def classify_many(self, items: Sequence[tuple[str, str]]) -> list[list[tuple[str, float]]]:
        """Labels above the threshold (at least the best one) with scores, best first."""
        return [self.labels_for(row) for row in self.scores_many(items)]

    def classify(self, title: str, text: str) -> list[tuple[str, float]]:
        """Like :meth:`classify_many` for one story."""
        return self.classify_many([(title, text)])[0]

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages (ISO 639-1 codes) the model was trained on, see
        :data:`DEFAULT_LANGUAGES`."""
        declared = self.meta.get("languages")
        if isinstance(declared, list) and declared:
            return tuple(str(code).lower() for code in declared)
        return DEFAULT_LANGUAGES

    def knows_language(self, language: str) -> bool:
        """True for a language the model was trained on, and for an unknown one (``""``,
        ``und``): short texts are often undetermined, and mostly in the model's language."""
        base = language.lower().replace("_", "-").split("-", 1)[0]
        return base in ("", "und") or base in self.languages

    def topics_for_language(
        self, scored: list[tuple[str, float]], language: str
    ) -> list[tuple[str, float]]:
        """The labels of :meth:`labels_for` a story in ``language`` keeps.

        All of them in a language the model knows; otherwise only those scoring at least
        :data:`FOREIGN_LANGUAGE_FLOOR`, possibly none, so a story the model cannot read gets
        no topic rather than a random one.
        """
        if self.knows_language(language):
            return scored
        return [(label, score) for label, score in scored if score >= FOREIGN_LANGUAGE_FLOOR]

    def labels_for(self, row: np.ndarray) -> list[tuple[str, float]]:
        """Turn one row of :meth:`scores_many` into the labels above the threshold."""
        order = np.argsort(-row, kind="stable")
        chosen = [int(i) for i in order if row[i] >= self.threshold] or [int(order[0])]
        return [(self.labels[i], round(float(row[i]), 4)) for i in chosen]


# ---------------------------------------------------------------------- training
@dataclass
class TrainReport:
    """What :func:`train` measured: cross-validated accuracy and macro-F1 before the final fit."""

    rows: int
    labels: list[str]
    accuracy: float
    macro_f1: float
    folds: int
    seconds: float
    #: Rows per language the model is recorded to read (``meta["languages"]``), commonest first.
    languages: dict[str, int] = field(default_factory=dict)


#: A language counts as one a trained model reads when at least this share of the training
#: rows whose language could be told are in it (and at least two rows are): a handful of
#: German rows among thousands of English ones teach the model no German.
LANGUAGE_MIN_SHARE = 0.05


def training_languages(items: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Languages of the training texts worth recording, with their row counts.

    Each row's language is detected as the pipeline detects a story's (title, then text);
    rows too short or unclear to tell ("und") are not counted. Empty when no row's language
    could be told: the model is then taken to read :data:`DEFAULT_LANGUAGES`.
    """
    counts = Counter(detect_language(f"{title}. {text}") for title, text in items)
    counts.pop("und", None)
    told = sum(counts.values())
    return {
        language: count
        for language, count in counts.most_common()
        if count >= 2 and count >= LANGUAGE_MIN_SHARE * told
    }


def _validate_rows(
    rows: Iterable[Mapping[str, Any]],
) -> tuple[list[tuple[str, str]], list[str]]:
    items: list[tuple[str, str]] = []
    labels: list[str] = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise ValueError(f"training row {number} is not an object")
        text = row.get("text")
        title = row.get("title") or ""
        label = row.get("label")
        if not isinstance(text, str) or not (text.strip() or str(title).strip()):
            raise ValueError(f"training row {number} has no text")
        if not isinstance(title, str):
            raise ValueError(f"training row {number} has a title that is not a string")
        if label is None or (isinstance(label, str) and not label.strip()):
            raise ValueError(f"training row {number} has no label")
        if not isinstance(label, str | int):
            raise ValueError(f"training row {number} has a label that is not a string")
        items.append((title, text))
        labels.append(str(label).strip())
    if not items:
        raise ValueError("no training rows: give at least two labels with a few rows each")
    distinct = Counter(labels)
    if len(distinct) < 2:
        raise ValueError(
            f"all {len(labels)} training rows have the label {labels[0]!r}; "
            "a classifier needs at least two labels"
        )
    return items, labels


def fit_svm(
    features: sp.csr_matrix,
    targets: np.ndarray,
    n_labels: int,
    *,
    seed: int,
    c: float = 1.0,
    balanced: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest linear SVM; returns weights (n_columns, n_labels) and intercepts.

    ``targets`` are label positions; a label with no rows gets zero weights and intercept -1
    (the SVM margin for "not this label"). A linear SVM on sublinear TF-IDF of word and
    character n-grams was the best of the linear models we measured on the benchmark sets
    (SGD, logistic regression, ridge and NB-SVM were tried) and fits in seconds.
    """
    from sklearn.svm import LinearSVC

    classifier = LinearSVC(
        C=c, random_state=seed, class_weight="balanced" if balanced else None
    ).fit(features, targets)
    coef = np.zeros((features.shape[1], n_labels), np.float32)
    intercept = np.full(n_labels, -1.0, np.float32)
    present = [int(k) for k in classifier.classes_]
    if len(present) == 2:
        # scikit-learn returns a single row for two classes: positive means the second one.
        coef[:, present[1]] = classifier.coef_[0]
        coef[:, present[0]] = -classifier.coef_[0]
        intercept[present[1]] = classifier.intercept_[0]
        intercept[present[0]] = -classifier.intercept_[0]
    else:
        for row, label in enumerate(present):
            coef[:, label] = classifier.coef_[row]
            intercept[label] = classifier.intercept_[row]
    return coef, intercept


def fit_calibration(decisions: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-label Platt scaling (a 1-D logistic regression) on out-of-fold decision values."""
    from sklearn.linear_model import LogisticRegression

    n_labels = decisions.shape[1]
    scale = np.ones(n_labels, np.float32)
    offset = np.zeros(n_labels, np.float32)
    for label in range(n_labels):
        positive = targets == label
        if positive.all() or not positive.any():
            continue
        platt = LogisticRegression(C=100.0).fit(decisions[:, [label]], positive)
        scale[label] = float(platt.coef_[0, 0])
        offset[label] = float(platt.intercept_[0])
    return scale, offset


def _shipped_prior() -> TopicModel | None:
    """The shipped model as a frozen prior for a user's model, or None if it cannot be read.

    Training still works without it (with a logged warning, and the model's ``meta`` records
    the missing prior), since a damaged install should not stop a user from fitting a model on
    their own data.
    """
    try:
        prior = TopicModel.load()
    except (OSError, ValueError, KeyError) as error:
        log.warning("training without the shipped model's topic scores: %s", error)
        return None
    prior.meta = {"source": "shipped default model, " + str(prior.meta.get("trained_on", ""))}
    return prior


def _matching_word_vectors(document: Mapping[str, Any], meta_path: Path) -> WordVectors:
    """The shipped word vectors, if they are the ones the model at ``meta_path`` was fitted on.

    A model's word map only makes sense for the exact vectors it was fitted with; after an
    upgrade that ships other vectors, refusing to load beats silently wrong topics.
    """
    vectors = WordVectors.load()
    if vectors.digest != document.get("digest"):
        raise ValueError(
            f"{meta_path} was trained with other word vectors than this release ships; "
            "retrain it with `newsbot train`"
        )
    return vectors


def _word_features(
    vectors: WordVectors, items: Sequence[tuple[str, str]], texts: Sequence[str]
) -> np.ndarray:
    """The word-vector member's input for ``items`` whose prepared texts are ``texts``.

    One function for training and scoring, so the two always see the same input.
    """
    titles = [prepare_text(title or "", "", 0) for title, _ in items]
    return vectors.features(titles, texts)


def _shipped_word_vectors() -> WordVectors | None:
    """The shipped word vectors for a user's model, or None (with a warning) if unreadable."""
    try:
        return WordVectors.load()
    except (OSError, ValueError, KeyError) as error:
        log.warning("training without the shipped word vectors: %s", error)
        return None


def _tfidf_columns(
    fit_counts: sp.csr_matrix, *others: sp.csr_matrix
) -> tuple[np.ndarray, np.ndarray, float, list[sp.csr_matrix]]:
    """IDF fitted on ``fit_counts``; TF-IDF of it and of ``others`` over its seen columns."""
    index, idf, unseen = fit_idf(fit_counts)
    features = [tfidf(m, index, idf, unseen)[:, index] for m in (fit_counts, *others)]
    return index, idf, unseen, features


def train(
    rows: Iterable[dict],
    out_dir: Path,
    *,
    folds: int = 5,
    seed: int = 0,
    transfer: bool = True,
) -> TrainReport:
    """Cross-validate, then fit on all rows and write a model directory to ``out_dir``.

    Rows are ``{"title"?, "text", "label"}`` with any label set. The model stacks a linear SVM,
    complement naive Bayes and, with ``transfer``, maps from the shipped model's topic scores
    and from the rows' mean GloVe word vectors (see :mod:`bot.pipeline.classify_ensemble`). The
    reported figures are honest cross-validation: every member is refitted per fold (IDF
    included) and the stacking weights applied to a fold are fitted on the other folds' out-of-
    fold scores only. Those scores also calibrate the model's [0, 1] scores. Raises ValueError
    for empty data, a single label, rows without text or label, or labels too rare to cross-
    validate.
    """
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold

    from bot.pipeline.classify_ensemble import (
        fit_members,
        fit_stack,
        member_spread,
        stack,
    )

    started = time.perf_counter()
    items, label_names = _validate_rows(rows)
    labels = sorted(set(label_names))
    targets = np.asarray([labels.index(name) for name in label_names])
    rarest_label, rarest_count = min(Counter(label_names).items(), key=lambda kv: kv[1])
    if folds < 2:
        raise ValueError("folds must be at least 2 (the report is cross-validated)")
    used_folds = min(folds, rarest_count)
    if used_folds < 2:
        raise ValueError(
            f"label {rarest_label!r} has only {rarest_count} row; every label needs at least 2"
        )

    spec = FeatureSpec()
    languages = training_languages(items)
    texts = [prepare_text(title, text, spec.max_chars) for title, text in items]
    counts = spec.counts(texts)
    prior = _shipped_prior() if transfer else None
    prior_scores = prior.decision(items).astype(np.float64) if prior is not None else None
    vectors = _shipped_word_vectors() if transfer else None
    word_features = None if vectors is None else _word_features(vectors, items, texts)

    def part(rows_at: np.ndarray) -> np.ndarray | None:
        return None if prior_scores is None else prior_scores[rows_at]

    def words_part(rows_at: np.ndarray) -> np.ndarray | None:
        return None if word_features is None else word_features[rows_at]

    n_members = 2 + (prior is not None) + (vectors is not None)
    member_scores = np.zeros((n_members, len(texts), len(labels)), np.float64)
    splits = list(
        StratifiedKFold(n_splits=used_folds, shuffle=True, random_state=seed).split(
            np.zeros(len(texts)), targets
        )
    )
    for train_rows, test_rows in splits:
        _, _, _, (fit_features, test_features) = _tfidf_columns(
            counts[train_rows], counts[test_rows]
        )
        members = fit_members(
            fit_features,
            targets[train_rows],
            len(labels),
            part(train_rows),
            seed=seed,
            word_features=words_part(train_rows),
        )
        member_scores[:, test_rows] = members.decide(
            test_features, part(test_rows), words_part(test_rows)
        )
    spread = member_spread(member_scores)
    scaled = member_scores / spread[:, None, None]
    out_of_fold = np.zeros((len(texts), len(labels)), np.float64)
    for train_rows, test_rows in splits:
        weights = fit_stack(scaled[:, train_rows], targets[train_rows])
        out_of_fold[test_rows] = stack(scaled[:, test_rows], weights)
    predicted = out_of_fold.argmax(axis=1)
    accuracy = float(accuracy_score(targets, predicted))
    macro_f1 = float(f1_score(targets, predicted, average="macro"))
    scale, offset = fit_calibration(out_of_fold, targets)

    weights = fit_stack(scaled, targets)
    index, idf, unseen, (features,) = _tfidf_columns(counts)
    members = fit_members(
        features, targets, len(labels), prior_scores, seed=seed, word_features=word_features
    )
    coef, intercept, prior_map, word_map = members.fold(weights / spread)
    # A member the stacker gave no weight is dropped, so the model does not carry its arrays.
    if prior_map is not None and not np.any(prior_map):
        prior_map = None
    if word_map is not None and not np.any(word_map):
        word_map = None
    member_names = ["linear SVM", "complement naive Bayes"]
    member_names += ["shipped model's topic scores"] if prior is not None else []
    member_names += ["GloVe word vectors"] if vectors is not None else []
    model = TopicModel(
        spec=spec,
        labels=tuple(labels),
        feature_index=index,
        idf=idf,
        unseen_idf=unseen,
        coef=coef,
        intercept=intercept,
        scale=scale,
        offset=offset,
        names={label: TOPIC_NAMES.get(label, label) for label in labels},
        meta={
            "trained_rows": len(texts),
            "cv_folds": used_folds,
            "cv_accuracy": round(accuracy, 4),
            "cv_macro_f1": round(macro_f1, 4),
            "seed": seed,
            # Read back by TopicModel.languages: stories in other languages keep only topics
            # scoring FOREIGN_LANGUAGE_FLOOR or more.
            "languages": list(languages),
            "language_rows": languages,
            "prior": prior.meta["source"] if prior is not None and prior_map is not None else None,
            "member_weights": {
                name: round(float(weight), 4)
                for name, weight in zip(member_names, weights, strict=True)
            },
        },
        prior=prior if prior_map is not None else None,
        prior_map=prior_map.astype(np.float32) if prior_map is not None else None,
        word_vectors=vectors if word_map is not None else None,
        word_map=word_map.astype(np.float32) if word_map is not None else None,
    )
    model.save(out_dir)
    return TrainReport(
        rows=len(texts),
        labels=labels,
        accuracy=accuracy,
        macro_f1=macro_f1,
        folds=used_folds,
        seconds=time.perf_counter() - started,
        languages=languages,
    )


# ---------------------------------------------------------------------- JSONL helpers
def load_training_rows(path: Path) -> list[dict]:
    """Read ``{"title"?, "text", "label"}`` rows from a JSON Lines file for ``newsbot train``.

    Unlike :func:`classify_jsonl`, a broken line is an error here: silently training on part of
    the data would give a model that does not match what the user asked for.
    """
    rows: list[dict] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            rows.append(row)
    return rows


def classify_jsonl(src: TextIO, dst: TextIO, model: TopicModel, *, batch_size: int = 512) -> int:
    """Classify ``{"id", "title"?, "text"}`` lines from ``src`` into ``dst``; return lines written.

    Each output line is ``{"id", "topics": [best first], "scores": {label: score}, "language"}``
    with a score for every label of the model. As in the pipeline, a story in a language the
    model was not trained on (see :attr:`TopicModel.languages`) keeps only the topics that
    reach :data:`FOREIGN_LANGUAGE_FLOOR`, possibly none. Lines that are not JSON objects with
    a string ``text`` are skipped with a logged warning, so one bad record does not stop a
    batch job.
    """
    written = 0
    batch: list[tuple[Any, str, str]] = []

    def flush() -> int:
        if not batch:
            return 0
        scores = model.scores_many([(title, text) for _, title, text in batch])
        for (story_id, title, text), row in zip(batch, scores, strict=True):
            language = detect_language(f"{title}. {text}")
            picked = model.topics_for_language(model.labels_for(row), language)
            record = {
                "id": story_id,
                "topics": [label for label, _ in picked],
                "scores": {
                    label: round(float(value), 4)
                    for label, value in zip(model.labels, row, strict=True)
                },
                "language": language,
            }
            dst.write(json.dumps(record, ensure_ascii=False) + "\n")
        count = len(batch)
        batch.clear()
        return count

    for record in text_records(src, command="classify"):
        batch.append((record.get("id"), record["title"], record["text"]))
        if len(batch) >= batch_size:
            written += flush()
    written += flush()
    return written
