"""The delivery worker: drains the outbox through the transports, never losing an alert.

The pipeline ends at the outbox; this worker is where stored alerts meet the chat platforms,
so it lives with the delivery role, not in :mod:`bot.pipeline`, which knows no transport.

Policy per chat (digest mode, quiet hours, hourly cap) is applied here, at send time, so a
changed setting takes effect on alerts already queued. Pacing against platform limits is the
transport's business; this worker only keeps one send in flight per chat, which is also what
bounds crash duplicates to one per chat.

Failure handling, from the transport's :class:`SendResult`:
- ``retry_after``: the row goes back untouched, due after the wait (not an attempt);
- ``transient_error``: retried with exponential backoff (capped at ``max_backoff``); it becomes a
  dead letter only after ``max_attempts`` AND ``give_up_after`` since it was queued, so a
  platform that is down for minutes or hours costs nothing but time;
- ``permanent_error``: dead letter with the reason (admins see and can retry it);
- ``chat_gone``: the chat goes dormant with the reason, its rows stay pending;
- ``migrated_to``: the chat's id changes and the row is retried at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.delivery.build import build_alert
from bot.delivery.digest import build_digest
from bot.i18n import translator
from bot.metrics import Metrics
from bot.models import Chat, Delivery, Reply
from bot.pipeline.policy import in_quiet_hours, next_digest_at
from bot.transports.base import SendResult, Transport
from storage import chats as chat_store
from storage import deliveries as outbox
from storage import state
from storage.db import DatabaseWorker, from_iso, to_iso
from storage.engine import Store

log = logging.getLogger(__name__)


@dataclass
class DrainReport:
    sent: int = 0
    held: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    updates: int = 0
    digests: int = 0
    duplicates_possible: int = 0
    errors: list[str] = field(default_factory=list)


def _digest_key(chat_id: int) -> str:
    return f"last_digest_at:{chat_id}"


class DeliveryWorker:
    def __init__(
        self,
        db: DatabaseWorker,
        transports: dict[str, Transport],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_attempts: int = 6,
        give_up_after: timedelta = timedelta(hours=24),
        max_backoff: timedelta = timedelta(minutes=5),
        concurrency: int = 64,
        metrics: Metrics | None = None,
        alerts: bool = True,
        updates: bool = True,
        digests: bool = True,
    ) -> None:
        """``alerts``, ``updates``, ``digests``: which of the three this worker sends. One
        process does all three; with several processes (``newsbot run --role``) every
        ``deliver`` process sends alerts and the ``ingest`` leader alone sends updates and
        digests, so none is sent twice."""
        self.db = db
        self.transports = transports
        self.clock = clock
        self.max_attempts = max_attempts
        self.give_up_after = give_up_after
        self.max_backoff = max_backoff
        self.concurrency = concurrency
        self.metrics = metrics
        self.alerts = alerts
        self.updates = updates
        self.digests = digests
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        """A pass is running (a new one would wait for it)."""
        return self._lock.locked()

    async def recover(self) -> int:
        """At start: rows a crash left in flight are sent again (the one duplicate allowed)."""
        return await self.db.call(outbox.recover_in_flight)

    async def drain(self) -> DrainReport:
        """One pass over everything due now; never two passes at once."""
        report = DrainReport()
        async with self._lock:
            for platform, transport in self.transports.items():
                if self.alerts:
                    await self._drain_platform(platform, transport, report)
                if self.updates:
                    await self._send_updates(platform, transport, report)
            if self.digests:
                await self._send_due_digests(report)
        return report

    async def _due(self, platform: str, now: datetime) -> list[Delivery]:
        """The alerts this pass sends (a subclass claims them from a shared outbox)."""
        return await self.db.call(outbox.due_deliveries, platform, now, 2000)

    async def _drain_platform(
        self, platform: str, transport: Transport, report: DrainReport
    ) -> None:
        due = await self._due(platform, self.clock())
        by_chat: dict[int, list[Delivery]] = defaultdict(list)
        for delivery in due:
            by_chat[delivery.chat_id].append(delivery)
        semaphore = asyncio.Semaphore(self.concurrency)

        async def run_chat(chat_id: int, rows: list[Delivery]) -> None:
            async with semaphore:
                await self._deliver_to_chat(chat_id, rows, transport, report)

        await asyncio.gather(*(run_chat(c, rows) for c, rows in by_chat.items()))

    async def _deliver_to_chat(
        self, chat_id: int, rows: list[Delivery], transport: Transport, report: DrainReport
    ) -> None:
        chat = await self.db.call(chat_store.get_chat, chat_id)
        now = self.clock()
        if chat.mode == "digest" or in_quiet_hours(chat.quiet_hours, chat.timezone, now):
            await self.db.call(outbox.hold, [r.id for r in rows], now)
            report.held += len(rows)
            return
        already = await self.db.call(outbox.sent_since, chat.id, now - timedelta(hours=1))
        room = max(0, chat.hourly_cap - already)
        to_send, to_hold = rows[:room], rows[room:]
        for delivery in to_send:
            outcome = await self._send_one(chat, delivery, transport, report)
            if outcome == "stop":  # chat gone or rate limited: leave the rest for later
                return
        if to_hold:
            await self.db.call(outbox.hold, [r.id for r in to_hold], now)
            report.held += len(to_hold)
            t = translator(chat.locale)
            notice = Reply(
                t.ngettext(
                    "{n} more story held for your digest (limit: {cap} alerts an hour; "
                    "change it with /settings cap N).",
                    "{n} more stories held for your digest (limit: {cap} alerts an hour; "
                    "change it with /settings cap N).",
                    len(to_hold),
                    cap=chat.hourly_cap,
                )
            )
            await transport.send_reply(chat, notice)

    async def _send_one(
        self, chat: Chat, delivery: Delivery, transport: Transport, report: DrainReport
    ) -> str:
        claimed = await self.db.call(outbox.mark_sending, delivery.id)
        if not claimed:
            return "skip"
        try:
            alert = await self.db.call(
                build_alert, delivery, chat.summary_chars, chat.images, chat.locale
            )
            result = await transport.send_alert(chat, alert)
        except Exception as exc:  # a bug in rendering must not lose the row
            log.exception("event=send_crashed delivery=%s", delivery.id)
            result = SendResult(ok=False, transient_error=f"internal error: {exc}")
        return await self._record(chat, delivery, result, report)

    def _count_refused_image(self, platform: str, result: SendResult) -> None:
        if result.image_refused and self.metrics is not None:
            self.metrics.images_refused.labels(platform).inc()

    def _count_failure(self, platform: str, kind: str) -> None:
        if self.metrics is not None:
            self.metrics.alerts_failed.labels(platform, kind).inc()

    async def _record(
        self, chat: Chat, delivery: Delivery, result: SendResult, report: DrainReport
    ) -> str:
        now = self.clock()
        self._count_refused_image(chat.platform, result)
        if not result.ok:
            kind = (
                "rate_limited"
                if result.retry_after is not None
                else "chat_gone"
                if result.chat_gone
                else "migrated"
                if result.migrated_to
                else "permanent"
                if result.permanent_error
                else "transient"
            )
            self._count_failure(chat.platform, kind)
        if result.ok:
            await self.db.call(outbox.mark_sent, delivery.id, result.message_ref, at=now)
            report.sent += 1
            if result.duplicate_possible:
                report.duplicates_possible += 1
            if self.metrics is not None:
                self.metrics.alerts_sent.labels(chat.platform).inc()
                if delivery.created_at is not None:
                    latency = (now - delivery.created_at).total_seconds()
                    self.metrics.ingest_to_alert.observe(max(0.0, latency))
            return "ok"
        if result.migrated_to:
            await self.db.call(chat_store.change_external_id, chat.id, result.migrated_to)
            await self.db.call(outbox.release, delivery.id, now)
            report.deferred += 1
            return "stop"
        if result.retry_after is not None:
            await self.db.call(
                outbox.release, delivery.id, now + timedelta(seconds=result.retry_after)
            )
            report.deferred += 1
            return "stop"
        if result.chat_gone:
            await self.db.call(chat_store.set_chat_state, chat.id, "dormant", result.chat_gone)
            await self.db.call(outbox.release, delivery.id, now)
            log.info("event=chat_dormant chat=%s reason=%s", chat.id, result.chat_gone)
            report.deferred += 1
            return "stop"
        exhausted = delivery.attempts + 1 >= self.max_attempts and (
            delivery.created_at is None or now - delivery.created_at >= self.give_up_after
        )
        if result.permanent_error or exhausted:
            reason = (
                result.permanent_error
                or f"gave up after {delivery.attempts + 1} attempts: {result.transient_error}"
            )
            await self.db.call(outbox.mark_dead, delivery.id, reason)
            report.dead += 1
            report.errors.append(reason)
            return "ok"
        backoff = min(self.max_backoff.total_seconds(), 5.0 * 2 ** min(delivery.attempts, 16))
        await self.db.call(
            outbox.mark_retry,
            delivery.id,
            result.transient_error or "error",
            now + timedelta(seconds=backoff),
        )
        report.retried += 1
        return "stop"

    async def _send_updates(self, platform: str, transport: Transport, report: DrainReport) -> None:
        for delivery in await self.db.call(outbox.due_updates, platform):
            chat = await self.db.call(chat_store.get_chat, delivery.chat_id)
            alert = await self.db.call(
                build_alert, delivery, chat.summary_chars, chat.images, chat.locale
            )
            assert delivery.message_ref is not None
            result = await transport.send_update(chat, alert, delivery.message_ref)
            self._count_refused_image(chat.platform, result)
            if result.ok or result.permanent_error:
                # A refused edit is not retried forever: the next growth tries again.
                await self.db.call(
                    outbox.mark_update_sent, delivery.id, delivery.updated_sources_count
                )
                report.updates += int(result.ok)

    async def _send_due_digests(self, report: DrainReport) -> None:
        now = self.clock()
        for chat_id in await self.db.call(outbox.chats_with_held):
            chat = await self.db.call(chat_store.get_chat, chat_id)
            transport = self.transports.get(chat.platform)
            if transport is None or chat.state != "active":
                continue
            if not await self.db.call(_digest_is_due, chat, now):
                continue
            await self.send_digest(chat, transport, report)

    async def send_digest(
        self, chat: Chat, transport: Transport, report: DrainReport | None = None
    ) -> int:
        """Send everything held for ``chat`` as one digest now; returns the number of stories."""
        held = await self.db.call(outbox.held_for_chat, chat.id)
        if not held:
            return 0
        digest = await self.db.call(build_digest, held, self.clock(), chat.locale)
        result = await transport.send_reply(chat, digest)
        if result.ok:
            await self.db.call(
                outbox.mark_digest_sent, [d.id for d in held], result.message_ref, self.clock()
            )
            await self.db.call(state.set_value, _digest_key(chat.id), to_iso(self.clock()) or "")
            if report is not None:
                report.digests += 1
            return len(held)
        if result.chat_gone:
            await self.db.call(chat_store.set_chat_state, chat.id, "dormant", result.chat_gone)
        return 0


def _digest_is_due(db: Store, chat: Chat, now: datetime) -> bool:
    """Digest-mode chats follow their schedule; instant chats get held alerts (over the cap or
    after quiet hours) at the top of the next hour, once quiet hours are over."""
    if in_quiet_hours(chat.quiet_hours, chat.timezone, now):
        return False
    last = from_iso(state.get_value(db, _digest_key(chat.id)))
    held_at = outbox.oldest_held_at(db, chat.id)
    if held_at is None:
        return False
    if chat.mode == "digest":
        reference = last or held_at
        return next_digest_at(chat.digest_schedule, chat.timezone, reference) <= now
    reference = max(last, held_at) if last else held_at
    if in_quiet_hours(chat.quiet_hours, chat.timezone, reference):
        return True  # held during quiet hours, which are now over
    return next_digest_at("hourly", chat.timezone, reference) <= now
