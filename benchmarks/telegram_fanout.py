"""One alert to N private chats through the real Telegram transport and delivery worker.

The fake Bot API server enforces Telegram's flood limits (30 sends in any second overall, 1 a
second per private chat with a burst of 3), answering 429 beyond them. By default it runs in a
child process, so the bot and the fake do not share an interpreter: sharing one, the GIL and the
fake's handler threads delay the bot's event loop and distort the spacing being measured
(``--fake-in-process`` shows that effect). For each configuration we print the sustained send
rate (first to last accepted message, as the fake timed them), the number of 429 answers, lost
messages (queued minus chats the fake received, which must be 0: a 429 re-queues the row, it
never drops it) and the most accepted sends the fake saw in any one second. The baseline,
measured in the same run, is python-telegram-bot's own ``AIORateLimiter`` with default settings
(or no pacing at all).

    .venv/bin/python -m benchmarks.telegram_fanout --chats 1000
    .venv/bin/python -m benchmarks.telegram_fanout --chats 10000 --baseline none   # ~6 min

``--no-window-cap``, ``--global-rate``, ``--concurrency`` and ``--fake-in-process`` compare the
causes of 429s one at a time. The machine is shared, so rates are noisy; the ceiling is 30 msg/s
whatever the hardware.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from benchmarks.common import peak_rss_mb
from bot.delivery.worker import DeliveryWorker
from bot.transports.pacing import Pacer, Rate
from bot.transports.telegram import GLOBAL_RATE, TelegramTransport, telegram_pacer
from storage import chats as chat_store
from storage import deliveries as outbox
from storage import stories as story_store
from storage.db import DatabaseWorker, open_database
from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123:ABC"


class Unpaced(Pacer):
    """No waiting at all: what sending as fast as possible does against the limits."""

    async def wait(self, key: str, rate: Rate) -> None:
        return None


@dataclass(frozen=True)
class FakeReport:
    """What the fake saw: accepted sends as (chat id, arrival time) and the 429s it answered."""

    sends: list[tuple[Any, float]]
    rate_limited: int
    server_errors: int


def _report(fake: FakeTelegram) -> FakeReport:
    sends = [(call.params.get("chat_id"), call.timestamp) for call in fake.sent_messages()]
    return FakeReport(sends, fake.rate_limited, len(fake.server_errors))


def _serve_fake(conn: Connection) -> None:
    """Child process: serve the fake until asked for its report, then stop."""
    with FakeTelegram(enforce_limits=True) as fake:
        conn.send((fake.api_url, fake.file_url))
        conn.recv()  # any message: the run is over
        conn.send(_report(fake))
    conn.close()


class FakeHandle:
    """The fake's URLs and, once the run is over, its report; in this or a child process."""

    def __init__(self, api_url: str, file_url: str, report: Callable[[], FakeReport]) -> None:
        self.api_url = api_url
        self.file_url = file_url
        self.report = report


@contextlib.contextmanager
def fake_server(in_process: bool) -> Iterator[FakeHandle]:
    if in_process:
        with FakeTelegram(enforce_limits=True) as fake:
            yield FakeHandle(fake.api_url, fake.file_url, lambda: _report(fake))
        return
    # "spawn": a fresh interpreter, nothing inherited from this one's threads or event loop.
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve_fake, args=(theirs,), daemon=True)
    process.start()
    try:
        api_url, file_url = ours.recv()

        def report() -> FakeReport:
            ours.send("report")
            result: FakeReport = ours.recv()
            return result

        yield FakeHandle(api_url, file_url, report)
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()


@dataclass
class Outcome:
    name: str
    queued: int
    received: int
    unique: int
    rate_limited: int
    rate: float
    wall: float
    busiest_second: int
    server_errors: int

    def line(self) -> str:
        return (
            f"{self.name:<28} {self.rate:7.2f} msg/s  429s={self.rate_limited:<5} "
            f"lost={self.queued - self.unique:<5} duplicates={self.received - self.unique:<3} "
            f"max/1s={self.busiest_second:<3} wall={self.wall:6.1f} s"
            + (f"  FAKE ERRORS={self.server_errors}" if self.server_errors else "")
        )


def busiest_second(times: list[float]) -> int:
    """Most accepted sends in any one second, on the times the fake recorded them (a moment
    before its flood check, so this can read 31 where the check itself saw 30)."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def _seed(db_path: Path, chats: int) -> None:
    """N private chats, one story, one pending outbox row per chat (what matching produces)."""
    db = open_database(db_path)
    now = datetime.now(UTC)
    story_id = story_store.insert_story(
        db,
        story_store.NewStory(
            title="Benchmark: a story every subscriber gets",
            text="Body text of the story.",
            source_id=None,
            source_name="Bench Wire",
            url="https://example.org/bench",
            canonical_url="https://example.org/bench",
            guid=None,
            published_at=now,
            fetched_at=now,
            content_hash="bench",
            language="en",
            summary="One alert fanned out to many chats.",
            topics=["world"],
            topic_scores={"world": 1.0},
            key_terms=["benchmark"],
        ),
    )
    rows = []
    for index in range(chats):
        chat = chat_store.ensure_chat(db, "telegram", str(1_000_000 + index))
        rows.append(
            outbox.QueuedDelivery(chat.id, story_id, story_id, "telegram", ["benchmark"], [])
        )
    outbox.queue_deliveries(db, rows)
    db.close()


async def run_case(
    name: str,
    chats: int,
    make_bot: Callable[[str, str], ExtBot[None]],
    pacer: Pacer | None,
    timeout: float,
    *,
    in_process: bool = False,
    concurrency: int = 64,
) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp, fake_server(in_process) as fake:
        db_path = Path(tmp) / "bench.db"
        _seed(db_path, chats)
        db = DatabaseWorker(db_path)
        await db.start()
        bot = make_bot(fake.api_url, fake.file_url)
        transport = TelegramTransport(bot, pacer)
        worker = DeliveryWorker(db, {"telegram": transport}, concurrency=concurrency)
        started = time.monotonic()
        async with bot:
            while time.monotonic() - started < timeout:
                await worker.drain()
                counts = await db.call(outbox.counts_by_status)
                if counts.get(("telegram", "pending"), 0) == 0:
                    break
                await asyncio.sleep(0.2)
        wall = time.monotonic() - started
        await db.close()
        report = fake.report()
    unique = len({chat for chat, _ in report.sends})
    times = sorted(at for _, at in report.sends)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return Outcome(
        name,
        chats,
        len(report.sends),
        unique,
        report.rate_limited,
        rate,
        wall,
        busiest_second(times),
        report.server_errors,
    )


def _bot_factory(with_ptb_limiter: bool = False) -> Callable[[str, str], ExtBot[None]]:
    def make(api_url: str, file_url: str) -> ExtBot[None]:
        request = HTTPXRequest(connection_pool_size=128, read_timeout=20, pool_timeout=30)
        limiter: Any = AIORateLimiter() if with_ptb_limiter else None
        return ExtBot(
            TOKEN,
            base_url=api_url,
            base_file_url=file_url,
            request=request,
            rate_limiter=limiter,
        )

    return make


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000, help="private chats (1000, 10000)")
    parser.add_argument(
        "--baseline",
        choices=("aiorate", "unpaced", "none"),
        default="aiorate",
        help="what to compare with: PTB's AIORateLimiter (default), no pacing, or nothing",
    )
    parser.add_argument(
        "--global-rate",
        type=float,
        default=GLOBAL_RATE.per_second,
        help="newsbot's slot spacing, messages a second (default: the transport's)",
    )
    parser.add_argument(
        "--no-window-cap",
        action="store_true",
        help="pace by booked slots only, without the 30-in-any-second cap on answered sends",
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="chats the delivery worker sends at once"
    )
    parser.add_argument(
        "--fake-in-process",
        action="store_true",
        help="run the fake server in this process (shares the GIL and distorts timing)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    # The baseline logs every 429 with a traceback; its count is printed instead.
    logging.getLogger("telegram").setLevel(logging.CRITICAL)
    timeout = max(120.0, args.chats / 10)
    where = "this process" if args.fake_in_process else "a child process"
    print(
        f"one alert to {args.chats} private chats; fake (in {where}) enforces 30/s global, "
        "1/s per chat"
    )
    rate = Rate(args.global_rate)
    pacer = Pacer(rate) if args.no_window_cap else telegram_pacer(rate)
    cap = "off" if pacer.window_limit is None else f"{pacer.window_limit} per answered second"
    print(
        f"newsbot pacing: slots {args.global_rate}/s, cap {cap}, private 1/s burst 3, "
        f"worker concurrency {args.concurrency}"
    )
    options = {"in_process": args.fake_in_process, "concurrency": args.concurrency}
    ours = await run_case("newsbot Pacer", args.chats, _bot_factory(), pacer, timeout, **options)
    print(ours.line())
    if args.baseline != "none":
        name, with_ptb = (
            ("baseline PTB AIORateLimiter", True)
            if args.baseline == "aiorate"
            else ("baseline unpaced", False)
        )
        base = await run_case(
            name, args.chats, _bot_factory(with_ptb), Unpaced(GLOBAL_RATE), timeout, **options
        )
        print(base.line())
    print(f"peak RSS {peak_rss_mb():.0f} MiB (timings are noisy on a shared machine)")


if __name__ == "__main__":
    asyncio.run(main())
