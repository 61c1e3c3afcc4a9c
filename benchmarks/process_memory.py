"""Memory of one process holding what a running bot holds: the story window and the matcher.

Run from the repository root::

    .venv/bin/python -m benchmarks.process_memory [--window-stories 100000] [--subscriptions 100000]

In one process, as ``newsbot run`` (or an ``all`` process) has them: the topic model and the
language model loaded and used once, the dedup index restored with ``--window-stories``
stories (real sentences recombined, as in ``benchmarks/dedup.py``) and the subscription
matcher built over ``--subscriptions`` generated queries (as in ``benchmarks/match.py``;
each parsed just before the index takes it, as the bot compiles its subscriptions), which
then matches a few stories. Prints the resident memory (``VmRSS``) after each step and
the process peak (``VmHWM``); the inputs are generated lazily or dropped once used, and, as
the bot does after restoring its window and after compiling its subscriptions, the freed heap
is handed back to the system (:func:`bot.pipeline.dedup.release_free_memory`), so the figures
are those of the bot's own structures plus the libraries. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import gc
import random
from collections.abc import Iterator
from pathlib import Path

from benchmarks.common import require_shared_data
from benchmarks.dedup import load_bbc, synthetic_stories
from benchmarks.match import _generated_queries, _generated_stories
from bot.pipeline.query import Query, QueryError, parse_query


def _status() -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` of this process, in MiB."""
    values: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values


def _report(step: str) -> None:
    gc.collect()
    status = _status()
    print(f"{step:<46} RSS {status['VmRSS']:7.1f} MiB   peak {status['VmHWM']:7.1f} MiB")


def _parsed_one_by_one(lines: list[str]) -> Iterator[tuple[int, Query]]:
    """``(id, query)`` of each parsable line, ids numbered as :func:`_parse_all` does."""
    number = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            query = parse_query(line.strip())
        except QueryError:
            continue
        number += 1
        yield number, query


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window-stories", type=int, default=100_000)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    data = require_shared_data()
    _report("start")
    from bot.pipeline.classify import TopicModel
    from bot.pipeline.dedup import StoryIndex, release_free_memory
    from bot.pipeline.language import detect_language
    from bot.pipeline.match import Matcher

    model = TopicModel.load()
    sample = "A magnitude 6.4 earthquake struck off the northern coast early on Tuesday."
    model.classify("Earthquake shakes coastal towns", sample)
    detect_language(sample)
    _report("topic and language models loaded and used")

    index = StoryIndex()
    articles = load_bbc(data)
    stories = synthetic_stories(articles, args.window_stories, args.seed)
    batch: list[tuple[str, str, str, object, str]] = []
    for story_id, title, text, published in stories:
        batch.append((story_id, title, text, published, story_id))
        if len(batch) == 256:
            index.restore_many(batch)  # type: ignore[arg-type]
            batch = []
    index.restore_many(batch)  # type: ignore[arg-type]
    del articles, stories, batch
    # As the bot does once it has restored its window (StoryPipeline._catch_up).
    release_free_memory()
    _report(f"dedup index with {len(index)} stories")

    rng = random.Random(args.seed)
    lines = _generated_queries(args.subscriptions, data, rng)
    # As the bot compiles them (StoryPipeline.compiled): each query parsed in id order just
    # before the index takes it, none held until the end.
    matcher = Matcher.build_sorted(_parsed_one_by_one(lines))
    del lines
    # As the bot does once it has compiled its subscriptions (StoryPipeline.compiled).
    release_free_memory()
    matcher.match_many(_generated_stories(256, data, rng))
    _report(f"matcher with {len(matcher)} subscriptions")


if __name__ == "__main__":
    main()
