"""Database facts for ``newsbot db stats`` and ``/admin health``."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

TABLES = ("sources", "stories", "chats", "subscriptions", "deliveries", "audit_log")


def file_sizes(path: Path) -> dict[str, int]:
    sizes = {}
    for suffix, label in (("", "database_bytes"), ("-wal", "wal_bytes")):
        candidate = Path(str(path) + suffix)
        sizes[label] = candidate.stat().st_size if candidate.exists() else 0
    return sizes


def database_stats(db: Database, path: Path) -> dict[str, object]:
    stats: dict[str, object] = {f"{table}_rows": db[table].count for table in TABLES}
    stats.update(file_sizes(path))
    from storage.db import pending_migrations

    stats["pending_migrations"] = len(pending_migrations(db))
    return stats
