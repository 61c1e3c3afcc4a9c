"""LISTEN/NOTIFY on a dedicated connection: wake-ups across processes without polling.

The database sends the notifications itself (triggers made by migration ``m006_coordination``):
on ``newsbot_outbox`` when outbox rows are inserted, on ``newsbot_subscriptions`` when the
subscriptions version changes. A notification is delivered when the writing transaction commits,
so the listener never wakes before the rows are visible. Notifications are wake-up calls, not
data: a listener that reconnects after an outage calls every callback once, since it may have
missed some.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.cluster import connect

log = logging.getLogger(__name__)

Callback = Callable[[str], Awaitable[None] | None]


class Listener:
    def __init__(self, url: str, *, reconnect_seconds: float = 1.0) -> None:
        self.url = url
        self.reconnect_seconds = reconnect_seconds
        self._callbacks: dict[str, list[Callback]] = {}
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self.listening = asyncio.Event()

    def on(self, channel: str, callback: Callback) -> None:
        """Call ``callback(payload)`` for every notification on ``channel``."""
        self._callbacks.setdefault(channel, []).append(callback)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="newsbot-listener")

    async def _fire(self, channel: str, payload: str) -> None:
        for callback in self._callbacks.get(channel, []):
            try:
                outcome = callback(payload)
                if outcome is not None:
                    await outcome
            except Exception:
                log.exception("event=notify_callback_failed channel=%s", channel)

    async def _run(self) -> None:
        first = True
        while True:
            try:
                self._conn = await connect(self.url, application_name="newsbot-listener")
                for channel in self._callbacks:
                    await self._conn.execute(f'LISTEN "{channel}"')
                self.listening.set()
                if not first:  # notifications may have been missed while away
                    for channel in self._callbacks:
                        await self._fire(channel, "")
                first = False
                async for notification in self._conn.notifies():
                    await self._fire(notification.channel, notification.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                log.warning("event=listener_reconnecting error=%r", str(exc))
            finally:
                conn, self._conn = self._conn, None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(self.reconnect_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
