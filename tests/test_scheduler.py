"""The scheduler's jobs: one per active source, each coalescing and never overlapping."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.app import build_core
from bot.scheduler import BotScheduler, source_job_id
from storage import sources
from tests.helpers import make_settings


async def test_jobs_are_built_on_purpose_and_follow_the_sources_table(tmp_path: Path) -> None:
    core = await build_core(make_settings(tmp_path))
    try:
        scheduler = BotScheduler(core.services, worker=None)
        aps = scheduler.build()
        for job in aps.get_jobs():
            assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time >= 1
        feed, _ = await core.db.call(
            sources.add_source, "http://127.0.0.1:9/a.xml", name="A", interval_minutes=7
        )
        other, _ = await core.db.call(sources.add_source, "http://127.0.0.1:9/b.xml", name="B")
        await core.db.call(sources.add_source, "newsbot-demo:x", name="file", kind="file")
        aps.start(paused=True)
        await scheduler.sync_sources()
        ids = {job.id for job in aps.get_jobs()}
        assert {source_job_id(feed.id), source_job_id(other.id)} <= ids
        assert aps.get_job(source_job_id(feed.id)).trigger.interval.total_seconds() == 420
        assert not any(job_id.endswith(":3") for job_id in ids)  # file sources are not polled
        await core.db.call(sources.set_source_state, other.id, "paused", "test")
        await scheduler.sync_sources()
        assert aps.get_job(source_job_id(other.id)) is None
        names = [name for name, _next in scheduler.jobs()]
        assert "inbox watch" in names and "housekeeping" in names
        aps.shutdown(wait=False)
    finally:
        await core.close()


async def test_alive_follows_start_pause_and_shutdown(tmp_path: Path) -> None:
    core = await build_core(make_settings(tmp_path))
    try:
        scheduler = BotScheduler(core.services, worker=None)
        assert not scheduler.alive
        scheduler.build().start(paused=True)
        assert not scheduler.alive  # paused: no job runs
        scheduler.scheduler.resume()
        assert scheduler.alive
        await scheduler.shutdown(grace_seconds=0.1)
        assert not scheduler.alive
    finally:
        await core.close()


async def test_shutdown_lets_a_short_job_finish_and_cancels_a_stuck_one_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Running jobs get the grace period, then are cancelled without an error or a traceback,
    and no logger's level is changed to hide one."""
    core = await build_core(make_settings(tmp_path))
    levels = {name: logging.getLogger(name).level for name in _apscheduler_loggers()}
    try:
        scheduler = BotScheduler(core.services, worker=None)
        short_started, stuck_started = asyncio.Event(), asyncio.Event()
        finished: list[str] = []

        async def short() -> None:
            short_started.set()
            await asyncio.sleep(0.1)
            finished.append("short")

        async def stuck() -> None:
            stuck_started.set()
            await asyncio.Event().wait()
            finished.append("stuck")

        scheduler.scheduler.add_job(scheduler._tracked, args=[short], id="short")
        scheduler.scheduler.add_job(scheduler._tracked, args=[stuck], id="stuck")
        scheduler.scheduler.start()
        await asyncio.wait_for(asyncio.gather(short_started.wait(), stuck_started.wait()), 5)
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            loop = asyncio.get_running_loop()
            began = loop.time()
            await scheduler.shutdown(grace_seconds=0.5)
            took = loop.time() - began
            await asyncio.sleep(0.05)  # the executor's done-callbacks run
        assert finished == ["short"]
        assert took < 3
        problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert problems == []
        assert {name: logging.getLogger(name).level for name in _apscheduler_loggers()} == levels
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        await core.close()


def _apscheduler_loggers() -> list[str]:
    return ["apscheduler", "apscheduler.scheduler", "apscheduler.executors.default"]
