"""One storage interface, two engines: SQLite (through sqlite-utils) and PostgreSQL (psycopg 3).

Every named query in ``storage/`` receives a :class:`Store` and writes its SQL once, with ``?``
placeholders and syntax both engines accept (``INSERT ... ON CONFLICT DO NOTHING``,
``coalesce``, ``RETURNING``). The PostgreSQL store turns ``?`` into psycopg's ``%s`` (escaping a
literal ``%``), so handlers and the pipeline never know which engine runs. Where the engines
must differ (full-text search, JSON list membership, date arithmetic, ``PRAGMA``) the named
storage function branches on :attr:`Store.dialect`; nothing outside ``storage/`` does.

Timestamps are ISO 8601 UTC text and JSON lists are text in both engines, so ordering, copying
between them and comparing rows need no conversion.
"""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlite_utils import Database

if TYPE_CHECKING:
    import psycopg

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]

# The advisory lock key of PostgresStore.write_transaction (any constant all processes share).
WRITE_LOCK_KEY = 7_160_914_001

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Cursor(Protocol):
    """What both drivers' cursors offer: rows indexable by position, and the rows changed."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


def identifier(name: str) -> str:
    """A table or column name, checked (names come from code, never from users) and quoted."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


class Store(ABC):
    """A database connection, whichever the engine: what every storage function receives."""

    dialect: Dialect

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement (``?`` placeholders); autocommits unless inside :meth:`atomic`."""

    def query(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        cursor = self.execute(sql, params)
        columns = [column[0] for column in cursor.description]
        for row in cursor.fetchall():
            yield dict(zip(columns, row, strict=True))

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement for each parameter row (bulk copies)."""

    @abstractmethod
    def atomic(self) -> Any:
        """A transaction context; nested blocks become savepoints, so callers may nest freely."""

    @abstractmethod
    def write_transaction(self) -> Any:
        """A transaction for a read that decides a write (SQLite takes the write lock at once)."""

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    @abstractmethod
    def insert(self, table: str, record: Mapping[str, Any]) -> int:
        """Insert one row and return its new ``id``."""

    @abstractmethod
    def insert_many(self, table: str, records: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows that all have the same columns, in one go; no ids are returned (give
        them in the records when they are needed)."""

    def update(self, table: str, row_id: int, changes: Mapping[str, Any]) -> int:
        """Set ``changes`` on the row with this ``id``; returns the rows changed (0 or 1)."""
        if not changes:
            return 0
        assignments = ", ".join(f"{identifier(column)} = ?" for column in changes)
        cursor = self.execute(
            f"UPDATE {identifier(table)} SET {assignments} WHERE id = ?",
            [*changes.values(), row_id],
        )
        return int(cursor.rowcount)

    def count(self, table: str) -> int:
        row = self.execute(f"SELECT count(*) FROM {identifier(table)}").fetchone()
        return int(row[0])

    @abstractmethod
    def close(self) -> None: ...

    @staticmethod
    def _insert_sql(table: str, record: Mapping[str, Any]) -> str:
        columns = ", ".join(identifier(column) for column in record)
        marks = ", ".join("?" for _ in record)
        return f"INSERT INTO {identifier(table)} ({columns}) VALUES ({marks})"


class SqliteStore(Store):
    """SQLite through sqlite-utils: one connection, autocommit per statement.

    The sqlite-utils ``Database`` stays reachable as :attr:`db` (and through attribute access,
    for tests and sqlite-only tools such as the online backup), but storage code typed as
    :class:`Store` cannot reach it: mypy keeps engine-specific calls out of the shared code.
    """

    dialect: Dialect = "sqlite"

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self.conn.execute(sql, tuple(params))

    def query(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        return self.db.query(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self.conn.executemany(sql, [tuple(row) for row in rows])

    @contextmanager
    def atomic(self) -> Iterator[SqliteStore]:
        with self.db.atomic():
            yield self

    @contextmanager
    def write_transaction(self) -> Iterator[SqliteStore]:
        """``BEGIN IMMEDIATE``: a deferred transaction could read, then fail to upgrade its
        lock while another process writes; an immediate one waits its turn under the busy
        timeout and then sees the latest data."""
        if self.conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def insert(self, table: str, record: Mapping[str, Any]) -> int:
        cursor = self.conn.execute(self._insert_sql(table, record), tuple(record.values()))
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def insert_many(self, table: str, records: Sequence[Mapping[str, Any]]) -> None:
        if records:
            self.conn.executemany(
                self._insert_sql(table, records[0]), [tuple(r.values()) for r in records]
            )

    def close(self) -> None:
        self.db.close()

    # sqlite-utils' own API for tests and SQLite-only tools (never used by storage functions).
    def __getitem__(self, name: str) -> Any:
        return self.db[name]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


@lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s``, a literal ``%`` doubled; quoted text untouched
    (a ``?`` inside a string literal or a quoted name is no placeholder)."""
    out: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(sql):
        char = sql[index]
        if char == "%":
            out.append("%%")
        elif quote is not None:
            out.append(char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "-" and sql.startswith("--", index):
            end = sql.find("\n", index)
            end = len(sql) if end < 0 else end
            out.append(sql[index:end].replace("%", "%%"))
            index = end
            continue
        elif char == "?":
            out.append("%s")
        else:
            out.append(char)
        index += 1
    return "".join(out)


class PostgresStore(Store):
    """One psycopg 3 connection in autocommit mode (a pooled one inside the bot)."""

    dialect: Dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], *, owned: bool = True) -> None:
        self.conn = conn
        self._owned = owned
        self._holds_write_lock = False

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        cursor = self.conn.cursor()
        if params:
            cursor.execute(to_pyformat(sql), tuple(params))
        else:
            cursor.execute(sql)
        return cursor

    def query(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        from psycopg.rows import dict_row

        cursor = self.conn.cursor(row_factory=dict_row)
        if params:
            cursor.execute(to_pyformat(sql), tuple(params))
        else:
            cursor.execute(sql)
        return iter(cursor.fetchall())

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(to_pyformat(sql), [tuple(row) for row in rows])

    @contextmanager
    def atomic(self) -> Iterator[PostgresStore]:
        with self.conn.transaction():
            yield self

    @contextmanager
    def write_transaction(self) -> Iterator[PostgresStore]:
        """A transaction holding the writers' advisory lock until it ends.

        What ``BEGIN IMMEDIATE`` gives on SQLite: the pipeline reads (is this story new? which
        stories came since?) and then writes on that reading, so two such transactions, in
        two processes or two pooled connections, must not interleave; stories also commit in
        id order, which the pipeline's catch-up relies on. Other writes stay concurrent.
        """
        with self.atomic():
            if not self._holds_write_lock:
                self.execute("SELECT pg_advisory_xact_lock(?)", [WRITE_LOCK_KEY])
            outer, self._holds_write_lock = self._holds_write_lock, True
            try:
                yield self
            finally:
                self._holds_write_lock = outer

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def insert(self, table: str, record: Mapping[str, Any]) -> int:
        row = self.execute(self._insert_sql(table, record) + " RETURNING id", list(record.values()))
        return int(row.fetchone()[0])

    def insert_many(self, table: str, records: Sequence[Mapping[str, Any]]) -> None:
        """``COPY``: the rows reach the server as one stream, parsed once, instead of an
        ``INSERT`` (and a round trip) per row."""
        if not records:
            return
        columns = ", ".join(identifier(column) for column in records[0])
        with (
            self.conn.cursor() as cursor,
            cursor.copy(f"COPY {identifier(table)} ({columns}) FROM STDIN") as copy,
        ):
            for record in records:
                copy.write_row(tuple(record.values()))

    def close(self) -> None:
        if self._owned:
            self.conn.close()


def is_unique_violation(exc: BaseException) -> bool:
    """A UNIQUE key refused the row (either driver): another caller stored it first."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    return type(exc).__name__ == "UniqueViolation" and type(exc).__module__.startswith("psycopg")


def is_postgres_url(url_or_path: object) -> bool:
    text = str(url_or_path)
    return text.startswith(("postgresql://", "postgres://"))
