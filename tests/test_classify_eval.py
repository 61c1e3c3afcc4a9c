"""Evaluation of topic classification on the shared data (skipped when it is absent).

Floors sit a little under the figures printed by ``python -m benchmarks.classify``, so a real
regression fails while run-to-run noise does not.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from benchmarks.classify import AG_MAPPING, BBC_MAPPING, hard_news, hard_news_sets
from benchmarks.common import read_jsonl
from bot.pipeline.classify import TopicModel, train
from bot.pipeline.feeds import parse_feed

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def _rows(shared_data: Path, name: str) -> list[dict]:
    paths = {
        "bbc": shared_data / "bbc_news" / "bbc_news.dev.jsonl",
        "ag": shared_data / "ag_news" / "ag_news_test.dev.jsonl",
    }
    return list(read_jsonl(paths[name]))


def _restricted_predictions(model: TopicModel, rows: list[dict], mapping: dict) -> list[str]:
    scores = model.scores_many([(r["title"], r["text"]) for r in rows])
    usable = np.array([label in mapping for label in model.labels])
    return [mapping[model.labels[i]] for i in np.where(usable, scores, -1.0).argmax(axis=1)]


def _strict_predictions(model: TopicModel, rows: list[dict], mapping: dict) -> list[str]:
    return [
        mapping.get(labels[0][0], "(unmapped)")
        for labels in model.classify_many([(r["title"], r["text"]) for r in rows])
    ]


@pytest.mark.parametrize(
    ("name", "floor_acc", "floor_f1"), [("bbc", 0.97, 0.97), ("ag", 0.895, 0.89)]
)
def test_trained_model_on_held_back_fifth(
    shared_data: Path, tmp_path: Path, name: str, floor_acc: float, floor_f1: float
) -> None:
    rows = _rows(shared_data, name)
    train_rows, test_rows = train_test_split(
        rows, test_size=0.2, random_state=0, stratify=[r["label"] for r in rows]
    )
    report = train(train_rows, tmp_path, seed=0)
    assert report.macro_f1 >= floor_f1
    model = TopicModel.load(tmp_path)
    predicted = [
        labels[0][0] for labels in model.classify_many([(r["title"], r["text"]) for r in test_rows])
    ]
    gold = [r["label"] for r in test_rows]
    assert accuracy_score(gold, predicted) >= floor_acc
    assert f1_score(gold, predicted, average="macro") >= floor_f1


def test_default_model_through_the_mapping(shared_data: Path) -> None:
    model = TopicModel.load()
    bbc = _rows(shared_data, "bbc")
    gold = [r["label"] for r in bbc]
    classes = sorted(set(gold))
    assert (
        f1_score(gold, _restricted_predictions(model, bbc, BBC_MAPPING), average="macro") >= 0.925
    )
    assert (
        f1_score(
            gold, _strict_predictions(model, bbc, BBC_MAPPING), average="macro", labels=classes
        )
        >= 0.905
    )
    ag = _rows(shared_data, "ag")
    ag_gold = [r["label"] for r in ag]
    assert accuracy_score(ag_gold, _restricted_predictions(model, ag, AG_MAPPING)) >= 0.79
    assert accuracy_score(gold, _strict_predictions(model, bbc, BBC_MAPPING)) >= 0.875


# Figures printed by the benchmark for the shipped model (whole dev splits, never trained on):
# current_events top-1 0.807, recall among the best two disaster 0.957, conflict 0.970,
# crime 0.915; news_events (ECB+) top-1 0.854, recall 0.976, 1.0, 0.964.
@pytest.mark.parametrize(
    ("name", "floor_top1", "floor_recall"),
    [
        ("current_events", 0.78, {"disaster": 0.93, "conflict": 0.94, "crime": 0.89}),
        ("news_events", 0.83, {"disaster": 0.95, "conflict": 0.96, "crime": 0.94}),
    ],
)
def test_default_model_on_real_hard_news(
    shared_data: Path, name: str, floor_top1: float, floor_recall: dict[str, float]
) -> None:
    figures = hard_news(TopicModel.load(), hard_news_sets(shared_data)[name])
    assert figures["top1"] >= floor_top1
    for topic, floor in floor_recall.items():
        assert figures[f"{topic}@2"] >= floor, topic


# The two science feeds of the data (phys.org and Science magazine's RSS 1.0 feed): 59 of their
# 99 items come out as science and 2 as entertainment (24 did before research vocabulary was
# added: with no known word, a story fell to the topic with the highest intercept).
SCIENCE_FEEDS = ("phys_org_daily_scitech_news.rss", "rss-1.rss")


def test_default_model_on_science_feeds(shared_data: Path) -> None:
    model = TopicModel.load()
    items = [
        (item.title, item.text)
        for name in SCIENCE_FEEDS
        for item in parse_feed(
            (shared_data / "feeds" / "rss_parser_inputs" / name).read_bytes()
        ).items
    ]
    assert len(items) >= 95
    best = [labels[0][0] for labels in model.classify_many(items)]
    assert best.count("science") / len(best) >= 0.55
    assert best.count("entertainment") / len(best) <= 0.04


def test_default_model_throughput(shared_data: Path) -> None:
    model = TopicModel.load()
    items = [(r["title"], r["text"]) for r in _rows(shared_data, "ag")]
    model.classify("warm-up", "")
    started = time.perf_counter()
    model.classify_many(items)
    rate = len(items) / (time.perf_counter() - started)
    # Measured about 10,000 stories/s; the floor is the spec's 2,000 with room for a busy machine.
    assert rate >= 2000
