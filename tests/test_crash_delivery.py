"""Crash safety with real processes: kill -9 the bot during a large delivery run, restart, count.

The bot runs as a real ``newsbot run`` subprocess in Telegram mode against the fake Bot API
(which records every message). The outbox is filled by another real process (``newsbot
ingest``). The bot is killed with SIGKILL at random moments while it sends, restarted, and in
the end every alert must have arrived (zero lost), with a duplicate only where a send was in
flight at a kill: at most one per chat per kill.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.pipeline.query import parse_query
from storage import chats, subscriptions
from storage.db import open_store
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import cli_env, env_file, run_cli

pytestmark = pytest.mark.slow

CHATS = 120
STORIES = 5
KILLS = 4
WORDS = ("kestrel", "otter", "heron", "badger", "marten", "plover", "stoat")


def _story(n: int, rng: random.Random) -> dict[str, str]:
    # Distinct vocabulary per story, so none is a reprint or a cluster member of another.
    filler = " ".join(f"{WORDS[n]}{rng.randrange(10**6)}" for _ in range(50))
    return {
        "title": f"Crash test story {n} about the {WORDS[n]}",
        "text": f"Wardens counted a {WORDS[n]} colony on the estuary this week. {filler}.",
        "url": f"https://crash.example/{n}",
    }


def _start_bot(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--env-file", env_file(tmp_path), "run"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "bot.log", "ab"),
    )


def _alerts(tg: FakeTelegram) -> Counter[tuple[str, str]]:
    received: Counter[tuple[str, str]] = Counter()
    for call in tg.sent_messages():
        text = str(call.params.get("text", ""))
        for word in WORDS[:STORIES]:
            if f"about the {word}" in text:
                received[(str(call.params.get("chat_id")), word)] += 1
    return received


def test_kill_9_during_delivery_loses_nothing(tmp_path: Path, db_url: str) -> None:
    """On both engines (``db_url``): SQLite's file, and PostgreSQL's pooled connections."""
    rng = random.Random(20261128)
    db = open_store(db_url)
    query = " OR ".join(WORDS[:STORIES])
    for n in range(CHATS):
        chat = chats.ensure_chat(db, "telegram", str(1000 + n), kind="private")
        subscriptions.add_subscription(
            db, chat.id, kind="query", query=query, canonical=parse_query(query).canonical()
        )
    db.close()
    stories = tmp_path / "stories.jsonl"
    stories.write_text("\n".join(json.dumps(_story(n, rng)) for n in range(STORIES)) + "\n")
    ingest = run_cli(tmp_path, "ingest", str(stories), NEWSBOT_DB=db_url)
    assert ingest.returncode == 0, ingest.stderr
    assert f"{CHATS * STORIES} alerts queued" in ingest.stderr

    expected = {(str(1000 + n), word) for n in range(CHATS) for word in WORDS[:STORIES]}
    with FakeTelegram() as tg:
        env = cli_env(
            tmp_path,
            TELEGRAM_BOT_TOKEN="123:CRASHTEST",
            TELEGRAM_API_URL=tg.api_url,
            NEWSBOT_DELIVERY_POLL_SECONDS="0.5",
            NEWSBOT_DB=db_url,
        )
        kills = 0
        while kills < KILLS:
            bot = _start_bot(tmp_path, env)
            before = len(tg.sent_messages())
            deadline = time.monotonic() + 90
            while len(tg.sent_messages()) == before and time.monotonic() < deadline:
                if bot.poll() is not None:
                    pytest.fail(
                        f"the bot exited early: {(tmp_path / 'bot.log').read_text()[-2000:]}"
                    )
                time.sleep(0.05)
            time.sleep(rng.uniform(0.2, 2.5))  # somewhere in the middle of sending
            os.kill(bot.pid, signal.SIGKILL)
            bot.wait(timeout=10)
            kills += 1
            if set(_alerts(tg)) >= expected:
                break
        bot = _start_bot(tmp_path, env)
        try:
            deadline = time.monotonic() + 180
            while set(_alerts(tg)) < expected and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(timeout=30) == 0
        received = _alerts(tg)
    lost = expected - set(received)
    duplicates = sum(count - 1 for count in received.values())
    per_chat = Counter(chat for (chat, _w), count in received.items() for _ in range(count - 1))
    print(
        f"\ncrash test: {len(expected)} alerts, {kills} kills, {len(lost)} lost, "
        f"{duplicates} duplicates, worst chat {max(per_chat.values(), default=0)}"
    )
    assert not lost, f"{len(lost)} alerts lost, e.g. {sorted(lost)[:5]}"
    assert max(per_chat.values(), default=0) <= kills  # at most one in-flight send per kill
    assert "Traceback" not in (tmp_path / "bot.log").read_text()
