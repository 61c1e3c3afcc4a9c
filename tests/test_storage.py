"""Storage on a real SQLite file: migrations (including an upgrade), WAL, FTS, the outbox key."""

from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from storage import chats, deliveries, stories
from storage.db import open_database
from storage.migrations import MIGRATIONS
from tests.helpers import new_story

REQUIRED_TABLES = {"sources", "stories", "chats", "subscriptions", "deliveries", "audit_log"}


def _story(title: str, text: str, digest: str) -> stories.NewStory:
    return new_story(
        title,
        text,
        content_hash=digest,
        summary=text[:50],
        topics=["science"],
        topic_scores={"science": 0.9},
        key_terms=["Mars"],
    )


def test_fresh_database_has_public_tables_wal_and_fts(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.db")
    assert REQUIRED_TABLES <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    story_id = stories.insert_story(
        db, _story("Rover lands on Mars", "The rover touched down.", "h1")
    )
    hits = stories.search_stories(db, "rover")
    assert [h.story.id for h in hits] == [story_id]
    assert "[" in hits[0].snippet
    assert stories.get_story(db, story_id).cluster_id == story_id


def test_upgrade_from_first_schema_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(path)
    MIGRATIONS.apply(old, stop_before="m002_understanding_and_threads")
    assert "topic_scores" not in old["stories"].columns_dict
    old["stories"].insert(
        {
            "title": "Old story",
            "text": "Kept across the upgrade.",
            "fetched_at": "2026-01-01T00:00:00+00:00",
            "content_hash": "old",
        }
    )
    old.close()
    db = open_database(path)
    assert {"topic_scores", "key_terms"} <= set(db["stories"].columns_dict)
    assert "service_state" in db.table_names()
    story = stories.search_stories(db, "upgrade")[0].story
    assert story.title == "Old story"
    assert story.topic_scores == {}


def test_outbox_never_queues_a_cluster_twice_for_a_chat(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.db")
    chat = chats.ensure_chat(db, "console", "c1")
    first = stories.insert_story(db, _story("A", "alpha text", "a"))
    second = stories.insert_story(db, _story("B", "beta text", "b"))
    row = deliveries.QueuedDelivery(chat.id, first, first, "console", ["alpha"], [1])
    assert deliveries.queue_deliveries(db, [row]) == 1
    again = deliveries.QueuedDelivery(chat.id, second, first, "console", ["beta"], [1])
    assert deliveries.queue_deliveries(db, [row, again]) == 0
    assert db["deliveries"].count == 1


def test_crash_left_rows_are_recovered(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.db")
    chat = chats.ensure_chat(db, "console", "c1")
    story = stories.insert_story(db, _story("A", "alpha text", "a"))
    deliveries.queue_deliveries(
        db, [deliveries.QueuedDelivery(chat.id, story, story, "console", [], [])]
    )
    row_id = db.execute("SELECT id FROM deliveries").fetchone()[0]
    assert deliveries.mark_sending(db, row_id)
    assert not deliveries.mark_sending(db, row_id)  # a second worker cannot claim it
    assert deliveries.recover_in_flight(db) == 1
    assert db["deliveries"].get(row_id)["status"] == "pending"


def test_retention_prunes_stories_and_fts(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.db")
    stories.insert_story(db, _story("Ancient", "very old text", "x"))
    db.execute("UPDATE stories SET fetched_at = '2000-01-01T00:00:00+00:00'")
    assert stories.prune_stories(db, datetime.now(UTC)) == 1
    assert stories.search_stories(db, "ancient") == []
