"""``newsbot db copy``: SQLite -> PostgreSQL -> SQLite with every row, id and search intact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.pipeline.query import parse_query
from storage import audit, chats, deliveries, sources, state, stories, subscriptions
from storage.db import open_store
from storage.engine import Store
from tests.helpers import new_story, run_cli

TABLES = (
    "sources",
    "stories",
    "chats",
    "subscriptions",
    "deliveries",
    "audit_log",
    "service_state",
)


def _fill(db: Store) -> None:
    source, _ = sources.add_source(db, "https://example.org/feed", name="Example")
    sources.add_source(db, "https://example.org/gone", name="Gone")
    sources.remove_source(db, sources.resolve_source(db, "Gone").id)  # a gap in the ids
    chat = chats.ensure_chat(db, "telegram", "42", title="Newsroom")
    other = chats.ensure_chat(db, "slack", "C1")
    for target, query in ((chat, "harbour"), (other, "harbour OR strike"), (chat, "storm")):
        subscriptions.add_subscription(
            db, target.id, kind="query", query=query, canonical=parse_query(query).canonical()
        )
    ids = [
        stories.insert_story(
            db,
            new_story(
                f"Harbour story {n}",
                f"Ships wait at the harbour, day {n}. 50% of berths are empty?",
                content_hash=f"h{n}",
                source_id=source.id,
                topics=["business"],
            ),
        )
        for n in range(5)
    ]
    queued = [
        deliveries.QueuedDelivery(chat.id, ids[n], ids[n], "telegram", ["harbour"], [1])
        for n in range(3)
    ]
    deliveries.queue_deliveries(db, queued)
    first = deliveries.due_deliveries(db, "telegram", datetime.now(UTC))[0]
    deliveries.mark_sending(db, first.id)
    deliveries.mark_sent(db, first.id, "777")
    audit.record(db, platform="telegram", user_id="1", chat_id="42", action="stats")
    state.set_value(db, "last_successful_poll_at", "2026-12-01T00:00:00+00:00")


def _snapshot(db: Store) -> dict[str, object]:
    return {
        "counts": {table: db.count(table) for table in TABLES},
        "sources": [
            (r["id"], r["url"]) for r in db.query("SELECT id, url FROM sources ORDER BY id")
        ],
        "deliveries": [
            (r["id"], r["chat_id"], r["story_id"], r["status"], r["message_ref"], r["reasons"])
            for r in db.query("SELECT * FROM deliveries ORDER BY id")
        ],
        "story": stories.get_story(db, 3),
        "search": [h.story.id for h in stories.search_stories(db, "harbour", limit=10)],
        "version": subscriptions.subscriptions_version(db),
    }


def test_copy_sqlite_to_postgres_and_back(tmp_path: Path, postgres_url: str) -> None:
    source_path = tmp_path / "live.db"
    db = open_store(source_path)
    _fill(db)
    before = _snapshot(db)
    db.close()

    forward = run_cli(tmp_path, "db", "copy", str(source_path), postgres_url)
    assert forward.returncode == 0, forward.stderr
    assert "counts checked" in forward.stdout
    assert "newsbot-test" not in forward.stdout + forward.stderr  # the password is never shown
    pg = open_store(postgres_url)
    assert _snapshot(pg) == before
    # Sequences moved past the copied ids: a new row takes the next id, no collision.
    chat = chats.ensure_chat(pg, "telegram", "99")
    assert chat.id == max(c.id for c in chats.list_chats(pg)) and chat.id > 2
    assert stories.insert_story(pg, new_story("After the move", content_hash="new")) == 6
    pg.execute("DELETE FROM stories WHERE id = 6")
    pg.execute("DELETE FROM chats WHERE id = ?", [chat.id])
    pg.close()

    back_path = tmp_path / "back.db"
    backward = run_cli(tmp_path, "db", "copy", postgres_url, str(back_path))
    assert backward.returncode == 0, backward.stderr
    back = open_store(back_path)
    assert _snapshot(back) == before  # the FTS index was rebuilt by SQLite's triggers
    back.close()

    again = run_cli(tmp_path, "db", "copy", str(source_path), postgres_url)
    assert again.returncode == 2
    assert again.stderr.startswith("error: DST is not empty (rows in ")
    assert len(again.stderr.strip().splitlines()) == 1


def test_copy_refuses_a_missing_source_and_an_unknown_scheme(tmp_path: Path) -> None:
    missing = run_cli(tmp_path, "db", "copy", str(tmp_path / "nope.db"), str(tmp_path / "x.db"))
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == f"error: no database at {tmp_path / 'nope.db'} (SRC must be an existing SQLite file or a URL)"
    )
    assert not (tmp_path / "x.db").exists()
    scheme = run_cli(tmp_path, "db", "copy", str(tmp_path / "nope.db"), "mysql://u:pw@h/db")
    assert scheme.returncode == 2
    assert scheme.stderr.startswith("error: unknown database scheme mysql://")
    assert "pw" not in scheme.stderr and len(scheme.stderr.strip().splitlines()) == 1


def test_bad_database_setting_is_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "db", "stats", NEWSBOT_DB="mysql://u:pw@h/db")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "NEWSBOT_DB" in lines[0] and "unknown database scheme" in lines[0]
    unreachable = run_cli(
        tmp_path, "db", "stats", NEWSBOT_DB="postgresql://u:pw@127.0.0.1:1/newsbot"
    )
    assert unreachable.returncode == 1
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert ":pw@" not in unreachable.stderr


def test_stats_migrate_and_dashboard_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    migrated = run_cli(tmp_path, "db", "migrate", NEWSBOT_DB=postgres_url)
    assert migrated.returncode == 0, migrated.stderr
    assert "m001_initial" in migrated.stdout
    assert "none pending" in run_cli(tmp_path, "db", "migrate", NEWSBOT_DB=postgres_url).stdout
    stats = run_cli(tmp_path, "db", "stats", NEWSBOT_DB=postgres_url)
    assert stats.returncode == 0, stats.stderr
    assert "stories_rows: 0" in stats.stdout and "pending_migrations: 0" in stats.stdout
    dashboard = run_cli(tmp_path, "dashboard", NEWSBOT_DB=postgres_url)
    assert dashboard.returncode == 2 and "newsbot-test" not in dashboard.stderr
    backup = run_cli(tmp_path, "db", "backup", str(tmp_path / "b.db"), NEWSBOT_DB=postgres_url)
    assert backup.returncode == 2 and "pg_dump" in backup.stderr
