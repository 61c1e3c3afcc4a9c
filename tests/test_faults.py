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
from tests.helpers import cli_env, run_cli

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
        [sys.executable, "-m", "bot", "--env-file", str(tmp_path / ".env"), "ingest", str(big)],
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
    locker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sqlite3, sys, time\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
                "time.sleep(3); c.execute('COMMIT')\n"
            ),
            str(tmp_path / "newsbot.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    dump = tmp_path / "s.jsonl"
    dump.write_text(_stories(3, "beta"), encoding="utf-8")
    started = time.monotonic()
    result = run_cli(tmp_path, "ingest", str(dump))
    assert result.returncode == 0, result.stderr
    assert locker.wait(timeout=10) == 0
    assert "3 new" in result.stderr
    assert time.monotonic() - started >= 2.5  # it waited for the lock instead of failing
