"""newsbot past one machine: one ``ingest`` leader and 1, 2 or 4 ``deliver`` processes on PostgreSQL.

Everything runs for real: PostgreSQL 15 in a temporary folder (benchmarks/pgserver.py), each role
a ``newsbot run --role ...`` subprocess, and the fake Bot API in a process of its own enforcing
Telegram's flood limits (30 sends in any second per token, one a second per private chat with a
burst of 3; 429 beyond them). The alerts are queued into the outbox as matching queues them
(one transaction); the deliver processes are woken by the database's NOTIFY.

For each number of deliver processes: total throughput (first to last accepted send, as the fake
timed them), the busiest second, 429s received, alerts lost (queued, never received: must be 0)
and duplicates. Then store-to-send latency (from the commit of an outbox row to the fake
receiving it, alerts queued one at a time a few hundred ms apart, so no rate limit holds them):
with 1 and 2 deliver processes, and on SQLite with the whole bot in one process (``--role all``).

    .venv/bin/python -m benchmarks.scale_out            # 2,000 alerts to 1,000 chats, 1/2/4
    .venv/bin/python -m benchmarks.scale_out --quick    # 300 alerts to 150 chats, 1 and 2

Telegram's per-token budget is the ceiling (30 msg/s), whatever the number of processes: more
deliver processes buy failover and headroom for rendering and database work, not speed.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.pgserver import TemporaryPostgres
from benchmarks.telegram_fanout import busiest_second
from storage import chats as chat_store
from storage import deliveries as outbox
from storage import stories as story_store
from storage.db import open_store
from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123:SCALEOUT"
ROOT = Path(__file__).resolve().parent.parent


# -- the fake Bot API, in a process of its own ----------------------------------------------------


@dataclass(frozen=True)
class Sent:
    chat: str
    text: str
    at: float


@dataclass(frozen=True)
class FakeReport:
    sends: list[Sent]
    rate_limited: int


def _serve_fake(conn: Connection) -> None:
    with FakeTelegram(enforce_limits=True) as fake:
        conn.send(fake.api_url)
        while conn.recv() == "report":
            sends = [
                Sent(str(c.params.get("chat_id")), str(c.params.get("text", "")), c.timestamp)
                for c in fake.sent_messages()
            ]
            conn.send(FakeReport(sends, fake.rate_limited))
    conn.close()


class Fake:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._ours, theirs = context.Pipe()
        self._process = context.Process(target=_serve_fake, args=(theirs,), daemon=True)
        self._process.start()
        self.api_url: str = self._ours.recv()

    def report(self) -> FakeReport:
        self._ours.send("report")
        result: FakeReport = self._ours.recv()
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._ours.send("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()


# -- newsbot processes ----------------------------------------------------------------------------


def _env(db: str, folder: Path, api_url: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_", "SLACK_"))
    }
    env.update(
        NEWSBOT_DB=db,
        NEWSBOT_INBOX=str(folder / "inbox"),
        NEWSBOT_HTTP_PORT="-1",
        NEWSBOT_LOG_LEVEL="INFO",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api_url,
        PYTHONUNBUFFERED="1",
    )
    return env


class Processes:
    """``newsbot run --role R`` subprocesses, each logging to its own file."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []
        (folder / ".env").touch()

    def start(self, role: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.folder / f"{role}-{len(self.running)}.log"
        command = [sys.executable, "-m", "bot", "--env-file", str(self.folder / ".env")]
        process = subprocess.Popen(
            [*command, "run", "--role", role],
            cwd=self.folder,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )
        self.running.append((process, log))
        return process, log

    def stop(self) -> None:
        for process, _log in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _log in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.running.clear()


def wait_for_line(log: Path, marker: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and marker in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{log.name} exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    raise TimeoutError(f"{log.name}: no {marker!r} within {timeout} s")


# -- the data -------------------------------------------------------------------------------------


def seed(db: str, chats: int, stories: int) -> tuple[list[int], list[int]]:
    """Private chats and stories (as ingest stores them); returns (chat ids, story ids)."""
    store = open_store(db)
    now = datetime.now(UTC)
    chat_ids = [
        chat_store.ensure_chat(store, "telegram", str(2_000_000 + n), kind="private").id
        for n in range(chats)
    ]
    story_ids = [
        story_store.insert_story(
            store,
            story_store.NewStory(
                title=f"Scale-out story {n}",
                text="Body text of the story.",
                source_id=None,
                source_name="Bench Wire",
                url=f"https://example.org/scale/{n}",
                canonical_url=f"https://example.org/scale/{n}",
                guid=None,
                published_at=now,
                fetched_at=now,
                content_hash=f"scale-{n}",
                language="en",
                summary="One alert fanned out to many chats.",
                topics=["world"],
                topic_scores={"world": 1.0},
                key_terms=["benchmark"],
            ),
        )
        for n in range(stories)
    ]
    store.close()
    return chat_ids, story_ids


def queue(store: Any, pairs: list[tuple[int, int]]) -> None:
    """Outbox rows for (chat, story) pairs in one transaction, as matching queues them."""
    rows = [
        outbox.QueuedDelivery(chat, story, story, "telegram", ["benchmark"], [])
        for chat, story in pairs
    ]
    # Due a moment ago: timestamps are stored to the second.
    outbox.queue_deliveries(store, rows, datetime.now(UTC) - timedelta(seconds=1))


def pending(store: Any) -> int:
    counts = outbox.counts_by_status(store)
    return sum(n for (platform, status), n in counts.items() if status in ("pending", "sending"))


# -- the runs -------------------------------------------------------------------------------------


@dataclass
class Throughput:
    delivers: int
    queued: int
    received: int
    unique: int
    rate: float
    busiest: int
    rate_limited: int
    wall: float

    def line(self) -> str:
        return (
            f"1 ingest + {self.delivers} deliver: {self.rate:6.2f} msg/s  "
            f"max/1s={self.busiest:<3} 429s={self.rate_limited:<4} "
            f"lost={self.queued - self.unique:<4} duplicates={self.received - self.unique:<3} "
            f"wall={self.wall:5.1f} s"
        )


@contextlib.contextmanager
def cluster(delivers: int) -> Iterator[tuple[str, Fake, Processes, Path]]:
    """A fresh database, fake and processes: one ingest leader and ``delivers`` deliver."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        TemporaryPostgres() as server,
    ):
        folder = Path(tmp)
        url = server.create_database()
        open_store(url).close()  # migrations, once, before the processes race to them
        fake = Fake()
        processes = Processes(folder, _env(url, folder, fake.api_url))
        try:
            leader, log = processes.start("ingest")
            wait_for_line(log, "event=leader_elected", leader, 120)
            for _ in range(delivers):
                process, log = processes.start("deliver")
                wait_for_line(log, "event=telegram_started", process, 120)
            yield url, fake, processes, folder
        finally:
            processes.stop()
            fake.close()


def run_throughput(delivers: int, chats: int, per_chat: int, timeout: float) -> Throughput:
    with cluster(delivers) as (url, fake, _processes, _folder):
        chat_ids, story_ids = seed(url, chats, per_chat)
        store = open_store(url)
        queue(store, [(c, s) for s in story_ids for c in chat_ids])
        started = time.monotonic()
        while pending(store) and time.monotonic() - started < timeout:
            time.sleep(0.25)
        wall = time.monotonic() - started
        store.close()
        report = fake.report()
    sends = report.sends
    times = sorted(s.at for s in sends)
    unique = len({(s.chat, s.text) for s in sends})
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return Throughput(
        delivers,
        chats * per_chat,
        len(sends),
        unique,
        rate,
        busiest_second(times),
        report.rate_limited,
        wall,
    )


def measure_latency(db: str, fake: Fake, alerts: int, gap: float) -> tuple[float, float]:
    """Alerts queued one at a time ``gap`` apart to chats of their own; (p50, p95) seconds from
    each commit to the fake receiving it."""
    chat_ids, story_ids = seed(db, alerts, 1)
    external = {cid: str(2_000_000 + n) for n, cid in enumerate(chat_ids)}
    store = open_store(db)
    committed: dict[str, float] = {}
    for chat in chat_ids:
        queue(store, [(chat, story_ids[0])])
        committed[external[chat]] = time.time()
        time.sleep(gap)
    deadline = time.monotonic() + 30
    while pending(store) and time.monotonic() < deadline:
        time.sleep(0.1)
    store.close()
    arrived = {s.chat: s.at for s in fake.report().sends}
    latencies = sorted(arrived[c] - t for c, t in committed.items() if c in arrived)
    if len(latencies) < len(committed):
        raise RuntimeError(f"{len(committed) - len(latencies)} alerts never arrived")
    return statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))]


def latency_postgres(delivers: int, alerts: int, gap: float) -> tuple[float, float]:
    with cluster(delivers) as (url, fake, _processes, _folder):
        return measure_latency(url, fake, alerts, gap)


def latency_sqlite(alerts: int, gap: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = str(folder / "newsbot.db")
        open_store(db).close()
        fake = Fake()
        processes = Processes(folder, _env(db, folder, fake.api_url))
        try:
            process, log = processes.start("all")
            wait_for_line(log, "event=telegram_started", process, 120)
            return measure_latency(db, fake, alerts, gap)
        finally:
            processes.stop()
            fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 alerts, 1 and 2 processes")
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--per-chat", type=int, default=2, help="alerts per chat (default 2)")
    parser.add_argument("--delivers", default="1,2,4", help="deliver process counts")
    parser.add_argument("--latency-alerts", type=int, default=40)
    args = parser.parse_args()
    chats, counts, latency_alerts = args.chats, [int(n) for n in args.delivers.split(",")], 0
    latency_alerts = args.latency_alerts
    if args.quick:
        chats, counts, latency_alerts = 150, [1, 2], 20
    total = chats * args.per_chat
    print(f"{total} alerts to {chats} chats; fake Bot API: 30/s per token, 429 above")
    for delivers in counts:
        outcome = run_throughput(delivers, chats, args.per_chat, timeout=total / 10 + 60)
        print(outcome.line(), flush=True)
    print(f"store-to-send latency, {latency_alerts} alerts queued 0.3 s apart:")
    for delivers in (1, 2):
        p50, p95 = latency_postgres(delivers, latency_alerts, 0.3)
        print(f"  PostgreSQL, {delivers} deliver: p50={p50:.2f} s  p95={p95:.2f} s", flush=True)
    p50, p95 = latency_sqlite(latency_alerts, 0.3)
    print(f"  SQLite, --role all:     p50={p50:.2f} s  p95={p95:.2f} s", flush=True)


if __name__ == "__main__":
    main()
