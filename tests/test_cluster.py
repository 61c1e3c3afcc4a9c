"""Several processes on one database: roles, the leader lock, the shared send budget, LISTEN/NOTIFY
and outbox claims, against a real PostgreSQL server (and SQLite where the code is shared)."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cluster.bucket import SharedBudget, SharedPacer
from bot.cluster.leader import LeaderElection
from bot.cluster.notify import Listener
from bot.roles import ROLES
from bot.transports.pacing import Rate
from storage import coordination
from storage.coordination import SUBSCRIPTIONS_CHANNEL
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import run_cli

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def coordination_url(postgres_url: str) -> str:
    """A PostgreSQL database with every migration applied (m006 made the coordination tables)."""
    from storage.db import open_store

    open_store(postgres_url).close()
    return postgres_url


# -- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [r for r in ROLES if r != "all"])
def test_a_role_on_sqlite_exits_with_one_line(tmp_path: Path, role: str) -> None:
    result = run_cli(tmp_path, "run", "--role", role, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "needs PostgreSQL" in lines[0] and f"--role {role}" in lines[0]
    assert not (tmp_path / "newsbot.db").exists()  # refused before anything was opened


# -- the leader lock -------------------------------------------------------------------------------


async def test_one_leader_and_a_standby_takes_over_with_a_new_epoch(coordination_url: str) -> None:
    first = LeaderElection(coordination_url, holder="first", retry_seconds=0.2)
    second = LeaderElection(coordination_url, holder="second", retry_seconds=0.2)
    assert await first.campaign() == 1
    standby = asyncio.create_task(second.campaign())
    await asyncio.sleep(1.0)
    assert not standby.done()  # the lock is taken
    assert await first.still_leader()

    await first.resign()  # the session ends, as when the process dies
    started = time.monotonic()
    assert await asyncio.wait_for(standby, 5) == 2
    assert time.monotonic() - started < 2
    assert await second.still_leader()
    assert not await first.still_leader()
    await second.resign()


async def test_a_leader_whose_session_is_killed_knows_it_lost(coordination_url: str) -> None:
    leader = LeaderElection(coordination_url, holder="doomed")
    await leader.campaign()
    with psycopg.connect(coordination_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'newsbot-ingest-leader'"
        )
    await asyncio.wait_for(leader.watch(interval=0.1), 5)
    assert not leader.leading
    await leader.resign()


# -- the shared budget ---------------------------------------------------------------------------


async def test_two_connections_share_one_budget_never_above_it(coordination_url: str) -> None:
    """Two pacers (two connections, as two processes) send as fast as they may; every send
    "arrives" after a random network delay. No one-second window holds more than the limit, and
    together they use most of it."""
    limit, per_second, sends = 20, 19.5, 60
    rng = random.Random(7)
    arrivals: list[float] = []

    async def sender(name: str, count: int) -> None:
        budget = SharedBudget(coordination_url, "test:token", Rate(per_second), window_limit=limit)
        pacer = SharedPacer(budget)

        async def one(n: int) -> None:
            async with pacer.sending(f"{name}{n}", Rate(100.0, burst=10)):
                await asyncio.sleep(rng.uniform(0.0, 0.04))  # the request on its way
                arrivals.append(time.monotonic())
                await asyncio.sleep(rng.uniform(0.0, 0.02))  # the answer on its way back

        try:
            await asyncio.gather(*(one(n) for n in range(count)))
        finally:
            await budget.close()

    started = time.monotonic()
    await asyncio.gather(sender("a", sends // 2), sender("b", sends // 2))
    elapsed = time.monotonic() - started
    arrivals.sort()
    assert len(arrivals) == sends
    busiest = max(
        sum(1 for t in arrivals[i:] if t < start + 1.0) for i, start in enumerate(arrivals)
    )
    assert busiest <= limit
    assert sends / elapsed >= 0.8 * per_second, f"{sends / elapsed:.1f} sends a second"


async def test_a_global_pause_holds_every_process(coordination_url: str) -> None:
    one = SharedBudget(coordination_url, "test:pause", Rate(50.0))
    other = SharedBudget(coordination_url, "test:pause", Rate(50.0))
    await one.reserve()
    await one.pause(1.5)
    _ticket, wait = await other.reserve()
    assert 1.2 < wait <= 1.5
    await one.close()
    await other.close()


# -- LISTEN/NOTIFY ---------------------------------------------------------------------------------


async def test_a_subscription_change_is_notified_within_two_seconds(coordination_url: str) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = Listener(coordination_url)
    listener.on(SUBSCRIPTIONS_CHANNEL, heard.put_nowait)
    await listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 10)
        with psycopg.connect(coordination_url, autocommit=True) as writer:
            writer.execute(
                "INSERT INTO service_state (key, value, updated_at) VALUES "
                "('subscriptions_version', '7', 'now')"
            )
            started = time.monotonic()
        assert await asyncio.wait_for(heard.get(), 2) == "7"
        assert time.monotonic() - started < 2
    finally:
        await listener.stop()


# -- outbox claims (SQLite: the same statements, serialised by the write lock) -------------------


def _outbox_with_rows(spec: Path | str, chats_count: int, per_chat: int) -> None:
    from storage import chats
    from storage import deliveries as outbox
    from storage.db import open_store

    db = open_store(spec)
    now = datetime.now(UTC) - timedelta(seconds=5)
    rows = []
    for n in range(chats_count):
        chat = chats.ensure_chat(db, "telegram", str(5000 + n), kind="private")
        for k in range(per_chat):
            story = db.insert(
                "stories",
                {
                    "title": f"t{n}-{k}",
                    "fetched_at": now.isoformat(),
                    "content_hash": f"h{n}-{k}",
                },
            )
            rows.append(
                outbox.QueuedDelivery(
                    chat_id=chat.id,
                    story_id=story,
                    cluster_id=story,
                    platform="telegram",
                    reasons=[],
                    subscription_ids=[],
                    thread_id=None,
                    sources_count=1,
                )
            )
    outbox.queue_deliveries(db, rows, now)
    db.close()


def test_claims_on_sqlite_keep_a_chat_with_one_worker(tmp_path: Path) -> None:
    from storage.db import open_database

    path = tmp_path / "newsbot.db"
    _outbox_with_rows(path, chats_count=10, per_chat=3)
    one, two = open_database(path), open_database(path)
    now = datetime.now(UTC)
    lease = now + timedelta(seconds=30)
    first = coordination.claim_due(one, "w1", "telegram", now, lease, 15)
    second = coordination.claim_due(two, "w2", "telegram", now, lease, 100)
    assert first and second and not set(first) & set(second)
    owner = {
        row[0]: row[1]
        for row in one.execute(
            "SELECT chat_id, group_concat(DISTINCT claimed_by) FROM deliveries GROUP BY chat_id"
        ).fetchall()
    }
    assert all("," not in str(who) for who in owner.values())  # never two workers per chat
    assert len(first) + len(second) == 30
    # A worker that dies: its lease runs out and its rows go to the other.
    assert coordination.release_claims(two, "w2") == len(second)
    later = now + timedelta(seconds=31)
    taken = coordination.claim_due(two, "w2", "telegram", later, later + timedelta(seconds=30), 100)
    assert set(taken) == set(first) | set(second)


def test_a_source_poll_is_taken_once_and_only_with_the_current_epoch(tmp_path: Path) -> None:
    from storage import sources as source_store
    from storage.db import open_database

    db = open_database(tmp_path / "newsbot.db")
    source, _ = source_store.add_source(db, "https://feeds.example/a.xml")
    db.execute(
        "INSERT INTO cluster_leader (role, epoch, holder, since) VALUES ('ingest', 2, 'b', 'x')"
    )
    now = datetime.now(UTC) + timedelta(seconds=1)
    lease = now + timedelta(minutes=2)
    stale = coordination.claim_source_poll(db, source.id, now, lease, role="ingest", epoch=1)
    assert not stale  # a deposed leader takes nothing
    assert coordination.claim_source_poll(db, source.id, now, lease, role="ingest", epoch=2)
    again = coordination.claim_source_poll(db, source.id, now, lease, role="ingest", epoch=2)
    assert not again  # taken: not due until the poll records its next check (or the lease ends)
    after = lease + timedelta(seconds=1)
    later = coordination.claim_source_poll(
        db, source.id, after, after + timedelta(minutes=2), role="ingest", epoch=2
    )
    assert later  # a poll cut short by a crash is taken again after the lease


# -- two deliver workers draining one outbox -----------------------------------------------------


async def _fake_api_bot(tg: FakeTelegram, token: str, pool: int) -> Any:
    """A python-telegram-bot ``ExtBot`` talking real HTTP to the fake Bot API, initialized."""
    from telegram.ext import ExtBot
    from telegram.request import HTTPXRequest

    bot = ExtBot(
        token,
        base_url=tg.api_url,
        base_file_url=tg.file_url,
        request=HTTPXRequest(connection_pool_size=pool),
    )
    await bot.initialize()
    return bot


async def _drain_with_two_workers(db_spec: str, expected: int) -> list[tuple[str, str]]:
    """Two claiming workers (two connections, as two processes) drain concurrently; returns the
    (chat, text) of every message the fake Bot API accepted."""

    from bot.cluster.outbox import ClaimingDeliveryWorker
    from bot.transports.telegram import TelegramTransport
    from storage import deliveries as outbox
    from storage.db import DatabaseWorker
    from tests.fakes.telegram_api import FakeTelegram

    with FakeTelegram() as tg:
        databases = [DatabaseWorker(db_spec), DatabaseWorker(db_spec)]
        workers = []
        bots = []
        for n, db in enumerate(databases):
            await db.start()
            bot = await _fake_api_bot(tg, "123:CLAIMS", 64)
            bots.append(bot)
            workers.append(
                ClaimingDeliveryWorker(
                    db,
                    {"telegram": TelegramTransport(bot)},
                    worker_id=f"w{n}",
                    batch=7,  # small claims: the two interleave many times
                    updates=False,
                    digests=False,
                )
            )

        async def drain_until_done(worker: ClaimingDeliveryWorker) -> None:
            while True:
                await worker.drain()
                counts = await worker.db.call(outbox.counts_by_status)
                if not counts.get(("telegram", "pending")) and not counts.get(
                    ("telegram", "sending")
                ):
                    return

        await asyncio.wait_for(asyncio.gather(*(drain_until_done(w) for w in workers)), 120)
        senders = await databases[0].call(
            lambda db: db.execute(
                "SELECT count(DISTINCT claimed_by) FROM deliveries WHERE status = 'sent'"
            ).fetchone()[0]
        )
        assert senders == 2  # both took part
        for bot in bots:
            await bot.shutdown()
        for db in databases:
            await db.close()
        sent = [(str(c.params["chat_id"]), str(c.params["text"])) for c in tg.sent_messages()]
    assert len(set(sent)) == expected
    return sent


async def test_two_deliver_workers_never_send_one_row_twice_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "newsbot.db"
    _outbox_with_rows(path, chats_count=40, per_chat=2)
    sent = await _drain_with_two_workers(str(path), 80)
    assert len(sent) == 80


async def test_two_deliver_workers_never_send_one_row_twice_postgres(coordination_url: str) -> None:
    _outbox_with_rows(coordination_url, chats_count=40, per_chat=2)
    sent = await _drain_with_two_workers(coordination_url, 80)
    assert len(sent) == 80


async def test_one_pass_claims_again_while_its_last_chats_still_send(
    coordination_url: str,
) -> None:
    """Claims of 5 alerts, 24 due: one pass takes them all (the next claim is made as soon as
    every chat of the last one has started, leaving out the chats still being served), and
    each chat still receives its alerts in order, each once."""

    from bot.cluster.outbox import ClaimingDeliveryWorker
    from bot.transports.telegram import TelegramTransport
    from storage.db import DatabaseWorker

    _outbox_with_rows(coordination_url, chats_count=12, per_chat=2)
    with FakeTelegram() as tg:
        db = DatabaseWorker(coordination_url)
        await db.start()
        bot = await _fake_api_bot(tg, "123:STREAM", 16)
        worker = ClaimingDeliveryWorker(
            db,
            {"telegram": TelegramTransport(bot)},
            worker_id="w1",
            batch=5,
            concurrency=3,
            updates=False,
            digests=False,
        )
        report = await asyncio.wait_for(worker.drain(), 120)
        await bot.shutdown()
        await db.close()
        sent = [(str(c.params["chat_id"]), str(c.params["text"])) for c in tg.sent_messages()]
    assert (report.sent, worker.last_claimed, len(set(sent)), len(sent)) == (24, 24, 24, 24)
    for n in range(12):
        texts = [text for who, text in sent if who == str(5000 + n)]
        assert len(texts) == 2 and f"t{n}-0" in texts[0] and f"t{n}-1" in texts[1]


def test_a_claim_leaves_out_the_chats_still_being_served(tmp_path: Path) -> None:
    from storage.db import open_database

    path = tmp_path / "newsbot.db"
    _outbox_with_rows(path, chats_count=4, per_chat=1)
    db = open_database(path)
    chats = [row[0] for row in db.execute("SELECT id FROM chats ORDER BY id").fetchall()]
    now = datetime.now(UTC)
    lease = now + timedelta(seconds=30)
    taken = coordination.claim_due(db, "w1", "telegram", now, lease, 100, chats[:3])
    owners = db.execute(
        f"SELECT chat_id FROM deliveries WHERE id IN ({', '.join('?' for _ in taken)})", taken
    ).fetchall()
    assert [row[0] for row in owners] == [chats[3]]


def test_claims_on_postgres_skip_rows_another_process_holds(coordination_url: str) -> None:
    """Row locks held by one process's open transaction are skipped, not waited for."""
    from storage.db import open_store

    _outbox_with_rows(coordination_url, chats_count=6, per_chat=1)
    holder, claimer = open_store(coordination_url), open_store(coordination_url)
    now = datetime.now(UTC)
    lease = now + timedelta(seconds=30)
    with holder.atomic():
        locked = [
            row[0]
            for row in holder.execute(
                "SELECT id FROM deliveries ORDER BY id LIMIT 2 FOR UPDATE"
            ).fetchall()
        ]
        started = time.monotonic()
        taken = coordination.claim_due(claimer, "w2", "telegram", now, lease, 100)
        assert time.monotonic() - started < 2
    assert len(taken) == 4 and not set(taken) & set(locked)
    holder.close()
    claimer.close()


# -- the leader's matcher follows subscription changes made elsewhere ----------------------------


async def test_a_subscription_made_elsewhere_reaches_the_matcher_within_two_seconds(
    coordination_url: str,
) -> None:
    """As in the ingest leader: a NOTIFY from the database makes the pipeline recompile its
    subscriptions, with no story being processed; the change is made by another connection (a
    ``web`` process answering /subscribe)."""
    from bot.pipeline.classify import TopicModel
    from bot.pipeline.query import parse_query
    from bot.pipeline.run import Pipeline
    from storage import chats, subscriptions
    from storage.db import DatabaseWorker, open_store

    db = DatabaseWorker(coordination_url)
    await db.start()
    pipeline = Pipeline(await asyncio.to_thread(TopicModel.load, None))
    await db.call(pipeline.refresh)
    listener = Listener(coordination_url)

    async def refresh(_payload: str) -> None:
        await db.call(pipeline.refresh)

    listener.on(SUBSCRIPTIONS_CHANNEL, refresh)
    await listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 10)
        web = open_store(coordination_url)
        chat = chats.ensure_chat(web, "telegram", "777", kind="private")
        sub, _ = subscriptions.add_subscription(
            web,
            chat.id,
            kind="query",
            query="harbour cranes",
            canonical=parse_query("harbour cranes").canonical(),
        )
        web.close()
        started = time.monotonic()
        while time.monotonic() - started < 2:
            compiled = pipeline._compiled
            if compiled is not None and sub.id in compiled.subscriptions:
                break
            await asyncio.sleep(0.02)
        compiled = pipeline._compiled
        assert compiled is not None and sub.id in compiled.subscriptions
    finally:
        await listener.stop()
        await db.close()


async def test_a_channel_pace_holds_across_processes(coordination_url: str) -> None:
    """Slack's one message a second per channel, kept in the database: two processes sending to
    one channel take turns; a channel's "retry after" holds both."""
    budgets = [SharedBudget(coordination_url, "slack:test", Rate(50.0)) for _ in range(2)]
    pacers = [SharedPacer(budget, shared_keys=True) for budget in budgets]
    started = time.monotonic()
    for pacer in pacers:
        await pacer.wait("C1", Rate(1.0))
    assert 0.8 < time.monotonic() - started < 2.0  # the second waited for the channel
    pacers[0].pause(1.5, "C1")
    await asyncio.gather(*pacers[0]._pending)
    started = time.monotonic()
    await pacers[1].wait("C1", Rate(1.0))
    assert time.monotonic() - started > 1.2
    for budget in budgets:
        await budget.close()


def test_each_role_runs_its_own_parts_on_postgres(tmp_path: Path, coordination_url: str) -> None:
    """Real processes: ``web`` serves /healthz (no scheduler of its own to wait for); ``deliver``
    opens no port; a second ``ingest`` stands by while the first leads; SIGTERM stops each."""
    from benchmarks.scale_out import _env

    with FakeTelegram() as tg:
        env = _env(coordination_url, tmp_path, tg.api_url)
        env.update(NEWSBOT_HTTP_PORT="0")
        _run_every_role(tmp_path, env, tg)


def _run_every_role(tmp_path: Path, env: dict[str, str], tg: FakeTelegram) -> None:
    import re
    import signal
    import urllib.request

    from benchmarks.scale_out import Processes, wait_for_line

    processes = Processes(tmp_path, env)
    try:
        web, web_log = processes.start("web")
        deliver, deliver_log = processes.start("deliver")
        first, first_log = processes.start("ingest")
        wait_for_line(first_log, "event=leader_elected", first, 90)
        second, second_log = processes.start("ingest")
        wait_for_line(second_log, "event=leader_standby", second, 90)
        wait_for_line(web_log, "event=http_started", web, 90)
        port = re.search(r"event=http_started host=\S+ port=(\d+)", web_log.read_text())
        assert port is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{port[1]}/healthz", timeout=10) as reply:
            assert reply.status == 200
        time.sleep(1.0)
        assert deliver.poll() is None
        assert "event=http_started" not in deliver_log.read_text()
        assert "event=leader_elected" not in second_log.read_text()
        polling = [c for c in tg.calls if c.method == "getUpdates"]
        assert polling  # the leader long-polls (one consumer per token)
        for process in (web, deliver, first, second):
            process.send_signal(signal.SIGTERM)
        for process in (web, deliver, first, second):
            assert process.wait(timeout=30) == 0
    finally:
        processes.stop()
