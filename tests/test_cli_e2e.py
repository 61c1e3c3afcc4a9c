"""The real ``newsbot`` command as users run it, in subprocesses against a temp database."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.helpers import cli_env, env_file, run_cli

DUMP = (
    "LANDSLIDE: A landslide blocked the mountain road above Marrow on Thursday after two days "
    "of heavy rain, cutting off three farms and the village school from the valley.\n"
    "Road crews said they expected to reopen one lane of the road by Saturday morning.\n"
    "Photo: Staff Photographer\n\n"
    "The central bank kept interest rates unchanged on Thursday, saying inflation was falling "
    "but remained above its target, and signalled that cuts could come next year.\n"
)


def test_run_once_in_console_mode_shows_demo_alerts(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "console mode" in result.stderr
    assert "matched:" in result.stdout
    assert "Source:" in result.stdout
    again = run_cli(tmp_path, "run", "--once")  # nothing is alerted twice
    assert again.returncode == 0 and "matched:" not in again.stdout


def test_ingest_prints_new_stories_then_reports_duplicates(tmp_path: Path) -> None:
    dump = tmp_path / "wire.txt"
    dump.write_text(DUMP, encoding="utf-8")
    first = run_cli(tmp_path, "ingest", str(dump), "--json", "--source", "Wire")
    assert first.returncode == 0, first.stderr
    rows = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(rows) == 2
    assert {"id", "title", "source", "url", "topics", "summary"} <= set(rows[0])
    assert rows[0]["source"] == "Wire"
    second = run_cli(tmp_path, "ingest", str(dump))
    assert second.returncode == 0
    assert "0 new, 2 duplicates" in second.stderr


def test_ingest_reports_a_bad_input_and_keeps_going(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps(
            {
                "title": "Dam repairs finish early",
                "text": "Engineers finished the dam repairs two weeks early.",
            }
        )
        + "\nnot json\n"
    )
    result = run_cli(tmp_path, "ingest", str(tmp_path / "missing.txt"), str(good))
    assert result.returncode == 1
    assert "missing.txt" in result.stderr and "line 2 skipped" in result.stderr
    assert "Dam repairs finish early" in result.stdout


def test_a_second_process_ingests_into_a_running_bot(tmp_path: Path) -> None:
    env = cli_env(tmp_path, NEWSBOT_DELIVERY_POLL_SECONDS="0.5")
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "--env-file", env_file(tmp_path), "run"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    errors: list[str] = []
    # Both pipes are drained all the time: a full stderr pipe would block the bot.
    threading.Thread(target=lambda: [lines.put(line) for line in bot.stdout], daemon=True).start()  # type: ignore[union-attr]
    stderr_reader = threading.Thread(target=lambda: errors.extend(bot.stderr), daemon=True)  # type: ignore[arg-type]
    stderr_reader.start()

    def wait_for(text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=0.5):
                    return True
            except queue.Empty:
                continue
        return False

    try:
        assert wait_for("matched:", 90), "no demo alerts: " + "".join(errors)[-3000:]
        chat = run_cli(tmp_path, "chat", input_text="/subscribe landslide\n")
        assert "Subscribed" in chat.stdout, chat.stdout + chat.stderr
        dump = tmp_path / "late.txt"
        dump.write_text(DUMP, encoding="utf-8")
        ingest = run_cli(tmp_path, "ingest", str(dump))
        assert ingest.returncode == 0, ingest.stderr
        assert wait_for("Marrow", 60), "not delivered: " + "".join(errors)[-3000:]
    finally:
        bot.send_signal(signal.SIGTERM)
        try:
            code = bot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bot.kill()
            raise
    stderr_reader.join(timeout=5)
    assert code == 0, "".join(errors)[-3000:]
    assert "Traceback" not in "".join(errors)
