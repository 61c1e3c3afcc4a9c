"""Extractive summaries and the JSON Lines batch, on articles written for the tests."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pipeline.summarize import Summary, score_sentences, summarize, summarize_jsonl
from bot.pipeline.text import split_sentences

TITLE = "Northport bridge reopens after repairs"
ARTICLE = """Photo: Ana Ruiz/Reuters

The Northport harbour bridge reopened to traffic on Friday after six months of repairs that \
cost the city $12m, ending long detours for commuters.

Engineers found cracks in two of the bridge's steel supports in the spring. The city closed \
the bridge and brought in a specialist firm from Eastmere to replace the supports.

"It is a relief," said Tom Hale, who drives across the bridge every day.

Read more

Mayor Sara Okafor said the repairs to the Northport harbour bridge were finished on budget \
and that the city would now inspect its other bridges every year.

Advertisement"""


def test_summary_respects_budget_order_and_whole_sentences() -> None:
    summary = summarize(TITLE, ARTICLE, max_sentences=3, max_chars=400)
    assert 0 < len(summary.text) <= 400
    assert 1 <= len(summary.sentences) <= 3
    assert summary.text == " ".join(summary.sentences)
    article_sentences = split_sentences(ARTICLE)
    positions = [article_sentences.index(sentence) for sentence in summary.sentences]
    assert positions == sorted(positions)
    assert summary.sentences[0].startswith("The Northport harbour bridge reopened")


def test_summary_never_contains_boilerplate_or_kickers() -> None:
    text = "UPDATE: " + ARTICLE.replace("Photo: Ana Ruiz/Reuters\n\n", "")
    for budget in (120, 250, 400, 1000):
        summary = summarize(TITLE, text, max_chars=budget)
        for furniture in ("Photo:", "Read more", "Advertisement", "UPDATE"):
            assert furniture not in summary.text


def test_max_sentences_is_honoured() -> None:
    assert len(summarize(TITLE, ARTICLE, max_sentences=1, max_chars=1000).sentences) == 1


def test_best_sentence_too_long_gives_the_best_one_that_fits() -> None:
    lead = ARTICLE.split("\n\n")[1]
    budget = len(lead) - 10
    summary = summarize(TITLE, ARTICLE, max_sentences=1, max_chars=budget)
    assert summary.sentences and len(summary.text) <= budget
    assert summary.text in split_sentences(ARTICLE)


def test_when_no_sentence_fits_the_lead_is_cut_at_a_word_with_an_ellipsis() -> None:
    text = (
        "The Northport harbour bridge reopened to traffic on Friday after six months of "
        "repairs. Engineers replaced two steel supports in the central span."
    )
    summary = summarize(TITLE, text, max_chars=30)
    assert summary.text.endswith("…") and len(summary.text) <= 30
    assert text.startswith(summary.text[:-1])
    assert summary.sentences == [summary.text]


def test_empty_article_gives_empty_summary() -> None:
    assert summarize("Anything", "") == Summary("", [])
    assert summarize("Anything", "Read more\n\nAdvertisement") == Summary("", [])


def test_title_repeated_as_first_line_is_not_the_summary() -> None:
    summary = summarize(TITLE, f"{TITLE}\n\n{ARTICLE}")
    assert TITLE not in summary.sentences


def test_scores_favour_the_lead_over_a_quote() -> None:
    sentences = split_sentences(ARTICLE.split("\n\n", 1)[1])
    scores = score_sentences(TITLE, sentences)
    quote = next(i for i, s in enumerate(sentences) if s.startswith('"It is a relief'))
    assert scores[0] > scores[quote]


@settings(max_examples=40, deadline=None)
@given(max_chars=st.integers(min_value=1, max_value=600), max_sentences=st.integers(1, 4))
def test_budget_is_never_exceeded(max_chars: int, max_sentences: int) -> None:
    summary = summarize(TITLE, ARTICLE, max_sentences=max_sentences, max_chars=max_chars)
    assert len(summary.text) <= max_chars
    assert len(summary.sentences) <= max_sentences


def test_summarize_jsonl_writes_one_line_per_good_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    src = io.StringIO(
        json.dumps({"id": "a", "title": TITLE, "text": ARTICLE})
        + "\n"
        + "{not json\n"
        + "\n"
        + json.dumps({"id": "b", "text": "Engineers said the bridge is safe. Traffic is back."})
        + "\n"
        + json.dumps({"id": "c", "title": "No text"})
        + "\n"
        + json.dumps(["a", "list"])
        + "\n"
    )
    dst = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="bot.pipeline.summarize"):
        count = summarize_jsonl(src, dst, max_sentences=2, max_chars=200)
    assert count == 2
    rows = [json.loads(line) for line in dst.getvalue().splitlines()]
    assert [row["id"] for row in rows] == ["a", "b"]
    for row in rows:
        assert set(row) == {"id", "summary", "sentences"}
        assert len(row["summary"]) <= 200 and len(row["sentences"]) <= 2
        assert row["summary"] == " ".join(row["sentences"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert any("line 2" in message for message in warnings)


@pytest.mark.parametrize(
    "dateline",
    ["TARNOW (Reuters) - ", "KELMARSH, Feb 26 - ", "VELDRA, March 3 (AP) -- ", "Lille (AFP) - "],
)
def test_a_wire_dateline_never_opens_the_summary(dateline: str) -> None:
    text = (
        f"{dateline}The harbour authority closed the northern pier on Monday after a crane "
        "collapsed onto two fishing boats. Divers searched the water until dark."
    )
    summary = summarize("Crane collapse shuts northern pier", text).text
    assert summary.startswith("The harbour authority closed the northern pier"), summary


def test_a_name_and_a_dash_aside_are_no_dateline() -> None:
    text = "Mara Velt - who chairs the board - said the pier would reopen. Divers left at dark."
    summary = summarize("Pier to reopen, chair says", text).text
    assert summary.startswith("Mara Velt - who chairs the board - said"), summary
