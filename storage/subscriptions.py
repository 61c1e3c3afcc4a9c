"""Named queries over ``subscriptions`` (queries and mutes)."""

from __future__ import annotations

from typing import Any

from bot.models import Subscription
from storage import state
from storage.db import to_iso, utcnow
from storage.engine import Store, is_unique_violation

VERSION_KEY = state.SUBSCRIPTIONS_VERSION


def _row_to_subscription(row: dict[str, Any]) -> Subscription:
    return Subscription(
        id=row["id"],
        chat_id=row["chat_id"],
        kind=row["kind"],
        query=row["query"],
        canonical=row["canonical"],
        thread_id=row["thread_id"],
    )


def add_subscription(
    db: Store,
    chat_id: int,
    *,
    kind: str,
    query: str,
    canonical: str,
    thread_id: str | None = None,
) -> tuple[Subscription, bool]:
    """Store a query or mute; the same canonical query twice returns the first (created=False).

    Two identical requests may run at once (PostgreSQL serves calls in parallel): the UNIQUE
    key decides, and the loser returns the winner's row.
    """
    existing = _find(db, chat_id, kind, canonical)
    if existing is not None:
        return existing, False
    try:
        with db.atomic():
            sub_id = _insert(db, chat_id, kind, query, canonical, thread_id)
            state.bump(db, VERSION_KEY)
    except Exception as exc:
        found = _find(db, chat_id, kind, canonical) if is_unique_violation(exc) else None
        if found is None:
            raise
        return found, False
    return get_subscription(db, sub_id), True


def _find(db: Store, chat_id: int, kind: str, canonical: str) -> Subscription | None:
    rows = list(
        db.query(
            "SELECT * FROM subscriptions WHERE chat_id = ? AND kind = ? AND canonical = ?",
            [chat_id, kind, canonical],
        )
    )
    return _row_to_subscription(rows[0]) if rows else None


def _insert(
    db: Store, chat_id: int, kind: str, query: str, canonical: str, thread_id: str | None
) -> int:
    return db.insert(
        "subscriptions",
        {
            "chat_id": chat_id,
            "kind": kind,
            "query": query,
            "canonical": canonical,
            "thread_id": thread_id,
            "created_at": to_iso(utcnow()),
        },
    )


def get_subscription(db: Store, sub_id: int) -> Subscription:
    rows = list(db.query("SELECT * FROM subscriptions WHERE id = ?", [sub_id]))
    if not rows:
        raise LookupError(f"no subscription with id {sub_id}")
    return _row_to_subscription(rows[0])


def remove_subscription(db: Store, sub_id: int) -> bool:
    """Delete a subscription; False when it was already gone (a second press of Undo)."""
    with db.atomic():
        cursor = db.execute("DELETE FROM subscriptions WHERE id = ?", [sub_id])
        if cursor.rowcount != 1:
            return False
        state.bump(db, VERSION_KEY)
    return True


def chat_subscriptions(db: Store, chat_id: int, kind: str | None = None) -> list[Subscription]:
    where = "chat_id = ?"
    params_list: list[object] = [chat_id]
    if kind:
        where += " AND kind = ?"
        params_list.append(kind)
    rows = db.query(f"SELECT * FROM subscriptions WHERE {where} ORDER BY id", params_list)
    return [_row_to_subscription(r) for r in rows]


def active_subscriptions(db: Store) -> list[Subscription]:
    """Subscriptions and mutes of chats that can receive alerts (active state)."""
    rows = db.query(
        """
        SELECT s.* FROM subscriptions s JOIN chats c ON c.id = s.chat_id
        WHERE c.state = 'active' ORDER BY s.id
        """
    )
    return [_row_to_subscription(row) for row in rows]


def subscriptions_version(db: Store) -> int:
    """Changes whenever any subscription changes, in any process: matchers rebuild on change."""
    return int(state.get_value(db, VERSION_KEY, "0") or 0)


def count_subscriptions(db: Store) -> int:
    return int(db.execute("SELECT count(*) FROM subscriptions").fetchone()[0])
