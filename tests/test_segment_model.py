"""The segmenter's shipped boundary model, its provenance, and the cues that move its decisions.

Every story here is invented.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.common import read_jsonl
from benchmarks.segmentation import LayoutDump, day_half
from bot.pipeline import segment as segmenter
from bot.pipeline.segment import MODEL_FILE, split_dump_spans
from scripts.build_segment_model import (
    SOURCES,
    _linked_groups,
    _story_title,
    as_training_dump,
    load_sources,
)
from tests.test_segment_layouts import CHIPS, QUAKE, TRANSFER, TRIAL

# A longer invented story than the four of the layout tests: the cues matter most where the
# running story is long.
QUAKE_LONG = [
    *QUAKE[1],
    "Hospitals in the provincial capital, Merino, treated more than 300 injured people, many "
    "of them children hurt when school buildings collapsed.",
    "The interior ministry said soldiers had been sent to help clear roads and deliver food "
    "to villages cut off by the landslides.",
    "Veldra lies on a fault line that has produced several deadly earthquakes, the last of "
    "which killed more than 200 people in 1989.",
]


def _starts(lines: list[str]) -> list[int]:
    return [start for start, _ in split_dump_spans("\n".join(lines))]


def test_shipped_model_names_only_licence_compatible_training_sets() -> None:
    meta = json.loads(MODEL_FILE.read_text(encoding="utf-8"))["meta"]
    trained = {source["set"]: source["licence"] for source in meta["trained_on"]}
    assert trained == {source["set"]: source["licence"] for source in SOURCES}
    assert trained == {
        "current_events": "CC BY-SA (Wikipedia text)",
        "huffpost_headlines": "CC BY 4.0",
    }
    assert meta["evaluation_only_data_used"] is False
    assert meta["built_by"] == "scripts/build_segment_model.py"


def test_shipped_model_is_what_the_segmenter_runs() -> None:
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    assert segmenter._BIAS == data["bias"]
    assert segmenter._DECODE_OFFSET == data["decode_offset"]
    assert list(segmenter._FEATURE_MEAN) == data["feature_mean"]
    assert [list(term) for term in segmenter._TERMS] == data["terms"]
    size = len(segmenter._FEATURE_MEAN)
    assert size == len(segmenter._FEATURE_SCALE) > 0
    assert all(0 <= first < size and -1 <= second < size for first, second, _ in segmenter._TERMS)


def test_a_file_of_another_kind_is_not_read_as_the_model(tmp_path: Path) -> None:
    other = tmp_path / "model.json"
    other.write_text(json.dumps({"format": "newsbot-topic-model"}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a segmenter model"):
        segmenter._load_model(other)


def test_ongoing_story_names_become_headlines() -> None:
    assert _story_title("War in Afghanistan (2015–present)") == "War in Afghanistan"
    assert (
        _story_title("Conflict-of-interest editing#Orangemoody") == "Conflict-of-interest editing"
    )
    assert _story_title("Syrian civil war") == "Syrian civil war"


@pytest.mark.shared_data
def test_training_sources_read_from_the_evaluation_data(shared_data: Path) -> None:
    articles, briefs, headlines = load_sources(shared_data)
    assert all(len(article) >= 2 for article in articles)
    assert all(len(brief.paragraphs) == 1 and brief.title for brief in briefs)
    # The tokenizer's spaces around clitics and punctuation are undone.
    assert not any(" 's " in headline or " , " in headline for headline in headlines)
    assert all(headline[:1] == headline[:1].upper() for headline in headlines)


@pytest.mark.shared_data
def test_training_items_are_none_of_the_scored_current_events_days(shared_data: Path) -> None:
    # current_events_dumps is scored on the "eval" days; the fit reads the other days only.
    articles, briefs, _ = load_sources(shared_data)
    paragraphs = {p for a in articles for s in a for p in s.paragraphs}
    paragraphs |= {p for brief in briefs for p in brief.paragraphs}
    scored = [
        row
        for row in read_jsonl(
            shared_data / "current_events_dumps" / "current_events_dumps.dev.jsonl"
        )
        if day_half(row["date"]) == "eval"
    ]
    assert scored and paragraphs
    scored_items = {row["text"][s["start"] : s["end"]] for row in scored for s in row["stories"]}
    assert not paragraphs & scored_items


def test_items_with_no_story_join_on_a_cited_article_or_a_rare_page() -> None:
    def item(name: str, url: str, *pages: str) -> dict:
        return {"id": name, "sources": [{"url": url}], "entities": list(pages)}

    rows = [
        item("a", "https://a.example/1", "Ruritania", "Lake Vessen"),
        item("b", "https://b.example/2", "Ruritania", "Lake Vessen"),
        item("c", "https://a.example/1", "Ruritania"),
        item("d", "https://d.example/4", "Ruritania"),
        item("e", "https://e.example/5", "Ruritania"),
    ]
    # "Ruritania" is named by five items: too common to tie them; a shared page or URL does.
    groups = [[row["id"] for row in group] for group in _linked_groups(rows)]
    assert groups == [["a", "b", "c"], ["d"], ["e"]]


def test_layout_dump_opens_each_story_at_its_first_line() -> None:
    dump = LayoutDump(
        "numbered items",
        ("Morning brief", "1. Dam opens", "Water flows.", "", "2. Rates held", "Banks wait."),
        (-1, 0, 0, -1, 1, 1),
    )
    training = as_training_dump(dump)
    assert (training.first_line, training.boundaries, training.stories) == (1, {4}, 2)


def test_lines_that_refer_back_are_found() -> None:
    lines = segmenter._read_lines(
        "\n".join(
            [
                QUAKE[1][0],
                "He said the death toll was likely to rise.",
                "But roads into the valley stayed closed.",
                "“We have nothing left,” said a teacher.",
                "Hospitals treated more than 300 injured people.",
                "HARLOW BAY (AP) - He was sentenced on Wednesday.",
                "UPDATE: They said the count would go on.",
            ]
        )
    )
    assert segmenter._referring_openers(lines, segmenter._line_cues(lines)) == [1, 2, 3]


def test_line_without_a_dateline_in_a_dateline_dump_stays_in_its_story() -> None:
    # A paragraph on a side of the story (aid, a politician's visit) shares few words with
    # it; where every story opens with an agency dateline, it is no story of its own.
    side = "Aid agencies appealed on Wednesday for tents, blankets and drinking water for families."
    lines = [
        f"VELDRA (Reuters) - {QUAKE_LONG[0]}",
        *QUAKE_LONG[1:6],
        side,
        *QUAKE_LONG[6:],
        f"HARLOW BAY (AP) - {TRIAL[1][0]}",
        *TRIAL[1][1:3],
        f"LONDON (Reuters) - {CHIPS[1][0]}",
        CHIPS[1][1],
    ]
    assert _starts(lines) == [0, 8, 11]


def test_dateline_cue_needs_the_first_story_dated() -> None:
    # Copy whose first story carries no dateline is not read as dateline copy: its lines
    # without one are not held back from opening stories.
    lines = [
        QUAKE[0],
        *QUAKE[1],
        f"HARLOW BAY (AP) - {TRIAL[1][0]}",
        *TRIAL[1][1:3],
        f"LONDON (Reuters) - {CHIPS[1][0]}",
        f"PARIS (AFP) - {TRANSFER[1][0]}",
    ]
    read = segmenter._read_lines("\n".join(lines))
    cues = segmenter._line_cues(read)
    assert segmenter._unmarked_in_dateline_dump(read, cues, set()) == []
    dated = lines[5:]
    read = segmenter._read_lines("\n".join(dated))
    cues = segmenter._line_cues(read)
    assert segmenter._unmarked_in_dateline_dump(read, cues, set()) == [1, 2]


# Wire copy hard-wrapped at about 60 characters, stories signed off and run together with no
# blank line: how a wire file pasted without its separators arrives.
WRAPPED_WIRE = [
    "LUMEN SYSTEMS DENIES PLANT CLOSURE REPORT",
    "GRENMARK, March 3 - Lumen Systems said on Tuesday it had no",
    "plans to close its wafer plant in Grenmark and move its",
    "production overseas, as a newspaper had reported.",
    "    The company said the plant was running at full capacity",
    "and that it had just signed a new ten-year lease for the",
    "site, which employs about 2,400 people.",
    "    Shares in Lumen fell six pct in early trading before",
    "recovering most of the loss after the denial.",
    " Reuter",
    "ROVERS SIGN ADEYEMI IN RECORD DEAL",
    "NORTHFIELD, March 3 - Northfield Rovers said they had signed",
    "striker Tobi Adeyemi from Castello for a club record fee of",
    "38 mln euros.",
    "    The 24-year-old scored 27 league goals last season and had",
    "been chased by several of the continent's biggest clubs.",
    " Reuter",
    "ESTMARK GRAIN BOARD SETS WHEAT EXPORT QUOTA",
    "ESTMARK, March 3 - The Estmark grain board set the wheat",
    "export quota for the season at 1.65 mln tonnes, up from",
    "1.40 mln tonnes last year, citing a larger harvest.",
    " Reuter",
]


def test_signed_wire_copy_without_blank_lines_splits_at_the_sign_offs() -> None:
    assert _starts(WRAPPED_WIRE) == [0, 10, 17]


def test_sign_off_and_wrap_cues_find_their_lines() -> None:
    lines = segmenter._read_lines("\n".join(WRAPPED_WIRE))
    assert segmenter._sign_off_lines(lines) == [9, 16, 21]
    # Wrapped lines that stop mid-sentence at the width carry on in the next line.
    assert {1, 2, 4, 5, 7} <= {p - 1 for p in segmenter._wrapped_continuations(lines)}
    # One "AP" line is no wire copy; short lines of varied length are no wrapped copy.
    lines = segmenter._read_lines("\n".join([*QUAKE[1], "AP", *TRIAL[1]]))
    assert segmenter._sign_off_lines(lines) == []
    assert segmenter._wrapped_continuations(lines) == []
