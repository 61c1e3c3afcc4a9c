"""newsbot past one machine: processes by role sharing one PostgreSQL database.

- :mod:`bot.cluster.leader`: the one ``ingest`` leader, elected with a session-level advisory
  lock on a dedicated connection, with a fencing epoch;
- :mod:`bot.cluster.notify`: LISTEN/NOTIFY, so ``deliver`` wakes on new outbox rows and the
  leader's matcher on subscription changes;
- :mod:`bot.cluster.bucket`: one send budget per platform token shared by every process;
- :mod:`bot.cluster.outbox`: the delivery worker that claims outbox rows with a lease.

Each opens its own connection with psycopg (imported only here, when PostgreSQL is in use):
these connections are long-lived and must notice a dead peer within seconds, which a pooled
connection for storage calls is not made for.
"""

from __future__ import annotations

from typing import Any

#: Keepalives on both ends, so a dead peer (a killed host, a cut network) is noticed within
#: about 10 s: by the client (libpq ``keepalives_*``, ``tcp_user_timeout`` for unacknowledged
#: writes) and by the server (``tcp_keepalives_*``), which then ends the session and frees the
#: leader lock it held.
KEEPALIVE_OPTIONS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
    "connect_timeout": 10,
    "options": "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3",
}


async def connect(url: str, *, application_name: str = "newsbot") -> Any:
    """An autocommit async connection with the keepalives above."""
    import psycopg

    return await psycopg.AsyncConnection.connect(
        url, autocommit=True, application_name=application_name, **KEEPALIVE_OPTIONS
    )


def database_url(settings: Any) -> str | None:
    """The ``postgresql://`` URL of ``NEWSBOT_DB``, or None for a SQLite file."""
    from storage.engine import is_postgres_url

    value = str(settings.db_path)
    return value if is_postgres_url(value) else None
