"""The audit log: every admin action and every refused attempt, who, what, when, result."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from storage.db import to_iso, utcnow


def record(
    db: Database,
    *,
    platform: str,
    user_id: str,
    chat_id: str | None,
    action: str,
    arguments: str = "",
    result: str = "",
) -> None:
    db.table("audit_log").insert(
        {
            "at": to_iso(utcnow()),
            "platform": platform,
            "user_id": user_id,
            "chat_id": chat_id,
            "action": action,
            "arguments": arguments[:500],
            "result": result[:500],
        }
    )


def recent(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    return list(db.table("audit_log").rows_where(order_by="id desc", limit=limit))
