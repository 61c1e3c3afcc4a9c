"""Named queries over ``chats``: a chat is created by its first command, settings live here."""

from __future__ import annotations

from typing import Any

from bot.models import Chat
from storage import state
from storage.db import to_iso, utcnow
from storage.engine import Store

SETTING_COLUMNS = (
    "mode",
    "digest_schedule",
    "timezone",
    "quiet_hours",
    "hourly_cap",
    "summary_chars",
    "language",
    "images",
)


class ChatNotFound(LookupError):
    pass


def _row_to_chat(row: dict[str, Any]) -> Chat:
    return Chat(
        id=row["id"],
        platform=row["platform"],
        external_id=row["external_id"],
        title=row["title"],
        kind=row["kind"],
        state=row["state"],
        mode=row["mode"],
        digest_schedule=row["digest_schedule"],
        timezone=row["timezone"],
        quiet_hours=row["quiet_hours"],
        hourly_cap=row["hourly_cap"],
        summary_chars=row["summary_chars"],
        language=row["language"],
        state_reason=row["state_reason"],
        images=bool(row.get("images", 1)),
    )


def find_chat(db: Store, platform: str, external_id: str) -> Chat | None:
    rows = list(
        db.query(
            "SELECT * FROM chats WHERE platform = ? AND external_id = ?", [platform, external_id]
        )
    )
    return _row_to_chat(rows[0]) if rows else None


def get_chat(db: Store, chat_id: int) -> Chat:
    rows = list(db.query("SELECT * FROM chats WHERE id = ?", [chat_id]))
    if not rows:
        raise ChatNotFound(f"no chat with id {chat_id}")
    return _row_to_chat(rows[0])


def ensure_chat(
    db: Store, platform: str, external_id: str, *, title: str = "", kind: str = "private"
) -> Chat:
    """Find or create the chat; any command may be a chat's first message."""
    now = to_iso(utcnow())
    db.execute(
        """
        INSERT INTO chats (platform, external_id, title, kind, created_at, last_seen_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(platform, external_id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
            title = CASE WHEN excluded.title != '' THEN excluded.title ELSE chats.title END
        """,
        [platform, external_id, title, kind, now, now],
    )
    chat = find_chat(db, platform, external_id)
    assert chat is not None
    return chat


def update_chat_settings(db: Store, chat_id: int, **changes: Any) -> Chat:
    unknown = set(changes) - set(SETTING_COLUMNS)
    if unknown:
        raise ValueError(f"unknown chat settings: {sorted(unknown)}")
    with db.atomic():
        db.update("chats", chat_id, changes)
        state.bump(db, state.SUBSCRIPTIONS_VERSION)  # the language filter is read by the matcher
    return get_chat(db, chat_id)


def set_chat_state(db: Store, chat_id: int, new_state: str, reason: str | None = None) -> Chat:
    with db.atomic():
        db.update("chats", chat_id, {"state": new_state, "state_reason": reason})
        state.bump(db, state.SUBSCRIPTIONS_VERSION)  # a paused chat's queries stop matching
    return get_chat(db, chat_id)


def change_external_id(db: Store, chat_id: int, new_external_id: str) -> Chat:
    """Follow a platform's chat migration (Telegram group -> supergroup)."""
    db.update("chats", chat_id, {"external_id": new_external_id})
    return get_chat(db, chat_id)


def list_chats(
    db: Store, *, chat_state: str | None = None, platform: str | None = None
) -> list[Chat]:
    where, params = [], []
    if chat_state:
        where.append("state = ?")
        params.append(chat_state)
    if platform:
        where.append("platform = ?")
        params.append(platform)
    condition = " AND ".join(where) or "1 = 1"
    rows = db.query(f"SELECT * FROM chats WHERE {condition} ORDER BY id", params)
    return [_row_to_chat(r) for r in rows]


def delete_chat(db: Store, chat_id: int) -> bool:
    """Forget a chat: its subscriptions and outbox rows go with it (ON DELETE CASCADE).

    False when it was already gone: of two concurrent confirmations only one deletes.
    """
    with db.atomic():
        cursor = db.execute("DELETE FROM chats WHERE id = ?", [chat_id])
        if cursor.rowcount != 1:
            return False
        state.bump(db, state.SUBSCRIPTIONS_VERSION)
    return True
