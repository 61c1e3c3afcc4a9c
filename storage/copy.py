"""``newsbot db copy SRC DST``: every table of one database into an empty one, either engine.

An install that started on SQLite moves to PostgreSQL (and back) without losing sources,
subscriptions, stories or the outbox: ids are kept (so outbox rows still point at their chat
and story, and a chat's alerts keep their order), counts are checked table by table, and on
PostgreSQL each identity sequence is moved past the highest copied id so new rows never
collide. The copy is one transaction on DST: a failure leaves DST as empty as it was.

Tables are found at run time (every table both databases share, parents before the tables
that reference them), so tables added by later migrations are copied without a change here.
Derived data is not copied but rebuilt by DST itself: SQLite's FTS5 index by its triggers,
PostgreSQL's generated ``tsvector`` column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from storage.engine import Store, identifier, is_postgres_url

BATCH_ROWS = 2000
# Bookkeeping of each engine, never copied: migration records (DST has its own), FTS5 shadow
# tables (rebuilt by triggers) and SQLite's internal tables.
_SKIP_PREFIXES = ("_sqlite_migrations", "_newsbot_migrations", "stories_fts", "sqlite_")


class CopyError(RuntimeError):
    """The copy cannot start or did not add up; the message is one line for the terminal."""


@dataclass
class CopyReport:
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows copied


def _tables(store: Store) -> list[str]:
    if store.dialect == "postgresql":
        rows = store.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        ).fetchall()
    else:
        rows = store.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return sorted(str(r[0]) for r in rows if not str(r[0]).startswith(_SKIP_PREFIXES))


def _columns(store: Store, table: str) -> list[str]:
    """Columns a row can be written to (PostgreSQL's generated ``search_vector`` is not)."""
    if store.dialect == "postgresql":
        rows = store.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? AND is_generated = 'NEVER' ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return [str(r[0]) for r in rows]
    return [str(r[1]) for r in store.execute(f"PRAGMA table_info({identifier(table)})")]


def _parents(store: Store, table: str) -> set[str]:
    """Tables ``table`` references by foreign key (copied first)."""
    if store.dialect == "postgresql":
        rows = store.execute(
            "SELECT confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = to_regclass(?)",
            [table],
        ).fetchall()
        return {str(r[0]).strip('"') for r in rows}
    return {str(r[2]) for r in store.execute(f"PRAGMA foreign_key_list({identifier(table)})")}


def _in_dependency_order(store: Store, tables: list[str]) -> list[str]:
    ordered: list[str] = []
    remaining = {t: _parents(store, t) & set(tables) - {t} for t in tables}
    while remaining:
        ready = sorted(t for t, parents in remaining.items() if parents <= set(ordered))
        if not ready:  # a reference cycle: keep the rest in name order
            ready = sorted(remaining)
        for table in ready:
            ordered.append(table)
            del remaining[table]
    return ordered


def check_source_exists(src: str | Path) -> None:
    if not is_postgres_url(src) and "://" not in str(src) and not Path(src).is_file():
        raise CopyError(f"no database at {src} (SRC must be an existing SQLite file or a URL)")


def copy_database(
    src: Store, dst: Store, *, progress: Callable[[str, int], None] | None = None
) -> CopyReport:
    """Copy every shared table of ``src`` into ``dst``, which must hold no rows."""
    src_tables = set(_tables(src))
    dst_tables = _tables(dst)
    missing = sorted(src_tables - set(dst_tables))
    if missing:
        raise CopyError(
            f"DST has no table {', '.join(missing)}: apply the same migrations to both first"
        )
    tables = _in_dependency_order(dst, [t for t in dst_tables if t in src_tables])
    filled = [t for t in tables if dst.execute(f"SELECT 1 FROM {identifier(t)} LIMIT 1").fetchone()]
    if filled:
        raise CopyError(
            f"DST is not empty (rows in {', '.join(filled)}): copy only into a new, empty database"
        )
    report = CopyReport()
    with dst.atomic():
        for table in tables:
            dst_columns = set(_columns(dst, table))
            columns = [c for c in _columns(src, table) if c in dst_columns]
            report.tables[table] = _copy_table(src, dst, table, columns)
            if progress is not None:
                progress(table, report.tables[table])
        if dst.dialect == "postgresql":
            _advance_sequences(dst, [t for t in tables if "id" in _columns(dst, t)])
    for table in tables:
        expected, copied = src.count(table), dst.count(table)
        if expected != copied:
            raise CopyError(f"{table}: {expected} rows in SRC but {copied} in DST after the copy")
    return report


def _copy_table(src: Store, dst: Store, table: str, columns: list[str]) -> int:
    names = ", ".join(identifier(c) for c in columns)
    order = " ORDER BY id" if "id" in columns else ""
    insert = f"INSERT INTO {identifier(table)} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    copied = 0
    last_id: object = None
    while True:
        # Keyset pages by id where there is one: no OFFSET rescans on a large stories table.
        if order:
            where = "" if last_id is None else " WHERE id > ?"
            params = [] if last_id is None else [last_id]
            rows = src.execute(
                f"SELECT {names} FROM {identifier(table)}{where}{order} LIMIT {BATCH_ROWS}",
                params,
            ).fetchall()
        else:
            rows = src.execute(
                f"SELECT {names} FROM {identifier(table)} LIMIT {BATCH_ROWS} OFFSET {copied}"
            ).fetchall()
        if not rows:
            return copied
        dst.executemany(insert, [tuple(row) for row in rows])
        copied += len(rows)
        if order:
            last_id = rows[-1][columns.index("id")]


def _advance_sequences(dst: Store, tables: list[str]) -> None:
    """Move each identity sequence past the copied ids (rows were inserted with their ids);
    ``tables`` are those with an ``id`` column."""
    for table in tables:
        sequence = dst.execute("SELECT pg_get_serial_sequence(?, 'id')", [table]).fetchone()
        if sequence is None or sequence[0] is None:
            continue
        dst.execute(
            f"SELECT setval(?, coalesce((SELECT max(id) FROM {identifier(table)}), 0) + 1, false)",
            [sequence[0]],
        )
