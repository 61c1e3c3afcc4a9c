"""The matcher benchmark's contract: the flags and JSON fields outside scripts read.

Run small, so the suite stays quick; the figures themselves come from running the benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import match as match_benchmark

FIELDS = (
    "subscriptions",
    "stories",
    "stories_per_s",
    "p95_ms",
    "matches_per_story",
    "peak_rss_mb",
    "matcher_rss_mb",
    "naive_stories_per_s",
    "naive_matches_per_story",
    "naive_stories",
    "sample_matches_per_story",
)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    status = match_benchmark.main(argv)
    return status, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_files_in_and_fields_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queries = tmp_path / "queries.txt"
    queries.write_text(
        "\n".join(
            [
                "earthquake",
                '"power cut" OR blackout',
                "flood -sport",
                "harbour*",
                "topic:disaster quake*",
                "(ferry OR bridge) AND closed",
                "NOT (",  # rejected: counted, not fatal
            ]
        ),
        encoding="utf-8",
    )
    stories = tmp_path / "stories.jsonl"
    rows = [
        {"id": "1", "title": "Earthquake hits coast", "text": "A power cut followed the quake."},
        {"id": "2", "title": "Harbour ferry closed", "text": "Flood waters closed the bridge."},
        {"id": "3", "title": "Cup final", "text": "A flood of goals in the sport final."},
        {"id": "4", "title": "Quiet day", "text": "Nothing happened.", "topics": ["disaster"]},
    ]
    stories.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    status, report = _run(
        [
            "--subscriptions-file",
            str(queries),
            "--stories-file",
            str(stories),
            "--naive-stories",
            "4",
            "--batch",
            "3",
        ],
        capsys,
    )
    assert status == 0
    for name in FIELDS:
        assert name in report, name
    assert report["agree"] is True
    assert report["subscriptions"] == 6 and report["rejected_queries"] == 1
    assert report["stories"] == 4 and report["naive_stories"] == 4
    # earthquake + "power cut"; harbour* + (ferry OR bridge) AND closed + flood; none; none
    assert report["matches_per_story"] == report["naive_matches_per_story"] == 1.25


def test_generated_inputs_agree_with_the_naive_loop(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = _run(
        ["--subscriptions", "3000", "--stories", "150", "--warm-stories", "50"], capsys
    )
    assert status == 0 and report["agree"] is True
    assert report["subscriptions"] == 3000 and report["naive_stories"] == 150
    assert isinstance(report["matches_per_story"], float) and report["matches_per_story"] > 1
