"""What processes sharing one database agree on: outbox claims with a lease, fenced source polls,
the ingest leader's epoch, and (PostgreSQL) the shared send budget and change notifications.

One process (``newsbot run`` on SQLite, role ``all``) needs none of this: it drains the outbox
alone. With PostgreSQL, any number of ``deliver`` processes drain the same outbox, so a row is
first *claimed*: ``claimed_by`` names the process, ``claimed_until`` is its lease, renewed while
the process lives. A process that dies stops renewing, and its rows (also the one it was
sending: the only possible duplicate) come back once the lease has run out.

Every statement here is written once with ``?`` placeholders; the few that differ between the
engines (row locks, advisory locks) branch on the store's ``dialect`` inside the function.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from bot.models import Delivery
from storage.db import to_iso

#: The leader lock and claim lock keys (two-int advisory lock space: newsbot's namespace, then
#: what is locked). Advisory locks are per database, so these never collide with another app's
#: database on the same server.
LOCK_NAMESPACE = 0x6E657773  # "news"
LEADER_LOCK = 1
CLAIM_LOCK = 2

#: PostgreSQL channels: a new outbox row wakes ``deliver`` processes; a subscription change
#: wakes the ingest leader's matcher.
OUTBOX_CHANNEL = "newsbot_outbox"
SUBSCRIPTIONS_CHANNEL = "newsbot_subscriptions"

#: Tables and columns of migration ``m006_coordination``, in DDL both engines accept.
PORTABLE_DDL = (
    "ALTER TABLE deliveries ADD COLUMN claimed_by TEXT",
    "ALTER TABLE deliveries ADD COLUMN claimed_until TEXT",
    "CREATE INDEX idx_deliveries_claimed ON deliveries(claimed_by)",
    """
    CREATE TABLE cluster_leader (
        role TEXT PRIMARY KEY,
        epoch INTEGER NOT NULL,
        holder TEXT NOT NULL,
        since TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE rate_buckets (
        scope TEXT PRIMARY KEY,
        tat DOUBLE PRECISION NOT NULL,
        seq BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE rate_sends (
        scope TEXT NOT NULL,
        seq BIGINT NOT NULL,
        slot DOUBLE PRECISION NOT NULL,
        answered_at DOUBLE PRECISION,
        PRIMARY KEY (scope, seq)
    )
    """,
)

#: PostgreSQL only: the shared rate budget's one-round-trip reservation, and the triggers that
#: NOTIFY on a new outbox row and on a subscription change (NOTIFY is delivered at commit, so a
#: listener never sees a row before it is visible). No ``?`` and no ``%`` in these bodies.
POSTGRESQL_DDL = (
    """
    CREATE FUNCTION newsbot_rate_reserve(
        p_scope TEXT, p_interval DOUBLE PRECISION, p_burst INTEGER, p_keep BIGINT,
        OUT slot DOUBLE PRECISION, OUT ticket BIGINT, OUT now_at DOUBLE PRECISION)
    LANGUAGE plpgsql AS $body$
    DECLARE
        old_tat DOUBLE PRECISION;
    BEGIN
        INSERT INTO rate_buckets (scope, tat, seq) VALUES (p_scope, 0, 0)
            ON CONFLICT (scope) DO NOTHING;
        SELECT b.tat, b.seq INTO old_tat, ticket FROM rate_buckets b
            WHERE b.scope = p_scope FOR UPDATE;
        now_at := extract(epoch FROM clock_timestamp());
        slot := greatest(now_at, old_tat - (p_burst - 1) * p_interval);
        ticket := ticket + 1;
        UPDATE rate_buckets SET tat = greatest(slot, old_tat) + p_interval, seq = ticket
            WHERE scope = p_scope;
        INSERT INTO rate_sends (scope, seq, slot) VALUES (p_scope, ticket, slot);
        DELETE FROM rate_sends WHERE rate_sends.scope = p_scope
            AND rate_sends.seq <= ticket - p_keep;
    END
    $body$
    """,
    """
    CREATE FUNCTION newsbot_rate_admit(
        p_scope TEXT, p_interval DOUBLE PRECISION, p_burst INTEGER, p_limit INTEGER,
        p_window DOUBLE PRECISION, p_stall DOUBLE PRECISION, p_keep BIGINT,
        OUT ticket BIGINT, OUT wait DOUBLE PRECISION, OUT now_at DOUBLE PRECISION)
    LANGUAGE plpgsql AS $body$
    DECLARE
        old_tat DOUBLE PRECISION;
        last_seq BIGINT;
        unsettled BIGINT;
        free_from DOUBLE PRECISION;
    BEGIN
        INSERT INTO rate_buckets (scope, tat, seq) VALUES (p_scope, 0, 0)
            ON CONFLICT (scope) DO NOTHING;
        SELECT b.tat, b.seq INTO old_tat, last_seq FROM rate_buckets b
            WHERE b.scope = p_scope FOR UPDATE;
        now_at := extract(epoch FROM clock_timestamp());
        ticket := 0;
        wait := greatest(0, old_tat - (p_burst - 1) * p_interval - now_at);
        IF p_limit > 0 AND last_seq + 1 > p_limit THEN
            SELECT count(*) FILTER (WHERE s.answered_at IS NULL AND s.slot + p_stall > now_at),
                   max(coalesce(s.answered_at, s.slot + p_stall))
                INTO unsettled, free_from
                FROM rate_sends s
                WHERE s.scope = p_scope
                AND s.seq BETWEEN last_seq + 2 - 2 * p_limit AND last_seq + 1 - p_limit;
            IF unsettled > 0 THEN
                wait := greatest(wait, 0.005);
            ELSIF free_from IS NOT NULL THEN
                wait := greatest(wait, free_from + p_window - now_at);
            END IF;
        END IF;
        IF wait > 0 THEN
            RETURN;
        END IF;
        ticket := last_seq + 1;
        -- Admitted a little after its slot (a sleep, a round trip), a send keeps the
        -- schedule: up to one interval of lateness is not carried over to every later send.
        UPDATE rate_buckets SET tat = greatest(now_at - p_interval, old_tat) + p_interval,
            seq = ticket
            WHERE scope = p_scope;
        INSERT INTO rate_sends (scope, seq, slot) VALUES (p_scope, ticket, now_at);
        DELETE FROM rate_sends WHERE rate_sends.scope = p_scope
            AND rate_sends.seq <= ticket - p_keep;
    END
    $body$
    """,
    """
    CREATE FUNCTION newsbot_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
        PERFORM pg_notify('newsbot_outbox', '');
        RETURN NULL;
    END
    $body$
    """,
    """
    CREATE TRIGGER deliveries_notify AFTER INSERT ON deliveries
        FOR EACH STATEMENT EXECUTE FUNCTION newsbot_notify_outbox()
    """,
    """
    CREATE FUNCTION newsbot_notify_subscriptions() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
        IF NEW.key = 'subscriptions_version' THEN
            PERFORM pg_notify('newsbot_subscriptions', NEW.value);
        END IF;
        RETURN NULL;
    END
    $body$
    """,
    """
    CREATE TRIGGER service_state_notify AFTER INSERT OR UPDATE ON service_state
        FOR EACH ROW EXECUTE FUNCTION newsbot_notify_subscriptions()
    """,
)


def dialect_of(db: Any) -> str:
    """``postgresql`` or ``sqlite``: a sqlite-utils ``Database`` has no ``dialect``."""
    return str(getattr(db, "dialect", "sqlite"))


def create_schema(db: Any) -> None:
    """The body of migration ``m006_coordination``."""
    for statement in PORTABLE_DDL:
        db.execute(statement)
    if dialect_of(db) == "postgresql":
        for statement in POSTGRESQL_DDL:
            db.execute(statement)


def _transaction(db: Any) -> AbstractContextManager[Any]:
    """A write transaction on either engine (``BEGIN IMMEDIATE`` on SQLite)."""
    begin = getattr(db, "write_transaction", None)
    if callable(begin):
        return begin()  # type: ignore[no-any-return, unused-ignore]
    from storage.db import write_transaction

    return write_transaction(db)


# -- the outbox: claims with a lease -------------------------------------------------------------


def claim_due(
    db: Any,
    worker: str,
    platform: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    skip_chats: Sequence[int] = (),
) -> list[int]:
    """Claim up to ``limit`` due alerts of ``platform`` for ``worker``; returns their ids.

    Taken: pending rows whose time has come, not claimed by a live process, whose chat has no
    older row in flight, waiting for a retry or claimed by another process (so a chat's alerts
    stay in order and with one worker, which is what bounds a crash to one duplicate per chat).
    On PostgreSQL the claims are made one process at a time (a transaction-level advisory lock,
    held for one statement) so each sees the others' committed claims, and the rows are taken
    ``FOR UPDATE SKIP LOCKED`` so a claim never waits for a row another process is updating.
    ``skip_chats``: chats the worker is still serving from an earlier claim (their next rows
    wait until it is done with them, so a chat's alerts keep their order).
    """
    stamp, until = to_iso(now), to_iso(lease_until)
    skip = ""
    skip_params: list[Any] = []
    if skip_chats:
        if dialect_of(db) == "postgresql":
            skip = "AND d.chat_id <> ALL(?::bigint[]) "
            skip_params = [sorted(skip_chats)]
        else:
            skip = "AND d.chat_id NOT IN (SELECT value FROM json_each(?)) "
            skip_params = [json.dumps(sorted(skip_chats))]
    pick = (
        "SELECT d.id FROM deliveries d JOIN chats c ON c.id = d.chat_id "
        "WHERE d.platform = ? AND d.status = 'pending' AND d.next_attempt_at <= ? "
        "AND c.state = 'active' "
        "AND (d.claimed_until IS NULL OR d.claimed_until < ? OR d.claimed_by = ?) "
        "AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.chat_id = d.chat_id AND e.id < d.id "
        "AND (e.status = 'sending' OR (e.status = 'pending' AND (e.next_attempt_at > ? "
        "OR (e.claimed_by <> ? AND e.claimed_until >= ?))))) "
        f"{skip}ORDER BY d.id LIMIT ?"
    )
    params = [platform, stamp, stamp, worker, stamp, worker, stamp, *skip_params, int(limit)]
    with _transaction(db):
        if dialect_of(db) == "postgresql":
            db.execute("SELECT pg_advisory_xact_lock(?, ?)", [LOCK_NAMESPACE, CLAIM_LOCK])
            cursor = db.execute(
                f"WITH picked AS ({pick} FOR UPDATE OF d SKIP LOCKED) "
                "UPDATE deliveries SET claimed_by = ?, claimed_until = ? FROM picked "
                "WHERE deliveries.id = picked.id RETURNING deliveries.id",
                [*params, worker, until],
            )
        else:
            cursor = db.execute(
                f"UPDATE deliveries SET claimed_by = ?, claimed_until = ? WHERE id IN ({pick}) "
                "RETURNING id",
                [worker, until, *params],
            )
        ids = sorted(int(row[0]) for row in cursor.fetchall())
    return ids


def claimed_deliveries(db: Any, ids: list[int]) -> list[Delivery]:
    """The rows just claimed, as the delivery worker reads them."""
    from storage.deliveries import _select

    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    return _select(db, f"d.id IN ({marks})", list(ids))


def renew_claims(db: Any, worker: str, lease_until: datetime) -> int:
    """Extend the lease of every row ``worker`` holds (claimed or in flight)."""
    cursor = db.execute(
        "UPDATE deliveries SET claimed_until = ? WHERE claimed_by = ? "
        "AND status IN ('pending', 'sending')",
        [to_iso(lease_until), worker],
    )
    return int(cursor.rowcount)


def release_claims(db: Any, worker: str) -> int:
    """Give back the rows ``worker`` claimed and did not send (held back, deferred, stopping)."""
    cursor = db.execute(
        "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL "
        "WHERE claimed_by = ? AND status = 'pending'",
        [worker],
    )
    return int(cursor.rowcount)


def recover_expired(db: Any, now: datetime) -> int:
    """Rows a dead process left in flight, its lease run out, go back to ``pending``.

    Their send may or may not have reached the platform: the one possible duplicate, at most
    one per chat. A row in flight with no lease at all was left by a single-process run.
    """
    cursor = db.execute(
        "UPDATE deliveries SET status = 'pending', attempts = attempts + 1, claimed_by = NULL, "
        "claimed_until = NULL WHERE status = 'sending' "
        "AND (claimed_until IS NULL OR claimed_until < ?)",
        [to_iso(now)],
    )
    return int(cursor.rowcount)


# -- the ingest leader's fencing ------------------------------------------------------------------


def leader_epoch(db: Any, role: str) -> int | None:
    row = db.execute("SELECT epoch FROM cluster_leader WHERE role = ?", [role]).fetchone()
    return int(row[0]) if row else None


def claim_source_poll(
    db: Any, source_id: int, now: datetime, lease_until: datetime, *, role: str, epoch: int
) -> bool:
    """Take a source's due poll, atomically and fenced: True for exactly one caller.

    The poll is taken only if it is due and the caller's leader epoch is still the current one,
    in one statement: a leader that lost its lock without knowing it (a stalled process, a
    partition) can no longer take a poll the new leader may take. ``next_check_at`` moves to
    ``lease_until`` until the poll records its own next check, so a poll cut short by a crash is
    taken again only after the lease, never twice at once.
    """
    stamp = to_iso(now)
    cursor = db.execute(
        "UPDATE sources SET next_check_at = ? WHERE id = ? AND state = 'active' "
        "AND (next_check_at IS NULL OR next_check_at <= ?) "
        "AND EXISTS (SELECT 1 FROM cluster_leader WHERE role = ? AND epoch = ?)",
        [to_iso(lease_until), source_id, stamp, role, epoch],
    )
    return int(cursor.rowcount) == 1


def latest_delivery_id(db: Any) -> int:
    """The newest outbox row's id: one index lookup, cheap enough to watch several times a
    second where no NOTIFY exists (SQLite)."""
    row = db.execute("SELECT coalesce(max(id), 0) FROM deliveries").fetchone()
    return int(row[0])
