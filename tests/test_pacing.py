"""Pacing in virtual time: the global spacing, per-chat buckets and retry-after pauses."""

from __future__ import annotations

import asyncio

from bot.transports.pacing import Pacer, Rate


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_global_rate_spaces_sends_across_chats() -> None:
    vt = VirtualTime()
    pacer = Pacer(Rate(30), clock=vt.clock, sleep=vt.sleep)
    times = []
    for n in range(90):
        await pacer.wait(f"chat-{n}", Rate(1, burst=3))
        times.append(vt.now)
    # No sliding second holds more than 30 sends.
    assert max(sum(1 for t in times if start <= t < start + 1 - 1e-9) for start in times) <= 30
    assert times[-1] <= 3.0


async def test_private_chat_gets_a_burst_then_one_a_second() -> None:
    vt = VirtualTime()
    pacer = Pacer(Rate(1000), clock=vt.clock, sleep=vt.sleep)
    times = []
    for _ in range(6):
        await pacer.wait("chat", Rate(1, burst=3))
        times.append(round(vt.now, 3))
    assert times[:3] == [0.0, 0.001, 0.002]
    assert times[3] >= 0.99 and times[5] - times[4] >= 0.99


async def test_group_rate_per_minute() -> None:
    vt = VirtualTime()
    pacer = Pacer(Rate(30), clock=vt.clock, sleep=vt.sleep)
    for _ in range(21):
        await pacer.wait("group", Rate.per_minute(20))
    assert vt.now >= 59.9


async def test_retry_after_pauses_one_chat_or_everything() -> None:
    vt = VirtualTime()
    pacer = Pacer(Rate(30), clock=vt.clock, sleep=vt.sleep)
    pacer.pause(5, key="slow")
    await pacer.wait("other", Rate(1))
    assert vt.now < 1
    await pacer.wait("slow", Rate(1))
    assert vt.now >= 5
    pacer.pause(10)
    start = vt.now
    await pacer.wait("other", Rate(1))
    assert vt.now >= start + 10


async def test_concurrent_waiters_book_distinct_slots() -> None:
    vt = VirtualTime()
    pacer = Pacer(Rate(10), clock=vt.clock, sleep=asyncio.sleep)
    bookings = []
    async with asyncio.timeout(5):
        for n in range(5):
            async with pacer._lock:
                bookings.append(pacer._reserve(f"c{n}", Rate(1)))
    assert bookings == sorted(bookings) and len(set(bookings)) == 5
    assert pacer.forget_idle(0) >= 0
