"""The chat platform down for minutes: the outbox holds every alert and, once the platform is
back, delivers each one, in order per chat, none lost, none twice.

The real bot runs in Telegram mode against ``FakeTelegram`` (``set_down``: every call answers
502). The delivery worker is driven by hand on a virtual clock, ticking as the scheduler would
(every ``delivery_poll_seconds``), so minutes of outage and of backoff (5 s * 2^attempts) pass in
a few real seconds; the transport's pacer runs on the same virtual clock for the same reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.app import NewsBot
from bot.delivery.worker import DeliveryWorker, DrainReport
from bot.transports.pacing import Pacer
from bot.transports.telegram import (
    GLOBAL_RATE,
    GLOBAL_WINDOW_LIMIT,
    TelegramTransport,
    file_url_for,
)
from storage import deliveries as outbox
from storage.db import DatabaseWorker
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import TELEGRAM_TOKEN, running_telegram_bot
from tests.test_telegram_e2e import BOT_NAME, reply_containing, text_of

pytestmark = pytest.mark.timeout(90)

TOKEN = TELEGRAM_TOKEN
CHATS = (81, 82)
PLACES = ("harbour", "mountain", "river", "desert")
TICK = 2.0  # the scheduler's default delivery_poll_seconds


class VirtualClock:
    """Wall clock for the delivery worker and monotonic clock plus sleep for the pacer, all
    one virtual time that only moves when the test (or a pacer wait) moves it."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC) + timedelta(seconds=1)
        self.elapsed = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.elapsed += max(0.0, seconds)
        await asyncio.sleep(0)

    def pacer(self) -> Pacer:
        """Telegram's pacing (see ``telegram_pacer``), in virtual time."""
        return Pacer(
            GLOBAL_RATE, window_limit=GLOBAL_WINDOW_LIMIT, clock=self.monotonic, sleep=self.sleep
        )


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(poll_timeout_cap=0.2, bot_username=BOT_NAME) as fake:
        yield fake


def quake_story(place: str) -> dict[str, str]:
    """Four different quakes, worded apart so that none is taken for a copy of another."""
    words = " ".join(f"{place}{n} {place}report{n}" for n in range(30))
    return {
        "title": f"Earthquake near the {place} town",
        "url": f"https://{place}.example/quake",
        "text": f"An earthquake near the {place} town damaged roads on Monday. {words}",
    }


async def subscribe_and_queue(bot: NewsBot, tg: FakeTelegram) -> list[int]:
    """Both chats subscribe; four stories arrive; returns the queued delivery ids, in order."""
    assert bot.core is not None
    for chat in CHATS:
        tg.push_message(chat, "/subscribe earthquake")
        await reply_containing(tg, chat, "Subscribed")
    for place in PLACES:
        report, errors = await bot.core.services.ingest_payload(quake_story(place))
        assert len(report.new) == 1 and not errors, (report, errors)
    pending = await bot.core.db.call(outbox.due_deliveries, "telegram", datetime.now(UTC), 100)
    assert len(pending) == len(CHATS) * len(PLACES)
    return [d.id for d in pending]


def delivered_places(tg: FakeTelegram, chat: int) -> list[str]:
    """The places of the quake alerts the chat received, in the order they arrived."""
    places = []
    for call in tg.sent_messages(chat):
        text = text_of(call)
        places += [p for p in PLACES if f"Earthquake near the {p} town" in text]
    return places


async def tick(worker: DeliveryWorker, clock: VirtualClock, total: DrainReport) -> DrainReport:
    clock.elapsed += TICK
    report = await worker.drain()
    for name in ("sent", "retried", "dead", "deferred", "duplicates_possible"):
        setattr(total, name, getattr(total, name) + getattr(report, name))
    return report


async def statuses(db: DatabaseWorker) -> dict[str, int]:
    return {s: n for (p, s), n in (await db.call(outbox.counts_by_status)).items()}


@dataclass
class Outage:
    """What an outage of some minutes left behind: the outbox while the platform was down, the
    worker's report after it came back, and what each chat received, in arrival order."""

    held: dict[str, int]
    during: DrainReport
    after: DrainReport
    final: dict[str, int]
    received: dict[int, list[str]]


async def run_outage(tmp_path: Path, tg: FakeTelegram, minutes: float) -> Outage:
    async with running_telegram_bot(tmp_path, tg.api_url) as bot:
        assert bot.core is not None
        await subscribe_and_queue(bot, tg)
        clock = VirtualClock()
        runner_transport = bot.transports["telegram"]
        assert isinstance(runner_transport, TelegramTransport)
        transport = TelegramTransport(runner_transport.bot, pacer=clock.pacer())
        worker = DeliveryWorker(bot.core.db, {"telegram": transport}, clock=clock.now)

        tg.set_down(True)
        during = DrainReport()
        while clock.elapsed < minutes * 60:
            await tick(worker, clock, during)
        assert tg.calls_to("sendMessage")[-1].status == 502  # the worker kept trying
        held = await statuses(bot.core.db)

        tg.set_down(False)
        after = DrainReport()
        recovered_at = clock.elapsed
        while clock.elapsed - recovered_at < 3600 and (await statuses(bot.core.db)).get("pending"):
            await tick(worker, clock, after)
        # One more pass: nothing is left to send twice.
        assert (await tick(worker, clock, after)).sent == 0
        return Outage(
            held,
            during,
            after,
            await statuses(bot.core.db),
            {chat: delivered_places(tg, chat) for chat in CHATS},
        )


ALL = len(CHATS) * len(PLACES)


async def test_short_outage_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, tg: FakeTelegram
) -> None:
    outage = await run_outage(tmp_path, tg, minutes=1)
    assert outage.during.sent == 0 and outage.during.retried > 0
    assert outage.held == {"pending": ALL}  # held, none dead
    assert outage.final == {"sent": ALL}
    assert outage.after.sent == ALL and outage.after.duplicates_possible == 0
    for chat in CHATS:
        assert sorted(outage.received[chat]) == sorted(PLACES)  # each alert exactly once


async def test_after_an_outage_each_chat_gets_its_alerts_in_order(
    tmp_path: Path, tg: FakeTelegram
) -> None:
    outage = await run_outage(tmp_path, tg, minutes=0.5)
    assert outage.final == {"sent": ALL}
    for chat in CHATS:
        assert outage.received[chat] == list(PLACES)


async def test_an_outage_of_five_minutes_loses_nothing(tmp_path: Path, tg: FakeTelegram) -> None:
    outage = await run_outage(tmp_path, tg, minutes=5)
    assert outage.held == {"pending": ALL}
    assert outage.final == {"sent": ALL}
    for chat in CHATS:
        assert outage.received[chat] == list(PLACES)


async def test_a_timed_out_send_is_retried_once_and_the_duplicate_counted(
    tmp_path: Path, tg: FakeTelegram
) -> None:
    """Telegram may have delivered a message whose answer never came: the transport sends it
    once more and reports ``duplicate_possible``; the alert is sent, not retried again.

    The transport here talks to the fake through a Bot with a 0.5 s read timeout (the bot's own
    is 20 s), so the timeout happens in well under a second."""
    async with running_telegram_bot(tmp_path, tg.api_url) as bot:
        assert bot.core is not None
        chat = CHATS[0]
        tg.push_message(chat, "/subscribe earthquake")
        await reply_containing(tg, chat, "Subscribed")
        report, _errors = await bot.core.services.ingest_payload(quake_story(PLACES[0]))
        assert len(report.new) == 1

        request = HTTPXRequest(read_timeout=0.5, connect_timeout=2, write_timeout=2)
        quick = Bot(
            TOKEN,
            base_url=tg.api_url,
            base_file_url=file_url_for(tg.api_url),
            request=request,
        )
        clock = VirtualClock()
        async with quick:
            worker = DeliveryWorker(
                bot.core.db,
                {"telegram": TelegramTransport(quick, pacer=clock.pacer())},
                clock=clock.now,
            )
            tg.timeout_chat(chat, seconds=1.5)
            calls_before = len(tg.calls_to("sendMessage"))

            async def lift_after_first_call() -> None:
                """The first send is held past the timeout; the retry finds Telegram well."""
                while len(tg.calls_to("sendMessage")) <= calls_before:
                    await asyncio.sleep(0.01)
                tg.clear_faults()

            lifter = asyncio.create_task(lift_after_first_call())
            first = await worker.drain()
            await lifter
            assert first.sent == 1 and first.duplicates_possible == 1 and first.retried == 0
            # The held first attempt did arrive too: the one duplicate the design accepts.
            await tg.wait_for(
                lambda c: (
                    c.method == "sendMessage"
                    and c.ok
                    and c.params.get("chat_id") == chat
                    and len(delivered_places(tg, chat)) == 2
                ),
                timeout=5,
            )
            assert delivered_places(tg, chat) == [PLACES[0], PLACES[0]]
            assert await statuses(bot.core.db) == {"sent": 1}
            clock.elapsed += 60
            assert (await worker.drain()).sent == 0
