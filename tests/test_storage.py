"""Storage on both engines: a real SQLite file and a real PostgreSQL database (``store``
fixture, one fresh database per test): migrations, FTS, the outbox key, every named query."""

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from storage import audit, chats, deliveries, maintenance, sources, state, stories, subscriptions
from storage.db import (
    DatabaseUrlError,
    DatabaseWorker,
    open_database,
    open_store,
    pending_migrations,
)
from storage.engine import PostgresStore, Store, to_pyformat
from storage.migrations import MIGRATIONS, PostgresMigrationDb, translate_ddl
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


def test_outbox_never_queues_a_cluster_twice_for_a_chat(store: Store) -> None:
    chat = chats.ensure_chat(store, "console", "c1")
    first = stories.insert_story(store, _story("A", "alpha text", "a"))
    second = stories.insert_story(store, _story("B", "beta text", "b"))
    row = deliveries.QueuedDelivery(chat.id, first, first, "console", ["alpha"], [1])
    assert deliveries.queue_deliveries(store, [row]) == 1
    again = deliveries.QueuedDelivery(chat.id, second, first, "console", ["beta"], [1])
    assert deliveries.queue_deliveries(store, [row, again]) == 0
    assert store.count("deliveries") == 1


def test_crash_left_rows_are_recovered(store: Store) -> None:
    chat = chats.ensure_chat(store, "console", "c1")
    story = stories.insert_story(store, _story("A", "alpha text", "a"))
    deliveries.queue_deliveries(
        store, [deliveries.QueuedDelivery(chat.id, story, story, "console", [], [])]
    )
    row_id = store.execute("SELECT id FROM deliveries").fetchone()[0]
    assert deliveries.mark_sending(store, row_id)
    assert not deliveries.mark_sending(store, row_id)  # a second worker cannot claim it
    assert deliveries.recover_in_flight(store) == 1
    assert deliveries.due_deliveries(store, "console", datetime.now(UTC))[0].id == row_id


def test_retention_prunes_stories_and_fts(store: Store) -> None:
    stories.insert_story(store, _story("Ancient", "very old text", "x"))
    assert stories.search_stories(store, "ancient")
    store.execute("UPDATE stories SET fetched_at = '2000-01-01T00:00:00+00:00'")
    assert stories.prune_stories(store, datetime.now(UTC)) == 1
    assert stories.search_stories(store, "ancient") == []


def test_fresh_database_has_public_tables_and_nothing_pending(store: Store, db_url: str) -> None:
    for table in REQUIRED_TABLES | {"service_state"}:
        assert store.count(table) == 0
    assert pending_migrations(store) == []
    assert maintenance.holds_no_data(store)
    stats = maintenance.database_stats(store, db_url)
    assert stats["stories_rows"] == 0 and stats["database_bytes"] > 0


def test_store_interface_insert_update_query_and_nested_atomic(store: Store) -> None:
    now = "2026-01-01T00:00:00+00:00"
    first = store.insert("sources", {"url": "u1", "name": "one", "created_at": now})
    second = store.insert("sources", {"url": "u2", "name": "50% off?", "created_at": now})
    assert second > first
    assert store.update("sources", first, {"name": "renamed"}) == 1
    rows = list(store.query("SELECT id, name FROM sources WHERE name LIKE ? ORDER BY id", ["%e%"]))
    assert rows == [{"id": first, "name": "renamed"}]
    # A literal '?' and '%' in quoted SQL are text, not placeholders.
    assert store.execute("SELECT '?%' , ?", [7]).fetchone()[1] == 7
    with store.atomic():
        store.update("sources", first, {"name": "outer"})
        with pytest.raises(RuntimeError), store.atomic():
            store.update("sources", second, {"name": "inner"})
            raise RuntimeError("roll back the inner block only")
    names = [r[0] for r in store.execute("SELECT name FROM sources ORDER BY id").fetchall()]
    assert names == ["outer", "50% off?"]
    with pytest.raises(RuntimeError), store.write_transaction():
        store.insert("sources", {"url": "u3", "name": "three", "created_at": now})
        raise RuntimeError("nothing of the transaction stays")
    assert store.count("sources") == 2
    assert not store.in_transaction


def test_named_queries_of_every_table(store: Store) -> None:
    now = datetime.now(UTC)
    source, created = sources.add_source(store, "https://example.org/feed", name="Example")
    assert created and sources.add_source(store, "https://example.org/feed")[1] is False
    assert sources.resolve_source(store, "example").id == source.id
    assert [s.id for s in sources.due_sources(store, now + timedelta(seconds=1))] == [source.id]
    sources.record_fetch_error(
        store, source.id, now=now, error="timeout", consecutive_errors=5,
        next_check_in=timedelta(minutes=5), pause=True,
    )  # fmt: skip
    assert sources.get_source(store, source.id).state == "error"
    assert sources.set_source_state(store, source.id, "active").consecutive_errors == 0
    chat = chats.ensure_chat(store, "telegram", "42", title="Group")
    again = chats.ensure_chat(store, "telegram", "42")
    assert again.id == chat.id and again.title == "Group"
    assert chats.update_chat_settings(store, chat.id, hourly_cap=3).hourly_cap == 3
    sub, created = subscriptions.add_subscription(
        store, chat.id, kind="query", query="Mars", canonical="mars"
    )
    assert created
    assert not subscriptions.add_subscription(
        store, chat.id, kind="query", query="mars", canonical="mars"
    )[1]
    assert [s.id for s in subscriptions.active_subscriptions(store)] == [sub.id]
    version = subscriptions.subscriptions_version(store)
    assert subscriptions.remove_subscription(store, sub.id)
    assert not subscriptions.remove_subscription(store, sub.id)
    assert subscriptions.subscriptions_version(store) == version + 1
    science = stories.insert_story(store, _story("Rover on Mars", "The rover drives.", "s1"))
    stories.insert_story(
        store, new_story("Election", "Votes counted.", content_hash="p1", topics=["politics"])
    )
    assert [s.id for s in stories.latest_stories(store, topic="science")] == [science]
    per_day = stories.stories_per_day_by_topic(store, now)
    assert per_day[now.strftime("%Y-%m-%d")] == {"science": 1, "politics": 1}
    assert sources.stories_last_day(store, now) == {}
    queued = deliveries.QueuedDelivery(chat.id, science, science, "telegram", ["mars"], [sub.id])
    assert deliveries.queue_deliveries(store, [queued]) == 1
    delivery = deliveries.due_deliveries(store, "telegram", now + timedelta(seconds=5))[0]
    assert deliveries.mark_sending(store, delivery.id)
    sent_at = datetime.fromisoformat(stories.get_story(store, science).fetched_at.isoformat())
    deliveries.mark_sent(store, delivery.id, "m1", at=sent_at + timedelta(seconds=90))
    assert deliveries.alert_latencies(store, now - timedelta(days=1)) == [
        pytest.approx(90.0, abs=0.01)
    ]
    assert deliveries.counts_by_status(store) == {("telegram", "sent"): 1}
    assert deliveries.sent_since(store, chat.id, now - timedelta(hours=1)) == 1
    audit.record(store, platform="telegram", user_id="1", chat_id="42", action="stats")
    assert [row["action"] for row in audit.recent(store)] == ["stats"]
    state.set_value(store, "token", "abc")
    assert state.take_value(store, "token") == "abc"
    assert state.take_value(store, "token") is None
    assert chats.delete_chat(store, chat.id)
    assert store.count("deliveries") == 0  # ON DELETE CASCADE on both engines
    assert maintenance.database_stats(store, "unused")["chats_rows"] == 0


def test_search_order_and_snippets(store: Store) -> None:
    """Title matches rank above summary matches above text matches (bm25 weights 5/2/1 and
    ts_rank_cd's A/B/C); ties go to the newest; ``[`` ``]`` mark the match; accents fold."""
    in_text = stories.insert_story(
        store,
        new_story(
            "Markets close", "A quiet day; the harbour was calm.", content_hash="t", summary="Calm."
        ),
    )
    in_summary = stories.insert_story(
        store,
        new_story("Weather", "Rain all week.", content_hash="s", summary="Storm near the harbour"),
    )
    in_title = stories.insert_story(
        store, new_story("Harbour reopens", "Ships are back.", content_hash="h", summary="Ships.")
    )
    tie = stories.insert_story(
        store, new_story("Harbour reopens", "Ships back.", content_hash="h2", summary="Ships.")
    )
    hits = stories.search_stories(store, "harbour", limit=10)
    assert [h.story.id for h in hits] == [tie, in_title, in_summary, in_text]
    assert hits[0].snippet == "[Harbour] reopens"
    assert "[harbour]" in hits[2].snippet and "[harbour]" in hits[3].snippet
    assert [h.story.id for h in stories.search_stories(store, "harbour", limit=2, offset=2)] == [
        in_summary,
        in_text,
    ]
    cafe = stories.insert_story(store, new_story("Café in Zürich", "Open.", content_hash="c"))
    assert [h.story.id for h in stories.search_stories(store, "cafe zurich")] == [cafe]
    strasse = stories.insert_story(store, new_story("Große Straße", "Closed.", content_hash="g"))
    assert [h.story.id for h in stories.search_stories(store, "strasse")] == [strasse]
    moscow = stories.insert_story(store, new_story("Пожар в Москве", "Огонь.", content_hash="m"))
    assert [h.story.id for h in stories.search_stories(store, "Москва")] == [moscow]
    assert len(stories.search_stories(store, 'harbour" (*', limit=10)) == 4  # no syntax leaks
    assert stories.search_stories(store, "   ") == []


def test_open_store_refuses_an_unknown_scheme(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError, match=r"unknown database scheme mysql://"):
        open_store("mysql://user:secret@localhost/newsbot")
    with pytest.raises(DatabaseUrlError) as caught:
        DatabaseWorker("mysql://user:secret@localhost/newsbot")
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_placeholders_become_pyformat_outside_quotes() -> None:
    assert to_pyformat("SELECT ? WHERE a LIKE '50%?' AND b = ?") == (
        "SELECT %s WHERE a LIKE '50%%?' AND b = %s"
    )
    assert to_pyformat('SELECT "a?" -- what?\nFROM t') == 'SELECT "a?" -- what?\nFROM t'


def test_postgres_migrations_race_and_are_recorded(postgres_url: str) -> None:
    """Two processes starting at once: the advisory lock lets one migrate, the other waits and
    finds nothing pending; the names are the SQLite ones, in order."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_store(postgres_url).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = open_store(postgres_url)
    names = [r[0] for r in store.execute("SELECT name FROM _newsbot_migrations ORDER BY id")]
    assert names == [name for name, _ in MIGRATIONS.functions]
    kinds = dict(
        store.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'stories' AND column_name IN ('id', 'cluster_id', 'search_vector')"
        ).fetchall()
    )
    assert kinds == {"id": "bigint", "cluster_id": "bigint", "search_vector": "tsvector"}
    store.close()


def test_postgres_bumps_never_lose_a_change(postgres_url: str) -> None:
    """The subscriptions version is bumped by concurrent calls on PostgreSQL: every bump counts."""
    open_store(postgres_url).close()

    def bump_many() -> None:
        store = open_store(postgres_url, migrate=False)
        for _ in range(20):
            state.bump(store, state.SUBSCRIPTIONS_VERSION)
        store.close()

    threads = [threading.Thread(target=bump_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = open_store(postgres_url)
    assert subscriptions.subscriptions_version(store) == 80
    store.close()


async def test_worker_runs_postgres_calls_at_once(postgres_url: str) -> None:
    """On PostgreSQL each call gets its own pooled connection: slow calls overlap."""
    worker = DatabaseWorker(postgres_url)
    await worker.start()
    try:
        started = time.monotonic()
        await asyncio.gather(
            *(
                worker.call(lambda db: db.execute("SELECT pg_sleep(0.4)").fetchone())
                for _ in range(3)
            )
        )
        assert time.monotonic() - started < 1.0  # one after another would take 1.2 s
        assert await worker.call(stories.count_stories) == 0
    finally:
        await worker.close()


def test_postgres_write_transactions_take_turns_and_races_resolve(postgres_url: str) -> None:
    """write_transaction is SQLite's BEGIN IMMEDIATE on PostgreSQL (an advisory lock): a second
    one waits for the first; and two identical subscriptions at once store one row."""
    first, second = open_store(postgres_url), open_store(postgres_url, migrate=False)
    chat = chats.ensure_chat(first, "telegram", "7")
    holding, waited = threading.Event(), []

    def hold() -> None:
        with first.write_transaction():
            holding.set()
            time.sleep(0.4)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    started = time.monotonic()
    with second.write_transaction():
        waited.append(time.monotonic() - started)
    holder.join()
    assert waited[0] >= 0.2
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def subscribe() -> None:
        store = open_store(postgres_url, migrate=False)
        barrier.wait(5)
        results.append(
            subscriptions.add_subscription(
                store, chat.id, kind="query", query="quake", canonical="quake"
            )[1]
        )
        store.close()

    threads = [threading.Thread(target=subscribe) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert len(subscriptions.chat_subscriptions(first, chat.id)) == 1
    first.close()
    second.close()


def test_migrations_in_todays_style_run_on_postgres(postgres_url: str) -> None:
    """What other migrations are written like (raw SQLite DDL, the sqlite-utils table API)
    runs unchanged through the PostgreSQL runner's translation."""
    store = open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    db = PostgresMigrationDb(store)

    def m_example(db: Any) -> None:
        db.execute("ALTER TABLE chats ADD COLUMN interface_language TEXT")
        db.execute(
            """
            CREATE TABLE slack_installations (
                id INTEGER PRIMARY KEY,
                team_id TEXT NOT NULL UNIQUE,
                bot_token TEXT NOT NULL,
                score REAL,
                installed_at TEXT NOT NULL
            )
            """
        )
        db.table("slack_installations").add_column("enabled", int, not_null_default=1)
        db.table("slack_installations").add_column("note", "TEXT", not_null_default="it's")
        db.table("slack_installations").create_index(["installed_at"])
        db.execute("CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT) WITHOUT ROWID")
        db["leases"].insert({"name": "leader", "holder": None})

    with store.atomic():
        m_example(db)
    new_id = store.insert(
        "slack_installations", {"team_id": "T1", "bot_token": "x", "installed_at": "now"}
    )
    row = next(store.query("SELECT * FROM slack_installations WHERE id = ?", [new_id]))
    assert row["enabled"] == 1 and row["note"] == "it's" and row["score"] is None
    types = dict(
        store.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'slack_installations'"
        ).fetchall()
    )
    assert types["id"] == "bigint" and types["score"] == "double precision"
    assert store.execute("SELECT name FROM leases").fetchall() == [("leader",)]
    assert translate_ddl("SELECT 'INTEGER'") == "SELECT 'INTEGER'"  # data statements untouched
    store.close()
