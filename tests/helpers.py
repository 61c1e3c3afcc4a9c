"""Small builders shared by the tests (no mocks of our own code: real SQLite, real servers)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import Settings
from storage.stories import NewStory

if TYPE_CHECKING:
    from bot.app import NewsBot

REPO = Path(__file__).resolve().parents[1]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    base = Settings(
        db_path=tmp_path / "newsbot.db",
        inbox=tmp_path / "inbox",
        http_port=0,
        allow_private_sources=True,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for running ``newsbot`` as a real subprocess against a temp database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NEWSBOT_", "TELEGRAM_", "SLACK_"))
    }
    env.update(
        NEWSBOT_DB=str(tmp_path / "newsbot.db"),
        NEWSBOT_INBOX=str(tmp_path / "inbox"),
        NEWSBOT_HTTP_PORT="0",
        NEWSBOT_ALLOW_PRIVATE_SOURCES="true",
        NEWSBOT_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def env_file(tmp_path: Path) -> str:
    """An empty settings file for ``--env-file``: the test's settings come from the environment
    alone, never from a ``.env`` in the working folder (a missing ``--env-file`` is an error)."""
    path = tmp_path / ".env"
    path.touch()
    return str(path)


def run_cli(
    tmp_path: Path, *args: str, input_text: str | None = None, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", env_file(tmp_path), *args],
        cwd=tmp_path,
        env=cli_env(tmp_path, **env),
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@asynccontextmanager
async def running_newsbot(settings: Settings) -> AsyncIterator[NewsBot]:
    """A real ``NewsBot`` started in this loop and stopped (in reverse order) afterwards."""
    from bot.app import NewsBot

    bot = NewsBot(settings)
    await bot.start()
    try:
        yield bot
    finally:
        bot.request_stop()
        await asyncio.wait_for(bot.stop(), 15)


#: The bot token the Telegram tests give the bot (the fake accepts any well-formed token).
TELEGRAM_TOKEN = "123:ABC"


@asynccontextmanager
async def running_telegram_bot(
    tmp_path: Path, api_url: str, **overrides: object
) -> AsyncIterator[NewsBot]:
    """A running ``NewsBot`` whose Telegram transport talks to the fake at ``api_url``."""
    settings = make_settings(
        tmp_path, telegram_bot_token=TELEGRAM_TOKEN, telegram_api_url=api_url, **overrides
    )
    async with running_newsbot(settings) as bot:
        yield bot


class VirtualTime:
    """A clock that only moves when the pacer sleeps, so waits are measured, not slept."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def new_story(title: str, text: str = "", **overrides: Any) -> NewStory:
    """A story ready for ``storage.stories.insert_story``: plain defaults, any field overridden
    (``content_hash`` defaults to the title, so distinct titles are distinct stories)."""
    fields: dict[str, Any] = {
        "title": title,
        "text": text or title,
        "source_id": None,
        "source_name": "test",
        "url": None,
        "canonical_url": None,
        "guid": None,
        "published_at": None,
        "fetched_at": datetime.now(UTC),
        "content_hash": title,
        "language": "en",
        "summary": text or title,
        "topics": [],
        "topic_scores": {},
        "key_terms": [],
    }
    fields.update(overrides)
    return NewStory(**fields)


def hold_write_lock(db_path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding ``db_path``'s write lock (BEGIN EXCLUSIVE) for ``seconds``;
    returns once the lock is taken."""
    locker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2])); c.execute('COMMIT')\n",
            str(db_path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    return locker
