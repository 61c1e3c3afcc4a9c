"""``newsbot dashboard``: the real command in a subprocess, asked over real HTTP."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlite_utils import Database

from bot.cli import main as cli_main
from bot.dashboard import INSTALL_HINT, load_metadata, serve_dashboard
from storage import audit, chats, deliveries, sources
from storage.db import open_database
from storage.stories import NewStory, insert_story
from tests.helpers import cli_env, env_file

DASHBOARD_CLI = [sys.executable, "-m", "bot"]
NOW = datetime.now(UTC).replace(microsecond=0)
CANNED = {
    "latest_stories",
    "sources_health",
    "outbox_by_status",
    "dead_letters",
    "chats",
    "audit_log",
}


def _story(title: str, *, hours_ago: float, source_id: int | None, **extra: object) -> NewStory:
    fields: dict[str, object] = {
        "title": title,
        "text": f"{title}. A short body written for the dashboard tests.",
        "source_id": source_id,
        "source_name": "Harbour Wire",
        "url": None,
        "canonical_url": None,
        "guid": None,
        "published_at": None,
        "fetched_at": NOW - timedelta(hours=hours_ago),
        "content_hash": f"hash-{title}",
        "language": "en",
        "summary": title,
        "topics": ["science"],
        "topic_scores": {"science": 0.9},
        "key_terms": [],
    }
    fields.update(extra)
    return NewStory(**fields)  # type: ignore[arg-type]


def _fill(db: Database) -> None:
    """Three stories (one a reprint), a chat, one sent and one dead alert, an audit row."""
    source, _ = sources.add_source(db, "https://harbour.example/rss", name="Harbour Wire")
    older = insert_story(db, _story("Ferry timetable changes", hours_ago=5, source_id=source.id))
    newer = insert_story(db, _story("Lighthouse gets new lamp", hours_ago=2, source_id=source.id))
    insert_story(
        db,
        _story("Lighthouse lamp reprint", hours_ago=1, source_id=None, duplicate_of=newer),
    )
    chat = chats.ensure_chat(db, "console", "ops-room", title="Ops room")
    deliveries.queue_deliveries(
        db,
        [
            deliveries.QueuedDelivery(chat.id, story_id, story_id, "console", ["test"], [])
            for story_id in (older, newer)
        ],
    )
    sent_id, dead_id = (row[0] for row in db.execute("SELECT id FROM deliveries ORDER BY id"))
    deliveries.mark_sent(db, sent_id, "msg-1")
    deliveries.mark_dead(db, dead_id, "chat not found")
    audit.record(db, platform="console", user_id="console", chat_id=None, action="stats")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rows(client: httpx.Client, query: str) -> list[dict[str, object]]:
    response = client.get(f"/newsbot/{query}.json", params={"_shape": "array"})
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()
    return rows


def _wait_until_up(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        assert process.poll() is None, f"dashboard exited early:\n{log.read_text()[-2000:]}"
        try:
            if client.get("/-/versions.json").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"dashboard never answered:\n{log.read_text()[-2000:]}")


def test_dashboard_serves_canned_queries_read_only_and_stops_on_sigterm(tmp_path: Path) -> None:
    pytest.importorskip("datasette", reason="the dashboard extra (datasette) is not installed")
    db = open_database(tmp_path / "newsbot.db")
    _fill(db)
    port = _free_port()
    log = tmp_path / "dashboard.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                *DASHBOARD_CLI,
                "--env-file",
                env_file(tmp_path),
                "dashboard",
                "--port",
                str(port),
            ],
            cwd=tmp_path,
            env=cli_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            _wait_until_up(client, process, log)

            latest = _rows(client, "latest_stories")
            assert [row["title"] for row in latest] == [
                "Lighthouse gets new lamp",
                "Ferry timetable changes",
            ]  # newest first, the reprint left out
            by_status = {
                (row["platform"], row["status"]): row["deliveries"]
                for row in _rows(client, "outbox_by_status")
            }
            assert by_status == {("console", "dead"): 1, ("console", "sent"): 1}
            dead = _rows(client, "dead_letters")
            assert [(row["story_title"], row["last_error"]) for row in dead] == [
                ("Lighthouse gets new lamp", "chat not found")
            ]
            health = _rows(client, "sources_health")
            assert [(row["name"], row["stories_last_day"]) for row in health] == [
                ("Harbour Wire", 2)
            ]
            assert [row["title"] for row in _rows(client, "chats")] == ["Ops room"]
            assert [row["action"] for row in _rows(client, "audit_log")] == ["stats"]

            # Datasette's own check refuses a plain write...
            refused = client.get("/newsbot.json", params={"sql": "DELETE FROM stories"})
            assert refused.status_code == 400
            # ...and one that passes its SELECT-only check is refused by the read-only
            # connection itself.
            sneaky = client.get(
                "/newsbot.json", params={"sql": "WITH x AS (SELECT 1) DELETE FROM stories"}
            )
            assert sneaky.status_code == 400
            assert "readonly" in sneaky.json()["error"]
            assert db.execute("SELECT count(*) FROM stories").fetchone()[0] == 3

            # The bot keeps writing: a story committed now shows up (not an immutable view).
            insert_story(db, _story("Harbour dredging starts", hours_ago=0, source_id=None))
            assert _rows(client, "latest_stories")[0]["title"] == "Harbour dredging starts"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, log.read_text()[-2000:]
    with socket.socket() as probe, pytest.raises(OSError):
        probe.connect(("127.0.0.1", port))  # the Datasette child is gone too


def test_without_datasette_it_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    open_database(tmp_path / "newsbot.db").close()
    monkeypatch.setenv("NEWSBOT_DB", str(tmp_path / "newsbot.db"))
    monkeypatch.setitem(sys.modules, "datasette", None)  # what an absent package looks like
    code = cli_main(["--env-file", env_file(tmp_path), "dashboard"])
    assert code == 1
    assert INSTALL_HINT in capsys.readouterr().err


def test_a_missing_database_is_an_error_not_an_empty_dashboard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve_dashboard(tmp_path / "nowhere.db") == 1
    assert "nowhere.db" in capsys.readouterr().err


def test_canned_queries_follow_the_database_name_and_run_on_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "live-data.db"
    open_database(path).close()
    metadata = load_metadata(path)
    assert list(metadata["databases"]) == ["live-data"]
    queries = metadata["databases"]["live-data"]["queries"]
    assert set(queries) == CANNED
    # Every canned query is valid against the migrated schema, on a read-only connection.
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        for name, query in queries.items():
            assert query["sql"].lstrip().upper().startswith("SELECT"), name
            conn.execute(query["sql"]).fetchall()
