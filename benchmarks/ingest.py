"""Ingest throughput: real articles through the whole pipeline into a real SQLite file.

Prints stories/s and ms per story for the full pipeline (clean, exact dedup, language, topics,
summary, key terms, reprint index, store with FTS, match against subscriptions, queue alerts),
next to a baseline in the same run: the same rows inserted into the same schema with no
understanding at all, which bounds what the storage alone costs.

    python -m benchmarks.ingest [--stories 1500] [--subscriptions 1000] [--batch 50]
        [--engine sqlite|postgresql]

``--engine postgresql`` runs both on a temporary PostgreSQL server (benchmarks/pgserver.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import peak_rss_mb, read_jsonl, require_shared_data
from bot.models import RawStory
from bot.pipeline.classify import TopicModel
from bot.pipeline.query import parse_query
from bot.pipeline.run import Pipeline, content_hash
from storage import chats, stories, subscriptions
from storage.db import open_store


def load_articles(limit: int) -> list[RawStory]:
    data = require_shared_data()
    rows = list(read_jsonl(data / "bbc_news" / "bbc_news.dev.jsonl"))
    rows += list(read_jsonl(data / "ag_news" / "ag_news_test.dev.jsonl"))
    random.Random(7).shuffle(rows)
    return [
        RawStory(
            title=r["title"],
            text=r["text"],
            url=f"https://bench.example/{r['id']}",
            source_name="bench",
        )
        for r in rows[:limit]
    ]


def subscribe(db, count: int, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(3)
    for n in range(count):
        chat = chats.ensure_chat(db, "console", f"chat-{n % 500}")
        query = rng.choice(words) if n % 3 else f"{rng.choice(words)} AND {rng.choice(words)}"
        subscriptions.add_subscription(
            db, chat.id, kind="query", query=query, canonical=parse_query(query).canonical()
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stories", type=int, default=1500)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    articles = load_articles(args.stories)
    words = sorted(
        {w.lower() for a in articles for w in a.title.split() if w.isalpha() and len(w) > 5}
    )
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.engine == "postgresql":
            from benchmarks.pgserver import TemporaryPostgres

            server = stack.enter_context(TemporaryPostgres())
            targets = [server.create_database(), server.create_database()]
        else:
            targets = [str(Path(tmp) / "baseline.db"), str(Path(tmp) / "pipeline.db")]
        baseline_db = open_store(targets[0])
        started = time.perf_counter()
        for offset in range(0, len(articles), args.batch):
            with baseline_db.atomic():
                for raw in articles[offset : offset + args.batch]:
                    digest = content_hash(raw.title, raw.text)
                    if stories.find_exact_duplicate(baseline_db, digest, raw.url):
                        continue  # the same exact-duplicate rule the pipeline applies
                    stories.insert_story(
                        baseline_db,
                        stories.NewStory(
                            title=raw.title,
                            text=raw.text,
                            source_id=None,
                            source_name=raw.source_name,
                            url=raw.url,
                            canonical_url=raw.url,
                            guid=None,
                            published_at=None,
                            fetched_at=datetime.now(UTC),
                            content_hash=digest,
                            language="",
                            summary="",
                            topics=[],
                            topic_scores={},
                            key_terms=[],
                        ),
                    )
        baseline_s = time.perf_counter() - started

        db = open_store(targets[1])
        subscribe(db, args.subscriptions, words)
        load_started = time.perf_counter()
        pipeline = Pipeline(TopicModel.load(None))
        pipeline.compiled(db)
        pipeline.classifier.classify("warm up", "the model's one-off imports")
        warmup_s = time.perf_counter() - load_started
        new = deliveries = 0
        started = time.perf_counter()
        for offset in range(0, len(articles), args.batch):
            report = pipeline.process(db, articles[offset : offset + args.batch])
            new += len(report.new)
            deliveries += report.deliveries
        pipeline_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "engine": args.engine,
                "stories": len(articles),
                "subscriptions": args.subscriptions,
                "stored": new,
                "alerts_queued": deliveries,
                "pipeline_stories_per_s": round(len(articles) / pipeline_s, 1),
                "pipeline_ms_per_story": round(1000 * pipeline_s / len(articles), 2),
                "baseline_store_only_stories_per_s": round(len(articles) / baseline_s, 1),
                "model_and_index_warmup_s": round(warmup_s, 2),
                "peak_rss_mb": round(peak_rss_mb(), 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
