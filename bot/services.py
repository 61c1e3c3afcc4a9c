"""Service functions shared by the scheduler, the CLI, the HTTP server and the commands.

Each is a thin async step over the pure pipeline stages and the storage functions: poll a
source, scan the inbox, ingest pushed or given inputs. The composition root builds one
:class:`Services` and hands it to whoever needs it; nothing here reads settings from the
environment or builds framework objects.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.metrics import Metrics
from bot.models import RawStory, Source
from bot.pipeline.feeds import extract_article, looks_like_feed
from bot.pipeline.fetch import Fetcher, SourceState
from bot.pipeline.ingest import (
    IngestInputError,
    ParsedInput,
    parse_document,
    parse_feed_document,
    stories_from_feed_items,
    story_from_mapping,
)
from bot.pipeline.run import IngestReport, Pipeline
from bot.settings import Settings
from storage import sources as source_store
from storage import state
from storage.db import DatabaseWorker, StorageFullError, is_storage_full, to_iso

log = logging.getLogger(__name__)

LAST_POLL_KEY = "last_successful_poll_at"
MAX_PAGE_FETCHES_PER_POLL = 10
INBOX_SETTLE_SECONDS = 1.0


@dataclass
class PollOutcome:
    source: Source
    status: str
    report: IngestReport = field(default_factory=IngestReport)
    error: str | None = None


@dataclass
class InputOutcome:
    """What ``newsbot ingest`` and the inbox report for one path or URL."""

    name: str
    kind: str
    report: IngestReport
    warnings: list[str]
    error: str | None = None


class Services:
    def __init__(
        self,
        settings: Settings,
        db: DatabaseWorker,
        pipeline: Pipeline,
        fetcher: Fetcher,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.db = db
        self.pipeline = pipeline
        self.fetcher = fetcher
        self.metrics = metrics
        self.clock = clock
        self._poll_locks: dict[int, asyncio.Lock] = {}

    # -- processing ---------------------------------------------------------------------
    async def process(
        self, raws: list[RawStory], *, source_id: int | None = None, source_name: str = ""
    ) -> IngestReport:
        """Store a batch one chunk (``NEWSBOT_INGEST_CHUNK_STORIES``) per database call, so
        the bot's other database work (``/healthz``, deliveries, commands) runs in between and
        other processes get the write lock between chunks."""
        size = self.settings.ingest_chunk_stories
        report = IngestReport()
        for start in range(0, len(raws), size):
            chunk = raws[start : start + size]
            try:
                report.merge(
                    await self.db.call(
                        self.pipeline.process,
                        chunk,
                        source_id=source_id,
                        source_name=source_name,
                        chunk_size=size,
                    )
                )
            except sqlite3.OperationalError as exc:
                if is_storage_full(exc):
                    log.error("event=storage_full stories=%d error=%r", len(raws), str(exc))
                    raise StorageFullError(
                        f"the database is full ({exc}): the first {start} of {len(raws)} "
                        "stories were stored (or known already), none after; free disk space "
                        "and it will be retried (stories already stored are recognised as "
                        "duplicates)"
                    ) from exc
                raise
        self.metrics.stories_ingested.inc(len(report.new))
        self.metrics.duplicates.labels("exact").inc(report.duplicates)
        self.metrics.duplicates.labels("reprint").inc(report.reprints)
        return report

    # -- sources ------------------------------------------------------------------------
    async def poll_source(self, source: Source) -> PollOutcome:
        """Fetch one source, store its new stories, record its health. Never raises."""
        lock = self._poll_locks.setdefault(source.id, asyncio.Lock())
        if lock.locked():
            return PollOutcome(source, "busy")
        async with lock:
            return await self._poll_locked(source)

    async def _poll_locked(self, source: Source) -> PollOutcome:
        fetch_state = SourceState(
            url=source.url,
            etag=source.etag,
            last_modified=source.last_modified,
            consecutive_errors=source.consecutive_errors,
            interval_minutes=source.interval_minutes,
        )
        try:
            return await self._fetch_and_store(source, fetch_state)
        except StorageFullError as exc:
            # Nothing recorded: the feed's validators stay as they were, so the next poll
            # fetches the same items again once there is room.
            return PollOutcome(source, "error", error=str(exc))

    async def _fetch_and_store(self, source: Source, fetch_state: SourceState) -> PollOutcome:
        result = await self.fetcher.fetch(fetch_state)
        now = self.clock()
        next_in = timedelta(seconds=result.next_check_seconds)
        if result.status == "error" or (result.status == "ok" and result.feed is None):
            error = result.error or "no feed in the response"
            await self.db.call(
                source_store.record_fetch_error,
                source.id,
                now=now,
                error=error,
                consecutive_errors=result.consecutive_errors,
                next_check_in=next_in,
                pause=result.should_pause,
            )
            self.metrics.fetch_errors.labels(source.name).inc()
            log.warning("event=fetch_error source=%s error=%r", source.id, error)
            return PollOutcome(source, "error", error=error)
        report = IngestReport()
        if result.status == "ok" and result.feed is not None:
            raws = stories_from_feed_items(result.feed.items, source_name=source.name)
            if len(raws) > self.settings.feed_max_items:
                log.warning(
                    "event=feed_items_capped source=%s items=%d kept=%d (NEWSBOT_FEED_MAX_ITEMS)",
                    source.id,
                    len(raws),
                    self.settings.feed_max_items,
                )
                raws = raws[: self.settings.feed_max_items]
            if source.fetch_full_text:
                raws = await self._expand_teasers(raws, result.feed.items)
            report = await self.process(raws, source_id=source.id, source_name=source.name)
        await self.db.call(
            source_store.record_fetch_success,
            source.id,
            now=now,
            next_check_in=next_in,
            etag=result.etag,
            last_modified=result.last_modified,
            new_url=result.permanent_redirect_url,
        )
        await self.db.call(state.set_value, LAST_POLL_KEY, to_iso(now) or "")
        log.info(
            "event=polled source=%s status=%s new=%d duplicates=%d",
            source.id,
            result.status,
            len(report.new),
            report.duplicates,
        )
        return PollOutcome(source, result.status, report)

    async def _expand_teasers(self, raws: list[RawStory], items: Iterable[Any]) -> list[RawStory]:
        """For sources set to full text: fetch the page of teaser items and extract its text."""
        expanded: list[RawStory] = []
        budget = MAX_PAGE_FETCHES_PER_POLL
        teaser_urls = {item.url for item in items if item.is_teaser and item.url}
        for raw in raws:
            if budget and raw.url in teaser_urls:
                budget -= 1
                try:
                    final_url, body, _ctype = await self.fetcher.fetch_page(raw.url or "")
                    extracted = extract_article(body, final_url)
                except Exception as exc:  # a page failing must not lose the teaser
                    log.info("event=page_fetch_failed url=%s error=%s", raw.url, exc)
                    extracted = None
                if extracted and len(extracted[1]) > len(raw.text):
                    raw = RawStory(
                        raw.title, extracted[1], raw.url, raw.published, raw.guid, raw.source_name
                    )
            expanded.append(raw)
        return expanded

    async def poll_due(self) -> list[PollOutcome]:
        sources = await self.db.call(source_store.due_sources, self.clock())
        return await self._poll_many(sources)

    async def poll_all(self) -> list[PollOutcome]:
        """Every active polled source, whatever its interval (``run --once``, ``/admin poll``)."""
        sources = [
            s
            for s in await self.db.call(source_store.list_sources, kinds=("feed", "page"))
            if s.state == "active"
        ]
        return await self._poll_many(sources)

    async def _poll_many(self, sources: list[Source]) -> list[PollOutcome]:
        # The fetcher allows one request at a time per host, so this is polite as it is.
        return list(await asyncio.gather(*(self.poll_source(s) for s in sources)))

    # -- the inbox ------------------------------------------------------------------------
    async def scan_inbox(
        self, *, settle_seconds: float = INBOX_SETTLE_SECONDS
    ) -> list[InputOutcome]:
        """Process every settled file in the inbox; move each to done/ or failed/ (never delete).

        A crash between storing and moving re-processes the file at the next scan, and the exact
        duplicate check stores nothing twice.
        """
        inbox = self.settings.inbox
        if not inbox.is_dir():
            return []
        outcomes = []
        now = time.time()
        for path in sorted(
            p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")
        ):
            try:
                if now - path.stat().st_mtime < settle_seconds:
                    continue  # still being written
            except FileNotFoundError:
                continue
            try:
                outcome = await self.ingest_file(path, source_name=f"inbox/{path.name}")
            except StorageFullError:
                break  # the file stays in the inbox and is read again at the next scan
            self._file_away(path, outcome)
            outcomes.append(outcome)
        return outcomes

    def _file_away(self, path: Path, outcome: InputOutcome) -> None:
        folder = path.parent / ("failed" if outcome.error else "done")
        folder.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = folder / f"{stamp}-{path.name}"
        shutil.move(str(path), target)
        if outcome.error:
            target.with_name(target.name + ".reason.txt").write_text(
                outcome.error + "\n", encoding="utf-8"
            )
        log.info("event=inbox_file name=%s moved_to=%s", path.name, folder.name)

    # -- explicit inputs -------------------------------------------------------------------
    async def ingest_file(
        self, path: Path, *, source_name: str = "", source_id: int | None = None
    ) -> InputOutcome:
        try:
            content = path.read_bytes()
            parsed = parse_document(content, name=path.name, source_name=source_name or path.name)
        except (OSError, IngestInputError) as exc:
            return InputOutcome(str(path), "unknown", IngestReport(), [], error=str(exc))
        return await self._ingest_parsed(str(path), parsed, source_id=source_id)

    async def ingest_url(self, url: str, *, source_name: str = "") -> InputOutcome:
        """A URL may be a feed or an article page."""
        try:
            final_url, body, _content_type = await self.fetcher.fetch_page(url)
        except Exception as exc:
            return InputOutcome(url, "unknown", IngestReport(), [], error=str(exc))
        try:
            if looks_like_feed(body):
                parsed = parse_feed_document(body, url=final_url, source_name=source_name)
            else:
                article = extract_article(body, final_url)
                if article is None:
                    raise IngestInputError("no feed and no article text found at this URL")
                title, text = article
                parsed = ParsedInput(
                    "page",
                    [
                        RawStory(
                            title=title,
                            text=text,
                            url=final_url,
                            source_name=source_name or final_url,
                        )
                    ],
                )
        except IngestInputError as exc:
            return InputOutcome(url, "unknown", IngestReport(), [], error=str(exc))
        return await self._ingest_parsed(url, parsed)

    async def _ingest_parsed(
        self, name: str, parsed: ParsedInput, *, source_id: int | None = None
    ) -> InputOutcome:
        for warning in parsed.warnings:
            log.warning("event=input_warning input=%s detail=%s", name, warning)
        report = await self.process(parsed.stories, source_id=source_id)
        return InputOutcome(name, parsed.kind, report, parsed.warnings)

    async def ingest_payload(self, payload: Any) -> tuple[IngestReport, list[str]]:
        """``POST /ingest``: one story object or a list of them. Returns (report, row errors)."""
        rows = payload if isinstance(payload, list) else [payload]
        raws, errors = [], []
        for position, row in enumerate(rows):
            try:
                raws.append(
                    story_from_mapping(row if isinstance(row, Mapping) else {}, source_name="push")
                )
            except IngestInputError as exc:
                errors.append(f"item {position}: {exc}")
        report = await self.process(raws) if raws else IngestReport()
        return report, errors
