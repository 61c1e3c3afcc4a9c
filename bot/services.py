"""Service functions shared by the scheduler, the CLI, the HTTP server and the commands.

Each is a thin async step over the pure pipeline stages and the storage functions: poll a
source, scan the inbox, ingest pushed or given inputs. The composition root builds one
:class:`Services` and hands it to whoever needs it; nothing here reads settings from the
environment or builds framework objects.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.metrics import Metrics
from bot.models import RawStory, Source
from bot.pipeline.feeds import extract_article, looks_like_feed, page_image
from bot.pipeline.fetch import Fetcher, FetchResult, SourceState
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
from storage.db import (
    DatabaseWorker,
    StorageFullError,
    is_database_busy,
    is_storage_full,
    to_iso,
)

log = logging.getLogger(__name__)

LAST_POLL_KEY = "last_successful_poll_at"
MAX_PAGE_FETCHES_PER_POLL = 10
#: The inbox's own folders; a plain file holding one of these names is renamed aside.
RESERVED_INBOX_NAMES = ("done", "failed")
#: Names of files still being written by a well-behaved writer: never taken from the inbox.
IN_PROGRESS_SUFFIXES = (".part", ".tmp")
#: Appended to a failed file's name for the file that says why it failed.
REASON_SUFFIX = ".reason.txt"
_NAME_MAX_BYTES = 255  # the longest file name ext4, XFS, btrfs and tmpfs accept
_MAX_REASON_CHARS = 500


class _LeaveInPlace(Exception):
    """An inbox entry that must be neither read nor moved (a link, a device, a swapped file)."""


def display_name(name: str) -> str:
    """A file name fit for logs, messages and the database: bytes that are not UTF-8 (kept by
    Python as lone surrogates, which SQLite and UTF-8 writers refuse) become U+FFFD."""
    return os.fsencode(name).decode("utf-8", errors="replace")


def _ignored_name(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES)


def _not_a_plain_file(info: os.stat_result) -> str | None:
    """Why an inbox entry is not read, or None for a regular file with no other names."""
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link: only regular files are read from the inbox"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file: only regular files are read from the inbox"
    if info.st_nlink > 1:
        return "a hard link to a file elsewhere: copy or move the file into the inbox instead"
    return None


def _fitting_name(stamp: str, name: str) -> str:
    """``<stamp>-<name>`` cut (extension kept) so that it and its reason file fit in a name."""
    room = _NAME_MAX_BYTES - len(stamp) - 1 - len(REASON_SUFFIX) - 4  # 4: room for "-NNN"
    raw = os.fsencode(name)
    if len(raw) > room:
        stem, dot, extension = raw.rpartition(b".")
        extension = dot + extension if dot and len(extension) <= 16 else b""
        raw = (stem if extension else raw)[: room - len(extension)] + extension
    return f"{stamp}-{os.fsdecode(raw)}"


def _unused_path(path: Path) -> Path:
    candidate, number = path, 1
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


def _describe(exc: BaseException) -> str:
    """One line saying what went wrong, for a reason file, a log or the CLI."""
    if isinstance(exc, IngestInputError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {display_name(str(exc.filename))}" if exc.filename else "")
    elif isinstance(exc, RecursionError):
        text = "input nested too deeply to read"
    elif isinstance(exc, MemoryError):
        text = "out of memory while reading this input; lower NEWSBOT_MAX_INPUT_BYTES"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(display_name(text).split())
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"


def _pushed_stories(rows: list[Any]) -> tuple[list[RawStory], list[str]]:
    """``POST /ingest`` rows as stories, and one error line per row that is not one."""
    raws, errors = [], []
    for position, row in enumerate(rows):
        try:
            raws.append(
                story_from_mapping(row if isinstance(row, Mapping) else {}, source_name="push")
            )
        except IngestInputError as exc:
            errors.append(f"item {position}: {exc}")
    return raws, errors


def _parse_fetched(body: bytes, final_url: str, source_name: str) -> ParsedInput:
    """A fetched URL's body as a feed or an article page (CPU-bound: run in a worker thread)."""
    if looks_like_feed(body):
        return parse_feed_document(body, url=final_url, source_name=source_name)
    article = extract_article(body, final_url)
    if article is None:
        raise IngestInputError("no feed and no article text found at this URL")
    title, text = article
    story = RawStory(
        title=title,
        text=text,
        url=final_url,
        source_name=source_name or final_url,
        image_url=page_image(body, final_url),
    )
    return ParsedInput("page", [story])


def read_input(path: Path, *, max_bytes: int, expected: os.stat_result | None = None) -> bytes:
    """The bytes of one input file, refusing more than ``max_bytes``.

    With ``expected`` (the inbox), the file is opened without following a link and must still
    be the regular file that was listed: a link or a file swapped in since the listing raises
    :class:`_LeaveInPlace`. Without it (a path the operator named) links are followed and pipes
    are read, still bounded.
    """
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if expected is not None:
        flags |= os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if expected is not None and exc.errno == errno.ELOOP:
            raise _LeaveInPlace(
                "a symbolic link: only regular files are read from the inbox"
            ) from None
        raise
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if expected is not None:
            problem = _not_a_plain_file(info)
            if problem:
                raise _LeaveInPlace(problem)
            if (info.st_dev, info.st_ino) != (expected.st_dev, expected.st_ino):
                raise _LeaveInPlace("replaced while being read; it is read at the next scan")
        too_large = IngestInputError(
            f"the input is larger than {max_bytes:,} bytes, the limit for one input "
            "(NEWSBOT_MAX_INPUT_BYTES): split it into smaller files or raise the limit"
        )
        if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
            raise too_large
        content = handle.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise too_large
    return content


#: Stories per step when the caller follows progress (``newsbot ingest``): each step is its own
#: transaction, so a kill mid-file keeps the steps done and a retry stores the rest once.
PROGRESS_STEP = 250
#: ``progress(done, total)``, called before the first step and after each one.
Progress = Callable[[int, int], None]


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
        # The inbox's memory between scans: each file's (size, mtime, inode) and since when it
        # has not changed; the warning last given per name (given once); files that cannot move.
        self._inbox_seen: dict[str, tuple[tuple[int, int, int], float]] = {}
        self._inbox_warned: dict[str, str] = {}
        self._inbox_stuck: set[tuple[str, int]] = set()

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
            except Exception as exc:
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
        except Exception as exc:
            # Whatever failed (a parser, memory, a bug), it is recorded on the source like any
            # fetch error, so backoff and the auto-pause apply instead of a retry every interval.
            failed = self.fetcher.failed(fetch_state, _describe(exc))
            return await self._record_fetch_error(source, failed.error or "", failed)

    async def _fetch_and_store(self, source: Source, fetch_state: SourceState) -> PollOutcome:
        result = await self.fetcher.fetch(fetch_state)
        now = self.clock()
        next_in = timedelta(seconds=result.next_check_seconds)
        if result.status == "error" or (result.status == "ok" and result.feed is None):
            return await self._record_fetch_error(
                source, result.error or "no feed in the response", result
            )
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

    async def _record_fetch_error(
        self, source: Source, error: str, result: FetchResult
    ) -> PollOutcome:
        await self.db.call(
            source_store.record_fetch_error,
            source.id,
            now=self.clock(),
            error=error,
            consecutive_errors=result.consecutive_errors,
            next_check_in=timedelta(seconds=result.next_check_seconds),
            pause=result.should_pause,
        )
        self.metrics.fetch_errors.labels(source.name).inc()
        log.warning("event=fetch_error source=%s error=%r", source.id, error)
        return PollOutcome(source, "error", error=error)

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
                    # trafilatura takes CPU seconds on a big page: off the loop.
                    extracted = await asyncio.to_thread(extract_article, body, final_url)
                    image = raw.image_url or await asyncio.to_thread(page_image, body, final_url)
                except Exception as exc:  # a page failing must not lose the teaser
                    log.info("event=page_fetch_failed url=%s error=%s", raw.url, exc)
                    extracted, image = None, raw.image_url
                text = raw.text
                if extracted and len(extracted[1]) > len(raw.text):
                    text = extracted[1]
                if text != raw.text or image != raw.image_url:
                    raw = dataclasses.replace(raw, text=text, image_url=image)
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
    async def scan_inbox(self, *, settle_seconds: float | None = None) -> list[InputOutcome]:
        """Process every complete file in the inbox; move each to done/ or failed/ (never delete).

        A file is taken once its size and mtime have stayed the same for ``settle_seconds``
        (default ``NEWSBOT_INBOX_SETTLE_SECONDS``) across scans; ``*.part``/``*.tmp`` names and
        dot-files are never taken, so writing under such a name and renaming is always safe.
        Only regular files are read, opened without following links: a symbolic link, a hard
        link to a file elsewhere, a folder or a device stays where it is, with one warning.
        Any error in one file moves that file to failed/ with the reason beside it, and the scan
        goes on. A crash between storing and moving re-processes the file at the next scan, and
        the exact duplicate check stores nothing twice.
        """
        inbox = self.settings.inbox
        if not inbox.is_dir():
            return []
        settle = self.settings.inbox_settle_seconds if settle_seconds is None else settle_seconds
        outcomes: list[InputOutcome] = []
        try:
            entries = await asyncio.to_thread(self._inbox_candidates, inbox, settle)
        except OSError as exc:
            log.warning("event=inbox_unreadable error=%r", str(exc))
            return []
        for name, expected in entries:
            path = inbox / name
            shown = display_name(name)
            try:
                outcome = await self._ingest_inbox_file(path, expected)
            except StorageFullError:
                break  # the file stays in the inbox and is read again at the next scan
            except _LeaveInPlace as exc:
                self._warn_once(name, str(exc))
                continue
            except Exception as exc:  # one bad file must never stop the inbox
                if is_database_busy(exc):
                    # Another process holds the database: not this file's fault, so it stays
                    # in the inbox and the scan resumes at the next poll.
                    log.warning("event=inbox_deferred name=%s error=%r", shown, str(exc))
                    break
                log.warning("event=inbox_file_error name=%s error=%r", shown, _describe(exc))
                outcome = InputOutcome(shown, "unknown", IngestReport(), [], error=_describe(exc))
            try:
                await asyncio.to_thread(self._file_away, path, outcome)
            except OSError as exc:
                self._inbox_stuck.add((name, expected.st_ino))
                self._warn_once(name, f"cannot be moved out of the inbox ({exc.strerror or exc})")
                continue
            outcomes.append(outcome)
        return outcomes

    def _inbox_candidates(self, inbox: Path, settle: float) -> list[tuple[str, os.stat_result]]:
        """Names of the inbox's complete regular files, in name order, with their lstat.

        Runs in a worker thread (a slow disk must not hold the loop). Remembers each file's
        size and mtime between scans: a file is complete once they have not changed for
        ``settle`` seconds, by the clock and by the file's own mtime.
        """
        self._claim_reserved_names(inbox)
        now = time.monotonic()
        seen: dict[str, tuple[tuple[int, int, int], float]] = {}
        taken: list[tuple[str, os.stat_result]] = []
        present: set[str] = set()
        with os.scandir(inbox) as listing:
            entries = sorted(listing, key=lambda entry: os.fsencode(entry.name))
        for entry in entries:
            name = entry.name
            present.add(name)
            if name in RESERVED_INBOX_NAMES or _ignored_name(name):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone since the listing
            problem = _not_a_plain_file(info)
            if problem:
                self._warn_once(name, problem)
                continue
            if (name, info.st_ino) in self._inbox_stuck:
                continue
            signature = (info.st_size, info.st_mtime_ns, info.st_ino)
            if settle > 0:
                previous = self._inbox_seen.get(name)
                first_seen = previous[1] if previous and previous[0] == signature else now
                seen[name] = (signature, first_seen)
                mtime_age = time.time() - info.st_mtime
                if previous is None or previous[0] != signature or now - first_seen < settle:
                    continue  # still being written, or not yet watched long enough
                if 0 <= mtime_age < settle:
                    continue  # written to since (a future mtime, from a skewed clock, is not)
            taken.append((name, info))
        self._inbox_seen = seen
        self._inbox_warned = {
            key: value for key, value in self._inbox_warned.items() if key in present
        }
        return taken

    def _claim_reserved_names(self, inbox: Path) -> None:
        """Make sure done/ and failed/ are folders: a plain file (or a link) holding one of those
        names is renamed aside, so it is read like any other file instead of blocking the inbox."""
        for reserved in RESERVED_INBOX_NAMES:
            folder = inbox / reserved
            try:
                info = folder.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode):
                continue
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            aside = _unused_path(inbox / f"{reserved}-{stamp}")
            try:
                os.rename(folder, aside)
            except OSError as exc:
                self._warn_once(reserved, f"holds the name of the inbox's folder and {exc}")
                continue
            log.warning(
                "event=inbox_reserved_name name=%s renamed_to=%s detail=%r",
                reserved,
                display_name(aside.name),
                f"{reserved} is the inbox's own folder name",
            )

    def _warn_once(self, name: str, problem: str) -> None:
        if self._inbox_warned.get(name) == problem:
            return
        self._inbox_warned[name] = problem
        log.warning("event=inbox_file_skipped name=%s reason=%r", display_name(name), problem)

    async def _ingest_inbox_file(self, path: Path, expected: os.stat_result) -> InputOutcome:
        shown = display_name(path.name)
        try:
            parsed = await asyncio.to_thread(
                self._read_and_parse, path, source_name=f"inbox/{shown}", expected=expected
            )
        except IngestInputError as exc:
            return InputOutcome(shown, "unknown", IngestReport(), [], error=str(exc))
        return await self._ingest_parsed(shown, parsed)

    def _read_and_parse(
        self,
        path: Path,
        *,
        source_name: str,
        expected: os.stat_result | None = None,
    ) -> ParsedInput:
        """Read and parse one input in a worker thread: both cost seconds on a large file."""
        content = read_input(path, max_bytes=self.settings.max_input_bytes, expected=expected)
        return parse_document(content, name=display_name(path.name), source_name=source_name)

    def _file_away(self, path: Path, outcome: InputOutcome) -> None:
        folder = path.parent / ("failed" if outcome.error else "done")
        folder.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = _unused_path(folder / _fitting_name(stamp, path.name))
        os.rename(path, target)
        if outcome.error:
            target.with_name(target.name + REASON_SUFFIX).write_text(
                outcome.error + "\n", encoding="utf-8", errors="replace"
            )
        log.info("event=inbox_file name=%s moved_to=%s", display_name(path.name), folder.name)

    # -- explicit inputs -------------------------------------------------------------------
    async def ingest_file(
        self,
        path: Path,
        *,
        source_name: str = "",
        source_id: int | None = None,
        progress: Progress | None = None,
    ) -> InputOutcome:
        """``newsbot ingest PATH``: the path is the operator's own choice, so links are followed;
        the size cap and the text check apply as in the inbox."""
        try:
            parsed = await asyncio.to_thread(
                self._read_and_parse, path, source_name=source_name or display_name(path.name)
            )
        except Exception as exc:  # one line for the operator, never a traceback
            return InputOutcome(str(path), "unknown", IngestReport(), [], error=_describe(exc))
        return await self._ingest_parsed(str(path), parsed, source_id=source_id, progress=progress)

    async def ingest_url(
        self, url: str, *, source_name: str = "", progress: Progress | None = None
    ) -> InputOutcome:
        """A URL may be a feed or an article page."""
        try:
            final_url, body, _content_type = await self.fetcher.fetch_page(url)
        except Exception as exc:
            return InputOutcome(url, "unknown", IngestReport(), [], error=str(exc))
        try:
            parsed = await asyncio.to_thread(_parse_fetched, body, final_url, source_name)
        except IngestInputError as exc:
            return InputOutcome(url, "unknown", IngestReport(), [], error=str(exc))
        return await self._ingest_parsed(url, parsed, progress=progress)

    async def _ingest_parsed(
        self,
        name: str,
        parsed: ParsedInput,
        *,
        source_id: int | None = None,
        progress: Progress | None = None,
    ) -> InputOutcome:
        for warning in parsed.warnings:
            log.warning("event=input_warning input=%s detail=%s", name, warning)
        if progress is None:
            report = await self.process(parsed.stories, source_id=source_id)
            return InputOutcome(name, parsed.kind, report, parsed.warnings)
        report = IngestReport()
        total = len(parsed.stories)
        progress(0, total)
        for start in range(0, total, PROGRESS_STEP):
            step = parsed.stories[start : start + PROGRESS_STEP]
            report.merge(await self.process(step, source_id=source_id))
            progress(start + len(step), total)
        return InputOutcome(name, parsed.kind, report, parsed.warnings)

    async def ingest_payload(self, payload: Any) -> tuple[IngestReport, list[str]]:
        """``POST /ingest``: one story object or a list of them. Returns (report, row errors)."""
        rows = payload if isinstance(payload, list) else [payload]
        # Rows without a title are segmented for one: CPU work kept off the loop.
        raws, errors = await asyncio.to_thread(_pushed_stories, rows)
        report = await self.process(raws) if raws else IngestReport()
        return report, errors
