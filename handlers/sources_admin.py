"""Source management, shared by ``newsbot sources ...`` and the ``/admin`` source commands.

One implementation each: adding a feed (fetched once and validated first), listing sources
with their health, pausing/resuming/removing, and OPML import/export, the feed readers'
exchange format.
"""

from __future__ import annotations

from datetime import datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import ElementTree as SafeET

from bot.i18n import Translator, translator
from bot.models import Reply, Source
from bot.pipeline.fetch import SourceState
from bot.pipeline.urls import UnsafeURLError, check_url_allowed
from handlers.context import CommandContext
from storage import sources as source_store
from storage.engine import Store

MAX_OPML_OUTLINES = 2000


def _ago(t: Translator, moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return t._("never")
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return t._("in {n} min", n=int(-seconds // 60))
    if seconds < 3600:
        return t._("{n} min ago", n=int(seconds // 60))
    if seconds < 86400:
        return t._("{n} h ago", n=int(seconds // 3600))
    return t._("{n} d ago", n=int(seconds // 86400))


def describe_source(
    source: Source, now: datetime, last_day: int, t: Translator | None = None
) -> str:
    t = t or translator(None)
    state = source.state if not source.state_reason else f"{source.state} ({source.state_reason})"
    stories = t.ngettext("{n} story in 24 h", "{n} stories in 24 h", last_day)
    if source.kind not in ("feed", "page"):  # bundled demo files: read at start, never polled
        return "\n".join(
            [
                t._(
                    "#{id} {name} [{kind}, read at start in console mode]",
                    id=source.id,
                    name=source.name,
                    kind=source.kind,
                ),
                f"   {source.url}",
                f"   {stories}",
            ]
        )
    lines = [
        t._(
            "#{id} {name} [{kind}, every {minutes} min] {state}",
            id=source.id,
            name=source.name,
            kind=source.kind,
            minutes=source.interval_minutes,
            state=state,
        ),
        f"   {source.url}",
        "   "
        + t._(
            "last fetch {last}, next check {next}, {stories}",
            last=_ago(t, source.last_fetch_at, now),
            next=_ago(t, source.next_check_at, now) if source.state == "active" else "-",
            stories=stories,
        ),
    ]
    if source.last_error:
        lines.append(
            "   "
            + t._(
                "last error ({count} in a row): {error}",
                count=source.consecutive_errors,
                error=source.last_error,
            )
        )
    return "\n".join(lines)


def format_sources(
    db: Store,
    now: datetime,
    *,
    offset: int = 0,
    limit: int = 1000,
    t: Translator | None = None,
) -> str:
    t = t or translator(None)
    sources = source_store.list_sources(db)
    if not sources:
        return t._("No sources yet. Add one: newsbot sources add https://example.com/feed.xml")
    counts = source_store.stories_last_day(db, now)
    page = sources[offset : offset + limit]
    lines = [describe_source(s, now, counts.get(s.id, 0), t) for s in page]
    if offset + limit < len(sources):
        lines.append("… " + t._("{n} more", n=len(sources) - offset - limit))
    return "\n".join(lines)


def change_state(db: Store, ref: str, action: str, t: Translator | None = None) -> str:
    """``pause``, ``resume`` or ``remove`` a source by id, name or URL."""
    t = t or translator(None)
    source = source_store.resolve_source(db, ref)
    if action == "remove":
        source_store.remove_source(db, source.id)
        return t._("Removed source #{id} {name}", id=source.id, name=source.name)
    if action == "pause":
        source_store.set_source_state(db, source.id, "paused", "paused by an admin")
        return t._("Paused source #{id} {name}", id=source.id, name=source.name)
    if action == "resume":
        source_store.set_source_state(db, source.id, "active")
        return t._(
            "Resumed source #{id} {name}: it will be polled shortly",
            id=source.id,
            name=source.name,
        )
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
    t = ctx.t
    url = url.strip()
    services = ctx.services
    interval = interval or ctx.settings.default_interval_minutes
    if not 1 <= interval <= 7 * 24 * 60:
        return Reply(t._("Error: the interval is in minutes, from 1 to 10080."))
    try:
        await check_url_allowed(url, allow_private=ctx.settings.allow_private_sources)
    except UnsafeURLError as exc:
        return Reply(t._("Error: {error}", error=exc))
    existing = await services.db.call(source_store.find_source_by_url, url)
    if existing is not None:
        return Reply(t._("Already a source: #{id} {name}", id=existing.id, name=existing.name))
    title = ""
    if check:
        result = await services.fetcher.fetch(SourceState(url=url))
        if (
            result.status == "error"
            or result.feed is None
            or (not result.feed.items and result.feed.error)
        ):
            reason = (
                result.error or (result.feed.error if result.feed else None) or t._("no feed found")
            )
            lines = [t._("Error: {url} is not a usable feed: {reason}", url=url, reason=reason)]
            links = result.feed.feed_links if result.feed else []
            if links:
                lines.append(t._("The page advertises these feeds:"))
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
        t._(
            "Added source #{id} {name} (every {minutes} min). It will be polled within a minute.",
            id=source.id,
            name=source.name,
            minutes=interval,
        )
    )


async def import_opml(ctx: CommandContext, content: bytes) -> Reply:
    """Add every feed of an OPML file; report what was added, skipped as known, and refused."""
    t = ctx.t
    try:
        root = SafeET.fromstring(content)
    except Exception as exc:  # defusedxml raises several types for hostile or broken XML
        error = f"{exc.__class__.__name__}: {exc}"
        return Reply(t._("Error: this is not a readable OPML file ({error}).", error=error))
    outlines = [o for o in root.iter("outline") if o.get("xmlUrl")]
    if not outlines:
        return Reply(t._("Error: no feeds in this OPML file (no <outline xmlUrl=...> elements)."))
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
            t._(
                "{n} more outlines: over the limit of {limit}",
                n=len(outlines) - MAX_OPML_OUTLINES,
                limit=MAX_OPML_OUTLINES,
            )
        )
    lines = [
        t._(
            "OPML import: {added} added, {known} already known, {refused} refused.",
            added=len(added),
            known=len(known),
            refused=len(refused),
        )
    ]
    for title, items in (
        (t._("Added:"), added),
        (t._("Known:"), known),
        (t._("Refused:"), refused),
    ):
        if items:
            lines.append(title)
            lines += [f"- {item}" for item in items[:30]]
            if len(items) > 30:
                lines.append("- … " + t._("{n} more", n=len(items) - 30))
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
