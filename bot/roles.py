"""Which parts of the bot a process runs: ``newsbot run --role all|ingest|deliver|web``.

- ``ingest``: the scheduler (sources, inbox, housekeeping, cluster updates, digests), the
  pipeline, and the chat platforms' long polling / Socket Mode; one at a time, the elected
  leader (:mod:`bot.cluster.leader`), the others standing by;
- ``deliver``: drains the outbox, claiming rows (:mod:`bot.cluster.outbox`); any number;
- ``web``: the HTTP server (``POST /ingest``, ``/healthz``, ``/metrics``, the Telegram webhook,
  Slack's HTTP mode); any number, behind a load balancer;
- ``all``: the three in one process. On SQLite it is the only role: the database is one file
  on one machine, so several processes would only take turns at its one write lock.
"""

from __future__ import annotations

ROLES = ("all", "ingest", "deliver", "web")
PARTS = ("ingest", "deliver", "web")


def role_parts(role: str) -> frozenset[str]:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return frozenset(PARTS) if role == "all" else frozenset({role})


def role_error(role: str, *, postgres: bool, once: bool = False) -> str | None:
    """The one line that refuses a role this configuration cannot run, or None."""
    if role == "all":
        return None
    if not postgres:
        return (
            f"newsbot: --role {role} needs PostgreSQL (NEWSBOT_DB=postgresql://USER:PASSWORD@"
            "HOST:PORT/DBNAME); on a SQLite file run the whole bot in one process: "
            "newsbot run (--role all)"
        )
    if once:
        return f"newsbot: --once runs the whole bot once; it cannot be combined with --role {role}"
    return None
