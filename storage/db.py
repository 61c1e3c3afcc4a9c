"""Opening the SQLite database: WAL, a busy timeout, migrations, and the one-writer executor.

SQLite allows one writer at a time. Inside the bot every database call goes through
:class:`DatabaseWorker`, a single thread that owns the connection (the pattern of datasette's
``execute_write_fn``), so the asyncio loop never blocks on SQLite and writes never race. Other
processes (``newsbot ingest``) open their own connection; the busy timeout makes them wait
their turn instead of failing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from sqlite_utils import Database

from storage.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 30_000

P = ParamSpec("P")
T = TypeVar("T")


class StorageFullError(RuntimeError):
    """The disk (or the database's size limit) is full: nothing of the batch was stored."""


def is_storage_full(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime | None) -> str | None:
    """Timestamps are stored as ISO 8601 UTC strings, which sort and compare as text."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def open_database(path: Path | str, *, migrate: bool = True) -> Database:
    """Open (creating if needed) the database at ``path`` with WAL and a busy timeout."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if str(path) != ":memory:":
        db.enable_wal()
    # Autocommit per statement; multi-row changes use db.atomic() or write_transaction().
    db.conn.isolation_level = None
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    if migrate:
        MIGRATIONS.apply(db)
    return db


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """A transaction that takes the write lock at once (``BEGIN IMMEDIATE``).

    Used where a read decides a write (is this story new?) while another process may be
    writing: a deferred transaction could read, then fail to upgrade its lock; an immediate one
    waits its turn under the busy timeout and then sees the latest data.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def pending_migrations(db: Database) -> list[str]:
    return [migration.name for migration in MIGRATIONS.pending(db)]


def backup_database(db: Database, target: Path) -> Path:
    """Copy the live database to ``target`` with SQLite's online backup API.

    Safe while other connections keep writing: the backup sees one consistent snapshot.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    destination = sqlite3.connect(str(target))
    try:
        with destination:
            db.conn.backup(destination)
    finally:
        destination.close()
    return target


class DatabaseWorker:
    """Runs every database call of the bot on one thread that owns the connection."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsbot-db")
        self._db: Database | None = None
        self._thread_id: int | None = None

    def _open(self) -> Database:
        if self._db is None:
            self._db = open_database(self.path)
            self._thread_id = threading.get_ident()
        return self._db

    async def start(self) -> None:
        await self.call(lambda db: None)

    async def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``fn(db, *args, **kwargs)`` on the database thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._open(), *args, **kwargs))

    def call_sync(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """The same from synchronous code in another thread (never from the loop itself)."""
        return self._executor.submit(lambda: fn(self._open(), *args, **kwargs)).result()

    async def close(self) -> None:
        def _close(db: Database) -> None:
            db.close()
            self._db = None

        if self._db is not None:
            await self.call(_close)
        self._executor.shutdown(wait=True)
