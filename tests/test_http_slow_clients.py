"""Idle, trickling and too many connections cannot take the HTTP port away from /healthz.

The real bot's server runs on a free port; the test opens raw TCP connections that send
nothing, or half their headers, or half their body, and checks what the server does with them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.app import NewsBot
from tests.helpers import make_settings, running_newsbot

IDLE = 1.0
BODY = 1.0
CAP = 40


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[NewsBot]:
    settings = make_settings(
        tmp_path,
        ingest_token="tok-123456",
        http_idle_timeout_seconds=IDLE,
        http_body_timeout_seconds=BODY,
        http_max_connections=CAP,
    )
    async with running_newsbot(settings) as newsbot:
        yield newsbot


def _port(bot: NewsBot) -> int:
    assert bot.web is not None and bot.web.port is not None
    return bot.web.port


async def _closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(65536), within)
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 4")


async def _healthz(port: int) -> tuple[bool, float]:
    """Whether /healthz answered (its checks; the scheduler is not started in these tests)."""
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{port}/healthz")
    answered = response.json()["checks"]["loop"] is True
    return answered, time.perf_counter() - started


async def test_silent_and_trickling_connections_are_closed(bot: NewsBot) -> None:
    port = _port(bot)
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
    trickling = []
    for _ in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        await writer.drain()
        trickling.append((reader, writer))
    # Trickle one more header line now and then: activity does not extend the deadline.
    for _ in range(3):
        await asyncio.sleep(IDLE / 3)
        for _reader, writer in trickling:
            writer.write(b"X-Slow: 1\r\n")
    results = await asyncio.gather(
        *(_closed_by_server(reader, IDLE * 4) for reader, _w in silent + trickling)
    )
    assert all(results), results
    for _reader, writer in silent + trickling:
        writer.close()


async def test_an_idle_keepalive_connection_is_closed_after_its_response(bot: NewsBot) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(bot))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 ")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    assert await _closed_by_server(reader, IDLE * 4)
    writer.close()


async def test_a_trickled_body_gets_408(bot: NewsBot) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(bot))
    writer.write(
        b"POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-123456\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"
    )
    await writer.drain()
    response = await asyncio.wait_for(reader.read(65536), BODY * 5)
    assert response.startswith(b"HTTP/1.1 408"), response
    writer.close()


async def test_more_idle_connections_than_the_cap_leave_healthz_reachable(bot: NewsBot) -> None:
    port = _port(bot)
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CAP * 3)]
    await asyncio.sleep(0.2)
    answered, seconds = await _healthz(port)
    assert answered and seconds < 1.0
    # The oldest idle connections made room: at most CAP are open on the server side.
    closed = await asyncio.gather(*(_closed_by_server(reader, 0.3) for reader, _w in idle))
    assert sum(closed) >= CAP * 3 - CAP
    assert bot.web is not None and bot.web.guard is not None and bot.web.guard.evicted >= CAP * 2
    for _reader, writer in idle:
        writer.close()
