"""The joined pipeline over a real database: stored once, clustered, matched, queued."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.models import RawStory
from bot.pipeline.classify import TopicModel
from bot.pipeline.query import parse_query
from bot.pipeline.run import Pipeline
from storage import chats, subscriptions
from storage.db import open_database, open_store
from storage.engine import Store

QUAKE = RawStory(
    title="Earthquake hits the coast of Nordland",
    text=(
        "A magnitude 6.1 earthquake struck the coast of Nordland on Monday morning, damaging "
        "the harbour of Tessel and cutting power to thousands of homes. The regional seismic "
        "office said the quake was centred 15 km offshore. Rescue teams searched two damaged "
        "apartment blocks and the governor said schools would stay closed for inspections. "
        "Residents described shelves falling and windows breaking for nearly a minute."
    ),
    url="https://news.example/quake?utm_source=feed",
    source_name="Example News",
)


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return TopicModel.load(None)


def _subscribe(db, chat_external: str, query: str, kind: str = "query") -> int:  # type: ignore[no-untyped-def]
    chat = chats.ensure_chat(db, "console", chat_external)
    subscriptions.add_subscription(
        db, chat.id, kind=kind, query=query, canonical=parse_query(query).canonical()
    )
    return chat.id


def test_story_is_understood_stored_matched_and_queued(tmp_path: Path, model: TopicModel) -> None:
    db = open_database(tmp_path / "n.db")
    chat_id = _subscribe(db, "c1", "earthquake")
    _subscribe(db, "c2", "football")
    report = Pipeline(model).process(db, [QUAKE])
    assert len(report.new) == 1 and report.deliveries == 1
    stored = db["stories"].get(report.new[0].id)
    assert stored["canonical_url"] == "https://news.example/quake"
    assert stored["language"] == "en"
    assert stored["summary"] and len(stored["summary"]) <= 400
    assert "disaster" in stored["topics"]
    row = next(db["deliveries"].rows)
    assert row["chat_id"] == chat_id
    assert "earthquake" in row["reasons"].lower()


# QUAKE as another paper reprints it: furniture around it, one comma changed, a credit line.
QUAKE_REPRINT = RawStory(
    title="Quake damages Tessel harbour",
    text="Read more at our site.\n\n"
    + QUAKE.text.replace("Monday", "Monday,")
    + "\n\nThe agency contributed to this report from the regional capital."
    + "\n\nPhoto: Agency",
    url="https://other.example/story/123",
    source_name="Other Paper",
)


def test_exact_duplicates_and_reprints_never_alert_twice(tmp_path: Path, model: TopicModel) -> None:
    db = open_database(tmp_path / "n.db")
    _subscribe(db, "c1", "earthquake")
    pipeline = Pipeline(model)
    pipeline.process(db, [QUAKE])
    again = pipeline.process(db, [QUAKE])
    assert (len(again.new), again.duplicates) == (0, 1)
    reprint = QUAKE_REPRINT
    report = pipeline.process(db, [reprint])
    assert report.reprints == 1 and report.deliveries == 0
    assert db["deliveries"].count == 1
    # The sent alert's cluster gained a source: it is due for an update.
    assert next(db["deliveries"].rows)["updated_sources_count"] == 2


def test_mutes_override_matches(tmp_path: Path, model: TopicModel) -> None:
    db = open_database(tmp_path / "n.db")
    _subscribe(db, "c1", "earthquake")
    _subscribe(db, "c1", "Tessel", kind="mute")
    assert Pipeline(model).process(db, [QUAKE]).deliveries == 0


def test_two_processes_share_one_database(tmp_path: Path, model: TopicModel) -> None:
    """A second pipeline (another process in production) sees what the first stored."""
    path = tmp_path / "n.db"
    first_db, second_db = open_database(path), open_database(path)
    first, second = Pipeline(model), Pipeline(model)
    _subscribe(first_db, "c1", "earthquake")
    assert first.process(first_db, [QUAKE]).deliveries == 1
    reprint = RawStory(
        title="Another headline", text=QUAKE.text + " Read more.", source_name="Copy"
    )
    report = second.process(second_db, [reprint])
    assert report.reprints == 1 and report.deliveries == 0
    # A subscription added by the other process is matched without a restart.
    _subscribe(second_db, "c2", "harbour")
    fresh = RawStory(
        title="Harbour reopens after repairs",
        text="The harbour of Tessel reopened to fishing boats on Friday after weeks of repairs "
        "to its outer wall, the port authority said, with ferries returning next week.",
        source_name="Port Gazette",
    )
    assert first.process(first_db, [fresh]).deliveries == 1


# -- the same batch on both engines ---------------------------------------------------------------

FIXED_NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _stored_rows(db: Store) -> dict[str, list[dict[str, Any]]]:
    """Every stored story (its search index aside) and every outbox row, in id order; chats and
    subscriptions named as the user knows them (PostgreSQL may skip ids where SQLite does not)."""
    story_columns = ", ".join(_STORY_COLUMNS)
    subscription_names = {
        row["id"]: f"{row['external_id']}:{row['kind']}:{row['canonical']}"
        for row in db.query(
            "SELECT s.id, c.external_id, s.kind, s.canonical "
            "FROM subscriptions s JOIN chats c ON c.id = s.chat_id"
        )
    }
    deliveries = []
    for row in db.query(
        "SELECT d.*, c.external_id AS chat FROM deliveries d JOIN chats c ON c.id = d.chat_id "
        "ORDER BY d.id"
    ):
        del row["chat_id"]
        row["subscription_ids"] = [
            subscription_names[number] for number in json.loads(row["subscription_ids"])
        ]
        deliveries.append(row)
    return {
        "stories": list(db.query(f"SELECT {story_columns} FROM stories ORDER BY id")),
        "deliveries": deliveries,
    }


_STORY_COLUMNS = (
    "id", "source_id", "source_name", "url", "canonical_url", "guid", "title", "text",
    "published_at", "fetched_at", "language", "content_hash", "summary", "topics",
    "topic_scores", "key_terms", "cluster_id", "duplicate_of", "image_url",
)  # fmt: skip


def _ingest_on_both_engines(
    tmp_path: Path,
    postgres_url: str,
    model: TopicModel,
    batches: list[list[RawStory]],
    queries: list[tuple[str, str, str]],
    chunk_size: int,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The same subscriptions and batches on a SQLite file and on PostgreSQL; the reports and
    the stored rows of each, checked equal, and returned (SQLite's) for further checks."""
    outcomes = []
    for target in (str(tmp_path / "n.db"), postgres_url):
        db = open_store(target)
        try:
            for chat, query, kind in queries:
                _subscribe(db, chat, query, kind)
            pipeline = Pipeline(model, clock=lambda: FIXED_NOW)
            reports = [
                pipeline.process(db, batch, chunk_size=chunk_size, source_name="Wire")
                for batch in batches
            ]
            summary = [
                {
                    "new": [story.as_json() for story in report.new],
                    "duplicates": report.duplicates,
                    "reprints": report.reprints,
                    "deliveries": report.deliveries,
                }
                for report in reports
            ]
            outcomes.append((summary, _stored_rows(db)))
        finally:
            db.close()
    (sqlite_reports, sqlite_rows), (pg_reports, pg_rows) = outcomes
    assert pg_reports == sqlite_reports
    assert pg_rows["stories"] == sqlite_rows["stories"]
    assert pg_rows["deliveries"] == sqlite_rows["deliveries"]
    return sqlite_reports, sqlite_rows


def test_a_batch_stores_the_same_rows_on_postgresql_as_on_sqlite(
    tmp_path: Path, postgres_url: str, model: TopicModel
) -> None:
    """PostgreSQL writes a batch in a few statements, SQLite row by row: the stories, their
    clusters, the alerts and the reports are the same, also across chunks and batches."""
    reprint = QUAKE_REPRINT
    same_batch_reprint = RawStory(
        title="Strong quake in Nordland",
        text=QUAKE.text + "\n\nOur correspondent in the regional capital contributed.",
        url="https://agency.example/quake",
        source_name="Agency Wire",
    )
    harbour = RawStory(
        title="Harbour reopens after repairs",
        text="The harbour of Tessel reopened to fishing boats on Friday after weeks of repairs "
        "to its outer wall, the port authority said, with ferries returning next week.",
        url="https://port.example/reopens",
        published=datetime(2026, 3, 1, 18, 0, tzinfo=UTC),
        guid="port-1",
    )
    first = [
        QUAKE,
        same_batch_reprint,
        RawStory(title="", text=""),  # nothing to store
        RawStory(title="Copy", text=QUAKE.text, url="https://copy.example/x"),  # same text
        RawStory(title="Other text", text="Different words.", url=QUAKE.url + "&utm_medium=x"),
        harbour,
        RawStory(title="Match in the final", text="The football final ended 2-1 in Tessel."),
    ]
    second = [reprint, QUAKE, harbour, RawStory(title="Ferry news", text="Ferries to Tessel.")]
    reports, rows = _ingest_on_both_engines(
        tmp_path,
        postgres_url,
        model,
        [first, second],
        [
            ("c1", "earthquake", "query"),
            ("c1", "harbour", "query"),
            ("c2", "Tessel", "query"),
            ("c2", "football", "mute"),
            ("c3", "ferries OR football", "query"),
        ],
        chunk_size=3,
    )
    assert [(r["duplicates"], r["reprints"], r["deliveries"]) for r in reports] == [
        (2, 1, 6),
        (2, 1, 2),
    ]
    # The quake's cluster grew by a reprint in its own batch and one in the next: its alerts,
    # queued in the first batch, are due for an update to three sources.
    quake = [
        (d["chat"], d["updated_sources_count"]) for d in rows["deliveries"] if d["story_id"] == 1
    ]
    assert quake == [("c1", 3), ("c2", 3)]


def test_a_real_batch_stores_the_same_rows_on_postgresql_as_on_sqlite(
    tmp_path: Path, postgres_url: str, model: TopicModel, shared_data: Path
) -> None:
    """Articles of the same events from several outlets (ECB+): clusters grow within a batch
    and across batches, and alerts already queued are marked for an update."""
    lines = (shared_data / "news_events" / "news_events.dev.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines[:160]]
    raws = [
        RawStory(
            title=row["title"],
            text=row["text"],
            url=f"https://events.example/{row['id']}",
            source_name=f"Outlet {number % 7}",
        )
        for number, row in enumerate(rows)
    ]
    words = ["police", "fire", "earthquake", "killed", "arrested", "star", "election", "court"]
    reports, stored = _ingest_on_both_engines(
        tmp_path,
        postgres_url,
        model,
        [raws[:100], raws[100:]],
        [(f"c{n}", word, "query") for n, word in enumerate(words)],
        chunk_size=40,
    )
    clusters = {story["cluster_id"] for story in stored["stories"]}
    assert len(clusters) < len(stored["stories"])  # some events were clustered
    assert any(d["updated_sources_count"] > d["sources_count"] for d in stored["deliveries"])
    assert sum(r["deliveries"] for r in reports) > 20
