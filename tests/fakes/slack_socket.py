"""A fake Slack Socket Mode WebSocket server on 127.0.0.1 (port 0), for the real slack_sdk client.

Slack's Socket Mode: the app calls ``apps.connections.open`` with its app-level token and gets a
``wss://`` URL; Slack then sends a ``hello`` and, for each interaction, an envelope
``{"envelope_id", "type", "payload", "accepts_response_payload"}`` that the app must acknowledge
by sending ``{"envelope_id": ...}`` back (with a ``payload`` when it answers inline). Set
``FakeSlack.socket_url`` to :attr:`FakeSocketMode.url` so ``apps.connections.open`` hands it out.

Usage::

    async with FakeSocketMode() as socket:
        slack.socket_url = socket.url
        ...  # start the bot
        await socket.wait_connected()
        ack = await socket.send("slash_commands", {...})

Every frame the client sends is recorded in :attr:`received`, in order.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from typing import Any

from aiohttp import WSMsgType, web


class FakeSocketMode:
    """Serves one Socket Mode connection at a time and matches acknowledgements to envelopes."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.connections = 0
        self._runner: web.AppRunner | None = None
        self._socket: web.WebSocketResponse | None = None
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.url = ""

    async def __aenter__(self) -> FakeSocketMode:
        app = web.Application()
        app.router.add_get("/link", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))  # port 0: the OS picks a free port
        await web.SockSite(self._runner, listener).start()
        port = listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/link"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None and not self._socket.closed:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        connection = web.WebSocketResponse(autoping=True)
        await connection.prepare(request)
        self._socket = connection
        self.connections += 1
        self._closed.clear()
        await connection.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                "connection_info": {"app_id": "A1"},
            }
        )
        self._connected.set()
        async for message in connection:
            if message.type != WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            self.received.append(frame)
            waiter = self._acks.pop(str(frame.get("envelope_id")), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(frame)
        self._connected.clear()
        self._closed.set()
        return connection

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def wait_closed(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._closed.wait(), timeout)

    async def send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Send one envelope and return the client's acknowledgement (fails on no ack)."""
        if self._socket is None or self._socket.closed:
            raise RuntimeError("no Socket Mode client is connected")
        envelope_id = f"env-{next(self._ids)}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = waiter
        await self._socket.send_json(
            {
                "envelope_id": envelope_id,
                "type": envelope_type,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return await asyncio.wait_for(waiter, timeout)
