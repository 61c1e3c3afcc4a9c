"""Big batches are stored in bounded chunks, capped per request and per feed fetch, and other
writers (a second ``newsbot ingest``, ``newsbot admin stats``) never die of a lock."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.app import build_core
from bot.models import RawStory
from bot.pipeline.classify import TopicModel
from bot.pipeline.run import Pipeline, chunked
from bot.web import WebServer
from storage import sources
from storage.db import open_database
from tests.fakes.feed_server import FeedServer
from tests.helpers import cli_env, hold_write_lock, make_settings, run_cli


def _raws(count: int, tag: str) -> list[RawStory]:
    return [
        RawStory(
            f"{tag} report {n}",
            f"Report {n} on {tag}. " + " ".join(f"{tag}{n}w{k}" for k in range(40)) + ".",
            source_name="Wire",
        )
        for n in range(count)
    ]


def _jsonl(raws: list[RawStory]) -> str:
    return "".join(json.dumps({"title": r.title, "text": r.text}) + "\n" for r in raws)


def test_chunked_splits_in_order() -> None:
    assert [list(c) for c in chunked([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    assert list(chunked([], 3)) == []


def test_a_failure_mid_batch_keeps_the_committed_chunks_and_a_retry_stores_the_rest(
    tmp_path: Path,
) -> None:
    """SQLITE_FULL part-way (a real full database, by its page limit): the chunks before it are
    committed, the failing one rolls back whole, and giving the same batch again stores exactly
    what is missing."""
    pipeline = Pipeline(TopicModel.load(None))
    # How many pages one chunk takes (first chunk, so an overestimate): the limit below then
    # lets a few chunks in and fails well before the last, whatever the stories' stored size.
    probe = open_database(tmp_path / "probe.db")
    before = probe.execute("PRAGMA page_count").fetchone()[0]
    Pipeline(TopicModel.load(None)).process(probe, _raws(10, "probe"), chunk_size=10)
    chunk_pages = probe.execute("PRAGMA page_count").fetchone()[0] - before
    probe.close()
    db = open_database(tmp_path / "n.db")
    total = 300
    raws = _raws(total, "alpha")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 3 * chunk_pages}")
    with pytest.raises(Exception, match="full"):
        pipeline.process(db, raws, chunk_size=10)
    stored = db.table("stories").count
    assert 0 < stored < total and stored % 10 == 0, stored
    db.execute("PRAGMA max_page_count = 1073741823")
    report = pipeline.process(db, raws, chunk_size=10)
    assert (len(report.new), report.duplicates) == (total - stored, stored)
    titles = [row[0] for row in db.execute("SELECT title FROM stories")]
    assert len(titles) == total == len(set(titles))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_healthz_answers_between_the_chunks_of_a_big_request(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ingest_token="tok-123456", ingest_chunk_stories=25)
    core = await build_core(settings)
    server = WebServer(core.services, core.metrics, scheduler_alive=lambda: True)
    port = await server.start("127.0.0.1", 0)
    try:
        # A running bot has ingested before (the first batch after start imports the model's
        # libraries, seconds of one-time work that is not what this test is about).
        await core.services.process(_raws(1, "warm"))
        body = [{"title": r.title, "text": r.text} for r in _raws(600, "beta")]
        async with httpx.AsyncClient(timeout=60) as client:
            push = asyncio.create_task(
                client.post(
                    f"http://127.0.0.1:{port}/ingest",
                    json=body,
                    headers={"Authorization": "Bearer tok-123456"},
                )
            )
            started = time.perf_counter()
            statuses, slowest = [], 0.0
            while not push.done():
                asked = time.perf_counter()
                health = await client.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                slowest = max(slowest, time.perf_counter() - asked)
                statuses.append(health.status_code)
                await asyncio.sleep(0.02)
            answer = await push
            total = time.perf_counter() - started
        assert answer.status_code == 201 and len(answer.json()["ids"]) == 600
        assert statuses and set(statuses) == {200}, statuses
        # Each answer waited for one 25-story chunk at most, not for the whole request.
        assert slowest < total / 3, (slowest, total)
    finally:
        await server.stop()
        await core.close()


async def test_too_many_stories_in_one_request_is_413(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ingest_token="tok-123456", ingest_max_stories=5)
    core = await build_core(settings)
    server = WebServer(core.services, core.metrics, scheduler_alive=lambda: True)
    port = await server.start("127.0.0.1", 0)
    try:
        body = [{"title": r.title, "text": r.text} for r in _raws(6, "gamma")]
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"http://127.0.0.1:{port}/ingest",
                json=body,
                headers={"Authorization": "Bearer tok-123456"},
            )
            assert answer.status_code == 413
            assert "NEWSBOT_INGEST_MAX_STORIES" in answer.json()["error"]
            fits = await client.post(
                f"http://127.0.0.1:{port}/ingest",
                json=body[:5],
                headers={"Authorization": "Bearer tok-123456"},
            )
            assert fits.status_code == 201
    finally:
        await server.stop()
        await core.close()


async def test_a_feed_fetch_is_capped(tmp_path: Path) -> None:
    items = "".join(
        f"<item><title>{r.title}</title><link>https://f.example/{n}</link>"
        f"<description>{r.text}</description></item>"
        for n, r in enumerate(_raws(30, "delta"))
    )
    rss = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'
    core = await build_core(make_settings(tmp_path, feed_max_items=12))
    try:
        with FeedServer() as server:
            server.route("/feed.xml", body=rss.encode())
            source, _ = await core.db.call(sources.add_source, server.url("/feed.xml"), name="Big")
            outcome = await core.services.poll_source(source)
        assert outcome.status == "ok" and len(outcome.report.new) == 12
    finally:
        await core.close()


@pytest.mark.slow
def test_two_ingest_processes_and_admin_stats_at_once_all_succeed(tmp_path: Path) -> None:
    """Two ``newsbot ingest`` of 600 stories each (100 in common) and ``newsbot admin stats``
    beside them: every process exits 0 and every story is stored exactly once."""
    shared = _raws(100, "common")
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(_jsonl(_raws(500, "east") + shared), encoding="utf-8")
    second.write_text(_jsonl(shared + _raws(500, "west")), encoding="utf-8")
    assert run_cli(tmp_path, "db", "migrate").returncode == 0
    env = cli_env(tmp_path, NEWSBOT_INGEST_CHUNK_STORIES="50")
    command = [sys.executable, "-m", "bot", "--env-file", str(tmp_path / ".env")]
    ingests = [
        subprocess.Popen(
            [*command, "ingest", str(path)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (first, second)
    ]
    time.sleep(3)
    stats = run_cli(tmp_path, "admin", "stats", NEWSBOT_INGEST_CHUNK_STORIES="50")
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in ingests]
    for code, stderr in results:
        assert code == 0, stderr
        assert "Traceback" not in stderr
    assert stats.returncode == 0 and "Traceback" not in stats.stderr, stats.stderr
    db = open_database(tmp_path / "newsbot.db")
    titles = [row[0] for row in db.execute("SELECT title FROM stories")]
    assert len(titles) == 1100 == len(set(titles))


def test_a_cli_command_facing_a_long_lock_says_so_in_one_line(tmp_path: Path) -> None:
    """A lock held longer than the busy timeout (shortened here to 0.5 s) ends a writing
    command with one line naming the cause and exit status 75, not a traceback."""
    run_cli(tmp_path, "db", "migrate")
    locker = hold_write_lock(tmp_path / "newsbot.db", 8)
    try:
        (tmp_path / "s.jsonl").write_text(_jsonl(_raws(2, "eps")), encoding="utf-8")
        script = (
            "import sys, storage.db\n"
            "storage.db.BUSY_TIMEOUT_MS = 500\n"
            "from bot.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        for args in (["ingest", "s.jsonl"], ["admin", "stats"], ["db", "stats"]):
            result = subprocess.run(
                [sys.executable, "-c", script, "--env-file", str(tmp_path / ".env"), *args],
                cwd=tmp_path,
                env=cli_env(tmp_path),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert "Traceback" not in result.stderr
            if args[0] == "ingest":  # a writer: it needs the lock
                assert result.returncode == 75, result.stderr
            if result.returncode != 0:  # readers may get through WAL's snapshot
                assert result.returncode == 75, (args, result.stderr)
                assert "the database is busy" in result.stderr.strip().splitlines()[-1]
    finally:
        locker.kill()
        locker.wait()
