"""Database facts for ``newsbot db stats`` and ``/admin health``."""

from __future__ import annotations

from pathlib import Path

from storage.engine import Store

TABLES = ("sources", "stories", "chats", "subscriptions", "deliveries", "audit_log")


def file_sizes(path: Path | str) -> dict[str, int]:
    sizes = {}
    for suffix, label in (("", "database_bytes"), ("-wal", "wal_bytes")):
        candidate = Path(str(path) + suffix).expanduser()
        sizes[label] = candidate.stat().st_size if candidate.exists() else 0
    return sizes


def database_sizes(db: Store, path: Path | str) -> dict[str, int]:
    """The database's size on disk: the SQLite file and its WAL, or what PostgreSQL reports
    for the database (its write-ahead log is the server's, shared, so counted as 0)."""
    if db.dialect == "postgresql":
        size = db.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        return {"database_bytes": int(size), "wal_bytes": 0}
    return file_sizes(path)


def database_stats(db: Store, path: Path | str) -> dict[str, object]:
    stats: dict[str, object] = {f"{table}_rows": db.count(table) for table in TABLES}
    stats.update(database_sizes(db, path))
    from storage.db import pending_migrations

    stats["pending_migrations"] = len(pending_migrations(db))
    return stats


def holds_no_data(db: Store) -> bool:
    """No sources, chats or stories yet: a database nobody has used (the demo may fill it)."""
    return all(
        db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None
        for table in ("sources", "chats", "stories")
    )


def checkpoint(db: Store) -> None:
    """Fold SQLite's WAL back into the file (PostgreSQL checkpoints on its own)."""
    if db.dialect == "sqlite":
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
