"""Source management, shared by ``newsbot sources ...`` and the ``/admin`` source commands.

One implementation each: adding a feed (fetched once and validated first), listing sources
with their health, pausing/resuming/removing, and OPML import/export, the feed readers'
exchange format.
"""

from __future__ import annotations

from datetime import datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import ElementTree as SafeET

from bot.models import Reply, Source
from bot.pipeline.fetch import SourceState
from bot.pipeline.urls import UnsafeURLError, check_url_allowed
from handlers.context import CommandContext
from storage import sources as source_store
from storage.engine import Store

MAX_OPML_OUTLINES = 2000


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return f"in {int(-seconds // 60)} min"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def describe_source(source: Source, now: datetime, last_day: int) -> str:
    state = source.state if not source.state_reason else f"{source.state} ({source.state_reason})"
    if source.kind not in ("feed", "page"):  # bundled demo files: read at start, never polled
        return "\n".join(
            [
                f"#{source.id} {source.name} [{source.kind}, read at start in console mode]",
                f"   {source.url}",
                f"   {last_day} stories in 24 h",
            ]
        )
    lines = [
        f"#{source.id} {source.name} [{source.kind}, every {source.interval_minutes} min] {state}",
        f"   {source.url}",
        f"   last fetch {_ago(source.last_fetch_at, now)}, next check "
        f"{_ago(source.next_check_at, now) if source.state == 'active' else '-'}, "
        f"{last_day} stories in 24 h",
    ]
    if source.last_error:
        lines.append(f"   last error ({source.consecutive_errors} in a row): {source.last_error}")
    return "\n".join(lines)


def format_sources(db: Store, now: datetime, *, offset: int = 0, limit: int = 1000) -> str:
    sources = source_store.list_sources(db)
    if not sources:
        return "No sources yet. Add one: newsbot sources add https://example.com/feed.xml"
    counts = source_store.stories_last_day(db, now)
    page = sources[offset : offset + limit]
    lines = [describe_source(s, now, counts.get(s.id, 0)) for s in page]
    if offset + limit < len(sources):
        lines.append(f"… {len(sources) - offset - limit} more")
    return "\n".join(lines)


def change_state(db: Store, ref: str, action: str) -> str:
    """``pause``, ``resume`` or ``remove`` a source by id, name or URL."""
    source = source_store.resolve_source(db, ref)
    if action == "remove":
        source_store.remove_source(db, source.id)
        return f"Removed source #{source.id} {source.name}"
    if action == "pause":
        source_store.set_source_state(db, source.id, "paused", "paused by an admin")
        return f"Paused source #{source.id} {source.name}"
    if action == "resume":
        source_store.set_source_state(db, source.id, "active")
        return f"Resumed source #{source.id} {source.name}: it will be polled shortly"
    raise ValueError(f"unknown action {action!r}")


async def add_source_checked(
    ctx: CommandContext,
    url: str,
    *,
    name: str | None = None,
    interval: int | None = None,
    full_text: bool = False,
    check: bool = True,
) -> Reply:
    """Fetch the feed once and save it only if it parses; otherwise say why and show the feed
    links the page advertises."""
    url = url.strip()
    services = ctx.services
    interval = interval or ctx.settings.default_interval_minutes
    if not 1 <= interval <= 7 * 24 * 60:
        return Reply("Error: the interval is in minutes, from 1 to 10080.")
    try:
        await check_url_allowed(url, allow_private=ctx.settings.allow_private_sources)
    except UnsafeURLError as exc:
        return Reply(f"Error: {exc}")
    existing = await services.db.call(source_store.find_source_by_url, url)
    if existing is not None:
        return Reply(f"Already a source: #{existing.id} {existing.name}")
    title = ""
    if check:
        result = await services.fetcher.fetch(SourceState(url=url))
        if (
            result.status == "error"
            or result.feed is None
            or (not result.feed.items and result.feed.error)
        ):
            reason = result.error or (result.feed.error if result.feed else None) or "no feed found"
            lines = [f"Error: {url} is not a usable feed: {reason}"]
            links = result.feed.feed_links if result.feed else []
            if links:
                lines.append("The page advertises these feeds:")
                lines += [f"- {link}" for link in links[:10]]
            return Reply("\n".join(lines))
        title = result.feed.title
        url = result.permanent_redirect_url or url
    source, _created = await services.db.call(
        source_store.add_source,
        url,
        name=name or title or url,
        kind="feed",
        interval_minutes=interval,
        fetch_full_text=full_text,
    )
    return Reply(
        f"Added source #{source.id} {source.name} (every {interval} min). "
        "It will be polled within a minute."
    )


async def import_opml(ctx: CommandContext, content: bytes) -> Reply:
    """Add every feed of an OPML file; report what was added, skipped as known, and refused."""
    try:
        root = SafeET.fromstring(content)
    except Exception as exc:  # defusedxml raises several types for hostile or broken XML
        return Reply(f"Error: this is not a readable OPML file ({exc.__class__.__name__}: {exc}).")
    outlines = [o for o in root.iter("outline") if o.get("xmlUrl")]
    if not outlines:
        return Reply("Error: no feeds in this OPML file (no <outline xmlUrl=...> elements).")
    added: list[str] = []
    known: list[str] = []
    refused: list[str] = []
    for outline in outlines[:MAX_OPML_OUTLINES]:
        url = (outline.get("xmlUrl") or "").strip()
        name = outline.get("title") or outline.get("text") or url
        try:
            await check_url_allowed(url, allow_private=ctx.settings.allow_private_sources)
        except UnsafeURLError as exc:
            refused.append(f"{url}: {exc}")
            continue
        source, created = await ctx.services.db.call(
            source_store.add_source,
            url,
            name=name,
            kind="feed",
            interval_minutes=ctx.settings.default_interval_minutes,
        )
        (added if created else known).append(f"#{source.id} {source.name}")
    if len(outlines) > MAX_OPML_OUTLINES:
        refused.append(
            f"{len(outlines) - MAX_OPML_OUTLINES} more outlines: over the limit of {MAX_OPML_OUTLINES}"
        )
    lines = [
        f"OPML import: {len(added)} added, {len(known)} already known, {len(refused)} refused."
    ]
    for title, items in (("Added", added), ("Known", known), ("Refused", refused)):
        if items:
            lines.append(f"{title}:")
            lines += [f"- {item}" for item in items[:30]]
            if len(items) > 30:
                lines.append(f"- … {len(items) - 30} more")
    return Reply("\n".join(lines))


def export_opml(db: Store) -> bytes:
    opml = Element("opml", version="2.0")
    head = SubElement(opml, "head")
    SubElement(head, "title").text = "newsbot sources"
    body = SubElement(opml, "body")
    for source in source_store.list_sources(db, kinds=("feed", "page")):
        SubElement(
            body, "outline", type="rss", text=source.name, title=source.name, xmlUrl=source.url
        )
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(opml, encoding="utf-8") + b"\n"
