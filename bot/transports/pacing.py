"""Send pacing at the transport seam: a global rate, a per-chat rate with a small burst, and
pauses a platform asks for (429 ``retry_after``), per chat or for everything.

Written here rather than taken from aiolimiter or python-telegram-bot's ``AIORateLimiter``
because we need all three at once with reservations: each caller books the earliest slot that
satisfies both the global spacing and its chat's bucket, so a thousand chats waiting do not
stampede, one chat's 429 pauses only that chat, and a global 429 pauses everyone. The clock and
sleep are injectable so tests run in virtual time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


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


class Pacer:
    def __init__(
        self,
        global_rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.global_rate = global_rate
        self.clock = clock
        self.sleep = sleep
        self._next_global = 0.0
        self._global_paused_until = 0.0
        self._buckets: dict[str, _Bucket] = {}
        self._lock = asyncio.Lock()

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
