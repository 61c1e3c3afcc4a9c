"""Helpers shared by the benchmarks and the evaluation tests."""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.pipeline.feeds import ParsedFeed

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_shared_data() -> Path | None:
    """Locate the evaluation data (``../shared/data`` beside the checkout).

    ``NEWSBOT_SHARED_DATA`` overrides the location. Returns ``None`` when the data is absent,
    as in a user's clone: callers skip (tests) or exit with a clear message (benchmarks).
    """
    override = os.environ.get("NEWSBOT_SHARED_DATA")
    candidates = [Path(override)] if override else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for candidate in candidates:
        if (candidate / "README.md").is_file():
            return candidate
    return None


def require_shared_data() -> Path:
    """Like :func:`find_shared_data`, but exit with a clear message when the data is absent."""
    found = find_shared_data()
    if found is None:
        raise SystemExit(
            "the evaluation data ../shared/data is not here (set NEWSBOT_SHARED_DATA to its path)"
        )
    return found


def read_jsonl(path: Path) -> Iterator[dict]:
    """Yield one dict per non-empty line of a JSON Lines file."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident memory of this process now, in MiB (``VmRSS``; Linux only, else 0)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # reported in kB
    except OSError:
        pass
    return 0.0


def manifest_content_type(row: dict) -> str | None:
    """The Content-Type a feed-corpus manifest row records (feedparser's encoding tests carry a
    simulated HTTP header, "Content-type: ..."), or None."""
    name, _, value = str(row.get("header") or "").partition(":")
    return value.strip() if name.strip().lower() == "content-type" else None


def parsed_feed_corpus(feeds_dir: Path) -> Iterator[tuple[dict, ParsedFeed]]:
    """Every document of the shared feed corpus (``feeds/manifest.jsonl``) with its manifest row,
    parsed by the product's own parser as a fetch would: with the recorded Content-Type."""
    from bot.pipeline.feeds import parse_feed

    for row in read_jsonl(feeds_dir / "manifest.jsonl"):
        yield (
            row,
            parse_feed(
                (feeds_dir / row["path"]).read_bytes(),
                url=f"https://feeds.example/{row['path']}",
                content_type=manifest_content_type(row),
            ),
        )
