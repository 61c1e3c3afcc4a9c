"""The scheduler: one APScheduler 3.x ``AsyncIOScheduler`` in the bot's own asyncio loop.

Jobs: one per polled source on its interval (kept in step with the ``sources`` table, which
other processes and admin commands change), the inbox watch, the delivery drain (which also
sends due digests), and housekeeping. Every job has ``coalesce=True`` and ``max_instances=1``:
after downtime each job runs once, never in a burst and never two at once; ``misfire_grace_time``
lets a job that was late by less than its own period still run.

Every job runs through :meth:`BotScheduler._tracked`, which keeps the asyncio task it runs in:
APScheduler 3.x has no public way to reach the tasks of running coroutine jobs, and
:meth:`BotScheduler.shutdown` needs them to let running jobs finish and to cancel the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from bot.delivery.worker import DeliveryWorker
from bot.models import Source
from bot.services import Services
from storage import sources as source_store
from storage import stories as story_store
from storage.maintenance import checkpoint

log = logging.getLogger(__name__)

SOURCE_SYNC_SECONDS = 30
HOUSEKEEPING_MINUTES = 60


def _job_defaults(period_seconds: float) -> dict[str, object]:
    return {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": max(1, int(period_seconds)),
        "replace_existing": True,
    }


async def _guarded(name: str, step: Callable[[], Awaitable[object]]) -> None:
    """A failing job logs one line and runs again next time; it never kills the scheduler."""
    try:
        await step()
    except Exception:
        log.exception("event=job_failed job=%s", name)


class JobGate(Protocol):
    """Where several processes share the database, only the elected leader runs jobs
    (:class:`bot.cluster.leader.LeaderGate`): checked before every job, and a source's poll is
    taken atomically with a fencing check."""

    async def allow(self) -> bool: ...

    async def claim_source(self, source_id: int, now: datetime) -> bool: ...


def source_job_id(source_id: int) -> str:
    return f"source:{source_id}"


class BotScheduler:
    def __init__(
        self, services: Services, worker: DeliveryWorker | None, gate: JobGate | None = None
    ) -> None:
        self.services = services
        self.worker = worker
        self.gate = gate
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def alive(self) -> bool:
        """True while the scheduler runs jobs (started, not paused, not shut down)."""
        return bool(self.scheduler.running and self.scheduler.state == STATE_RUNNING)

    async def _tracked(self, step: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run one job's ``step`` while remembering its task, for :meth:`shutdown`.

        A cancellation that :meth:`shutdown` asked for ends the job quietly (APScheduler would
        log it as a failed job with a traceback); any other cancellation propagates.
        """
        if self.gate is not None and not await self.gate.allow():
            log.warning("event=job_skipped reason=not_leader")
            return
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await step(*args)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            if task is not None:
                self._running.discard(task)

    def build(self) -> AsyncIOScheduler:
        settings = self.services.settings
        now = datetime.now(UTC)
        self.scheduler.add_job(
            self._tracked,
            "interval",
            args=[self.sync_sources],
            seconds=SOURCE_SYNC_SECONDS,
            id="sync-sources",
            name="sync sources",
            next_run_time=now,
            **_job_defaults(SOURCE_SYNC_SECONDS),
        )
        self.scheduler.add_job(
            self._tracked,
            "interval",
            args=[_guarded, "inbox", self.services.scan_inbox],
            seconds=settings.inbox_poll_seconds,
            id="inbox",
            name="inbox watch",
            next_run_time=now,
            **_job_defaults(settings.inbox_poll_seconds),
        )
        if self.worker is not None:
            self.scheduler.add_job(
                self._tracked,
                "interval",
                args=[_guarded, "deliveries", self.worker.drain],
                seconds=settings.delivery_poll_seconds,
                id="deliveries",
                name="delivery drain and digests",
                next_run_time=now,
                **_job_defaults(settings.delivery_poll_seconds),
            )
        self.scheduler.add_job(
            self._tracked,
            "interval",
            args=[_guarded, "housekeeping", self.housekeeping],
            minutes=HOUSEKEEPING_MINUTES,
            id="housekeeping",
            name="housekeeping",
            next_run_time=now + timedelta(minutes=1),
            **_job_defaults(HOUSEKEEPING_MINUTES * 60),
        )
        return self.scheduler

    async def sync_sources(self) -> None:
        """One job per active polled source; removed or paused sources lose theirs."""
        try:
            sources = await self.services.db.call(source_store.list_sources, kinds=("feed", "page"))
        except Exception:
            log.exception("event=job_failed job=sync-sources")
            return
        wanted = {source_job_id(s.id): s for s in sources if s.state == "active"}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("source:") and job.id not in wanted:
                job.remove()
        for job_id, source in wanted.items():
            job = self.scheduler.get_job(job_id)
            period = source.interval_minutes * 60
            if job is not None and getattr(job.trigger, "interval", None) == timedelta(
                seconds=period
            ):
                continue
            self.scheduler.add_job(
                self._tracked,
                "interval",
                args=[self.poll_if_due, source.id],
                seconds=period,
                id=job_id,
                name=f"poll {source.name}"[:80],
                next_run_time=datetime.now(UTC),
                **_job_defaults(period),
            )

    async def poll_if_due(self, source_id: int) -> None:
        """Poll unless backoff, Retry-After or the feed's max-age asked us to wait longer."""
        try:
            source: Source = await self.services.db.call(source_store.get_source, source_id)
        except LookupError:
            return
        now = self.services.clock()
        if source.state != "active" or (source.next_check_at and source.next_check_at > now):
            return
        if self.gate is not None and not await self.gate.claim_source(source_id, now):
            return  # taken by another leader's poll, or this one's epoch is over
        await _guarded(f"poll:{source_id}", lambda: self.services.poll_source(source))

    async def housekeeping(self) -> None:
        """Retention: prune old stories (FTS follows by trigger); checkpoint the WAL."""
        settings = self.services.settings
        cutoff = self.services.clock() - timedelta(days=settings.retention_days)
        pruned = await self.services.db.call(story_store.prune_stories, cutoff)
        self.services.pipeline.index.prune(self.services.clock())
        await self.services.db.call(checkpoint)
        log.info("event=housekeeping pruned=%d", pruned)

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop taking new runs, let running jobs finish for a moment, cancel the rest quietly.

        APScheduler's ``shutdown(wait=False)`` leaves coroutine jobs running on the loop; when
        the loop then closes they die with a logged traceback. A job cut short here (a poll
        mid-fetch) loses nothing: its work is redone at the next start.
        """
        self.scheduler.pause()
        self._stopping = True
        running = set(self._running)
        if running:
            _done, still_running = await asyncio.wait(running, timeout=grace_seconds)
            for task in still_running:
                task.cancel()
            if still_running:
                await asyncio.wait(still_running, timeout=1.0)
        self.scheduler.shutdown(wait=False)

    def jobs(self) -> list[tuple[str, datetime | None]]:
        return [(job.name, job.next_run_time) for job in self.scheduler.get_jobs()]
