"""Evaluation of the text stages on the shared data, with floors a little under measured figures.

Samples are fixed (seeded, or the first rows of the "eval" half of the ids) so the figures
are stable; the floors leave a small margin for platform differences, not for regressions.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from statistics import mean

import pytest

from benchmarks.segmentation import (
    _WIRE_STYLE_SHARE,
    _half,
    build_dumps,
    leak_report,
    predict_ours,
    score,
)
from benchmarks.summarize import lead, ours
from bot.pipeline.language import detect_language, key_terms
from bot.pipeline.text import split_sentences

pytestmark = pytest.mark.shared_data


def _rows(path: Path, half: str, count: int) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if _half(row["id"]) == half:
                rows.append(row)
                if len(rows) == count:
                    break
    return rows


def test_segmentation_f1_on_seeded_dumps(shared_data: Path) -> None:
    dumps = build_dumps(shared_data, 100, seed=7, half="eval")
    precision, recall, f1 = score(dumps, predict_ours)
    # 0.909 with the boundary model fitted on licence-compatible text only (0.97 with the
    # earlier weights, which were fitted on evaluation-only BBC/AG dumps and had to go).
    assert f1 >= 0.89, (precision, recall, f1)
    wire = build_dumps(shared_data, 100, seed=7, half="eval", wire_share=_WIRE_STYLE_SHARE)
    precision, recall, f1 = score(wire, predict_ours)
    assert f1 >= 0.87, ("wire-style", precision, recall, f1)  # 0.885 (0.95 before the refit)
    leaked, kept = leak_report(dumps)
    assert leaked == 0
    assert kept >= 0.998


def test_summary_rouge2_beats_lead_at_equal_budget(shared_data: Path) -> None:
    from rouge_score import rouge_scorer

    rows = _rows(shared_data / "bbc_news_summary" / "bbc_news_summary.dev.jsonl", "eval", 200)
    scorer = rouge_scorer.RougeScorer(["rouge2"], use_stemmer=True)

    def rouge2(method: object) -> float:
        assert callable(method)
        return mean(
            scorer.score(row["summary"], method(row["title"], row["text"], 3, 400))[
                "rouge2"
            ].fmeasure
            for row in rows
        )

    ours_score, lead_score = rouge2(ours), rouge2(lead)
    assert ours_score >= 0.54, ours_score
    assert ours_score > lead_score + 0.05, (ours_score, lead_score)


def test_sentence_splitter_agrees_with_reference_sentences(shared_data: Path) -> None:
    rows = _rows(shared_data / "bbc_news_summary" / "bbc_news_summary.dev.jsonl", "eval", 300)
    found = total = 0
    for row in rows:
        if row["summary_segmentation"] != "matched":
            continue
        ours_sentences = set(split_sentences(row["text"]))
        for sentence in row["summary_sentences"]:
            total += 1
            found += " ".join(sentence.split()) in ours_sentences
    assert found / total >= 0.98, found / total


def test_key_terms_cover_capitalised_title_words(shared_data: Path) -> None:
    rows = _rows(shared_data / "bbc_news" / "bbc_news.dev.jsonl", "eval", 300)
    covered = total = 0
    for row in rows:
        terms = " ".join(key_terms(row["title"], row["text"])).lower().split()
        for word in row["title"].split()[1:]:
            word = word.strip("'\".,:;!?()").removesuffix("'s")
            if word[:1].isupper() and word.lower() not in {"the", "a", "of"}:
                total += 1
                covered += word.lower() in terms
    assert covered / total >= 0.88, covered / total


@pytest.mark.parametrize(
    ("feed", "code"),
    [
        ("rss_parser_inputs/heise.atom", "de"),
        ("rss_parser_inputs/uolNoticias.rss", "pt"),
        ("rsparser_resources/aktuality.rss", "sk"),
        ("rsparser_resources/lanacion.xml", "es"),
        ("rss_parser_inputs/guardian.rss", "en"),
    ],
)
def test_language_of_real_feed_entries(shared_data: Path, feed: str, code: str) -> None:
    import re

    import feedparser

    parsed = feedparser.parse(str(shared_data / "feeds" / feed))
    found = collections.Counter(
        detect_language(re.sub(r"<[^>]+>", " ", f"{e.get('title', '')}. {e.get('summary', '')}"))
        for e in parsed.entries
    )
    assert parsed.entries
    assert found[code] / len(parsed.entries) >= 0.9, found


def test_bbc_articles_are_english(shared_data: Path) -> None:
    rows = _rows(shared_data / "bbc_news" / "bbc_news.dev.jsonl", "eval", 100)
    assert all(detect_language(row["text"][:400]) == "en" for row in rows)
