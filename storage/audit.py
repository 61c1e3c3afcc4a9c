"""The audit log: every admin action and every refused attempt, who, what, when, result."""

from __future__ import annotations

from typing import Any

from storage.db import to_iso, utcnow
from storage.engine import Store


def record(
    db: Store,
    *,
    platform: str,
    user_id: str,
    chat_id: str | None,
    action: str,
    arguments: str = "",
    result: str = "",
) -> None:
    db.insert(
        "audit_log",
        {
            "at": to_iso(utcnow()),
            "platform": platform,
            "user_id": user_id,
            "chat_id": chat_id,
            "action": action,
            "arguments": arguments[:500],
            "result": result[:500],
        },
    )


def recent(db: Store, limit: int = 20) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit]))
