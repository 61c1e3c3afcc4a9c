"""Named queries over the ``sources`` table: add, list, health, and the poll bookkeeping."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.models import Source
from storage.db import from_iso, to_iso, utcnow
from storage.engine import Store, is_unique_violation


class SourceNotFound(LookupError):
    pass


def _row_to_source(row: dict[str, Any]) -> Source:
    return Source(
        id=row["id"],
        url=row["url"],
        name=row["name"],
        kind=row["kind"],
        interval_minutes=row["interval_minutes"],
        state=row["state"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        consecutive_errors=row["consecutive_errors"],
        last_error=row["last_error"],
        last_fetch_at=from_iso(row["last_fetch_at"]),
        last_success_at=from_iso(row["last_success_at"]),
        next_check_at=from_iso(row["next_check_at"]),
        state_reason=row["state_reason"],
        fetch_full_text=bool(row["fetch_full_text"]),
    )


def add_source(
    db: Store,
    url: str,
    *,
    name: str | None = None,
    kind: str = "feed",
    interval_minutes: int = 15,
    fetch_full_text: bool = False,
) -> tuple[Source, bool]:
    """Add a source, or return the existing one with that URL. Returns (source, created)."""
    existing = find_source_by_url(db, url)
    if existing is not None:
        return existing, False
    now = to_iso(utcnow())
    try:
        _insert_source(db, url, name, kind, interval_minutes, fetch_full_text, now)
    except Exception as exc:  # the same URL added at the same moment by another caller
        raced = find_source_by_url(db, url) if is_unique_violation(exc) else None
        if raced is None:
            raise
        return raced, False
    source = find_source_by_url(db, url)
    assert source is not None
    return source, True


def _insert_source(
    db: Store,
    url: str,
    name: str | None,
    kind: str,
    interval_minutes: int,
    fetch_full_text: bool,
    now: str | None,
) -> None:
    db.insert(
        "sources",
        {
            "url": url,
            "name": name or url,
            "kind": kind,
            "interval_minutes": interval_minutes,
            "fetch_full_text": int(fetch_full_text),
            "created_at": now,
            "next_check_at": now,
        },
    )


def find_source_by_url(db: Store, url: str) -> Source | None:
    rows = list(db.query("SELECT * FROM sources WHERE url = ?", [url]))
    return _row_to_source(rows[0]) if rows else None


def get_source(db: Store, source_id: int) -> Source:
    rows = list(db.query("SELECT * FROM sources WHERE id = ?", [source_id]))
    if not rows:
        raise SourceNotFound(f"no source with id {source_id}")
    return _row_to_source(rows[0])


def resolve_source(db: Store, ref: str) -> Source:
    """A source by id, exact name or URL: what users type after `sources pause`."""
    ref = ref.strip()
    # ASCII digits only, within SQLite's integer range ("²".isdigit() is true; int("²") fails).
    if ref.isascii() and ref.isdigit() and len(ref) <= 18:
        return get_source(db, int(ref))
    rows = list(
        db.query(
            "SELECT * FROM sources WHERE url = ? OR lower(name) = lower(?) ORDER BY id LIMIT 2",
            [ref, ref],
        )
    )
    if len(rows) == 1:
        return _row_to_source(rows[0])
    if len(rows) > 1:
        raise SourceNotFound(f"{ref!r} names more than one source; use its id")
    raise SourceNotFound(f"no source with id, name or URL {ref!r}")


def list_sources(db: Store, *, kinds: tuple[str, ...] | None = None) -> list[Source]:
    rows = db.query("SELECT * FROM sources ORDER BY id")
    sources = [_row_to_source(row) for row in rows]
    return [s for s in sources if kinds is None or s.kind in kinds]


def due_sources(db: Store, now: datetime) -> list[Source]:
    """Active polled sources whose next check has come."""
    rows = db.query(
        "SELECT * FROM sources WHERE state = 'active' AND kind IN ('feed', 'page') "
        "AND (next_check_at IS NULL OR next_check_at <= ?) ORDER BY next_check_at",
        [to_iso(now)],
    )
    return [_row_to_source(row) for row in rows]


def set_source_state(db: Store, source_id: int, state: str, reason: str | None = None) -> Source:
    get_source(db, source_id)
    changes: dict[str, Any] = {"state": state, "state_reason": reason}
    if state == "active":
        changes.update(consecutive_errors=0, next_check_at=to_iso(utcnow()))
    db.update("sources", source_id, changes)
    return get_source(db, source_id)


def remove_source(db: Store, source_id: int) -> Source:
    source = get_source(db, source_id)
    db.execute("DELETE FROM sources WHERE id = ?", [source_id])
    return source


def record_fetch_success(
    db: Store,
    source_id: int,
    *,
    now: datetime,
    next_check_in: timedelta,
    etag: str | None,
    last_modified: str | None,
    new_url: str | None = None,
) -> None:
    changes: dict[str, Any] = {
        "etag": etag,
        "last_modified": last_modified,
        "consecutive_errors": 0,
        "last_error": None,
        "last_fetch_at": to_iso(now),
        "last_success_at": to_iso(now),
        "next_check_at": to_iso(now + next_check_in),
    }
    if new_url and find_source_by_url(db, new_url) is None:
        changes["url"] = new_url
    db.update("sources", source_id, changes)


def record_fetch_error(
    db: Store,
    source_id: int,
    *,
    now: datetime,
    error: str,
    consecutive_errors: int,
    next_check_in: timedelta,
    pause: bool,
) -> None:
    """Record a failed poll; after too many the source pauses itself with the reason shown."""
    changes: dict[str, Any] = {
        "consecutive_errors": consecutive_errors,
        "last_error": error,
        "last_fetch_at": to_iso(now),
        "next_check_at": to_iso(now + next_check_in),
    }
    if pause:
        changes["state"] = "error"
        changes["state_reason"] = f"paused after {consecutive_errors} consecutive errors: {error}"
    db.update("sources", source_id, changes)


def stories_last_day(db: Store, now: datetime) -> dict[int, int]:
    """Stories stored per source in the last 24 hours, for the health listing."""
    since = to_iso(now - timedelta(days=1))
    rows = db.execute(
        "SELECT source_id, count(*) FROM stories WHERE fetched_at >= ? GROUP BY source_id", [since]
    ).fetchall()
    return {source_id: count for source_id, count in rows if source_id is not None}
