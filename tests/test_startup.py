"""Start-up failures as an operator meets them: ``python -m bot run`` in a real subprocess
against fake Bot API and Slack servers. Each misconfiguration must end with one line that says
what is wrong and how to fix it, a non-zero exit, no traceback, and no secret anywhere in the
output, at DEBUG level too."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.startup import StartupError, Unreachable, keep_trying
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import cli_env, env_file

TELEGRAM_TOKEN = "123456:SECRET-telegram-token"
SECRETS = {
    "NEWSBOT_INGEST_TOKEN": "SECRET-ingest-token",
    "TELEGRAM_WEBHOOK_SECRET": "SECRET-webhook-secret",
}


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = cli_env(tmp_path, NEWSBOT_LOG_LEVEL="DEBUG", **SECRETS)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", env_file(tmp_path), "run"],
        cwd=tmp_path,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


Case = Callable[[Path, FakeTelegram, FakeSlack], dict[str, str]]

CASES: dict[str, tuple[Case, str, str]] = {
    # name: (environment, first words of the failure line, a word of the fix it names)
    "telegram URL without /bot": (
        lambda tmp, tg, sl: {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_URL": tg.root_url},
        "configuration error: TELEGRAM_API_URL=",
        "must end with /bot",
    ),
    "telegram URL of something else": (
        lambda tmp, tg, sl: {
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_API_URL": tg.root_url + "/elsewhere/bot",
        },
        "newsbot: cannot start: Telegram refused TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_URL",
    ),
    "telegram wrong token": (
        lambda tmp, tg, sl: {
            "TELEGRAM_BOT_TOKEN": "123456:SECRET.wrong.token",
            "TELEGRAM_API_URL": tg.api_url,
        },
        "newsbot: cannot start: Telegram refused TELEGRAM_BOT_TOKEN",
        "@BotFather",
    ),
    "telegram unreachable": (
        lambda tmp, tg, sl: {
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_API_URL": f"http://127.0.0.1:{closed_port()}/bot",
            "NEWSBOT_STARTUP_RETRY_SECONDS": "2",
        },
        "newsbot: cannot start: the Telegram Bot API at http://127.0.0.1:",
        "; gave up after",
    ),
    "slack wrong token": (
        lambda tmp, tg, sl: {
            "SLACK_BOT_TOKEN": "SECRET-not-a-bot-token",
            "SLACK_SIGNING_SECRET": "SECRET-signing-secret",
            "SLACK_API_URL": sl.base_url,
        },
        "newsbot: cannot start: Slack refused SLACK_BOT_TOKEN (invalid_auth)",
        "OAuth",
    ),
    "slack URL of something else": (
        lambda tmp, tg, sl: {
            "SLACK_BOT_TOKEN": "xoxb-SECRET-slack-token",
            "SLACK_SIGNING_SECRET": "SECRET-signing-secret",
            "SLACK_API_URL": sl.root_url + "/elsewhere/",
        },
        "newsbot: cannot start: the Slack API at http://127.0.0.1:",
        "check SLACK_API_URL",
    ),
    "slack unreachable": (
        lambda tmp, tg, sl: {
            "SLACK_BOT_TOKEN": "xoxb-SECRET-slack-token",
            "SLACK_SIGNING_SECRET": "SECRET-signing-secret",
            "SLACK_API_URL": f"http://127.0.0.1:{closed_port()}/api/",
            "NEWSBOT_STARTUP_RETRY_SECONDS": "2",
        },
        "newsbot: cannot start: the Slack API at http://127.0.0.1:",
        "; gave up after",
    ),
    "unwritable database": (
        lambda tmp, tg, sl: {
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_API_URL": tg.api_url,
            # A path below a plain file can never be created, whoever runs the test.
            "NEWSBOT_DB": str(Path(env_file(tmp)) / "newsbot.db"),
        },
        "newsbot: cannot start: cannot open the database",
        "NEWSBOT_DB",
    ),
    "unknown setting value": (
        lambda tmp, tg, sl: {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "NEWSBOT_LOG_LEVEL": "LOUD"},
        "configuration error: NEWSBOT_LOG_LEVEL=",
        "DEBUG",
    ),
    "bad interval": (
        lambda tmp, tg, sl: {"NEWSBOT_RETENTION_DAYS": "0"},
        "configuration error: NEWSBOT_RETENTION_DAYS=",
        "at least 1",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_misconfiguration_is_one_line_and_never_shows_a_secret(
    tmp_path: Path, telegram: FakeTelegram, slack: FakeSlack, name: str
) -> None:
    environment, expected, fix = CASES[name]
    env = environment(tmp_path, telegram, slack)
    result = start(tmp_path, **env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    failures = [
        line
        for line in result.stderr.splitlines()
        if line.startswith(("newsbot: cannot start:", "configuration error:"))
    ]
    assert len(failures) == 1, output
    assert failures[0].startswith(expected), output
    assert fix in failures[0], failures[0]
    for secret in [*SECRETS.values(), *(v for v in env.values() if "SECRET" in v)]:
        for part in (secret, *secret.split(":")[1:]):
            assert part not in output, f"{part!r} printed:\n{output}"


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start(tmp_path, NEWSBOT_HTTP_PORT=str(port), NEWSBOT_LOG_LEVEL="INFO")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"newsbot: cannot start: cannot listen on 127.0.0.1:{port}")
    assert "NEWSBOT_HTTP_PORT" in last


def test_unreachable_api_is_retried_with_one_line_per_attempt(
    tmp_path: Path, telegram: FakeTelegram
) -> None:
    """Reachable again within the budget: the bot starts (what systemd or compose expect from
    a service that comes up before the network)."""
    waits: list[float] = []
    attempts = 0

    async def attempt() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 4:
            raise Unreachable("connection refused")
        return "up"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    clock = iter(range(0, 1000)).__next__
    result = asyncio.run(
        keep_trying("the API", attempt, budget_seconds=60, hint="fix it", sleep=sleep, clock=clock)
    )
    assert result == "up" and waits == [1, 2, 4]

    attempts = -100  # never reachable: the budget ends it with one StartupError
    waits.clear()
    with pytest.raises(StartupError, match=r"unreachable \(connection refused\); gave up"):
        asyncio.run(
            keep_trying("the API", attempt, budget_seconds=10, hint="fix", sleep=sleep, clock=clock)
        )
    assert waits == [1, 2, 4]


def test_retry_lines_name_each_attempt(tmp_path: Path) -> None:
    result = start(
        tmp_path,
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_API_URL=f"http://127.0.0.1:{closed_port()}/bot",
        NEWSBOT_STARTUP_RETRY_SECONDS="5",
        NEWSBOT_LOG_LEVEL="INFO",
    )
    retries = [line for line in result.stderr.splitlines() if "event=startup_unreachable" in line]
    assert len(retries) >= 2, result.stderr
    assert "attempt=1 retry_in=1s" in retries[0] and "attempt=2 retry_in=2s" in retries[1]
    assert all("NEWSBOT_STARTUP_RETRY_SECONDS" in line for line in retries)
    assert result.returncode == 1


def test_sigterm_during_the_retries_stops_at_once(tmp_path: Path) -> None:
    environment = cli_env(
        tmp_path,
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_API_URL=f"http://127.0.0.1:{closed_port()}/bot",
    )
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "--env-file", env_file(tmp_path), "run"],
        cwd=tmp_path,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert bot.stderr is not None
    for line in bot.stderr:
        if "event=startup_unreachable" in line:
            break
    bot.send_signal(signal.SIGTERM)
    assert bot.wait(timeout=20) == 0  # the default budget is 300 s: the signal ended the wait
    assert "Traceback" not in bot.stderr.read()


def test_the_redaction_net_masks_every_record_whoever_handles_it() -> None:
    import io
    import logging
    import threading
    import warnings

    from bot.startup import install_secret_redaction

    secret = "999999:NET-SECRET-token"
    factory, hook, thread_hook = (
        logging.getLogRecordFactory(),
        sys.excepthook,
        threading.excepthook,
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # no filter of ours on it
    logger = logging.getLogger("newsbot.test.net")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        install_secret_redaction([secret, "short"])
        logger.debug("url=%s", f"https://api.telegram.org/bot{secret}/getMe")
        logger.info("args=%r", {"token": secret})
        try:
            raise RuntimeError(f"GET /bot{secret}/getMe failed")
        except RuntimeError:
            logger.exception("event=failed")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.getLogger("py.warnings").addHandler(handler)
            warnings.warn(f"token {secret} looks old", UserWarning, stacklevel=1)
            logging.getLogger("py.warnings").removeHandler(handler)
        errors = io.StringIO()
        original_stderr, sys.stderr = sys.stderr, errors
        try:
            try:
                raise ValueError(secret)
            except ValueError as exc:
                sys.excepthook(type(exc), exc, exc.__traceback__)
        finally:
            sys.stderr = original_stderr
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(factory)
        logging.captureWarnings(False)
        sys.excepthook, threading.excepthook = hook, thread_hook
    output = stream.getvalue() + errors.getvalue()
    assert secret not in output and "NET-SECRET" not in output
    assert output.count("***") >= 5 and "RuntimeError" in output and "ValueError" in output
    assert "looks old" in output
