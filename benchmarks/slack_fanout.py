"""Fan-out to many Slack channels against a fake that enforces Slack's per-channel limit.

Each run queues ``--alerts`` stories for each of N channels (``--channels 200 1000``) and
drains them through the real :class:`~bot.transports.slack.SlackTransport` and delivery worker
against ``FakeSlack`` enforcing one message per second per channel with a burst of 3 (the
fake's reading of Slack's "1 per second, short bursts allowed"). The baseline in
the same run sends the same messages unpaced with slack_sdk's own
``AsyncRateLimitErrorRetryHandler`` (sleep for Retry-After, then retry). Printed per N:
messages/s, 429 answers, messages lost (never accepted), wall time.

Run from the repository root: ``.venv/bin/python -m benchmarks.slack_fanout``. The fake is a
threaded local HTTP server on a shared machine: timings are noisy, compare within a run. No
evaluation data is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from benchmarks.common import peak_rss_mb
from bot.alerts import Alert
from bot.delivery.worker import DeliveryWorker
from bot.transports import render_slack
from bot.transports.pacing import Pacer, Rate
from bot.transports.slack import GLOBAL_RATE, SlackTransport
from storage import chats as chat_store
from storage import deliveries as outbox
from storage import stories as story_store
from storage.db import DatabaseWorker
from tests.fakes.slack_api import FakeSlack

TOKEN = "xoxb-bench"


@dataclass
class Figures:
    label: str
    expected: int
    delivered: int
    rate_limited: int
    seconds: float

    @property
    def lost(self) -> int:
        return self.expected - self.delivered

    def line(self) -> str:
        rate = self.delivered / self.seconds if self.seconds else 0.0
        return (
            f"  {self.label:<34} {rate:8.1f} msg/s  429s={self.rate_limited:<6d} "
            f"lost={self.lost:<5d} delivered={self.delivered}/{self.expected}  {self.seconds:6.1f} s"
        )


def channel_ids(count: int) -> list[str]:
    return [f"C{n:07d}" for n in range(count)]


def _story(n: int) -> story_store.NewStory:
    return story_store.NewStory(
        title=f"Benchmark story {n}: river levels rise",
        text="Water levels rose overnight. " * 20,
        source_id=None,
        source_name=f"Outlet {n}",
        url=f"https://bench.example/{n}",
        canonical_url=f"https://bench.example/{n}",
        guid=None,
        published_at=None,
        fetched_at=datetime.now(UTC),
        content_hash=f"bench-{n}",
        language="en",
        summary="Water levels rose overnight across the valley.",
        topics=["environment"],
        topic_scores={"environment": 0.9},
        key_terms=["river"],
    )


def _fill(db_conn: object, channels: list[str], alerts: int) -> int:
    story_ids = [story_store.insert_story(db_conn, _story(n)) for n in range(alerts)]  # type: ignore[arg-type]
    rows = []
    for channel in channels:
        chat = chat_store.ensure_chat(db_conn, "slack", channel, kind="channel")  # type: ignore[arg-type]
        rows += [
            outbox.QueuedDelivery(chat.id, sid, sid, "slack", ["river"], []) for sid in story_ids
        ]
    return outbox.queue_deliveries(db_conn, rows)  # type: ignore[arg-type]


async def run_transport(
    channels: list[str], alerts: int, global_rate: float, folder: Path
) -> Figures:
    """The real transport and delivery worker; drains until the outbox is empty."""
    with FakeSlack(enforce_limits=True) as slack:
        db = DatabaseWorker(folder / f"bench-{len(channels)}.db")
        await db.start()
        expected = await db.call(_fill, channels, alerts)
        client = AsyncWebClient(token=TOKEN, base_url=slack.base_url, timeout=30)
        pacer = Pacer(Rate(global_rate, burst=max(1, int(global_rate // 5))))
        transport = SlackTransport(client, pacer=pacer)
        worker = DeliveryWorker(db, {"slack": transport})
        started = time.monotonic()
        deadline = started + 600
        while time.monotonic() < deadline:
            await worker.drain()
            counts = await db.call(outbox.counts_by_status)
            if not counts.get(("slack", "pending")) and not counts.get(("slack", "sending")):
                break
            await asyncio.sleep(0.2)
        seconds = time.monotonic() - started
        delivered = len({(c.params["channel"], c.params["text"]) for c in slack.sent_messages()})
        await db.close()
        return Figures(
            "paced transport + delivery worker", expected, delivered, slack.rate_limited, seconds
        )


async def run_baseline(channels: list[str], alerts: int) -> Figures:
    """Unpaced: every channel's messages back to back, slack_sdk retrying 429s itself."""
    with FakeSlack(enforce_limits=True) as slack:
        client = AsyncWebClient(token=TOKEN, base_url=slack.base_url, timeout=30)
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
        limit = asyncio.Semaphore(64)  # the same concurrency as the delivery worker

        async def channel_sends(channel: str) -> None:
            async with limit:
                for n in range(alerts):
                    alert = Alert(
                        0,
                        n,
                        n,
                        f"Benchmark story {n}: river levels rise",
                        "Water levels rose overnight across the valley.",
                        None,
                        ((f"Outlet {n}", None),),
                        ("environment",),
                        ("river",),
                        (),
                    )
                    payload = render_slack.render_alert(alert)
                    # Retries exhausted: the message is lost (counted from the fake's log).
                    with contextlib.suppress(SlackApiError):
                        await client.chat_postMessage(channel=channel, **payload)

        started = time.monotonic()
        await asyncio.gather(*(channel_sends(c) for c in channels))
        seconds = time.monotonic() - started
        delivered = len({(c.params["channel"], c.params["text"]) for c in slack.sent_messages()})
        return Figures(
            "baseline: unpaced + sdk 429 retry",
            len(channels) * alerts,
            delivered,
            slack.rate_limited,
            seconds,
        )


async def main(args: argparse.Namespace) -> None:
    print(
        f"Slack fan-out: {args.alerts} alert(s) per channel, fake limit 1 msg/s per channel (burst 3), "
        f"global pacing {args.global_rate}/s (timings are noisy on a shared machine)"
    )
    with tempfile.TemporaryDirectory() as folder:
        for count in args.channels:
            channels = channel_ids(count)
            print(f"{count} channels:")
            print((await run_baseline(channels, args.alerts)).line())
            print(
                (await run_transport(channels, args.alerts, args.global_rate, Path(folder))).line()
            )
    print(f"peak RSS {peak_rss_mb():.0f} MiB")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--alerts", type=int, default=4, help="alerts queued per channel")
    parser.add_argument("--global-rate", type=float, default=GLOBAL_RATE.per_second)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
