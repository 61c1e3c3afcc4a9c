"""One alert to N private chats through the real Telegram transport and delivery worker.

The fake Bot API server runs in this process and enforces Telegram's flood limits (30 sends in
any second overall, 1 a second per private chat with a burst of 3), answering 429 beyond them.
For each configuration we print the sustained send rate (first to last accepted message), the
number of 429 answers, and lost messages (queued minus received by the fake, which must be 0:
a 429 re-queues the row, it never drops it). The baseline, measured in the same run, is
python-telegram-bot's own ``AIORateLimiter`` with default settings (or no pacing at all).

    .venv/bin/python -m benchmarks.telegram_fanout --chats 1000
    .venv/bin/python -m benchmarks.telegram_fanout --chats 10000 --baseline none   # ~6 min

The machine is shared, so rates are noisy; the ceiling is 30 msg/s whatever the hardware.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from benchmarks.common import peak_rss_mb
from bot.pipeline.deliver import DeliveryWorker
from bot.transports.pacing import Pacer, Rate
from bot.transports.telegram import GLOBAL_RATE, TelegramTransport
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


@dataclass
class Outcome:
    name: str
    queued: int
    received: int
    unique: int
    rate_limited: int
    rate: float
    wall: float

    def line(self) -> str:
        return (
            f"{self.name:<28} {self.rate:7.2f} msg/s  429s={self.rate_limited:<6} "
            f"lost={self.queued - self.unique:<5} duplicates={self.received - self.unique:<4} "
            f"wall={self.wall:6.1f} s"
        )


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
) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram(enforce_limits=True) as fake:
        db_path = Path(tmp) / "bench.db"
        _seed(db_path, chats)
        db = DatabaseWorker(db_path)
        await db.start()
        bot = make_bot(fake.api_url, fake.file_url)
        transport = TelegramTransport(bot, pacer)
        worker = DeliveryWorker(db, {"telegram": transport})
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
        sent = fake.sent_messages()
        unique = len({call.params["chat_id"] for call in sent})
        times = sorted(call.timestamp for call in sent)
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        return Outcome(name, chats, len(sent), unique, fake.rate_limited, rate, wall)


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
        help="newsbot's overall pacing, messages a second (default: the transport's)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    # The baseline logs every 429 with a traceback; its count is printed instead.
    logging.getLogger("telegram").setLevel(logging.CRITICAL)
    timeout = max(120.0, args.chats / 10)
    print(f"one alert to {args.chats} private chats; fake enforces 30/s global, 1/s per chat")
    print(f"newsbot pacing: global {args.global_rate}/s, private 1/s burst 3")
    pacer = Pacer(Rate(args.global_rate))
    ours = await run_case("newsbot Pacer", args.chats, _bot_factory(), pacer, timeout)
    print(ours.line())
    if args.baseline == "aiorate":
        base = await run_case(
            "baseline PTB AIORateLimiter",
            args.chats,
            _bot_factory(True),
            Unpaced(GLOBAL_RATE),
            timeout,
        )
        print(base.line())
    elif args.baseline == "unpaced":
        base = await run_case(
            "baseline unpaced", args.chats, _bot_factory(), Unpaced(GLOBAL_RATE), timeout
        )
        print(base.line())
    print(f"peak RSS {peak_rss_mb():.0f} MiB (timings are noisy on a shared machine)")


if __name__ == "__main__":
    asyncio.run(main())
