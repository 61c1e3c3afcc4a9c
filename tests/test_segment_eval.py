"""Segmentation on the shared data: each layout, the real wire and Current Events dumps.

Floors sit a little under the figures of ``benchmarks/segmentation.py`` on the same seeded
samples (smaller here), so a regression fails while platform noise does not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.segmentation import (
    LAYOUTS,
    build_dumps,
    build_layout_dumps,
    dumps_exactly_right,
    exactly_right,
    layout_score,
    real_dump_windows,
)

pytestmark = pytest.mark.shared_data

# Share of stories split exactly right on 20 dumps per layout (seed 7, eval half). The boundary
# model is fitted on licence-compatible text only (scripts/build_segment_model.py), no longer
# on BBC News and AG News. Its refit on Current Events articles laid out in the benchmark's
# layouts too, from the "tune" days only, gives 0.857 for paragraph per line, 0.929 for a
# headline with no blank lines, 0.961 for datelines and 0.977 for the real dump mix (0.840,
# 0.875, 0.937 and 0.969 before); blank after paragraph fell from 0.935 to 0.839 and its floor
# went down with it: the earlier fit also read the Current Events days that
# current_events_dumps is scored on, which are now held out. The cohesion-depth cue measured
# inside each dump and the counterweight to ending long stories gave 0.899 for paragraph per
# line, 0.911 for blank after paragraph and 0.955 for a headline with no blank lines.
FLOORS = {
    "paragraph per line": 0.88,
    "story per line": 0.97,
    "headline into lede": 0.97,
    "real dump mix": 0.96,
    "blank after paragraph": 0.89,
    "headline, blank between stories": 0.95,
    "headline, no blank lines": 0.94,
    "teasers cut mid-sentence": 0.95,
    "numbered items": 0.95,
    "bulleted items": 0.97,
    "wire slugs": 0.94,
    "read-more links": 0.96,
    "datelines": 0.94,
    "e-mail newsletter": 0.96,
    "web page as text": 0.96,
}


def test_every_layout_has_a_floor() -> None:
    assert set(FLOORS) == set(LAYOUTS)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_stories_exactly_right(shared_data: Path, layout: str) -> None:
    right, total = layout_score(build_layout_dumps(shared_data, layout, 20, seed=7))
    assert right / total >= FLOORS[layout], (layout, right, total)


def test_real_dumps_stories_exactly_right(shared_data: Path) -> None:
    real = real_dump_windows(shared_data, window=40, limit=10)
    right, total = layout_score(real["wire_dumps"])
    assert total == 400
    assert right / total >= 0.95, ("wire_dumps", right, total)
    right, total = layout_score(real["current_events_dumps"])  # The held-out days only.
    assert right / total >= 0.97, ("current_events_dumps", right, total)


def test_old_mixes_stories_exactly_right(shared_data: Path) -> None:
    # Before the layout rules, these 100 dumps of each mix gave 500/536 and 496/557 stories
    # exactly right, and 502 and 501 with them and the boundary model fitted on BBC News and
    # AG News. Fitted on licence-compatible text only, 463 and 448; with the Current Events
    # days that current_events_dumps scores held out of the fit, 435 and 438 (it now merges
    # more short stories). With the cohesion-depth cue and the long-story counterweight, 450
    # and 456: the floors sit under that.
    right, total = dumps_exactly_right(build_dumps(shared_data, 100, seed=7, half="eval"))
    assert right >= 445, (right, total)
    wire = build_dumps(shared_data, 100, seed=7, half="eval", wire_share=0.3)
    right, total = dumps_exactly_right(wire)
    assert right >= 450, (right, total)


def test_exactly_right_counts_a_story_only_when_whole_and_alone() -> None:
    owners = [0, 0, -1, 1, 1, 2]
    assert exactly_right(6, owners, [0, 3, 5]) == (3, 3)
    assert exactly_right(6, owners, [0, 5]) == (1, 3)  # Stories 0 and 1 merged.
    assert exactly_right(6, owners, [0, 1, 3, 5]) == (2, 3)  # Story 0 split.
    assert exactly_right(6, owners, [0, 2, 3, 5]) == (3, 3)  # A credit line counts for none.
