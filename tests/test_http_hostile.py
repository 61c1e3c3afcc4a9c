"""Malformed requests to the bot's HTTP server get 400/401 with a clear body, never a 500.

The real bot runs with ``POST /ingest``, Slack's ``/slack/events`` (HTTP mode) and Telegram's
webhook route on its own server; requests are sent as raw bytes where a client library would
refuse to send them (non-ASCII header values).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.app import NewsBot
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import TELEGRAM_TOKEN, make_settings, running_newsbot

TOKEN = "ingest-token-123"
SLACK_SECRET = "slack-signing-secret"
TG_SECRET = "tg-webhook-secret"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTelegram, FakeSlack]]:
    with FakeTelegram(poll_timeout_cap=0.2) as tg, FakeSlack() as slack:
        yield tg, slack


@pytest.fixture
async def bot(tmp_path: Path, fakes: tuple[FakeTelegram, FakeSlack]) -> AsyncIterator[NewsBot]:
    tg, slack = fakes
    settings = make_settings(
        tmp_path,
        ingest_token=TOKEN,
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_api_url=tg.api_url,
        telegram_webhook_url="https://bot.example.org/tg/hook",
        telegram_webhook_secret=TG_SECRET,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SLACK_SECRET,
        slack_api_url=slack.base_url,
    )
    async with running_newsbot(settings) as newsbot:
        yield newsbot


async def raw_request(
    port: int, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, bytes]:
    """One HTTP/1.1 request written byte for byte; returns (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [
        b"POST " + path.encode() + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Connection: close",
        b"Content-Length: " + str(len(body)).encode(),
    ]
    head += [name + b": " + value for name, value in headers]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.partition(b"\r\n\r\n")[2]


def _port(bot: NewsBot) -> int:
    assert bot.web is not None and bot.web.port is not None
    return bot.web.port


JSON = (b"Content-Type", b"application/json")


@pytest.mark.parametrize(
    "value", ["Bearer t\u00f6ken".encode(), "Bearer \u4e2d".encode(), b"Bearer \xff\xfe"]
)
async def test_non_ascii_authorization_is_401(bot: NewsBot, value: bytes) -> None:
    status, body = await raw_request(
        _port(bot), "/ingest", [(b"Authorization", value), JSON], b"{}"
    )
    assert status == 401 and b"bearer token" in body


AUTH = (b"Authorization", b"Bearer " + TOKEN.encode())


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (b"[" * 100_000 + b"]" * 100_000, [JSON], b"nested too deeply"),
        (b'{"title": "x", "text": "y", "n": ' + b"7" * 5000 + b"}", [JSON], b"not JSON"),
        (
            b'{"title": "x"}',
            [(b"Content-Type", b"application/json; charset=x-no-such")],
            b"charset",
        ),
        (b"\xff\xfe{", [JSON], b"not JSON"),
    ],
    ids=["deep", "long-number", "unknown-charset", "bad-utf8"],
)
async def test_bad_ingest_bodies_are_400(
    bot: NewsBot, body: bytes, headers: list[tuple[bytes, bytes]], expected: bytes
) -> None:
    status, answer = await raw_request(_port(bot), "/ingest", [AUTH, *headers], body)
    assert status == 400, answer
    assert expected in answer and b"Traceback" not in answer


def _slack_headers(timestamp: bytes, signature: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"Content-Type", b"application/json"),
        (b"X-Slack-Request-Timestamp", timestamp),
        (b"X-Slack-Signature", signature),
    ]


def _slack_signature(body: bytes, timestamp: str) -> bytes:
    base = f"v0:{timestamp}:".encode() + body
    return b"v0=" + hmac.new(SLACK_SECRET.encode(), base, hashlib.sha256).hexdigest().encode()


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (b"not-a-number", b"v0=abc"),
        (b"1e9", b"v0=abc"),
        (b"9" * 400, b"v0=abc"),
        (None, "v0=\u00e9\u00e9".encode()),
        (None, b"v0=\xff\xfe"),
    ],
    ids=["words", "float", "huge", "non-ascii", "bad-utf8"],
)
async def test_malformed_slack_signature_headers_are_401(
    bot: NewsBot, timestamp: bytes | None, signature: bytes
) -> None:
    body = b'{"type": "url_verification", "challenge": "c"}'
    stamp = timestamp if timestamp is not None else str(int(time.time())).encode()
    status, answer = await raw_request(
        _port(bot), "/slack/events", _slack_headers(stamp, signature), body
    )
    assert status == 401, answer


async def test_a_correct_slack_signature_still_works(bot: NewsBot) -> None:
    body = b'{"type": "url_verification", "challenge": "c"}'
    stamp = str(int(time.time()))
    status, answer = await raw_request(
        _port(bot),
        "/slack/events",
        _slack_headers(stamp.encode(), _slack_signature(body, stamp)),
        body,
    )
    assert status == 200 and b"c" in answer


@pytest.mark.parametrize("secret", ["s\u00e9cret".encode(), b"\xff\xfe", "\u4e2d".encode()])
async def test_non_ascii_telegram_secret_is_401(bot: NewsBot, secret: bytes) -> None:
    status, _answer = await raw_request(
        _port(bot), "/tg/hook", [(b"X-Telegram-Bot-Api-Secret-Token", secret), JSON], b"{}"
    )
    assert status == 401


@pytest.mark.parametrize(
    "update",
    [
        b'{"update_id": "x", "message": 5}',
        b'{"update_id": 1, "message": {"chat": "nope"}}',
        b'{"update_id": 1, "message": {"message_id": 1, "date": "soon", "chat": {"id": 1}}}',
        b'{"update_id": 1, "callback_query": []}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"update_id": ' + b"9" * 5000 + b"}",
    ],
    ids=["message-int", "chat-str", "incomplete", "callback-list", "deep", "long-number"],
)
async def test_malformed_webhook_updates_are_400(bot: NewsBot, update: bytes) -> None:
    status, answer = await raw_request(
        _port(bot),
        "/tg/hook",
        [(b"X-Telegram-Bot-Api-Secret-Token", TG_SECRET.encode()), JSON],
        update,
    )
    assert status == 400, answer
