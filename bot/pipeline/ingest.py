"""Turning inputs into :class:`RawStory` lists: text dumps, JSON Lines, feed documents, pushes.

A path's type is decided by its extension first (``.txt``/``.md`` are text dumps even when they
start with ``<``), by its content only for unknown extensions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.models import RawStory
from bot.pipeline.feeds import FeedItem, looks_like_feed, parse_feed
from bot.pipeline.segment import split_dump

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".text"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".feed"}
MAX_FIELD_CHARS = 200_000


class IngestInputError(ValueError):
    """An input that yields nothing usable; the message says why."""


@dataclass
class ParsedInput:
    """What one input gave: its stories, the kind it was read as, and warnings to report."""

    kind: str
    stories: list[RawStory]
    warnings: list[str] = field(default_factory=list)
    title: str = ""


def parse_published(value: Any) -> datetime | None:
    """ISO 8601 text or epoch seconds to an aware UTC datetime; anything else to None."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC)
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def story_from_mapping(row: Mapping[str, Any], *, source_name: str = "") -> RawStory:
    """A pushed or JSON Lines story: ``{"title","text","url"?,"published"?}``.

    Raises IngestInputError naming what is wrong, so a caller can report it per row.
    """
    if not isinstance(row, Mapping):
        raise IngestInputError("a story must be a JSON object")
    title = row.get("title")
    text = row.get("text", row.get("body", ""))
    if title is not None and not isinstance(title, str):
        raise IngestInputError("'title' must be a string")
    if not isinstance(text, str):
        raise IngestInputError("'text' must be a string")
    title = (title or "").strip()[:MAX_FIELD_CHARS]
    text = text.strip()[:MAX_FIELD_CHARS]
    if not title and not text:
        raise IngestInputError("a story needs a 'title' or a 'text'")
    url = row.get("url")
    if url is not None and not isinstance(url, str):
        raise IngestInputError("'url' must be a string")
    if not title:
        segments = split_dump(text)
        title = segments[0].title if segments else text[:120]
    return RawStory(
        title=title,
        text=text,
        url=url or None,
        published=parse_published(row.get("published")),
        guid=str(row["id"]) if row.get("id") is not None else None,
        source_name=str(row.get("source") or source_name),
    )


def stories_from_dump(text: str, *, source_name: str = "") -> list[RawStory]:
    return [
        RawStory(title=seg.title, text=seg.text, source_name=source_name)
        for seg in split_dump(text)
    ]


def stories_from_jsonl(text: str, *, source_name: str = "") -> ParsedInput:
    """Good lines are kept; a broken line is skipped with a warning naming its number."""
    stories: list[RawStory] = []
    warnings: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            stories.append(story_from_mapping(json.loads(line), source_name=source_name))
        except (json.JSONDecodeError, IngestInputError) as exc:
            warnings.append(f"line {number} skipped: {exc}")
    return ParsedInput("jsonl", stories, warnings)


def stories_from_feed_items(items: Iterable[FeedItem], *, source_name: str) -> list[RawStory]:
    return [
        RawStory(
            title=item.title or (item.text[:120] if item.text else ""),
            text=item.text,
            url=item.url,
            published=item.published,
            guid=item.guid,
            source_name=source_name,
        )
        for item in items
        if item.title or item.text
    ]


def parse_feed_document(content: bytes, *, url: str = "", source_name: str = "") -> ParsedInput:
    parsed = parse_feed(content, url=url)
    if parsed.error and not parsed.items:
        raise IngestInputError(parsed.error)
    name = source_name or parsed.title or url
    warnings = [parsed.error] if parsed.error else []
    return ParsedInput(
        "feed", stories_from_feed_items(parsed.items, source_name=name), warnings, parsed.title
    )


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("latin-1")


def _looks_like_jsonl(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.lstrip().startswith("{") and first.rstrip().endswith("}")


def parse_document(
    content: bytes, *, name: str, source_name: str = "", url: str = ""
) -> ParsedInput:
    """Read one file's bytes as the kind its extension (then its content) says."""
    suffix = Path(name).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return ParsedInput("text", stories_from_dump(_decode(content), source_name=source_name))
    if suffix in JSONL_SUFFIXES:
        return stories_from_jsonl(_decode(content), source_name=source_name)
    if suffix in FEED_SUFFIXES:
        return parse_feed_document(content, url=url, source_name=source_name)
    if suffix == ".json":
        text = _decode(content)
        if _looks_like_jsonl(text) and "jsonfeed.org" not in text[:2000]:
            return stories_from_jsonl(text, source_name=source_name)
        return parse_feed_document(content, url=url, source_name=source_name)
    # Unknown extension: decide by content.
    if looks_like_feed(content):
        return parse_feed_document(content, url=url, source_name=source_name)
    text = _decode(content)
    if _looks_like_jsonl(text):
        parsed = stories_from_jsonl(text, source_name=source_name)
        if parsed.stories:
            return parsed
    return ParsedInput("text", stories_from_dump(text, source_name=source_name))
