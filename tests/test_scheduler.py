"""The scheduler's jobs: one per active source, each coalescing and never overlapping."""

from __future__ import annotations

from pathlib import Path

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
