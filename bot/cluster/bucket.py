"""One send budget per platform token, shared by every process, kept in PostgreSQL.

Telegram allows about 30 messages a second per bot token, whatever number of processes send
them; Slack paces each channel. With several ``deliver`` processes each one's own
:class:`~bot.transports.pacing.Pacer` would spend the whole budget alone, so the budget moves into
the database, with no new server. One row per scope in ``rate_buckets``, locked for one
statement at a time, and the database's clock (so the clocks of different hosts never matter):

- *admission* (``newsbot_rate_admit``, one round trip): a send may start now if the scope's
  spacing allows it (GCRA: the row's theoretical arrival time, at the scope's rate and burst)
  and the window cap allows it; the send then gets the next *ticket*, with its start time in
  ``rate_sends``; otherwise the answer is how long to wait. Tickets are given only to sends that
  start at once, so the schedule can never run ahead of what really happens;
- *the window cap*: the reason :class:`~bot.transports.pacing.Pacer` has one also holds across
  processes (a send is counted by the platform when it arrives, not when it starts). Ticket
  ``n`` is admitted only ``window`` seconds after every ticket up to ``n - limit`` was answered
  (``answered_at``): any two sends ``limit`` tickets apart arrive more than ``window`` apart, so
  no window holds more than ``limit`` of them, whatever the jitter. A ticket unanswered
  ``stall`` seconds after it started (its process died) counts as answered then;
- a platform's "retry after" moves the scope's arrival time for every process.

Per-key pacing (Slack's channels) can be shared too (``newsbot_rate_reserve`` books a key's next
slot). :class:`SharedPacer` plugs all this into the transports in place of the in-process pacer;
Telegram's per-chat pacing stays in process (a chat's alerts are claimed by one process at a
time). Within a process one coroutine at a time asks for admission, so waiting senders do not
stampede the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from bot.cluster import connect
from bot.transports.pacing import Pacer, Rate

log = logging.getLogger(__name__)

#: Tickets kept per scope (the window check reads the last ``2 * limit``).
KEEP_TICKETS = 400
#: Recent clock-offset samples kept (a clock step is forgotten after this many admissions).
OFFSET_SAMPLES = 64
#: The shortest wait between two admission requests of one process (while earlier sends are
#: still unanswered the database cannot say how long to wait).
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
        # Two connections: answers are recorded on their own, never queued behind admission
        # requests, since a late record holds back the sends 30 tickets later.
        self._conns: dict[str, Any] = {}
        self._connecting = asyncio.Lock()
        self._admitting = asyncio.Lock()
        self._offsets: deque[float] = deque(maxlen=OFFSET_SAMPLES)

    async def _connection(self, purpose: str) -> Any:
        async with self._connecting:
            conn = self._conns.get(purpose)
            if conn is None or conn.closed:
                conn = self._conns[purpose] = await connect(
                    self.url, application_name=f"newsbot-budget-{purpose}"
                )
            return conn

    async def _query(self, sql: str, params: tuple[Any, ...], purpose: str = "admit") -> Any:
        try:
            conn = await self._connection(purpose)
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()
        except Exception:
            conn = self._conns.pop(purpose, None)
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

    async def admit(self) -> int:
        """Wait until a send may start under the scope's rate and window cap; its ticket."""
        async with self._admitting:
            while True:
                asked_at = time.time()
                row = await self._query(
                    "SELECT ticket, wait, now_at "
                    "FROM newsbot_rate_admit(%s, %s, %s, %s, %s, %s, %s)",
                    (
                        self.scope,
                        1.0 / self.rate.per_second,
                        self.rate.burst,
                        self.window_limit or 0,
                        self.window_seconds,
                        self.stall_seconds,
                        KEEP_TICKETS,
                    ),
                )
                ticket, wait = int(row[0]), float(row[1])
                # The database's clock read after we asked: an upper bound of its offset to ours.
                self._offsets.append(float(row[2]) - asked_at)
                if ticket:
                    return ticket
                await asyncio.sleep(max(wait, ANSWER_POLL_SECONDS))

    async def answered(self, ticket: int, at: float | None = None) -> None:
        """Note that ``ticket``'s send was answered at ``at`` (``time.time()``; it certainly
        arrived by then), in the database's clock.

        Our moment is converted with the smallest recent upper bound of the clocks' offset (the
        database's clock read after a request was sent, minus when it was sent), so the time
        recorded is never earlier than the real answer, and not later than needed: a record
        made late (a busy event loop) does not hold back the sends that wait for it. The
        database's own clock when the record is made is the fallback, also an upper bound.
        """
        bound = at + min(self._offsets) if at is not None and self._offsets else None
        await self._query(
            "UPDATE rate_sends SET answered_at = "
            "least(coalesce(%s::float8, 'Infinity'::float8), extract(epoch FROM clock_timestamp())) "
            "WHERE scope = %s AND seq = %s RETURNING seq",
            (bound, self.scope, ticket),
            "answer",
        )

    async def pause(self, seconds: float, scope: str | None = None) -> None:
        """The platform said "retry after" (to the token, or for one ``scope`` such as a
        channel): no process sends there before then."""
        await self._query(
            "UPDATE rate_buckets SET tat = greatest(tat, extract(epoch FROM clock_timestamp()) "
            "+ %s) WHERE scope = %s RETURNING tat",
            (seconds, scope or self.scope),
        )

    async def close(self) -> None:
        conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
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
        return await self.budget.admit()

    async def wait(self, key: str, rate: Rate) -> None:
        if not self.shared_keys:
            await super().wait(key, rate)  # the chat's own bucket and pause, locally
        await self._shared_wait(key, rate)

    @contextlib.asynccontextmanager
    async def sending(self, key: str, rate: Rate) -> AsyncIterator[None]:
        if not self.shared_keys:
            await super().wait(key, rate)
        ticket = await self._shared_wait(key, rate)
        try:
            yield
        finally:
            await self.budget.answered(ticket, time.time())

    def pause(self, seconds: float, key: str | None = None) -> None:
        super().pause(seconds, key)
        if key is None:
            shared = self.budget.pause(seconds)
        elif self.shared_keys:
            shared = self.budget.pause(seconds, f"{self.budget.scope}:{key}")
        else:
            return  # a chat's pause stays with the process that holds the chat's alerts
        task = asyncio.get_running_loop().create_task(shared)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
