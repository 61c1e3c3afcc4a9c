"""A small key-value table for service facts: last successful poll, subscription version."""

from __future__ import annotations

from sqlite_utils import Database

from storage.db import to_iso, utcnow

SUBSCRIPTIONS_VERSION = "subscriptions_version"
"""Bumped whenever the set of active subscriptions may have changed, in any process."""


def set_value(db: Database, key: str, value: str) -> None:
    db.table("service_state").upsert(
        {"key": key, "value": value, "updated_at": to_iso(utcnow())}, pk="key"
    )


def get_value(db: Database, key: str, default: str | None = None) -> str | None:
    rows = list(db.table("service_state").rows_where("key = ?", [key], limit=1))
    return rows[0]["value"] if rows else default


def bump(db: Database, key: str) -> int:
    """Increment a counter (e.g. the subscriptions version other processes watch)."""
    value = int(get_value(db, key, "0") or 0) + 1
    set_value(db, key, str(value))
    return value


def take_value(db: Database, key: str) -> str | None:
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
