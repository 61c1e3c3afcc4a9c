"""Failover with real processes on a real PostgreSQL: kill -9 the ingest leader and a deliver worker
mid-run; a standby takes over within 15 s, nothing is lost, duplicates only where a killed send
was in flight, and no source is polled twice in the hand-over (fetches counted on a local feed
server)."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.scale_out import Processes, _env, queue, seed, wait_for_line
from storage import sources as source_store
from storage.db import open_store
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.slow

SOURCES = 4
CHATS = 150
PER_CHAT = 2


def _feed(n: int) -> bytes:
    items = "".join(
        f"<item><title>Failover feed {n} item {k} about harbour cranes</title>"
        f"<link>https://feeds.example/{n}/{k}</link><guid>f{n}-{k}</guid>"
        f"<description>Crane {k} of quay {n} was inspected on Monday by engineers.</description>"
        "</item>"
        for k in range(3)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed '
        f"{n}</title><link>https://feeds.example/{n}</link><description>d</description>"
        f"{items}</channel></rss>"
    ).encode()


def _received(tg: FakeTelegram) -> Counter[tuple[str, str]]:
    return Counter(
        (str(c.params.get("chat_id")), str(c.params.get("text", "")).split("\n")[0])
        for c in tg.sent_messages()
    )


def test_kill_9_leader_and_a_deliver_worker(tmp_path: Path, postgres_url: str) -> None:
    url = postgres_url
    chat_ids, story_ids = seed(url, CHATS, PER_CHAT)
    with FeedServer() as feeds, FakeTelegram() as tg:
        store = open_store(url)
        paths = [f"/feed{n}.xml" for n in range(SOURCES)]
        for n, path in enumerate(paths):
            feeds.route(path, body=_feed(n))
            source_store.add_source(store, feeds.url(path), name=f"feed{n}", interval_minutes=60)
        env = _env(url, tmp_path, tg.api_url)
        env.update(NEWSBOT_ALLOW_PRIVATE_SOURCES="true", NEWSBOT_CLAIM_LEASE_SECONDS="4")
        processes = Processes(tmp_path, env)
        try:
            # All four start together (start-up is most of this test's time); whichever ingest
            # process is elected first is the leader, the other must stand by.
            ingest = [processes.start("ingest"), processes.start("ingest")]
            doomed, doomed_log = processes.start("deliver")
            survivor, survivor_log = processes.start("deliver")
            for process, log in ingest:
                wait_for_line(log, "event=leader_", process, 60)
            elected = [
                "event=leader_elected" in log.read_text(errors="replace") for _p, log in ingest
            ]
            assert sorted(elected) == [False, True], "exactly one leader"
            (leader, _), (standby, standby_log) = ingest if elected[0] else ingest[::-1]
            wait_for_line(standby_log, "event=leader_standby", standby, 10)
            for process, log in ((doomed, doomed_log), (survivor, survivor_log)):
                wait_for_line(log, "event=telegram_started", process, 60)
            deadline = time.monotonic() + 30
            while any(not feeds.requests_for(p) for p in paths) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert all(feeds.requests_for(p) for p in paths), "the leader never polled"

            queue(store, [(c, s) for s in story_ids for c in chat_ids])
            expected = CHATS * PER_CHAT
            while len(tg.sent_messages()) < expected // 4:
                time.sleep(0.02)
            os.kill(leader.pid, signal.SIGKILL)
            os.kill(doomed.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            leader.wait(timeout=10)
            doomed.wait(timeout=10)
            in_flight = int(
                store.execute(
                    "SELECT count(*) FROM deliveries WHERE status = 'sending' AND claimed_by = ?",
                    [f"{socket.gethostname()}:{doomed.pid}"],
                ).fetchone()[0]
            )
            wait_for_line(standby_log, "event=leader_elected", standby, 15)
            takeover = time.monotonic() - killed_at
            deadline = time.monotonic() + 45
            while len(set(_received(tg))) < expected and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)  # anything sent twice would arrive by now
        finally:
            processes.stop()
        received = _received(tg)
        fetches = {p: len(feeds.requests_for(p)) for p in paths}
        store.close()

    duplicates = sum(n - 1 for n in received.values())
    print(
        f"failover: standby leader after {takeover:.1f} s; {len(received)}/{expected} alerts, "
        f"{duplicates} duplicates ({in_flight} sends in flight at the kill); fetches {fetches}"
    )
    assert takeover < 15
    assert len(received) == expected, f"lost {expected - len(received)}"
    assert duplicates <= in_flight, (duplicates, in_flight)
    assert fetches == dict.fromkeys(paths, 1), fetches  # none polled twice in the hand-over
