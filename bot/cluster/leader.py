"""The one ``ingest`` leader: a session-level PostgreSQL advisory lock on a dedicated connection.

Every ``ingest`` process campaigns: ``pg_try_advisory_lock`` once a second on its own connection.
The one that gets it is the leader and runs the scheduler (sources, inbox, housekeeping,
digests), the pipeline and the chat platforms' long polling; the others wait. The lock lives as
long as the leader's session: a leader killed with SIGKILL has its socket closed by the kernel
and the server frees the lock at once; a leader whose host or network died is noticed by the
server's TCP keepalives (about 10 s, see :data:`bot.cluster.KEEPALIVE_OPTIONS`). A standby then
gets the lock at its next try, well within 15 s.

Two leaders must never both act, even for a moment around a hand-over. Two guards:

- before each job the leader checks, on the lock's own connection, that its session still holds
  the lock (:meth:`LeaderElection.still_leader`); a leader that cannot tell (connection lost)
  steps down and its process exits, to be restarted as a standby;
- each new leader increments an *epoch* in ``cluster_leader``, and the steps that must happen
  once (taking a source's due poll) check the epoch in the same statement
  (:func:`storage.coordination.claim_source_poll`): a stalled old leader that wakes up after the
  hand-over finds its epoch stale and does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from bot.cluster import connect
from storage.coordination import LEADER_LOCK, LOCK_NAMESPACE, claim_source_poll
from storage.db import to_iso, utcnow

log = logging.getLogger(__name__)

#: Longest a leadership check may take before the leader assumes it has lost the lock.
CHECK_TIMEOUT_SECONDS = 5.0


def holder_name() -> str:
    """Who holds a claim or the lock: host and process id, unique while the process lives."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderElection:
    def __init__(
        self,
        url: str,
        *,
        role: str = "ingest",
        lock_key: int = LEADER_LOCK,
        holder: str | None = None,
        retry_seconds: float = 1.0,
    ) -> None:
        self.url = url
        self.role = role
        self.lock_key = lock_key
        self.holder = holder or holder_name()
        self.retry_seconds = retry_seconds
        self.epoch: int | None = None
        self._conn: Any = None

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    async def try_once(self) -> bool:
        """One try for the lock (the first at start, so a free lock is taken at once)."""
        if self._conn is None or self._conn.closed:
            self._conn = await connect(self.url, application_name=f"newsbot-{self.role}-leader")
        cursor = await self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self.lock_key)
        )
        row = await cursor.fetchone()
        if not row or not row[0]:
            return False
        cursor = await self._conn.execute(
            "INSERT INTO cluster_leader (role, epoch, holder, since) VALUES (%s, 1, %s, %s) "
            "ON CONFLICT (role) DO UPDATE SET epoch = cluster_leader.epoch + 1, "
            "holder = excluded.holder, since = excluded.since RETURNING epoch",
            (self.role, self.holder, to_iso(utcnow())),
        )
        row = await cursor.fetchone()
        assert row is not None
        self.epoch = int(row[0])
        log.info(
            "event=leader_elected role=%s epoch=%d holder=%s", self.role, self.epoch, self.holder
        )
        return True

    async def campaign(self) -> int:
        """Wait until this process is the leader; returns its epoch. Cancellable."""
        announced = False
        while True:
            try:
                if self.leading or await self.try_once():
                    assert self.epoch is not None
                    return self.epoch
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep trying, quietly
                log.warning("event=leader_campaign_failed role=%s error=%r", self.role, str(exc))
                await self._drop_connection()
            if not announced:
                log.info("event=leader_standby role=%s holder=%s", self.role, self.holder)
                announced = True
            await asyncio.sleep(self.retry_seconds)

    async def still_leader(self) -> bool:
        """True only if this session certainly still holds the lock (checked on its connection)."""
        if self.epoch is None or self._conn is None or self._conn.closed:
            return False
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                cursor = await self._conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND classid = %s AND objid = %s AND objsubid = 2",
                    (LOCK_NAMESPACE, self.lock_key),
                )
                row = await cursor.fetchone()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("event=leader_check_failed role=%s error=%r", self.role, str(exc))
            return False
        return bool(row and row[0])

    async def watch(self, interval: float = 1.0) -> None:
        """Return as soon as leadership is lost (or can no longer be confirmed)."""
        while await self.still_leader():
            await asyncio.sleep(interval)
        log.error("event=leader_lost role=%s epoch=%s", self.role, self.epoch)
        self.epoch = None

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def resign(self) -> None:
        """Give the lock up (closing the session frees it) so a standby takes over at once."""
        self.epoch = None
        await self._drop_connection()


class LeaderGate:
    """The scheduler's guard in the leader (see :class:`bot.scheduler.JobGate`)."""

    def __init__(self, election: LeaderElection, db: Any, *, poll_lease_seconds: float) -> None:
        self.election = election
        self.db = db
        self.poll_lease = timedelta(seconds=poll_lease_seconds)

    async def allow(self) -> bool:
        return await self.election.still_leader()

    async def claim_source(self, source_id: int, now: datetime) -> bool:
        epoch = self.election.epoch
        if epoch is None:
            return False
        return bool(
            await self.db.call(
                claim_source_poll,
                source_id,
                now,
                now + self.poll_lease,
                role=self.election.role,
                epoch=epoch,
            )
        )
