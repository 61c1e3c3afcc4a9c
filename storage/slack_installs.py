"""Named queries over the Slack installations of the OAuth install flow (migration m005).

One deployment serves many Slack workspaces: each one that installs the app through
``/slack/install`` leaves a bot token here (``slack_bots``, one row per workspace) and the
installation made by each installer (``slack_installations``, one row per installing user).
A *workspace* is the team id, or the enterprise id for an org-wide (Enterprise Grid) install:
the key both an incoming request and an outgoing alert are resolved by.

Rows hold bolt's objects as JSON (``data``): this module stores and finds them and knows
nothing of Slack's libraries (the adapter is :mod:`bot.transports.slack_install_store`). The
tokens inside are secrets: nothing here logs or returns them except to that adapter.

``slack_oauth_states`` holds the one-time ``state`` values of install flows in progress, so a
callback is accepted once, within its lifetime, only for a flow this deployment started.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage.db import to_iso, utcnow
from storage.engine import Store


def _decoded(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    data = json.loads(row[0])
    return data if isinstance(data, dict) else None


def save_installation(
    db: Store,
    client_id: str,
    workspace: str,
    installation: dict[str, Any],
    bot: dict[str, Any] | None,
    *,
    at: datetime | None = None,
) -> None:
    """Store an installation (replacing the same installer's earlier one) and, when it carries
    a bot token, make that the workspace's bot: a reinstall replaces the token, never adds one."""
    installed_at = to_iso(at or utcnow())
    with db.atomic():
        db.execute(
            """
            INSERT INTO slack_installations
                (client_id, workspace, enterprise_id, team_id, user_id, data, installed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(client_id, workspace, user_id) DO UPDATE SET
                enterprise_id = excluded.enterprise_id, team_id = excluded.team_id,
                data = excluded.data, installed_at = excluded.installed_at
            """,
            [
                client_id,
                workspace,
                installation.get("enterprise_id"),
                installation.get("team_id"),
                str(installation.get("user_id") or ""),
                json.dumps(installation),
                installed_at,
            ],
        )
        if bot is not None:
            save_bot(db, client_id, workspace, bot, at=at)


def save_bot(
    db: Store,
    client_id: str,
    workspace: str,
    bot: dict[str, Any],
    *,
    at: datetime | None = None,
) -> None:
    """Store the workspace's bot (a new install, or a rotated token), replacing the old one."""
    db.execute(
        """
        INSERT INTO slack_bots (client_id, workspace, enterprise_id, team_id, data, installed_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(client_id, workspace) DO UPDATE SET
            enterprise_id = excluded.enterprise_id, team_id = excluded.team_id,
            data = excluded.data, installed_at = excluded.installed_at
        """,
        [
            client_id,
            workspace,
            bot.get("enterprise_id"),
            bot.get("team_id"),
            json.dumps(bot),
            to_iso(at or utcnow()),
        ],
    )


def find_bot(db: Store, client_id: str, workspace: str) -> dict[str, Any] | None:
    """The bot installed in ``workspace`` (its token included), or None if there is none."""
    row = db.execute(
        "SELECT data FROM slack_bots WHERE client_id = ? AND workspace = ?",
        [client_id, workspace],
    ).fetchone()
    return _decoded(row)


def find_installation(
    db: Store, client_id: str, workspace: str, user_id: str | None = None
) -> dict[str, Any] | None:
    """The latest installation in ``workspace`` (by anyone), or ``user_id``'s own."""
    if user_id is None:
        row = db.execute(
            """
            SELECT data FROM slack_installations WHERE client_id = ? AND workspace = ?
            ORDER BY installed_at DESC, id DESC LIMIT 1
            """,
            [client_id, workspace],
        ).fetchone()
    else:
        row = db.execute(
            """
            SELECT data FROM slack_installations
            WHERE client_id = ? AND workspace = ? AND user_id = ?
            """,
            [client_id, workspace, user_id],
        ).fetchone()
    return _decoded(row)


def delete_bot(db: Store, client_id: str, workspace: str) -> int:
    """Forget the workspace's bot token (``tokens_revoked``); the number of rows removed."""
    cursor = db.execute(
        "DELETE FROM slack_bots WHERE client_id = ? AND workspace = ?", [client_id, workspace]
    )
    return int(cursor.rowcount)


def delete_installations(
    db: Store, client_id: str, workspace: str, user_id: str | None = None
) -> int:
    """Forget the workspace's installations, or only ``user_id``'s; the number removed."""
    if user_id is None:
        cursor = db.execute(
            "DELETE FROM slack_installations WHERE client_id = ? AND workspace = ?",
            [client_id, workspace],
        )
    else:
        cursor = db.execute(
            "DELETE FROM slack_installations WHERE client_id = ? AND workspace = ? AND user_id = ?",
            [client_id, workspace, user_id],
        )
    return int(cursor.rowcount)


def delete_workspace(db: Store, client_id: str, workspace: str) -> int:
    """The app was uninstalled from ``workspace``: every token of it goes, in one transaction."""
    with db.atomic():
        return delete_bot(db, client_id, workspace) + delete_installations(db, client_id, workspace)


def installed_workspaces(db: Store, client_id: str) -> list[str]:
    """The workspaces that have a bot token, in the order they installed."""
    rows = db.execute(
        "SELECT workspace FROM slack_bots WHERE client_id = ? ORDER BY id", [client_id]
    ).fetchall()
    return [str(row[0]) for row in rows]


def issue_state(db: Store, state: str, expires_at: datetime) -> None:
    """Remember a new flow's ``state`` until ``expires_at``; expired ones are dropped here."""
    with db.atomic():
        db.execute("DELETE FROM slack_oauth_states WHERE expires_at < ?", [to_iso(utcnow())])
        db.execute(
            "INSERT INTO slack_oauth_states (state, expires_at) VALUES (?, ?)",
            [state, to_iso(expires_at)],
        )


def consume_state(db: Store, state: str, *, now: datetime | None = None) -> bool:
    """True once for a ``state`` this deployment issued and that has not expired: the row is
    deleted by the same statement, so of two callbacks with one state only one succeeds."""
    cursor = db.execute(
        "DELETE FROM slack_oauth_states WHERE state = ? AND expires_at >= ?",
        [state, to_iso(now or utcnow())],
    )
    return cursor.rowcount == 1
