"""Turning inputs into :class:`RawStory` lists: text dumps, JSON Lines, feed documents, pushes.

A path's type is decided by its extension first (``.txt``/``.md`` are text dumps even when they
start with ``<``), by its content only for unknown extensions. A dump that is a web page's
markup (``.html``, or a page saved as ``.txt``) is read as the page's text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.models import RawStory
from bot.pipeline.feeds import FeedItem, html_to_text, looks_like_feed, parse_feed
from bot.pipeline.headline import fit_title, write_headline
from bot.pipeline.jsonl import JSONRecordError, loads_record
from bot.pipeline.segment import split_dump
from bot.pipeline.text import strip_markdown

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
    check_text_field(title, "title")
    check_text_field(text, "text")
    if not title and not text:
        raise IngestInputError("a story needs a 'title' or a 'text'")
    url = row.get("url")
    if url is not None and not isinstance(url, str):
        raise IngestInputError("'url' must be a string")
    if not title:
        segments = split_dump(text)
        title = segments[0].title if segments else text[:120]
    else:
        title = fit_title(title, text)
    return RawStory(
        title=title,
        text=text,
        url=url or None,
        published=parse_published(row.get("published")),
        guid=str(row["id"]) if row.get("id") is not None else None,
        source_name=str(row.get("source") or source_name),
    )


def stories_from_dump(text: str, *, source_name: str = "") -> list[RawStory]:
    text = strip_markdown(text)
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
            stories.append(story_from_mapping(loads_record(line), source_name=source_name))
        except (JSONRecordError, IngestInputError) as exc:
            warnings.append(f"line {number} skipped: {exc}")
    if warnings and not stories:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise IngestInputError(f"no usable line: {warnings[0]}{more}")
    return ParsedInput("jsonl", stories, warnings)


def stories_from_feed_items(items: Iterable[FeedItem], *, source_name: str) -> list[RawStory]:
    return [
        RawStory(
            # A feed item without a title gets one written from its text, never cut mid-word.
            title=fit_title(item.title, item.text) if item.title else write_headline(item.text),
            text=item.text,
            url=item.url,
            published=item.published,
            guid=item.guid,
            source_name=source_name,
            image_url=item.image_url,
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


class NotTextError(IngestInputError):
    """Input that is binary data (an image, an archive, a program), not text to read stories in."""


#: File signatures of common binary formats, so the error can say what the file is.
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "a program (ELF executable)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (or an Office document)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x00asm", "a WebAssembly module"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O program"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O program"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
#: Characters no text holds in numbers: C0 controls other than tab, newline, vertical tab, form
#: feed and carriage return; DEL; C1 controls.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
#: More than this share of such characters (or of NUL bytes) and the input is not text. Random
#: binary bytes read as Windows-1252 hold about 13 % of them; real text almost none.
MAX_NON_TEXT_SHARE = 0.05
#: Bytes that decode to nothing (U+FFFD) are dropped while they are a few; beyond this share
#: the input is not text in any encoding we read.
MAX_UNDECODABLE_SHARE = 0.25
_SAMPLE_BYTES = 64 * 1024


def _utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le``/``-be`` when NUL bytes sit in every other position (ASCII-range text in
    UTF-16 written without a byte order mark), else None."""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nuls, odd_nuls = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nuls > 0.3 and even_nuls < 0.02:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.02:
        return "utf-16-be"
    return None


def _not_text(reason: str) -> NotTextError:
    return NotTextError(f"not text: {reason}; nothing was stored")


def decode_text(content: bytes) -> str:
    """Bytes of a text file to ``str``, or :class:`NotTextError` for binary data.

    The encoding is a BOM's, else UTF-8 (UTF-16 without a BOM only when its NUL pattern is
    unmistakable), else Windows-1252. A UTF-8 file with a few bad bytes stays UTF-8 with those
    bytes dropped: guessing another codec for the whole file would turn every line into garbage.
    Binary formats are named by their signature; anything else with more than
    :data:`MAX_NON_TEXT_SHARE` of NULs or control characters is refused as well.
    """
    for signature, kind in _BINARY_SIGNATURES:
        if content.startswith(signature):
            raise _not_text(f"the file is {kind}")
    bom, codec = next(((bom, name) for bom, name in _BOMS if content.startswith(bom)), (b"", ""))
    if codec:
        text = content[len(bom) :].decode(codec, errors="replace")
    elif (utf16 := _utf16_without_bom(content[:_SAMPLE_BYTES])) is not None:
        text = content.decode(utf16, errors="replace")
    else:
        nuls = content.count(0)
        if nuls > MAX_NON_TEXT_SHARE * len(content):
            raise _not_text(f"binary data ({nuls:,} NUL bytes in {len(content):,})")
        text = _decode_8bit(content.replace(b"\x00", b""))
    controls = len(_CONTROL_CHARS.findall(text))
    if controls > MAX_NON_TEXT_SHARE * len(text):
        raise _not_text(f"{controls / len(text):.0%} of its characters are control characters")
    undecodable = text.count("\ufffd")
    if undecodable > MAX_UNDECODABLE_SHARE * len(text):
        raise _not_text(f"{undecodable:,} of its {len(text):,} characters cannot be decoded")
    return text.replace("\ufffd", "") if undecodable else text


def _decode_8bit(content: bytes) -> str:
    """UTF-8 when most non-ASCII bytes form valid UTF-8 sequences, else Windows-1252."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = content.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    valid_non_ascii = len(text) - len(text.encode("ascii", errors="ignore")) - invalid
    # Text in Windows-1252 almost never holds a valid multi-byte UTF-8 sequence, so a few of
    # them beside the bad bytes mean UTF-8 with damage: the bad bytes become U+FFFD, which the
    # caller drops, and the rest of the text stays readable.
    if valid_non_ascii and valid_non_ascii * 4 >= invalid:
        return text
    return content.decode("cp1252", errors="replace")


#: A pushed field is refused when more than this share of it is control characters. Looser
#: than ``MAX_NON_TEXT_SHARE`` for whole files: a short headline with a stray escape sequence
#: or bidi override is text with a few controls (they are removed at the pipeline's entry),
#: while binary data sent as a string is mostly controls.
MAX_FIELD_CONTROL_SHARE = 0.3


def check_text_field(value: str, field_name: str) -> None:
    """Refuse a pushed field that is mostly control characters (binary data sent as a string)."""
    bad = len(_CONTROL_CHARS.findall(value))
    if value and bad > MAX_FIELD_CONTROL_SHARE * len(value):
        raise NotTextError(
            f"'{field_name}' is not text: {bad / len(value):.0%} of it is control characters"
        )


HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
_HTML_DOCUMENT = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)
_HTML_BLOCK_TAG = re.compile(r"<(?:p|h[1-6]|div|article|section|li|br|td)\b[^<>]{0,200}>", re.I)
#: Block tags in a text that mark it as a page's markup saved as it is, not as copied text.
_HTML_MIN_BLOCK_TAGS = 5


def looks_like_html(text: str) -> bool:
    """Whether ``text`` is a web page's markup ("Save page as", a page saved with ``.txt``)
    rather than text: an HTML document's start, or paragraphs and headings in tags.

    Read as a dump, every tag and entity would end up in the stories' titles and summaries.
    A few stray angle brackets (wire tickers such as ``<SRD>``) are not markup.
    """
    head = text[:_SAMPLE_BYTES]
    return bool(_HTML_DOCUMENT.match(head)) or (
        len(_HTML_BLOCK_TAG.findall(head)) >= _HTML_MIN_BLOCK_TAGS
    )


# A page's menus, footers and forms: furniture around the stories, never news.
_PAGE_FURNITURE = re.compile(r"<(nav|footer|aside|form|menu)\b.*?</\1\s*>", re.I | re.S)


def page_text(markup: str) -> str:
    """The text of a web page's markup, its menus, footers and forms left out."""
    return html_to_text(_PAGE_FURNITURE.sub("\n", markup))


def _dump_text(content: bytes) -> str:
    """A text dump's text; a web page's markup is converted to its text first."""
    text = decode_text(content)
    return page_text(text) if looks_like_html(text) else text


def _looks_like_jsonl(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.lstrip().startswith("{") and first.rstrip().endswith("}")


def parse_document(
    content: bytes, *, name: str, source_name: str = "", url: str = ""
) -> ParsedInput:
    """Read one file's bytes as the kind its extension (then its content) says.

    A file with no text at all (empty, or only whitespace and a byte order mark) is an
    :class:`IngestInputError`: "0 new" would read as if its stories were all duplicates.
    """
    if not content.removeprefix(b"\xef\xbb\xbf").strip():
        raise IngestInputError("the file is empty (no text in it); nothing was stored")
    suffix = Path(name).suffix.lower()
    if suffix in TEXT_SUFFIXES or suffix in HTML_SUFFIXES:
        return ParsedInput("text", stories_from_dump(_dump_text(content), source_name=source_name))
    if suffix in JSONL_SUFFIXES:
        return stories_from_jsonl(decode_text(content), source_name=source_name)
    if suffix in FEED_SUFFIXES:
        return parse_feed_document(content, url=url, source_name=source_name)
    if suffix == ".json":
        text = decode_text(content)
        if _looks_like_jsonl(text) and "jsonfeed.org" not in text[:2000]:
            return stories_from_jsonl(text, source_name=source_name)
        return parse_feed_document(content, url=url, source_name=source_name)
    # Unknown extension: decide by content.
    if looks_like_feed(content):
        return parse_feed_document(content, url=url, source_name=source_name)
    text = decode_text(content)
    if _looks_like_jsonl(text):
        try:
            return stories_from_jsonl(text, source_name=source_name)
        except IngestInputError:
            pass  # braces on the first line, but not JSON Lines: read it as text
    if looks_like_html(text):
        text = page_text(text)
    return ParsedInput("text", stories_from_dump(text, source_name=source_name))
