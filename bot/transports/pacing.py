"""Send pacing at the transport seam: a global rate, a per-chat rate with a small burst, and
pauses a platform asks for (429 ``retry_after``), per chat or for everything, and optionally a
closed-loop cap on how many sends may fall in any window, measured from when they were answered.

Written here rather than taken from aiolimiter or python-telegram-bot's ``AIORateLimiter``
because we need all three at once with reservations: each caller books the earliest slot that
satisfies both the global spacing and its chat's bucket, so a thousand chats waiting do not
stampede, one chat's 429 pauses only that chat, and a global 429 pauses everyone. The clock and
sleep are injectable so tests run in virtual time.

Why the closed-loop cap: booked slots are when we *start* a send, but the platform counts a
send when it *arrives*, somewhere between our start and its answer. Event-loop stalls and network
jitter shift arrivals by a few milliseconds, enough for 31 arrivals to land in one second even
though the slots were spaced at 29.5 a second. :meth:`Pacer.sending` therefore also lets a send
start only ``window_seconds`` after the send ``window_limit`` places earlier was *answered*: that
earlier send certainly arrived before its answer and ours certainly arrives after our start, so
no window can hold more than ``window_limit`` arrivals, whatever the jitter (short of a send
left unanswered past ``stall_seconds``). Rate limiters such as aiolimiter only see start times,
which is exactly the blind spot. With answers in ~10 ms the cap costs about 1% of throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rate:
    """``per_second`` sustained, with up to ``burst`` sends back to back."""

    per_second: float
    burst: int = 1

    @classmethod
    def per_minute(cls, count: int, burst: int = 1) -> Rate:
        return cls(count / 60.0, burst)


@dataclass
class _Bucket:
    tokens: float
    updated: float
    paused_until: float = 0.0


@dataclass
class _Send:
    """One send admitted through the window cap; ``answered_at`` is set when it returns."""

    started: float
    answered_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Pacer:
    def __init__(
        self,
        global_rate: Rate,
        *,
        window_limit: int | None = None,
        window_seconds: float = 1.0,
        stall_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``window_limit``: at most this many sends in any ``window_seconds`` as the platform
        counts them (see the module docstring); ``None`` turns the cap off. A send unanswered
        after ``stall_seconds`` is taken as arrived then, so one stuck request cannot hold up
        every other chat until its read timeout."""
        self.global_rate = global_rate
        self.window_limit = window_limit
        self.window_seconds = window_seconds
        self.stall_seconds = stall_seconds
        self.clock = clock
        self.sleep = sleep
        self._next_global = 0.0
        self._global_paused_until = 0.0
        self._buckets: dict[str, _Bucket] = {}
        self._lock = asyncio.Lock()
        self._recent: deque[_Send] = deque()
        self._gate = asyncio.Lock()
        self._last_start = float("-inf")

    def _reserve(self, key: str, rate: Rate) -> float:
        """Book the earliest moment this key may send; returns that moment."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(rate.burst), updated=now)
        bucket.tokens = min(rate.burst, bucket.tokens + (now - bucket.updated) * rate.per_second)
        bucket.updated = now
        at = max(now, bucket.paused_until, self._global_paused_until, self._next_global)
        if bucket.tokens < 1:
            at = max(at, now + (1 - bucket.tokens) / rate.per_second)
        # Spend the token at the booked moment (tokens may go negative: later callers wait more).
        bucket.tokens -= 1
        self._next_global = at + 1.0 / self.global_rate.per_second
        return at

    async def wait(self, key: str, rate: Rate) -> None:
        """Wait until ``key`` may send one message under both limits."""
        async with self._lock:
            at = self._reserve(key, rate)
        delay = at - self.clock()
        if delay > 0:
            await self.sleep(delay)

    @contextlib.asynccontextmanager
    async def sending(self, key: str, rate: Rate) -> AsyncIterator[None]:
        """Wrap one send: :meth:`wait`, then the window cap; the answer time is noted on exit
        (also when the send raised, since a refused send arrived too)."""
        await self.wait(key, rate)
        send = await self._admit()
        try:
            yield
        finally:
            if send is not None:
                send.answered_at = self.clock()
                send.done.set()

    async def _admit(self) -> _Send | None:
        """Hold the caller until the window cap allows one more send; FIFO through one lock,
        so the wait is computed once per send instead of every waiter polling."""
        if self.window_limit is None:
            return None
        async with self._gate:
            if len(self._recent) >= self.window_limit:
                # Only peeked here and dropped after the wait: a caller cancelled meanwhile
                # must not take the earlier send's constraint with it.
                oldest = self._recent[0]
                if oldest.answered_at is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(oldest.done.wait(), self.stall_seconds)
                arrived_by = self.clock() if oldest.answered_at is None else oldest.answered_at
                delay = arrived_by + self.window_seconds - self.clock()
                if delay > 0:
                    await self.sleep(delay)
                self._recent.popleft()
            # Sends held back by the cap leave together; half a booked interval between them
            # keeps their arrivals apart while still letting the schedule catch up.
            gap = self._last_start + 0.5 / self.global_rate.per_second - self.clock()
            if gap > 0:
                await self.sleep(gap)
            send = _Send(started=self.clock())
            self._last_start = send.started
            self._recent.append(send)
            return send

    def pause(self, seconds: float, key: str | None = None) -> None:
        """The platform said "retry after": pause one chat, or everything when ``key`` is None."""
        until = self.clock() + seconds
        if key is None:
            self._global_paused_until = max(self._global_paused_until, until)
            self._next_global = max(self._next_global, until)
            return
        bucket = self._buckets.setdefault(key, _Bucket(tokens=0.0, updated=self.clock()))
        bucket.paused_until = max(bucket.paused_until, until)

    def forget_idle(self, idle_seconds: float = 3600) -> int:
        """Drop buckets of chats idle for long, so memory does not grow with every chat ever seen."""
        cutoff = self.clock() - idle_seconds
        stale = [
            k for k, b in self._buckets.items() if b.updated < cutoff and b.paused_until < cutoff
        ]
        for key in stale:
            del self._buckets[key]
        return len(stale)
