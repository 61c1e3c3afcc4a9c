"""Rebuild the shipped default topic model in ``bot/data/topic_model/``, deterministically.

Inputs: the HuffPost headlines (CC BY 4.0; the dev split file of the evaluation data by default,
or ``--huffpost FILE``) and the project's own seed terms in ``bot.pipeline.classify_lexicon``.
No other file is read: BBC News and AG News are licensed for research only, and the real hard
news sets (``current_events``: Wikipedia Current Events items; ``news_events``: ECB+ and BASIL
articles) for evaluation only, so they only measure the model (``benchmarks/classify.py``).

The model blends two linear SVMs over the same hashed word 1-2 grams and IDF:

* one trained on HuffPost headlines whose sections map onto our taxonomy (sections that map to
  nothing, such as STYLE or PARENTING, are left out). Hard news that HuffPost files by region
  or beat (an earthquake under WORLD NEWS, an indictment under POLITICS) is re-filed by its
  event words first (``event_topic``), so that the model learns disasters, conflict and crime
  from real headlines instead of learning them as "world";
* one trained on the seed terms, one short row per term (words of harm one row for each of the
  three event topics). It supplies the vocabulary of conflict and disaster, which HuffPost has
  no section for, and the non-US vocabulary HuffPost lacks.

The blend weight and the shared score calibration are written into ``model.json``'s ``meta``.

Run from the repository root: ``.venv/bin/python -m scripts.build_default_model``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import find_shared_data, read_jsonl  # noqa: E402
from bot.pipeline.classify import (  # noqa: E402
    DEFAULT_THRESHOLD,
    TOPIC_NAMES,
    TOPICS,
    FeatureSpec,
    TopicModel,
    fit_idf,
    fit_svm,
    prepare_text,
    tfidf,
)
from bot.pipeline.classify_lexicon import (  # noqa: E402
    EVENT_TOPICS,
    SEED_TERMS,
    SHARED_HARM_TERMS,
    event_topic,
)

# HuffPost section -> our topic. Sections not listed (lifestyle, audience and format sections
# such as STYLE, PARENTING, QUEER VOICES, WEIRD NEWS, IMPACT) map to nothing and are left out.
HUFFPOST_SECTIONS: dict[str, str] = {
    "WORLD NEWS": "world",
    "THE WORLDPOST": "world",
    "WORLDPOST": "world",
    "POLITICS": "politics",
    "CRIME": "crime",
    "BUSINESS": "business",
    "MONEY": "business",
    "TECH": "technology",
    "SCIENCE": "science",
    "WELLNESS": "health",
    "HEALTHY LIVING": "health",
    "ENVIRONMENT": "environment",
    "GREEN": "environment",
    "SPORTS": "sport",
    "ENTERTAINMENT": "entertainment",
    "COMEDY": "entertainment",
    "MEDIA": "entertainment",
    "ARTS": "entertainment",
    "ARTS & CULTURE": "entertainment",
    "CULTURE & ARTS": "entertainment",
}

# Headlines of these mapped topics are re-filed by the event they report (see ``event_topic``)
# when it is one of the listed topics. Politics keeps its disasters ("won in a landslide") and
# environment its court cases (pipeline protesters arrested), where the event words mislead.
REFILED: dict[str, frozenset[str]] = {
    "world": frozenset({"conflict", "crime", "disaster"}),
    "politics": frozenset({"conflict", "crime"}),
    "environment": frozenset({"disaster"}),
}

# Share of the seed-term model in the blend. HuffPost-only weights reach about 0.77 macro-F1 on
# BBC through the mapping, seed terms alone about 0.93. With the event re-filing and the harm
# terms, 0.85 beat 0.6, 0.75 and 0.8 on BBC News and on both hard-news sets (Current Events,
# ECB+) and lost about a point on AG News; chosen on the dev split of those evaluation sets, so
# figures on that split are slightly optimistic.
SEED_TERM_SHARE = 0.85
SPEC = FeatureSpec(word_ngrams=(1, 2), char_ngrams=None, n_features=2**20, max_chars=4000)
SEED = 0
CALIBRATION_FOLDS = 5


def load_huffpost(path: Path) -> tuple[list[str], np.ndarray, int]:
    """Headlines and topic positions of the HuffPost rows whose section maps to a topic.

    The third value is how many of them were re-filed by their event (see ``REFILED``).
    """
    texts: list[str] = []
    targets: list[int] = []
    refiled = 0
    for row in read_jsonl(path):
        topic = HUFFPOST_SECTIONS.get(row["label"])
        if topic in REFILED:
            event = event_topic(row["title"])
            if event in REFILED[topic]:
                topic = event
                refiled += 1
        if topic is not None:
            texts.append(prepare_text(row["title"], row.get("text") or "", SPEC.max_chars))
            targets.append(TOPICS.index(topic))
    return texts, np.asarray(targets), refiled


def seed_rows() -> tuple[list[str], np.ndarray]:
    texts: list[str] = []
    targets: list[int] = []
    for topic in TOPICS:
        for term in SEED_TERMS[topic]:
            texts.append(term)
            targets.append(TOPICS.index(topic))
    for term in SHARED_HARM_TERMS:
        for topic in EVENT_TOPICS:
            texts.append(term)
            targets.append(TOPICS.index(topic))
    return texts, np.asarray(targets)


def blend(
    seed_model: tuple[np.ndarray, np.ndarray], news_model: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    coef = SEED_TERM_SHARE * seed_model[0] + (1 - SEED_TERM_SHARE) * news_model[0]
    intercept = SEED_TERM_SHARE * seed_model[1] + (1 - SEED_TERM_SHARE) * news_model[1]
    return coef.astype(np.float32), intercept.astype(np.float32)


def shared_calibration(
    news_features: sp.csr_matrix, news_targets: np.ndarray, seed_model: tuple[np.ndarray, ...]
) -> tuple[float, float]:
    """One Platt sigmoid for all topics, fitted on out-of-fold scores of HuffPost headlines.

    Shared because conflict and disaster have no labelled rows to fit their own.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    n_topics = len(TOPICS)
    decisions = np.zeros((news_features.shape[0], n_topics))
    splitter = StratifiedKFold(n_splits=CALIBRATION_FOLDS, shuffle=True, random_state=SEED)
    for train_rows, test_rows in splitter.split(np.zeros(len(news_targets)), news_targets):
        news_model = fit_svm(
            news_features[train_rows], news_targets[train_rows], n_topics, seed=SEED, balanced=True
        )
        coef, intercept = blend((seed_model[0], seed_model[1]), news_model)
        decisions[test_rows] = np.asarray(news_features[test_rows] @ coef) + intercept
    present = sorted(set(news_targets.tolist()))
    values = decisions[:, present].reshape(-1, 1)
    truth = (news_targets[:, None] == np.asarray(present)[None, :]).reshape(-1)
    platt = LogisticRegression(C=100.0).fit(values, truth)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def build(huffpost: Path, out_dir: Path) -> TopicModel:
    news_texts, news_targets, refiled = load_huffpost(huffpost)
    term_texts, term_targets = seed_rows()
    news_counts = SPEC.counts(news_texts)
    term_counts = SPEC.counts(term_texts)
    index, idf, unseen = fit_idf(sp.vstack([news_counts, term_counts], format="csr"))
    news_features = tfidf(news_counts, index, idf, unseen)[:, index]
    term_features = tfidf(term_counts, index, idf, unseen)[:, index]
    n_topics = len(TOPICS)
    seed_model = fit_svm(term_features, term_targets, n_topics, seed=SEED, balanced=True)
    news_model = fit_svm(news_features, news_targets, n_topics, seed=SEED, balanced=True)
    coef, intercept = blend(seed_model, news_model)
    scale, offset = shared_calibration(news_features, news_targets, seed_model)
    model = TopicModel(
        spec=SPEC,
        labels=TOPICS,
        feature_index=index,
        idf=idf,
        unseen_idf=unseen,
        coef=coef,
        intercept=intercept,
        scale=np.full(n_topics, scale, np.float32),
        offset=np.full(n_topics, offset, np.float32),
        threshold=DEFAULT_THRESHOLD,
        names=dict(TOPIC_NAMES),
        meta={
            "trained_on": "HuffPost headlines (CC BY 4.0, Rishabh Misra, News Category Dataset, "
            "arXiv:2209.11429) mapped to topics, hard news re-filed by its event words, plus "
            "the project's own seed terms",
            "huffpost_rows": len(news_texts),
            "huffpost_rows_refiled": refiled,
            "refiled_sections": {topic: sorted(events) for topic, events in REFILED.items()},
            "seed_terms": len(term_texts),
            "seed_term_share": SEED_TERM_SHARE,
            "huffpost_sections": HUFFPOST_SECTIONS,
            "calibration": "one Platt sigmoid shared by all topics, fitted on "
            f"{CALIBRATION_FOLDS}-fold out-of-fold scores of the HuffPost rows",
            "research_only_data_used": False,
            "evaluation_only_data_used": False,
        },
    )
    model.save(out_dir, coef_dtype=np.float16)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--huffpost",
        type=Path,
        help="HuffPost headlines JSONL (default: the evaluation data's dev split)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "bot" / "data" / "topic_model", help="output dir"
    )
    args = parser.parse_args(argv)
    source = args.huffpost
    if source is None:
        data = find_shared_data()
        if data is None:
            parser.error("the evaluation data is absent: pass --huffpost FILE")
        source = data / "huffpost_headlines" / "huffpost_headlines.dev.jsonl"
    model = build(source, args.out)
    print(
        f"wrote {args.out}: {len(model.feature_index)} features x {len(model.labels)} topics "
        f"from {model.meta['huffpost_rows']} headlines and {model.meta['seed_terms']} seed terms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
