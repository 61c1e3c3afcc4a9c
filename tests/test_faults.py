"""Faults with real processes and a real database file: kill -9 during ingest, a database
locked by another process, the chat platform down for a while."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.db import open_database
from tests.helpers import cli_env, env_file, hold_write_lock, run_cli

pytestmark = pytest.mark.slow


def _stories(count: int, tag: str) -> str:
    rows = []
    for n in range(count):
        words = " ".join(f"{tag}{n}w{k}" for k in range(40))
        rows.append(
            json.dumps({"title": f"{tag} story {n}", "text": f"Report {n} on {tag}. {words}."})
        )
    return "\n".join(rows) + "\n"


def test_kill_9_during_ingest_then_retry_stores_everything_once(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    big.write_text(_stories(400, "alpha"), encoding="utf-8")
    run_cli(tmp_path, "db", "migrate")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "--env-file", env_file(tmp_path), "ingest", str(big)],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(4.0)  # start-up done, somewhere in the middle of the batch
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    db = open_database(tmp_path / "newsbot.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    partial = db.table("stories").count
    db.close()
    again = run_cli(tmp_path, "ingest", str(big))
    assert again.returncode == 0, again.stderr
    db = open_database(tmp_path / "newsbot.db")
    titles = [row[0] for row in db.execute("SELECT title FROM stories")]
    assert len(titles) == 400 and len(set(titles)) == 400, (partial, len(titles))
    assert f"{400 - partial} new, {partial} duplicates" in again.stderr


def test_database_locked_by_another_process_waits_then_succeeds(tmp_path: Path) -> None:
    run_cli(tmp_path, "db", "migrate")
    locker = hold_write_lock(tmp_path / "newsbot.db", 3)
    dump = tmp_path / "s.jsonl"
    dump.write_text(_stories(3, "beta"), encoding="utf-8")
    started = time.monotonic()
    result = run_cli(tmp_path, "ingest", str(dump))
    assert result.returncode == 0, result.stderr
    assert locker.wait(timeout=10) == 0
    assert "3 new" in result.stderr
    assert time.monotonic() - started >= 2.5  # it waited for the lock instead of failing


async def test_a_full_disk_keeps_the_input_and_the_committed_data(tmp_path: Path) -> None:
    """SQLITE_FULL, as a full disk gives it, simulated with the database's page limit."""
    import httpx

    from bot.app import build_core
    from bot.web import WebServer
    from tests.helpers import make_settings

    settings = make_settings(tmp_path, ingest_token="full-disk-token")
    core = await build_core(settings)
    server = WebServer(core.services, core.metrics, scheduler_alive=lambda: True)
    port = await server.start("127.0.0.1", 0)
    try:
        await core.services.ingest_payload(
            {"title": "Kept story", "text": "Stored before the disk filled."}
        )
        pages = await core.db.call(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
        await core.db.call(lambda db: db.execute(f"PRAGMA max_page_count = {pages + 2}"))
        settings.inbox.mkdir()
        (settings.inbox / "big.jsonl").write_text(_stories(200, "gamma"), encoding="utf-8")
        assert await core.services.scan_inbox(settle_seconds=0) == []
        assert (settings.inbox / "big.jsonl").exists()  # kept for the next scan
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"http://127.0.0.1:{port}/ingest",
                json={"title": "Pushed", "text": _stories(1, "delta") * 50},
                headers={"Authorization": "Bearer full-disk-token"},
            )
        assert answer.status_code == 507 and "full" in answer.json()["error"]
        titles = await core.db.call(
            lambda db: [r[0] for r in db.execute("SELECT title FROM stories")]
        )
        assert titles == ["Kept story"]
        # Room again: the next scan stores the file and files it away.
        await core.db.call(lambda db: db.execute("PRAGMA max_page_count = 1073741823"))
        outcomes = await core.services.scan_inbox(settle_seconds=0)
        assert len(outcomes[0].report.new) == 200
        assert not (settings.inbox / "big.jsonl").exists()
    finally:
        await server.stop()
        await core.close()
