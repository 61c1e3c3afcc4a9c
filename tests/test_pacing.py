"""Pacing in virtual time: the global spacing, per-chat buckets and retry-after pauses."""

from __future__ import annotations

import asyncio
import random
import time

from bot.transports.pacing import Pacer, Rate
from tests.helpers import VirtualTime


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


async def _jittered_arrivals(pacer: Pacer, sends: int, seed: int) -> list[float]:
    """Send one at a time; each arrives at a random moment between its start and its answer,
    as a request does at a server, and is answered up to 30 ms after it started."""
    rng = random.Random(seed)
    vt_sleep = pacer.sleep
    arrivals = []
    for n in range(sends):
        async with pacer.sending(f"chat-{n}", Rate(1, burst=3)):
            started = pacer.clock()
            latency = rng.uniform(0.0, 0.03)
            arrivals.append(started + rng.random() * latency)
            await vt_sleep(latency)
    return arrivals


def _busiest_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1) for start in times)


async def test_window_cap_holds_under_arrival_jitter_where_slots_alone_do_not() -> None:
    slots_only = VirtualTime()
    plain = Pacer(Rate(29.5), clock=slots_only.clock, sleep=slots_only.sleep)
    assert _busiest_second(await _jittered_arrivals(plain, 300, seed=7)) > 30
    capped_time = VirtualTime()
    capped = Pacer(Rate(29.5), window_limit=30, clock=capped_time.clock, sleep=capped_time.sleep)
    arrivals = await _jittered_arrivals(capped, 300, seed=7)
    assert _busiest_second(arrivals) <= 30
    # The cap costs little: still above 29 a second with up to 30 ms answers.
    assert (len(arrivals) - 1) / (max(arrivals) - min(arrivals)) > 29


async def test_concurrent_sends_start_a_window_after_the_send_cap_places_before() -> None:
    pacer = Pacer(Rate(1000), window_limit=4, window_seconds=0.1)
    spans: list[tuple[float, float]] = []
    rng = random.Random(3)

    async def send(n: int) -> None:
        async with pacer.sending(f"c{n}", Rate(1000, burst=10)):
            started = pacer.clock()
            await asyncio.sleep(rng.uniform(0.0, 0.02))
        spans.append((started, pacer.clock()))

    async with asyncio.timeout(5):
        await asyncio.gather(*(send(n) for n in range(16)))
    spans.sort()
    for earlier, later in zip(spans, spans[4:], strict=False):
        assert later[0] >= earlier[1] + 0.1 - 1e-3


async def test_a_stuck_send_holds_others_only_until_the_stall_limit() -> None:
    pacer = Pacer(Rate(1000), window_limit=1, window_seconds=0.01, stall_seconds=0.05)
    release = asyncio.Event()

    async def stuck() -> None:
        async with pacer.sending("stuck", Rate(1000)):
            await release.wait()

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    started = time.monotonic()
    async with asyncio.timeout(2), pacer.sending("other", Rate(1000)):
        waited = time.monotonic() - started
    release.set()
    await task
    assert 0.05 <= waited < 1.0
