"""One send budget per platform token, shared by every process, kept in PostgreSQL.

Telegram allows about 30 messages a second per bot token, whatever number of processes send
them; Slack paces each channel. With several ``deliver`` processes each one's own
:class:`~bot.transports.pacing.Pacer` would spend the whole budget alone, so the budget moves into
the database, with no new server:

- *spacing* (GCRA): one row per scope in ``rate_buckets`` holds the theoretical arrival time;
  ``newsbot_rate_reserve`` (one round trip, the row locked for one statement) books the earliest
  slot at the scope's rate and burst, by the database's clock, and returns how long to wait, so
  clocks of different hosts never matter;
- *the window cap*: the reason :class:`~bot.transports.pacing.Pacer` has one also holds across
  processes (a slot is when a send starts, the platform counts it when it arrives). Every booked
  send gets a ticket number; ticket ``n`` starts only ``window`` seconds after every ticket up to
  ``n - limit`` was answered (``rate_sends.answered_at``, by the database's clock). Any two sends
  ``limit`` tickets apart then arrive more than ``window`` apart, so no window holds more than
  ``limit`` of them, whatever the jitter; a ticket unanswered ``stall`` seconds after its slot
  (its process died) counts as answered then;
- a platform's global "retry after" moves the scope's arrival time for everyone.

:class:`SharedPacer` plugs this into the transports in place of the in-process pacer; per-chat
pacing stays in process (a chat's alerts are claimed by one process at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from bot.cluster import connect
from bot.transports.pacing import Pacer, Rate

log = logging.getLogger(__name__)

#: Tickets kept per scope (the window check reads the last ``2 * limit``).
KEEP_TICKETS = 400
#: How often a send waiting for earlier ones to be answered looks again.
ANSWER_POLL_SECONDS = 0.005


class SharedBudget:
    """A rate (and optionally a window cap) for one ``scope``, shared through PostgreSQL."""

    def __init__(
        self,
        url: str,
        scope: str,
        rate: Rate,
        *,
        window_limit: int | None = None,
        window_seconds: float = 1.0,
        stall_seconds: float = 1.0,
    ) -> None:
        self.url = url
        self.scope = scope
        self.rate = rate
        self.window_limit = window_limit
        self.window_seconds = window_seconds
        self.stall_seconds = stall_seconds
        self._conn: Any = None
        self._connecting = asyncio.Lock()

    async def _connection(self) -> Any:
        async with self._connecting:
            if self._conn is None or self._conn.closed:
                self._conn = await connect(self.url, application_name="newsbot-budget")
            return self._conn

    async def _query(self, sql: str, params: tuple[Any, ...]) -> Any:
        try:
            conn = await self._connection()
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()
        except Exception:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
            raise

    async def reserve(
        self, rate: Rate | None = None, scope: str | None = None
    ) -> tuple[int, float]:
        """Book the next slot; returns (ticket, seconds to wait until it)."""
        rate = rate or self.rate
        row = await self._query(
            "SELECT slot, ticket, now_at FROM newsbot_rate_reserve(%s, %s, %s, %s)",
            (scope or self.scope, 1.0 / rate.per_second, rate.burst, KEEP_TICKETS),
        )
        slot, ticket, now_at = float(row[0]), int(row[1]), float(row[2])
        return ticket, max(0.0, slot - now_at)

    async def window_wait(self, ticket: int) -> float:
        """Seconds until ``ticket`` may start under the window cap (0 when it may now)."""
        limit = self.window_limit
        if limit is None or ticket <= limit:
            return 0.0
        while True:
            row = await self._query(
                "SELECT count(*) FILTER (WHERE answered_at IS NULL AND slot + %s > now_at), "
                "max(coalesce(answered_at, slot + %s)), max(now_at) FROM rate_sends, "
                "(SELECT extract(epoch FROM clock_timestamp()) AS now_at) AS clock "
                "WHERE scope = %s AND seq BETWEEN %s AND %s",
                (
                    self.stall_seconds,
                    self.stall_seconds,
                    self.scope,
                    max(1, ticket - 2 * limit + 1),
                    ticket - limit,
                ),
            )
            pending, free_from, now_at = int(row[0]), row[1], row[2]
            if free_from is None:
                return 0.0  # the earlier tickets were pruned long ago: long answered
            if pending == 0:
                return max(0.0, float(free_from) + self.window_seconds - float(now_at))
            await asyncio.sleep(ANSWER_POLL_SECONDS)

    async def answered(self, ticket: int) -> None:
        """Note that ``ticket``'s send was answered (it certainly arrived by now)."""
        await self._query(
            "UPDATE rate_sends SET answered_at = extract(epoch FROM clock_timestamp()) "
            "WHERE scope = %s AND seq = %s RETURNING seq",
            (self.scope, ticket),
        )

    async def pause(self, seconds: float) -> None:
        """The platform said "retry after" to the token: nobody sends before then."""
        await self._query(
            "UPDATE rate_buckets SET tat = greatest(tat, extract(epoch FROM clock_timestamp()) "
            "+ %s) WHERE scope = %s RETURNING tat",
            (seconds, self.scope),
        )

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


class SharedPacer(Pacer):
    """A :class:`Pacer` whose global rate and window cap are a :class:`SharedBudget`.

    Per-chat buckets and per-chat pauses stay local. ``key_scope`` (Slack: per channel) moves
    the per-key rate into the database too, for platforms whose per-key pace must hold across
    processes even when two of them send to one key.
    """

    def __init__(self, budget: SharedBudget, *, shared_keys: bool = False) -> None:
        # The local global spacing is made unbounded: the shared budget does the spacing.
        super().__init__(Rate(1e9), window_limit=None)
        self.budget = budget
        self.shared_keys = shared_keys
        self._pending: set[asyncio.Task[None]] = set()

    async def _shared_wait(self, key: str, rate: Rate) -> int:
        if self.shared_keys:
            _ticket, key_delay = await self.budget.reserve(rate, f"{self.budget.scope}:{key}")
            if key_delay > 0:
                await self.sleep(key_delay)
        ticket, delay = await self.budget.reserve()
        if delay > 0:
            await self.sleep(delay)
        return ticket

    async def wait(self, key: str, rate: Rate) -> None:
        if not self.shared_keys:
            await super().wait(key, rate)  # the chat's own bucket and pause, locally
        await self._shared_wait(key, rate)

    @contextlib.asynccontextmanager
    async def sending(self, key: str, rate: Rate) -> AsyncIterator[None]:
        if not self.shared_keys:
            await super().wait(key, rate)
        ticket = await self._shared_wait(key, rate)
        delay = await self.budget.window_wait(ticket)
        if delay > 0:
            await self.sleep(delay)
        try:
            yield
        finally:
            await self.budget.answered(ticket)

    def pause(self, seconds: float, key: str | None = None) -> None:
        super().pause(seconds, key)
        if key is None:
            task = asyncio.get_running_loop().create_task(self.budget.pause(seconds))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
