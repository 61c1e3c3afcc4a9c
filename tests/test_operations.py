"""What an operator relies on: online backups under load, health, metrics, retention, logs.

Real processes, real SQLite files and real HTTP; no part of the bot is mocked.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import NewsBot, SecretsFilter, build_core
from bot.scheduler import BotScheduler
from storage import stories as story_store
from storage.db import open_database
from storage.stories import NewStory
from tests.helpers import make_settings, run_cli

T = TypeVar("T")

# -- 1. online backup while another process writes ---------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from storage.db import open_database, write_transaction
    from storage.stories import NewStory, insert_story

    db = open_database(sys.argv[1])
    stop = Path(sys.argv[2])
    n = 0
    while not stop.exists() and n < 20000:
        n += 1
        story = NewStory(
            title=f"Load test story {n}", text="Filler text for the backup test. " * 40,
            source_id=None, source_name="writer", url=None, canonical_url=None, guid=None,
            published_at=None, fetched_at=datetime.now(UTC), content_hash=f"writer-{n}",
            language="en", summary="", topics=[], topic_scores={}, key_terms=[],
        )
        with write_transaction(db):
            insert_story(db, story)
        time.sleep(0.001)
    """
)


def _story_ids(path: Path) -> dict[int, str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT id, content_hash FROM stories").fetchall())


def test_backup_taken_while_another_process_writes(tmp_path: Path) -> None:
    live = tmp_path / "newsbot.db"
    open_database(live).close()  # migrated before the writer starts
    stop = tmp_path / "stop-writing"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(live), str(stop)])
    try:
        deadline = time.monotonic() + 30
        while len(_story_ids(live)) < 200:
            assert writer.poll() is None, "the writer process died"
            assert time.monotonic() < deadline, "the writer is not writing"
            time.sleep(0.05)
        committed_before = _story_ids(live)
        backup = tmp_path / "backups" / "copy.db"
        result = run_cli(tmp_path, "db", "backup", str(backup))
        assert result.returncode == 0, result.stderr
        committed_after = _story_ids(live)
        assert writer.poll() is None, "the writer stopped before the backup finished"
        assert len(committed_after) > len(committed_before), "no write happened during backup"
    finally:
        stop.touch()
        writer.wait(timeout=30)

    with sqlite3.connect(backup) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        backed_up = dict(copy.execute("SELECT id, content_hash FROM stories").fetchall())
    live_rows = _story_ids(live)
    assert len(backed_up) >= len(committed_before)
    assert committed_before.items() <= backed_up.items()  # everything committed before it
    assert backed_up.items() <= live_rows.items()  # and nothing that was never committed


# -- 2 and 3. a running bot: /healthz and /metrics ---------------------------------------------


@pytest.fixture
async def running_bot(tmp_path: Path) -> AsyncIterator[tuple[NewsBot, httpx.AsyncClient]]:
    """A real console-mode bot, started and running its scheduler, with an HTTP client."""
    settings = make_settings(
        tmp_path, ingest_token="ops-test-token", delivery_poll_seconds=0.2, inbox_poll_seconds=60
    )
    bot = NewsBot(settings, console_stream=io.StringIO())
    await bot.start()
    runner = asyncio.create_task(bot.run_forever())
    try:
        assert bot.web is not None and bot.web.port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bot.web.port}") as client:
            yield bot, client
    finally:
        bot.request_stop()
        await asyncio.wait_for(runner, 10)
        await bot.stop()


async def _wait_for(probe: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    """Await ``probe`` until it returns something truthy or ``timeout`` passes; its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_healthz_turns_503_when_the_scheduler_stops(
    running_bot: tuple[NewsBot, httpx.AsyncClient],
) -> None:
    bot, client = running_bot
    assert bot.scheduler is not None

    async def healthy() -> bool:
        return (await client.get("/healthz")).status_code == 200

    assert await _wait_for(healthy, 10)
    bot.scheduler.scheduler.shutdown(wait=False)
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"loop": True, "scheduler": False, "database": True}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, parsed by prometheus-client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_ingested_stories_and_console_alerts(
    running_bot: tuple[NewsBot, httpx.AsyncClient],
) -> None:
    _bot, client = running_bot
    ingested = ("newsbot_stories_ingested_total", ())
    console_alerts = ("newsbot_alerts_sent_total", (("transport", "console"),))

    async def alerts_sent() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        samples = _samples((await client.get("/metrics")).text)
        return samples if samples.get(console_alerts, 0) > 0 else None

    # The bundled demo sources are ingested at start and matched by the demo subscription.
    samples = await _wait_for(alerts_sent)
    assert samples, "no alert was sent on the console transport"
    assert samples[ingested] > 0
    assert samples[("newsbot_ingest_to_alert_seconds_count", ())] > 0  # latency is observed
    before = samples[ingested]
    posted = await client.post(
        "/ingest",
        json={
            "title": "Night ferry service resumes",
            "text": "The night ferry between the two islands resumed on Friday after repairs.",
        },
        headers={"Authorization": "Bearer ops-test-token"},
    )
    assert posted.status_code == 201, posted.text
    after = _samples((await client.get("/metrics")).text)
    assert after[ingested] == before + 1
    assert ("newsbot_queue_depth", (("status", "sent"), ("transport", "console"))) in after


# -- 4. retention -------------------------------------------------------------------------------

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def _dated_story(title: str, word: str, fetched_at: datetime) -> NewStory:
    return NewStory(
        title=title,
        text=f"The {word} report was published for the retention test.",
        source_id=None,
        source_name="archive",
        url=None,
        canonical_url=None,
        guid=None,
        published_at=None,
        fetched_at=fetched_at,
        content_hash=f"retention-{word}",
        language="en",
        summary="",
        topics=[],
        topic_scores={},
        key_terms=[],
    )


async def test_housekeeping_prunes_old_stories_and_keeps_fts_in_sync(tmp_path: Path) -> None:
    core = await build_core(make_settings(tmp_path, retention_days=30), clock=lambda: NOW)
    try:
        db = core.db
        await db.call(
            story_store.insert_story,
            _dated_story("Old harvest", "zucchiniharvest", NOW - timedelta(days=40)),
        )
        await db.call(
            story_store.insert_story,
            _dated_story("Fresh harvest", "pumpkinharvest", NOW - timedelta(days=2)),
        )
        assert await db.call(story_store.search_stories, "zucchiniharvest")

        await BotScheduler(core.services, worker=None).housekeeping()

        titles = await db.call(lambda d: [r["title"] for r in d["stories"].rows])
        assert titles == ["Fresh harvest"]
        assert not await db.call(story_store.search_stories, "zucchiniharvest")
        assert await db.call(story_store.search_stories, "pumpkinharvest")
        # The FTS index itself (not only the join with stories) lost the row...
        index_hits = await db.call(
            lambda d: d.execute(
                "SELECT rowid FROM stories_fts WHERE stories_fts MATCH 'zucchiniharvest'"
            ).fetchall()
        )
        assert index_hits == []
        # ...and FTS5's own check finds index and table in agreement.
        await db.call(
            lambda d: d.execute("INSERT INTO stories_fts(stories_fts) VALUES('integrity-check')")
        )
    finally:
        await core.close()


# -- 5. no secret in logs -----------------------------------------------------------------------

TOKEN = "supersecret-token-123"


def test_run_once_never_logs_the_ingest_token(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # A file whose name carries the token: its name is logged when the inbox is processed, so
    # the token reaches the logging call and only the filter can keep it out of the output.
    # Its story matches no demo subscription, so no alert (chat content, not a log) shows it.
    (inbox / f"wire-{TOKEN}.txt").write_text(
        "The village bakery won a regional prize for its rye bread on Saturday.\n",
        encoding="utf-8",
    )
    result = run_cli(
        tmp_path, "run", "--once", NEWSBOT_INGEST_TOKEN=TOKEN, NEWSBOT_LOG_LEVEL="DEBUG"
    )
    assert result.returncode == 0, result.stderr
    assert "event=inbox_file name=wire-***.txt" in result.stderr
    assert TOKEN not in result.stdout
    assert TOKEN not in result.stderr


def test_secrets_filter_redacts_a_token_in_a_formatted_message() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretsFilter([TOKEN, "short", ""]))
    logger = logging.getLogger("newsbot.test.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling %s with header Bearer %s", "api", TOKEN)
        logger.warning("a short value like %s is not treated as a secret", "short")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "calling api with header Bearer ***",
        "a short value like short is not treated as a secret",
    ]


# -- 6. deployment files ------------------------------------------------------------------------


def test_deployment_files_publish_the_http_port_on_localhost_only() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with the dashboard extra")
    root = Path(__file__).resolve().parents[1]
    compose = yaml.safe_load((root / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["newsbot"]
    assert service["ports"] and all(str(p).startswith("127.0.0.1:") for p in service["ports"])
    assert service["environment"]["NEWSBOT_HTTP_HOST"] == "0.0.0.0"  # inside the container
    assert service["env_file"] == ".env" and service["restart"] == "unless-stopped"
    dockerfile = (root / "Dockerfile").read_text(encoding="utf-8")
    user_lines = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user_lines and all(
        line.split()[1].split(":")[0] not in ("0", "root") for line in user_lines
    )
    assert "/healthz" in dockerfile and 'CMD ["newsbot", "run"]' in dockerfile
    unit = (root / "deploy" / "newsbot.service").read_text(encoding="utf-8")
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=on-failure"):
        assert setting in unit.splitlines()


def test_tokens_are_redacted_from_tracebacks_too() -> None:
    import io
    import logging

    from bot.app import SecretsFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretsFilter(["123456:SECRET-TOKEN"]))
    logger = logging.getLogger("newsbot.test.redaction")
    logger.addHandler(handler)
    try:
        raise RuntimeError("GET https://api.telegram.org/bot123456:SECRET-TOKEN/getMe failed")
    except RuntimeError:
        logger.exception(
            "event=request_failed url=%s", "https://api.telegram.org/bot123456:SECRET-TOKEN"
        )
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "SECRET-TOKEN" not in output
    assert "RuntimeError" in output and "***" in output
