"""Small builders shared by the tests (no mocks of our own code: real SQLite, real servers)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bot.settings import Settings

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


def run_cli(
    tmp_path: Path, *args: str, input_text: str | None = None, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", str(tmp_path / ".env"), *args],
        cwd=tmp_path,
        env=cli_env(tmp_path, **env),
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
