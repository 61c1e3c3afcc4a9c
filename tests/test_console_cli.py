"""The console and the command line as a new user meets them: the demo keeps out of the user's
own database, piped commands are answered, ``newsbot ingest`` shows progress and says where
its alerts go, ``newsbot admin`` has exit codes and writes its files."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.console import Console

from bot.cli import IngestProgress
from bot.demo import DEMO_SOURCE_PREFIX
from bot.pipeline.query import parse_query
from storage import chats as chat_store
from storage import subscriptions as sub_store
from storage.db import open_database
from tests.helpers import cli_env, env_file, run_cli

DAM = {
    "title": "Dam repairs finish early",
    "text": "Engineers finished the dam repairs two weeks early, the water board said on Monday.",
}


def stories_jsonl(path: Path, count: int) -> Path:
    rows = []
    for n in range(count):
        words = " ".join(f"item{n}word{k}" for k in range(30))
        rows.append(json.dumps({"title": f"Report {n} on item{n}", "text": f"Report {n}. {words}."}))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_demo_never_writes_into_a_users_database(tmp_path: Path) -> None:
    chat = run_cli(tmp_path, "chat", input_text="/subscribe harbour\n")
    assert chat.returncode == 0, chat.stderr
    result = run_cli(tmp_path, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "holds your own data, so the demo is not loaded" in result.stderr
    assert "matched:" not in result.stdout
    db = open_database(tmp_path / "newsbot.db")
    demo_sources = db.execute(
        "SELECT count(*) FROM sources WHERE url LIKE ?", [DEMO_SOURCE_PREFIX + "%"]
    ).fetchone()[0]
    queries = [row[0] for row in db.execute("SELECT query FROM subscriptions")]
    stories = db.execute("SELECT count(*) FROM stories").fetchone()[0]
    db.close()
    assert (demo_sources, queries, stories) == (0, ["harbour"], 0)


def test_a_database_the_demo_created_gets_the_demo_and_says_so(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "a database the demo created" in result.stderr and "matched:" in result.stdout


def test_commands_piped_into_run_are_answered(tmp_path: Path) -> None:
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "--env-file", env_file(tmp_path), "run"],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(bot.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(bot.stdout), daemon=True).start()  # type: ignore[arg-type]
    assert bot.stdin is not None
    bot.stdin.write("/help subscribe\n/list\n")
    bot.stdin.close()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any("end of the commands" in e for e in errors):
        time.sleep(0.2)
    bot.send_signal(signal.SIGTERM)
    assert bot.wait(timeout=30) == 0
    reader.join(timeout=5)
    printed = "".join(output)
    assert "> /help subscribe" in printed and "/subscribe QUERY" in printed
    assert "> /list" in printed
    ended = [line for line in errors if "end of the commands piped in" in line]
    assert len(ended) == 1 and "newsbot chat" in ended[0]


def test_ingest_prints_progress_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    big = stories_jsonl(tmp_path / "big.jsonl", 600)
    result = run_cli(tmp_path, "ingest", str(big))
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.endswith(" stories")]
    assert progress == [f"{big}: 250/600 stories", f"{big}: 500/600 stories", f"{big}: 600/600 stories"]
    assert f"{big}: 600 new, 0 duplicates" in result.stderr


def test_ingest_draws_a_progress_bar_on_a_terminal() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    with IngestProgress(console) as progress:
        step = progress.for_input("wire.txt")
        for done in (0, 250, 500, 600):
            step(done, 600)
    drawn = stream.getvalue()
    assert "wire.txt" in drawn and "600/600" in drawn and "━" in drawn


def test_ingest_says_how_console_alerts_are_delivered(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "chat", input_text="/subscribe dam\n").returncode == 0
    dump = tmp_path / "dam.jsonl"
    dump.write_text(json.dumps(DAM) + "\n", encoding="utf-8")
    result = run_cli(tmp_path, "ingest", str(dump))
    assert result.returncode == 0, result.stderr
    assert "1 alerts queued" in result.stderr
    assert "1 alert(s) queued: a running `newsbot run` delivers them" in result.stderr
    assert "`newsbot run --once` does now" in result.stderr
    shown = run_cli(tmp_path, "run", "--once")  # what the line promises
    assert "matched:" in shown.stdout and "Dam repairs finish early" in shown.stdout


def test_ingest_says_who_sends_platform_alerts(tmp_path: Path) -> None:
    db = open_database(tmp_path / "newsbot.db")
    chat = chat_store.ensure_chat(db, "telegram", "4242")
    sub_store.add_subscription(
        db, chat.id, kind="query", query="dam", canonical=parse_query("dam").canonical()
    )
    db.close()
    dump = tmp_path / "dam.jsonl"
    dump.write_text(json.dumps(DAM) + "\n", encoding="utf-8")
    result = run_cli(tmp_path, "ingest", str(dump), TELEGRAM_BOT_TOKEN="123:ABC")
    assert result.returncode == 0, result.stderr
    assert "1 alert(s) queued: the running bot (`newsbot run`) sends them" in result.stderr


def test_a_broken_json_lines_line_is_warned_about_once(tmp_path: Path) -> None:
    dump = tmp_path / "s.jsonl"
    dump.write_text(json.dumps(DAM) + "\nnot json\n", encoding="utf-8")
    result = run_cli(tmp_path, "ingest", str(dump))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("line 2 skipped") == 1


def test_admin_exit_codes_and_out(tmp_path: Path) -> None:
    bogus = run_cli(tmp_path, "admin", "bogus")
    assert bogus.returncode == 2 and "Unknown admin command 'bogus'" in bogus.stdout
    assert run_cli(tmp_path, "admin", "retry", "x").returncode == 2
    chart = tmp_path / "charts" / "stats.png"
    chart.parent.mkdir()
    stats = run_cli(tmp_path, "admin", "stats", "--out", str(chart))
    assert stats.returncode == 0, stats.stderr
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert f"written to {chart}" in " ".join(stats.stdout.split())  # rich wraps long lines
    assert "matplotlib" not in stats.stderr
    plain = run_cli(tmp_path, "admin", "stats")
    assert "not saved" in plain.stdout and "--out PATH" in " ".join(plain.stdout.split())
    nothing = run_cli(tmp_path, "admin", "queue", "--out", str(tmp_path / "q.txt"))
    assert nothing.returncode == 1 and "makes no file" in nothing.stderr
