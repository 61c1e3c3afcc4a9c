"""The outbox: one ``deliveries`` row per (chat, story cluster), drained by the delivery worker.

The UNIQUE key on (chat_id, cluster_id) is what makes "a chat never gets the same story twice"
hold across restarts, reprints and concurrent processes: queueing is
``INSERT ... ON CONFLICT DO NOTHING``.

Statuses: ``pending`` (due at ``next_attempt_at``), ``sending`` (claimed by a worker: a row
left in this state by a crash is re-sent at start, the one possible duplicate), ``held`` (kept
for the chat's digest: cap reached, quiet hours, digest mode), ``sent``, ``dead`` (permanent
failure, reason in ``last_error``, visible to admins).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.models import Delivery
from storage.db import from_iso, to_iso, utcnow
from storage.engine import Store


def _row_to_delivery(row: dict[str, Any]) -> Delivery:
    return Delivery(
        id=row["id"],
        chat_id=row["chat_id"],
        story_id=row["story_id"],
        cluster_id=row["cluster_id"],
        platform=row["platform"],
        status=row["status"],
        reasons=tuple(json.loads(row["reasons"] or "[]")),
        attempts=row["attempts"],
        kind=row["kind"],
        message_ref=row["message_ref"],
        thread_id=row["thread_id"],
        sources_count=row["sources_count"],
        updated_sources_count=row["updated_sources_count"],
        last_error=row["last_error"],
        subscription_ids=tuple(json.loads(row["subscription_ids"] or "[]")),
        created_at=from_iso(row["created_at"]),
    )


def _select(
    db: Store, where: str, params: list[Any], *, order: str = "d.id", limit: int | None = None
) -> list[Delivery]:
    sql = f"SELECT d.* FROM deliveries d JOIN chats c ON c.id = d.chat_id WHERE {where} ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_row_to_delivery(row) for row in db.query(sql, params)]


@dataclass(frozen=True)
class QueuedDelivery:
    chat_id: int
    story_id: int
    cluster_id: int
    platform: str
    reasons: list[str]
    subscription_ids: list[int]
    status: str = "pending"
    thread_id: str | None = None
    sources_count: int = 1


_QUEUE_COLUMNS = (
    "chat_id, story_id, cluster_id, platform, status, reasons, subscription_ids, created_at, "
    "next_attempt_at, thread_id, sources_count, updated_sources_count"
)
# The PostgreSQL array type of each column above, in order (see _queue_postgres).
_QUEUE_ARRAY_TYPES = (
    "bigint", "bigint", "bigint", "text", "text", "text", "text", "text", "text", "text",
    "bigint", "bigint",
)  # fmt: skip


def queue_deliveries(db: Store, rows: list[QueuedDelivery], now: datetime | None = None) -> int:
    """Insert outbox rows, ignoring (chat, cluster) pairs already queued. Returns rows added.

    Call inside the transaction that stores the story, so a match is never recorded without its
    delivery or the other way round.
    """
    return sum(queue_delivery_rows(db, rows, now))


def queue_delivery_rows(
    db: Store, rows: list[QueuedDelivery], now: datetime | None = None
) -> list[bool]:
    """:func:`queue_deliveries`, saying for each row whether it was added (False: its
    (chat, cluster) pair was queued already, before or earlier in ``rows``).

    On PostgreSQL the rows go in as one statement, however many: one round trip, and one
    NOTIFY from the statement's trigger to wake the deliver processes, per batch of stories.
    """
    stamp = to_iso(now or utcnow())
    values = [
        (
            row.chat_id,
            row.story_id,
            row.cluster_id,
            row.platform,
            row.status,
            json.dumps(row.reasons),
            json.dumps(row.subscription_ids),
            stamp,
            stamp,
            row.thread_id,
            row.sources_count,
            row.sources_count,
        )
        for row in rows
    ]
    if not values:
        return []
    if db.dialect == "postgresql":
        return _queue_postgres(db, values)
    added = []
    with db.atomic():
        for value in values:
            cursor = db.execute(
                f"INSERT INTO deliveries ({_QUEUE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                value,
            )
            added.append(cursor.rowcount > 0)
    return added


def _queue_postgres(db: Store, values: list[tuple[Any, ...]]) -> list[bool]:
    """One ``INSERT ... SELECT FROM unnest(column arrays)``; the keys it returns say which rows
    went in. In input order, so ids are given in the order the rows were queued."""
    arrays = [list(column) for column in zip(*values, strict=True)]
    unnest = ", ".join(f"?::{kind}[]" for kind in _QUEUE_ARRAY_TYPES)
    cursor = db.execute(
        f"INSERT INTO deliveries ({_QUEUE_COLUMNS}) "
        f"SELECT {_QUEUE_COLUMNS} FROM unnest({unnest}) WITH ORDINALITY "
        f"AS queued({_QUEUE_COLUMNS}, position) ORDER BY position "
        "ON CONFLICT DO NOTHING RETURNING chat_id, cluster_id",
        arrays,
    )
    inserted = {(int(chat), int(cluster)) for chat, cluster in cursor.fetchall()}
    added = []
    for value in values:
        key = (int(value[0]), int(value[2]))
        added.append(key in inserted)
        inserted.discard(key)  # a pair given twice goes in once
    return added


def note_cluster_growth(db: Store, cluster_id: int, sources_count: int) -> int:
    """A cluster gained sources: alerts already out become due for an update."""
    cursor = db.execute(
        "UPDATE deliveries SET updated_sources_count = ? WHERE cluster_id = ? AND updated_sources_count < ?",
        [sources_count, cluster_id, sources_count],
    )
    return int(cursor.rowcount)


def note_clusters_growth(db: Store, sources_counts: Mapping[int, int]) -> None:
    """:func:`note_cluster_growth` for several clusters (cluster id -> sources now), at once
    (on PostgreSQL one statement: one pass over the outbox, not one per cluster)."""
    if not sources_counts:
        return
    pairs = sorted(sources_counts.items())
    if db.dialect == "postgresql":
        db.execute(
            "UPDATE deliveries SET updated_sources_count = grown.sources "
            "FROM unnest(?::bigint[], ?::bigint[]) AS grown(cluster_id, sources) "
            "WHERE deliveries.cluster_id = grown.cluster_id "
            "AND deliveries.updated_sources_count < grown.sources",
            [[cluster for cluster, _ in pairs], [count for _, count in pairs]],
        )
        return
    db.executemany(
        "UPDATE deliveries SET updated_sources_count = ? WHERE cluster_id = ? AND updated_sources_count < ?",
        [(count, cluster, count) for cluster, count in pairs],
    )


def recover_in_flight(db: Store) -> int:
    """At start: rows a crashed worker left in ``sending`` go back to ``pending``.

    Their send may or may not have reached the platform: this is the one place a duplicate can
    come from, at most one per chat (each chat's worker has one send in flight).
    """
    cursor = db.execute(
        "UPDATE deliveries SET status = 'pending', attempts = attempts + 1 WHERE status = 'sending'"
    )
    return int(cursor.rowcount)


def due_deliveries(db: Store, platform: str, now: datetime, limit: int = 200) -> list[Delivery]:
    """Pending alerts whose time has come, for chats that may receive them, oldest first.

    A row waits while an older row of the same chat is waiting for its retry or is in flight, so
    each chat receives its alerts in order, also after an outage.
    """
    stamp = to_iso(now)
    return _select(
        db,
        "d.platform = ? AND d.status = 'pending' AND d.next_attempt_at <= ? AND c.state = 'active' "
        "AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.chat_id = d.chat_id AND e.id < d.id "
        "AND (e.status = 'sending' OR (e.status = 'pending' AND e.next_attempt_at > ?)))",
        [platform, stamp, stamp],
        limit=limit,
    )


def due_updates(db: Store, platform: str, limit: int = 100) -> list[Delivery]:
    """Sent alerts whose cluster has gained sources since."""
    return _select(
        db,
        "d.platform = ? AND d.status = 'sent' AND d.updated_sources_count > d.sources_count "
        "AND d.message_ref IS NOT NULL AND c.state = 'active'",
        [platform],
        limit=limit,
    )


def mark_sending(db: Store, delivery_id: int) -> bool:
    """Claim a row; False when another worker or process already took it."""
    cursor = db.execute(
        "UPDATE deliveries SET status = 'sending' WHERE id = ? AND status = 'pending'",
        [delivery_id],
    )
    return cursor.rowcount == 1


def mark_sent(
    db: Store,
    delivery_id: int,
    message_ref: str | None,
    *,
    status: str = "sent",
    at: datetime | None = None,
) -> None:
    db.execute(
        "UPDATE deliveries SET status = ?, sent_at = ?, message_ref = ?, attempts = attempts + 1, "
        "last_error = NULL WHERE id = ?",
        [status, to_iso(at or utcnow()), message_ref, delivery_id],
    )


def mark_update_sent(db: Store, delivery_id: int, sources_count: int) -> None:
    db.execute("UPDATE deliveries SET sources_count = ? WHERE id = ?", [sources_count, delivery_id])


def mark_retry(db: Store, delivery_id: int, error: str, next_attempt: datetime) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'pending', attempts = attempts + 1, last_error = ?, "
        "next_attempt_at = ? WHERE id = ?",
        [error, to_iso(next_attempt), delivery_id],
    )


def mark_dead(db: Store, delivery_id: int, error: str) -> None:
    db.execute(
        "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ?",
        [error, delivery_id],
    )


def release(db: Store, delivery_id: int, next_attempt: datetime) -> None:
    """Put a claimed row back untouched (pacing, rate limit): not an attempt."""
    db.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = ? WHERE id = ?",
        [to_iso(next_attempt), delivery_id],
    )


def hold(db: Store, delivery_ids: list[int], at: datetime) -> None:
    """Keep rows for the chat's next digest (cap reached, quiet hours, digest mode); ``at`` is
    recorded in ``next_attempt_at`` as the time they were held."""
    with db.atomic():
        for delivery_id in delivery_ids:
            db.execute(
                "UPDATE deliveries SET status = 'held', next_attempt_at = ? WHERE id = ?",
                [to_iso(at), delivery_id],
            )


def oldest_held_at(db: Store, chat_id: int) -> datetime | None:
    row = db.execute(
        "SELECT min(next_attempt_at) FROM deliveries WHERE chat_id = ? AND status = 'held'",
        [chat_id],
    ).fetchone()
    return from_iso(row[0]) if row and row[0] else None


def held_for_chat(db: Store, chat_id: int) -> list[Delivery]:
    return _select(db, "d.chat_id = ? AND d.status = 'held'", [chat_id])


def chats_with_held(db: Store) -> list[int]:
    rows = db.execute("SELECT DISTINCT chat_id FROM deliveries WHERE status = 'held'").fetchall()
    return [int(r[0]) for r in rows]


def mark_digest_sent(
    db: Store, delivery_ids: list[int], message_ref: str | None, at: datetime | None = None
) -> None:
    now = to_iso(at or utcnow())
    with db.atomic():
        for delivery_id in delivery_ids:
            db.execute(
                "UPDATE deliveries SET status = 'sent', kind = 'digest-item', sent_at = ?, "
                "message_ref = coalesce(message_ref, ?) WHERE id = ?",
                [now, message_ref, delivery_id],
            )


def sent_since(db: Store, chat_id: int, since: datetime) -> int:
    """Instant alerts sent to a chat since ``since`` (for the hourly cap)."""
    row = db.execute(
        "SELECT count(*) FROM deliveries WHERE chat_id = ? AND status = 'sent' AND kind = 'alert' "
        "AND sent_at >= ?",
        [chat_id, to_iso(since)],
    ).fetchone()
    return int(row[0])


def dead_letters(db: Store, limit: int = 20) -> list[Delivery]:
    return _select(db, "d.status = 'dead'", [], order="d.id DESC", limit=limit)


def retry_dead(db: Store, delivery_id: int | None = None) -> int:
    where, params = "status = 'dead'", []
    if delivery_id is not None:
        where += " AND id = ?"
        params.append(delivery_id)
    cursor = db.execute(
        f"UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE {where}",
        [to_iso(utcnow()), *params],
    )
    return int(cursor.rowcount)


def alert_latencies(db: Store, since: datetime) -> list[float]:
    """Seconds from fetching a story to sending its alert, for alerts sent since ``since``.

    The timestamps are ISO 8601 text in both engines; each engine has its own date arithmetic.
    """
    if db.dialect == "postgresql":
        seconds = "EXTRACT(EPOCH FROM (d.sent_at::timestamptz - s.fetched_at::timestamptz))"
    else:
        seconds = "(julianday(d.sent_at) - julianday(s.fetched_at)) * 86400.0"
    rows = db.execute(
        f"""
        SELECT {seconds}
        FROM deliveries d JOIN stories s ON s.id = d.story_id
        WHERE d.status = 'sent' AND d.kind = 'alert' AND d.sent_at >= ?
        """,
        [since.isoformat(timespec="seconds")],
    ).fetchall()
    return sorted(max(0.0, float(r[0])) for r in rows if r[0] is not None)


def counts_by_status(db: Store) -> dict[tuple[str, str], int]:
    rows = db.execute("SELECT platform, status, count(*) FROM deliveries GROUP BY 1, 2").fetchall()
    return {(platform, status): count for platform, status, count in rows}
