"""Rebuild the shipped default topic model in ``bot/data/topic_model/``, deterministically.

Inputs: the HuffPost headlines (CC BY 4.0; the dev split file of the evaluation data by default,
or ``--huffpost FILE``) and the project's own seed terms in ``bot.pipeline.classify_lexicon``.
No other file is read, and each evaluation set is left out for a stated reason (also written
into ``model.json``'s ``meta``):

* BBC News and AG News are licensed for research only;
* ``news_events``: the ECB+ annotation is CC BY 3.0 but its article texts belong to their
  publishers, and BASIL states no licence;
* ``current_events`` (Wikipedia Current Events items) is CC BY-SA, which would allow training
  with attribution (and would make the model a share-alike adaptation), but it does not earn
  its place: its dev split (274 items) did not raise top-1 on held-out stories whichever way
  it was added (``CURRENT_EVENTS_TRIAL``, measured by 5-fold cross-validation grouped by
  story, so no story is on both sides: 0.807 without, 0.796 among the HuffPost rows, 0.799
  there 20 times over, 0.814 among the seed-term rows, 0.796 there three times over, 0.807
  and 0.799 as a third SVM with a 0.2 or 0.35 share; earlier word lists gave 0.774 both
  ways). The best way gains two items of 274, less than one story moves, so it stays an
  evaluation set and the model carries no share-alike terms.

So those sets only measure the model (``benchmarks/classify.py``), and never their held-back
halves, which are not in the evaluation copy at all.

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
# Top-1 on current_events' dev split, 5-fold cross-validated with whole stories held out, of
# this build without and with that split's items added each way of ``CURRENT_EVENTS_WAYS`` (see
# the docstring); ``--trial-current-events`` measures it again.
CURRENT_EVENTS_TRIAL = {
    "without": 0.807,
    "with": 0.796,
    "with, 20x": 0.799,
    "seed rows": 0.814,
    "seed rows, 3x": 0.796,
    "member 0.2": 0.807,
    "member 0.35": 0.799,
}
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
            "not_trained_on": {
                "bbc_news, ag_news": "research use only",
                "news_events": "ECB+ annotation CC BY 3.0, but the article texts belong to "
                "their publishers; BASIL states no licence",
                "current_events": "CC BY-SA (Wikipedia) would allow it (the model would then "
                "be a share-alike adaptation), but adding its dev split did not raise "
                "story-grouped cross-validated top-1 on it "
                f"({CURRENT_EVENTS_TRIAL['without']} without, "
                f"{CURRENT_EVENTS_TRIAL['with']} with, at best "
                f"{max(CURRENT_EVENTS_TRIAL.values())} weighted up, among the seed-term rows or "
                "as a third member: two items of 274); evaluation only",
            },
        },
    )
    model.save(out_dir, coef_dtype=np.float16)
    return model


# The ways ``current_events_trial`` tries to use the Current Events items: where their rows go
# (none, among the HuffPost rows, among the seed-term rows, or a third SVM of their own) and how
# many times each is repeated, or the third member's share of the blend. 274 items beside
# 12,573 headlines barely move the HuffPost SVM, so weighting them up is tried too.
CURRENT_EVENTS_WAYS: dict[str, tuple[str | None, float]] = {
    "without": (None, 0),
    "with": ("news", 1),
    "with, 20x": ("news", 20),
    "seed rows": ("seed", 1),
    "seed rows, 3x": ("seed", 3),
    "member 0.2": ("member", 0.2),
    "member 0.35": ("member", 0.35),
}


def current_events_trial(huffpost: Path, current_events: Path) -> dict[str, float]:
    """Top-1 on Current Events items of this build, without and with those items as training rows.

    5-fold cross-validation grouped by story (an item without a story is its own group), so the
    items scored never share a story with the items trained on; the IDF is refitted per fold.
    Each way of ``CURRENT_EVENTS_WAYS`` is scored on the same folds. Only the linear scores are
    compared: the shared calibration does not change the best topic.
    """
    from sklearn.model_selection import GroupKFold

    news_texts, news_targets, _ = load_huffpost(huffpost)
    term_texts, term_targets = seed_rows()
    rows = list(read_jsonl(current_events))
    item_texts = [prepare_text("", row["text"], SPEC.max_chars) for row in rows]
    item_targets = np.asarray([TOPICS.index(row["topic"]) for row in rows])
    groups = [row.get("story") or row["id"] for row in rows]
    news_counts, term_counts = SPEC.counts(news_texts), SPEC.counts(term_texts)
    item_counts = SPEC.counts(item_texts)
    n_topics = len(TOPICS)
    hits = dict.fromkeys(CURRENT_EVENTS_WAYS, 0)
    splitter = GroupKFold(n_splits=CALIBRATION_FOLDS)
    for train_rows, test_rows in splitter.split(item_texts, item_targets, groups):
        items, targets = item_counts[train_rows], item_targets[train_rows]
        for trial, (place, amount) in CURRENT_EVENTS_WAYS.items():
            extra = [items] if place else []
            index, idf, unseen = fit_idf(sp.vstack([news_counts, term_counts, *extra], "csr"))

            def features(counts: sp.csr_matrix) -> sp.csr_matrix:
                return tfidf(counts, index, idf, unseen)[:, index]  # noqa: B023

            fitted = []
            for counts, labels, joined in (
                (term_counts, term_targets, "seed"),
                (news_counts, news_targets, "news"),
            ):
                if place == joined:
                    repeat = int(amount)
                    counts = sp.vstack([counts, *[items] * repeat], format="csr")
                    labels = np.concatenate([labels, *[targets] * repeat])
                fitted.append(fit_svm(features(counts), labels, n_topics, seed=SEED, balanced=True))
            coef, intercept = blend(fitted[0], fitted[1])
            if place == "member":
                own = fit_svm(features(items), targets, n_topics, seed=SEED, balanced=True)
                coef = (1 - amount) * coef + amount * own[0]
                intercept = (1 - amount) * intercept + amount * own[1]
            scores = np.asarray(features(item_counts[test_rows]) @ coef) + intercept
            hits[trial] += int((scores.argmax(axis=1) == item_targets[test_rows]).sum())
    return {trial: round(count / len(rows), 3) for trial, count in hits.items()}


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
    parser.add_argument(
        "--trial-current-events",
        action="store_true",
        help="only measure whether training on the Current Events items would help (see "
        "CURRENT_EVENTS_TRIAL); writes no model",
    )
    args = parser.parse_args(argv)
    source = args.huffpost
    data = find_shared_data()
    if source is None:
        if data is None:
            parser.error("the evaluation data is absent: pass --huffpost FILE")
        source = data / "huffpost_headlines" / "huffpost_headlines.dev.jsonl"
    if args.trial_current_events:
        if data is None:
            parser.error("the evaluation data is absent")
        trial = current_events_trial(source, data / "current_events" / "current_events.dev.jsonl")
        print(f"current_events top-1, story-grouped 5-fold CV: {trial}")
        return 0
    model = build(source, args.out)
    print(
        f"wrote {args.out}: {len(model.feature_index)} features x {len(model.labels)} topics "
        f"from {model.meta['huffpost_rows']} headlines and {model.meta['seed_terms']} seed terms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
