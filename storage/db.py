"""Opening the database (SQLite file or PostgreSQL URL), migrations, and the bot's executor.

``NEWSBOT_DB`` is a path (SQLite, the default) or a ``postgresql://`` URL; :func:`open_store`
picks the engine and every caller gets a :class:`~storage.engine.Store`.

SQLite allows one writer at a time. Inside the bot every database call goes through
:class:`DatabaseWorker`; on SQLite that is a single thread that owns the connection (the
pattern of datasette's ``execute_write_fn``), so the asyncio loop never blocks on SQLite and
writes never race. Other processes (``newsbot ingest``) open their own connection; the busy
timeout makes them wait their turn instead of failing. On PostgreSQL the worker holds a
connection pool and runs a few calls at once, each on its own pooled connection.
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
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from sqlite_utils import Database

from storage.engine import PostgresStore, SqliteStore, Store, is_postgres_url
from storage.migrations import MIGRATIONS, apply_postgres, pending_postgres

BUSY_TIMEOUT_MS = 30_000

P = ParamSpec("P")
T = TypeVar("T")


class StorageFullError(RuntimeError):
    """The disk (or the database's size limit) is full: nothing of the batch was stored."""


def is_storage_full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return "full" in str(exc).lower()
    return type(exc).__name__ in ("DiskFull", "OutOfMemory") and _is_psycopg_error(exc)


def is_database_busy(exc: BaseException) -> bool:
    """A lock held by another writer (SQLite) or a lost connection (PostgreSQL): a condition
    that passes, unlike a bad input."""
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return "locked" in message or "busy" in message
    if not _is_psycopg_error(exc):
        return False
    import psycopg

    return isinstance(exc, psycopg.OperationalError | psycopg.errors.LockNotAvailable)


def is_database_error(exc: BaseException) -> bool:
    """Raised by either engine's driver (not by our own code)."""
    return isinstance(exc, sqlite3.Error) or _is_psycopg_error(exc)


def _is_psycopg_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("psycopg")


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


class DatabaseUrlError(ValueError):
    """``NEWSBOT_DB`` names no database this program can open (the message says why)."""


def describe_target(url_or_path: Path | str) -> str:
    """The database as shown in messages: a URL without its password."""
    text = str(url_or_path)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def check_target(url_or_path: Path | str) -> None:
    """Refuse a URL of another scheme (``mysql://``) instead of making a file named like it."""
    text = str(url_or_path)
    if "://" in text and not is_postgres_url(text):
        scheme = text.split("://", 1)[0]
        raise DatabaseUrlError(
            f"unknown database scheme {scheme}:// in {describe_target(text)!r}: NEWSBOT_DB is "
            "a SQLite file path or a postgresql://USER:PASSWORD@HOST:PORT/DBNAME URL"
        )


def open_store(url_or_path: Path | str, *, migrate: bool = True) -> Store:
    """Open the database ``NEWSBOT_DB`` names: a SQLite file path or a ``postgresql://`` URL."""
    check_target(url_or_path)
    if is_postgres_url(url_or_path):
        return open_postgres(str(url_or_path), migrate=migrate)
    return open_database(url_or_path, migrate=migrate)


def open_postgres(url: str, *, migrate: bool = True) -> PostgresStore:
    import psycopg

    store = PostgresStore(psycopg.connect(url, autocommit=True))
    if migrate:
        apply_postgres(store)
    return store


def open_database(path: Path | str, *, migrate: bool = True) -> SqliteStore:
    """Open (creating if needed) the SQLite database at ``path`` with WAL and a busy timeout."""
    if str(path) != ":memory:":
        path = Path(path).expanduser()  # NEWSBOT_DB is text (a path or a URL): ~ is ours to expand
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if str(path) != ":memory:":
        db.enable_wal()
    # Autocommit per statement; multi-row changes use atomic() or write_transaction().
    db.conn.isolation_level = None
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    if migrate:
        MIGRATIONS.apply(db)
    return SqliteStore(db)


@contextmanager
def write_transaction(db: Store) -> Iterator[Store]:
    """A transaction for a read that decides a write (is this story new?).

    On SQLite it takes the write lock at once (``BEGIN IMMEDIATE``), see
    :meth:`SqliteStore.write_transaction`; on PostgreSQL it is a plain transaction.
    """
    with db.write_transaction():
        yield db


def pending_migrations(db: Store) -> list[str]:
    if isinstance(db, PostgresStore):
        return pending_postgres(db)
    assert isinstance(db, SqliteStore)
    return [migration.name for migration in MIGRATIONS.pending(db.db)]


def apply_migrations(db: Store) -> None:
    if isinstance(db, PostgresStore):
        apply_postgres(db)
    else:
        assert isinstance(db, SqliteStore)
        MIGRATIONS.apply(db.db)


def backup_database(db: SqliteStore, target: Path) -> Path:
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
    """Runs every database call of the bot off the event loop.

    SQLite: one thread that owns the one connection (writes never race). PostgreSQL: a
    ``psycopg_pool.ConnectionPool`` and a few threads, each call on its own pooled connection
    wrapped as a :class:`PostgresStore`, so several calls run at once.
    """

    POSTGRES_THREADS = 4

    def __init__(self, url_or_path: Path | str) -> None:
        check_target(url_or_path)
        self.path = url_or_path
        self.dialect = "postgresql" if is_postgres_url(url_or_path) else "sqlite"
        threads = self.POSTGRES_THREADS if self.dialect == "postgresql" else 1
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="newsbot-db")
        self._db: SqliteStore | None = None
        self._connections: Any = None
        self._connections_lock = threading.Lock()
        self._thread_id: int | None = None

    def _open(self) -> SqliteStore:
        if self._db is None:
            self._db = open_database(self.path)
            self._thread_id = threading.get_ident()
        return self._db

    def _open_pool(self) -> Any:
        with self._connections_lock:
            if self._connections is None:
                from psycopg_pool import ConnectionPool

                url = str(self.path)
                open_postgres(url).close()  # migrations, once, before the pool opens
                pool = ConnectionPool(
                    url,
                    min_size=1,
                    max_size=self.POSTGRES_THREADS,
                    kwargs={"autocommit": True},
                    # A connection the server dropped (a restart) is replaced, not handed out.
                    check=ConnectionPool.check_connection,
                    open=False,
                    name="newsbot",
                )
                pool.open(wait=True, timeout=30)
                self._connections = pool
            return self._connections

    def _run(self, fn: Callable[..., T], args: tuple[object, ...], kwargs: dict[str, Any]) -> T:
        if self.dialect == "sqlite":
            return fn(self._open(), *args, **kwargs)
        with self._open_pool().connection() as conn:
            return fn(PostgresStore(conn, owned=False), *args, **kwargs)

    async def start(self) -> None:
        await self.call(lambda db: None)

    async def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``fn(db, *args, **kwargs)`` on a database thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: self._run(fn, args, kwargs))

    def call_sync(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """The same from synchronous code in another thread (never from the loop itself)."""
        return self._executor.submit(lambda: self._run(fn, args, kwargs)).result()

    async def close(self) -> None:
        def _close(db: Store) -> None:
            db.close()
            self._db = None

        if self._db is not None:
            await self.call(_close)
        if self._connections is not None:
            pool, self._connections = self._connections, None
            await asyncio.get_running_loop().run_in_executor(self._executor, pool.close)
        self._executor.shutdown(wait=True)
