"""A small key-value table for service facts: last successful poll, subscription version."""

from __future__ import annotations

from storage.db import to_iso, utcnow
from storage.engine import Store

SUBSCRIPTIONS_VERSION = "subscriptions_version"
"""Bumped whenever the set of active subscriptions may have changed, in any process."""


def set_value(db: Store, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO service_state (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        [key, value, to_iso(utcnow())],
    )


def get_value(db: Store, key: str, default: str | None = None) -> str | None:
    row = db.execute("SELECT value FROM service_state WHERE key = ?", [key]).fetchone()
    return str(row[0]) if row else default


def bump(db: Store, key: str) -> int:
    """Increment a counter (e.g. the subscriptions version other processes watch).

    One statement, so two concurrent bumps (PostgreSQL runs calls in parallel) never both
    write the same value and lose a change a matcher must see.
    """
    row = db.execute(
        "INSERT INTO service_state (key, value, updated_at) VALUES (?, '1', ?) "
        "ON CONFLICT (key) DO UPDATE SET "
        "value = CAST(CAST(coalesce(nullif(service_state.value, ''), '0') AS INTEGER) + 1 AS TEXT), "
        "updated_at = excluded.updated_at RETURNING value",
        [key, to_iso(utcnow())],
    ).fetchall()[0]  # read to the end: SQLite finishes a RETURNING statement only then
    return int(row[0])


def take_value(db: Store, key: str) -> str | None:
    """Claim a one-time value (a broadcast's confirmation token): return it and clear it.

    Two presses of the same confirm button run concurrently; reading the value and clearing it
    in two steps lets both see it. The clearing UPDATE is conditional on the value still being
    there, so exactly one caller gets ``rowcount == 1`` and the value; every other gets None.
    """
    value = get_value(db, key)
    if not value:
        return None
    cursor = db.execute(
        "UPDATE service_state SET value = '', updated_at = ? WHERE key = ? AND value = ?",
        [to_iso(utcnow()), key, value],
    )
    return value if cursor.rowcount == 1 else None
