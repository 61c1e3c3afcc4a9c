"""The delivery worker's policy and failure handling, over a real database, with a clock we
control. The transport here is a recording stand-in for the platform: the real Telegram and
Slack transports are tested against fake platform servers elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.alerts import Alert
from bot.delivery.worker import DeliveryWorker
from bot.models import Chat, Reply
from bot.transports.base import SendResult
from storage import chats, deliveries, stories
from storage.db import DatabaseWorker


@dataclass
class RecordingTransport:
    platform: str = "console"
    alerts: list[tuple[str, Alert]] = field(default_factory=list)
    replies: list[tuple[str, Reply]] = field(default_factory=list)
    updates: list[tuple[str, Alert, str]] = field(default_factory=list)
    script: list[SendResult] = field(default_factory=list)

    async def send_alert(self, chat: Chat, alert: Alert) -> SendResult:
        result = self.script.pop(0) if self.script else SendResult.sent(f"m{len(self.alerts) + 1}")
        if result.ok:
            self.alerts.append((chat.external_id, alert))
        return result

    async def send_update(self, chat: Chat, alert: Alert, message_ref: str) -> SendResult:
        self.updates.append((chat.external_id, alert, message_ref))
        return SendResult.sent(message_ref)

    async def send_reply(
        self, chat: Chat, reply: Reply, thread_id: str | None = None
    ) -> SendResult:
        self.replies.append((chat.external_id, reply))
        return SendResult.sent("r")


QUEUED_AT = datetime(2026, 1, 1, tzinfo=UTC)  # before every test clock: rows are due at once


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    worker = DatabaseWorker(tmp_path / "n.db")
    await worker.start()
    yield worker
    await worker.close()


def _queue(db, chat_id: int, count: int, *, source: str = "wire") -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for n in range(count):
        story_id = stories.insert_story(
            db,
            stories.NewStory(
                title=f"Story {n} <b>&",
                text=f"Body {n}",
                source_id=None,
                source_name=source,
                url=f"https://example.test/{n}",
                canonical_url=None,
                guid=None,
                published_at=None,
                fetched_at=datetime.now(UTC),
                content_hash=f"h{chat_id}-{n}-{source}",
                language="en",
                summary=f"Summary {n}",
                topics=["science"],
                topic_scores={},
                key_terms=[],
            ),
        )
        deliveries.queue_deliveries(
            db,
            [deliveries.QueuedDelivery(chat_id, story_id, story_id, "console", ["body"], [])],
            now=QUEUED_AT,
        )
        ids.append(story_id)
    return ids


async def _chat(db: DatabaseWorker, external: str = "c1", **settings: object) -> Chat:
    chat = await db.call(chats.ensure_chat, "console", external)
    if settings:
        chat = await db.call(chats.update_chat_settings, chat.id, **settings)
    return chat


async def test_sends_pending_alerts_once(db: DatabaseWorker) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(db, {"console": transport})
    chat = await _chat(db)
    await db.call(_queue, chat.id, 3)
    report = await worker.drain()
    assert report.sent == 3
    await worker.drain()
    assert len(transport.alerts) == 3
    assert transport.alerts[0][1].headline == "Story 0 <b>&"


async def test_hourly_cap_holds_the_rest_with_a_notice_and_digests_them(db: DatabaseWorker) -> None:
    clock = Clock(datetime(2026, 11, 28, 10, 5, tzinfo=UTC))
    transport = RecordingTransport()
    worker = DeliveryWorker(db, {"console": transport}, clock=clock)
    chat = await _chat(db, hourly_cap=2)
    await db.call(_queue, chat.id, 5)
    report = await worker.drain()
    assert (report.sent, report.held) == (2, 3)
    assert "3 more stories held for your digest" in transport.replies[0][1].text
    # Nothing is dropped: at the top of the next hour the held stories go out as a digest.
    clock.now = datetime(2026, 11, 28, 11, 0, 30, tzinfo=UTC)
    report = await worker.drain()
    assert report.digests == 1
    digest = transport.replies[-1][1].text
    assert digest.startswith("Your digest: 3 stories")
    counts = await db.call(deliveries.counts_by_status)
    assert counts == {("console", "sent"): 5}


async def test_quiet_hours_hold_until_they_end(db: DatabaseWorker) -> None:
    clock = Clock(datetime(2026, 11, 28, 23, 0, tzinfo=UTC))
    transport = RecordingTransport()
    worker = DeliveryWorker(db, {"console": transport}, clock=clock)
    chat = await _chat(db, quiet_hours="22:00-07:00")
    await db.call(_queue, chat.id, 2)
    assert (await worker.drain()).held == 2
    clock.now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert (await worker.drain()).digests == 0
    clock.now = datetime(2026, 11, 29, 7, 1, tzinfo=UTC)
    assert (await worker.drain()).digests == 1
    assert transport.alerts == []


async def test_digest_mode_follows_the_schedule(db: DatabaseWorker) -> None:
    clock = Clock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    transport = RecordingTransport()
    worker = DeliveryWorker(db, {"console": transport}, clock=clock)
    chat = await _chat(db, mode="digest", digest_schedule="daily 18:00")
    await db.call(_queue, chat.id, 4)
    await worker.drain()
    clock.now = datetime(2026, 11, 28, 17, 59, tzinfo=UTC)
    assert (await worker.drain()).digests == 0
    clock.now = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
    assert (await worker.drain()).digests == 1
    assert "4 stories" in transport.replies[-1][1].text


async def test_failures_defer_retry_kill_or_put_the_chat_to_sleep(db: DatabaseWorker) -> None:
    clock = Clock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    transport = RecordingTransport()
    worker = DeliveryWorker(db, {"console": transport}, clock=clock, max_attempts=2)
    chat = await _chat(db)
    await db.call(_queue, chat.id, 1)
    transport.script = [SendResult(ok=False, retry_after=30)]
    assert (await worker.drain()).deferred == 1
    assert (await worker.drain()).sent == 0  # waiting as told
    clock.now += timedelta(seconds=31)
    transport.script = [SendResult(ok=False, transient_error="502")]
    assert (await worker.drain()).retried == 1
    clock.now += timedelta(minutes=10)
    transport.script = [SendResult(ok=False, transient_error="502")]
    report = await worker.drain()
    assert report.dead == 1 and "gave up after 2 attempts" in report.errors[0]
    gone = await _chat(db, "c2")
    await db.call(_queue, gone.id, 1, source="other")
    transport.script = [SendResult(ok=False, chat_gone="bot was blocked by the user")]
    await worker.drain()
    assert (await db.call(chats.get_chat, gone.id)).state == "dormant"
    counts = await db.call(deliveries.counts_by_status)
    assert counts[("console", "pending")] == 1  # kept for when the chat comes back


async def test_cluster_growth_updates_the_sent_alert(db: DatabaseWorker) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(db, {"console": transport})
    chat = await _chat(db)
    [story_id] = await db.call(_queue, chat.id, 1)
    await worker.drain()
    await db.call(deliveries.note_cluster_growth, story_id, 3)
    report = await worker.drain()
    assert report.updates == 1
    assert transport.updates[0][2] == "m1"
    assert (await worker.drain()).updates == 0


async def test_the_chats_summary_length_applies_to_its_alerts(db: DatabaseWorker) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(db, {"console": transport})
    chat = await _chat(db, summary_chars=150)
    long_text = " ".join(
        f"Sentence number {n} of the council report describes the plan for the new bridge in detail."
        for n in range(12)
    )

    def store(db):  # type: ignore[no-untyped-def]
        story_id = stories.insert_story(
            db,
            stories.NewStory(
                title="Council publishes bridge plan",
                text=long_text,
                source_id=None,
                source_name="wire",
                url=None,
                canonical_url=None,
                guid=None,
                published_at=None,
                fetched_at=datetime.now(UTC),
                content_hash="long",
                language="en",
                summary=long_text[:400],
                topics=[],
                topic_scores={},
                key_terms=[],
            ),
        )
        deliveries.queue_deliveries(
            db,
            [deliveries.QueuedDelivery(chat.id, story_id, story_id, "console", [], [])],
            now=QUEUED_AT,
        )

    await db.call(store)
    await worker.drain()
    summary = transport.alerts[0][1].summary
    assert 0 < len(summary) <= 150


async def test_clock_jumps_around_digest_time_give_one_digest_each_time(db: DatabaseWorker) -> None:
    clock = Clock(datetime(2026, 3, 28, 6, 0, tzinfo=UTC))
    transport = RecordingTransport()
    worker = DeliveryWorker(db, {"console": transport}, clock=clock)
    chat = await _chat(db, mode="digest", digest_schedule="daily 08:00", timezone="Europe/Berlin")
    await db.call(_queue, chat.id, 2)
    await worker.drain()
    # The machine was off for three days (or the clock jumped forward): one digest, not three.
    clock.now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    assert (await worker.drain()).digests == 1
    assert (await worker.drain()).digests == 0
    # The clock is corrected backwards by two hours: no second digest for the same day.
    await db.call(_queue, chat.id, 1, source="later")
    clock.now = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
    assert (await worker.drain()).digests == 0
    # Across the spring-forward change (29 March), 08:00 Berlin is 06:00 UTC: next morning.
    clock.now = datetime(2026, 4, 1, 5, 59, tzinfo=UTC)
    assert (await worker.drain()).digests == 0
    clock.now = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
    assert (await worker.drain()).digests == 1
    assert len(transport.replies) == 2
