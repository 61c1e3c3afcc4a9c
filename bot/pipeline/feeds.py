"""Turn fetched bytes into feed items: RSS, Atom, RDF, CDF, JSON Feed and RSS-in-JSON.

feedparser does the XML formats (encodings, broken markup, dates, ``xml:base``); JSON Feed is not
something feedparser reads, so it is mapped here from the parsed JSON. Every text field leaves this
module as plain text, so later stages never see tags or entities. :func:`parse_feed` never raises:
whatever arrives from the network, the caller gets items or a short reason why there are none.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import re
import warnings
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html

from bot.pipeline.urls import public_image_url

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "TEASER_MAX_CHARS",
    "FeedItem",
    "ParsedFeed",
    "extract_article",
    "find_feed_links",
    "html_to_text",
    "is_teaser",
    "looks_like_feed",
    "page_image",
    "parse_feed",
]

#: Item texts shorter than this are treated as teasers that need the article page fetched.
TEASER_MAX_CHARS = 300
#: Bound on gzip-compressed documents handed to :func:`parse_feed` (a gzip bomb stops here).
DEFAULT_MAX_DECOMPRESSED_BYTES = 20_000_000

_FEED_MIME_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/json",
        "text/xml",
        "application/xml",
    }
)
_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead"),
        *("tfoot", "tr", "ul"),
    }
)
_CELL_TAGS = frozenset({"td", "th"})
_INVISIBLE_TAGS = frozenset(
    {
        *("script", "style", "noscript", "template", "head", "title"),
        *("iframe", "object", "embed", "svg", "math", "canvas"),
    }
)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")
_TAG = re.compile(r"<[^>]*>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_TRUNCATION_END = re.compile(
    r"(?:\.\.\.|…|\[…\]|\[\.\.\.\]|\(more\.*\)|\bread more\b|\bcontinue reading\b|\bmore\s*»|"
    r"\bread the (?:full|rest)\b[^.]*)[\W_]*$",
    re.IGNORECASE,
)
# WordPress appends "The post <title> appeared first on <site>." to every excerpt.
_WORDPRESS_FOOTER = re.compile(r"\n?The post .{1,400}? appeared first on [^\n]{1,200}$")
_XML_PROLOG = re.compile(
    r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)", re.DOTALL | re.IGNORECASE
)
_ROOT_ELEMENT = re.compile(r"\s*<\s*(?:[\w.-]+:)?([\w.-]+)")
_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
_JSON_FEED_HINT = re.compile(r'jsonfeed\.org/version|^\{\s*"rss"\s*:|"items"\s*:\s*\[', re.DOTALL)
_HTML_HINT = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_SY_PERIOD_MINUTES = {
    "hourly": 60,
    "daily": 1440,
    "weekly": 10080,
    "monthly": 43200,
    "yearly": 525600,
}
_GZIP_MAGIC = b"\x1f\x8b"
_LOCALIZED_DATE = re.compile(
    r"^\s*(?:[^\W\d_]+\.?,?\s+)?(\d{1,2})\s+([^\W\d_]+)\.?\s+(\d{4})\s+"
    r"(\d{1,2}:\d{2}(?::\d{2})?)\s*([+-]\d{4}|[A-Za-z]{1,5})?\s*$"
)
_ENGLISH_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
# Month name prefixes in Portuguese, Spanish, French, German, Italian and Dutch (4-letter keys
# separate French "juin"/"juil"; everything else is unique in 3 letters).
_MONTH_PREFIXES = {
    **dict.fromkeys(("jan", "ene", "gen", "jän", "janv"), 1),
    **dict.fromkeys(("feb", "fev", "fév", "févr"), 2),
    **dict.fromkeys(("mar", "mär", "mrz"), 3),
    **dict.fromkeys(("apr", "abr", "avr"), 4),
    **dict.fromkeys(("may", "mai", "mag", "mei"), 5),
    **dict.fromkeys(("jun", "giu", "juin"), 6),
    **dict.fromkeys(("jul", "lug", "juil"), 7),
    **dict.fromkeys(("aug", "ago", "aoû", "aou"), 8),
    **dict.fromkeys(("sep", "set", "sept"), 9),
    **dict.fromkeys(("oct", "out", "okt", "ott"), 10),
    **dict.fromkeys(("nov",), 11),
    **dict.fromkeys(("dec", "dez", "dic", "déc"), 12),
}


@dataclass(frozen=True)
class FeedItem:
    """One story as the feed announced it, all text fields plain text."""

    title: str
    text: str
    url: str | None
    published: datetime | None  # UTC aware
    guid: str | None
    author: str | None
    is_teaser: bool
    image_url: str | None = None  # the lead image the feed gives, https on a public host


@dataclass(frozen=True)
class ParsedFeed:
    """The outcome of parsing one document.

    ``error`` is set when no items could be read (and says why); ``warning`` carries a parser
    complaint about a document that still yielded items, so a sloppy feed keeps working but the
    problem stays visible.
    """

    title: str
    items: list[FeedItem]
    link: str | None
    ttl_minutes: int | None
    error: str | None
    feed_links: list[str] = field(default_factory=list)
    warning: str | None = None


# --------------------------------------------------------------------------------------------
# Plain-text helpers


def _normalise_whitespace(text: str, *, single_line: bool) -> str:
    if single_line:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def html_to_text(markup: str, *, single_line: bool = False) -> str:
    """Convert an HTML fragment to plain text: tags removed, entities decoded, whitespace tidy.

    Block elements become line breaks so paragraphs do not run together ("end.Next"); with
    ``single_line`` everything is joined by single spaces (titles, names).
    """
    markup = _CONTROL_CHARS.sub("", markup)
    if "<" not in markup and "&" not in markup:
        return _normalise_whitespace(markup, single_line=single_line)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        # lxml refuses some inputs (e.g. an embedded encoding declaration); a regex strip is
        # crude but enough for the short strings that reach this fallback.
        return _normalise_whitespace(html.unescape(_TAG.sub(" ", markup)), single_line=single_line)
    for element in list(root.iter()):
        tag = element.tag
        if not isinstance(tag, str):  # comments and processing instructions
            continue
        tag = tag.lower()
        if tag in _INVISIBLE_TAGS and element is not root:
            element.drop_tree()
        elif tag in _BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
            element.text = "\n" + (element.text or "")
        elif tag in _CELL_TAGS:
            element.tail = " " + (element.tail or "")
    return _normalise_whitespace(root.text_content(), single_line=single_line)


def _plain_text(value: str, content_type: str | None, *, single_line: bool) -> str:
    """Text of a feedparser field, converted from HTML when the feed says it is HTML (or, with
    no type given, when it contains tags).

    Plain-text fields are not run through an HTML parser, so a title such as "a < b" survives;
    entities left in them (feeds that escape twice) are decoded once more.
    """
    declared = (content_type or "").lower()
    is_markup = "html" in declared or "xml" in declared
    if is_markup or (not declared.startswith("text/plain") and _HTML_TAG.search(value)):
        text = html_to_text(value, single_line=single_line)
        if (text.startswith("<") and _HTML_TAG.match(text)) or text.startswith("<!--"):
            # Escaped twice by the publisher: the first pass produced markup, not text.
            text = html_to_text(text, single_line=single_line)
        return text
    if _ENTITY.search(value):
        value = html.unescape(value)
    return _normalise_whitespace(_CONTROL_CHARS.sub("", value), single_line=single_line)


def is_teaser(text: str) -> bool:
    """Whether ``text`` is only an excerpt of the story (short, or cut off with "…"/"Read more")."""
    stripped = text.strip()
    return len(stripped) < TEASER_MAX_CHARS or bool(_TRUNCATION_END.search(stripped[-80:]))


def _strip_footer(text: str) -> str:
    return _WORDPRESS_FOOTER.sub("", text).rstrip()


def _title_from_text(text: str, limit: int = 100) -> str:
    """A title for untitled items (micro-posts in JSON Feed, RSS items with only a description):
    the first line, cut at a word boundary."""
    first_line = text.split("\n", 1)[0].strip()
    if len(first_line) <= limit:
        return first_line
    cut = first_line[:limit].rsplit(" ", 1)[0] or first_line[:limit]
    return cut.rstrip(" ,;:-") + "…"


def _absolute_http_url(link: object, base: str) -> str | None:
    """``link`` resolved against ``base``, or None unless the result is an http(s) URL."""
    if not isinstance(link, str) or not link.strip():
        return None
    resolved = urljoin(base, link.strip()) if base else link.strip()
    try:
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https"):
        return None
    return scheme + resolved[len(scheme) :]  # "HTTP://" exists in the wild


def _make_item(
    *,
    title: str,
    text: str,
    url: str | None,
    published: datetime | None,
    guid: object,
    author: str | None,
    image_url: str | None = None,
) -> FeedItem | None:
    text = _strip_footer(text)
    if not title and not text and not url:
        return None
    guid_text = str(guid).strip() if guid not in (None, "") else None
    return FeedItem(
        title=title or _title_from_text(text),
        text=text,
        url=url,
        published=published,
        guid=guid_text or None,
        author=author or None,
        is_teaser=is_teaser(text),
        image_url=image_url,
    )


# --------------------------------------------------------------------------------------------
# Lead images

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")


def _looks_like_image(url: str, mime_type: object, medium: object = None) -> bool:
    """An image by its declared type or medium; by its file name when neither is given."""
    if isinstance(mime_type, str) and mime_type.strip():
        return mime_type.strip().lower().startswith("image/")
    if isinstance(medium, str) and medium.strip():
        return medium.strip().lower() == "image"
    path = urlsplit(url).path.lower() if url else ""
    return path.endswith(_IMAGE_EXTENSIONS)


def _image_url(link: object, base: str) -> str | None:
    """``link`` resolved against ``base`` and kept only if a platform may be given it."""
    return public_image_url(_absolute_http_url(link, base))


def _entry_image(entry: Mapping[str, Any], base: str) -> str | None:
    """The lead image of a feedparser entry: ``media:content`` (images), ``media:thumbnail``,
    image enclosures (RSS ``enclosure`` and Atom ``rel="enclosure"`` links), then an
    ``itunes:image``; the first one that passes :func:`public_image_url`."""
    candidates: list[str | None] = []
    for media in entry.get("media_content") or ():
        if isinstance(media, Mapping):
            url = media.get("url")
            if isinstance(url, str) and _looks_like_image(
                url, media.get("type"), media.get("medium")
            ):
                candidates.append(url)
    for thumb in entry.get("media_thumbnail") or ():
        if isinstance(thumb, Mapping):
            candidates.append(thumb.get("url"))
    enclosures = list(entry.get("enclosures") or ())
    enclosures += [
        link
        for link in entry.get("links") or ()
        if isinstance(link, Mapping) and link.get("rel") == "enclosure"
    ]
    for enclosure in enclosures:
        if isinstance(enclosure, Mapping):
            href = enclosure.get("href") or enclosure.get("url")
            if isinstance(href, str) and _looks_like_image(href, enclosure.get("type")):
                candidates.append(href)
    image = entry.get("image")
    if isinstance(image, Mapping):
        candidates.append(image.get("href"))
    for candidate in candidates:
        url = _image_url(candidate, base)
        if url is not None:
            return url
    return None


_PAGE_IMAGE_KEYS = (
    "og:image:secure_url",
    "og:image",
    "og:image:url",
    "twitter:image",
    "twitter:image:src",
)


def page_image(page: str | bytes, base_url: str = "") -> str | None:
    """The lead image an article page declares (``og:image``, else ``twitter:image``), or None.

    Read from the ``<meta>`` tags only: the image itself is never fetched.
    """
    if not page:
        return None
    try:
        document = lxml.html.document_fromstring(page)
    except (lxml.etree.ParserError, ValueError):
        return None
    found: dict[str, str] = {}
    for element in document.iter("meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        content = element.get("content")
        if key in _PAGE_IMAGE_KEYS and content and key not in found:
            found[key] = content
    for key in _PAGE_IMAGE_KEYS:
        url = _image_url(found.get(key), base_url)
        if url is not None:
            return url
    return None


# --------------------------------------------------------------------------------------------
# Sniffing


def _gunzip(content: bytes, limit: int) -> bytes:
    """Inflate gzip ``content``, refusing more than ``limit`` bytes of output.

    zlib's ``max_length`` bounds the work, so a bomb costs at most ``limit`` bytes of memory. A
    truncated stream yields what could be inflated (half a feed still has items).
    """
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    output = inflater.decompress(content, limit + 1)
    if len(output) > limit:
        raise ValueError(f"gzip content larger than {limit:,} bytes when decompressed")
    if not output and not inflater.eof:
        raise zlib.error("truncated before any content")
    return output


def _decode_head(head: bytes) -> str:
    """Decode the first bytes of a document well enough to read its markup (BOMs, UTF-16/32)."""
    for bom, codec in (
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\xfe\xff", "utf-16-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xef\xbb\xbf", "utf-8"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, errors="ignore")
    for pattern, codec in (
        (b"\x00\x00\x00<", "utf-32-be"),
        (b"<\x00\x00\x00", "utf-32-le"),
        (b"\x00<", "utf-16-be"),
        (b"<\x00", "utf-16-le"),
    ):
        if head.lstrip(b" \t\r\n").startswith(pattern):
            return head.decode(codec, errors="ignore")
    # Markup characters are ASCII in every remaining encoding feeds use.
    return head.decode("latin-1")


def _head_text(content: bytes, size: int = 8192) -> str:
    head = content[:size]
    if head.startswith(_GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(content[:65536], size)
        except zlib.error:
            return ""
    return _decode_head(head)


def looks_like_feed(content: bytes) -> bool:
    """Cheap sniff of the first bytes: does the document start like a feed (by its root element
    or JSON keys)? For choosing between the feed parser and article extraction; it never parses
    the whole document."""
    text = _head_text(content).lstrip("\ufeff \t\r\n")
    if text.startswith("{"):
        return bool(_JSON_FEED_HINT.search(text))
    while True:
        prolog = _XML_PROLOG.match(text)
        if prolog is None or not prolog.group(0):
            break
        text = text[prolog.end() :]
    root = _ROOT_ELEMENT.match(text)
    return root is not None and root.group(1).lower() in _FEED_ROOTS


def find_feed_links(page: str | bytes, base_url: str = "") -> list[str]:
    """The feed URLs an HTML page advertises with ``<link rel="alternate" type="...">``,
    absolute (resolved against ``<base href>`` or ``base_url``), in page order, without repeats.
    """
    try:
        document = lxml.html.document_fromstring(page)
    except (lxml.etree.ParserError, ValueError):
        return []
    base = base_url
    for base_element in document.iter("base"):
        href = base_element.get("href")
        if href:
            base = urljoin(base_url, href.strip())
            break
    links: list[str] = []
    for element in document.iter("link"):
        rel_tokens = (element.get("rel") or "").lower().split()
        mime = (element.get("type") or "").split(";", 1)[0].strip().lower()
        href = (element.get("href") or "").strip()
        if "alternate" in rel_tokens and mime in _FEED_MIME_TYPES and href:
            resolved = urljoin(base, href) if base else href
            if resolved not in links:
                links.append(resolved)
    return links


# --------------------------------------------------------------------------------------------
# JSON Feed and RSS-in-JSON


def _localized_rfc822(text: str) -> datetime | None:
    """RFC 822 dates written with non-English day and month names ("Seg, 24 Set 2018 19:42:40
    -0300"), which real feeds from Brazil, Spain, Germany and elsewhere publish and which
    feedparser leaves unparsed."""
    match = _LOCALIZED_DATE.match(text)
    if match is None:
        return None
    day, month_word, year, clock, zone = match.groups()
    word = month_word.lower()
    month = _MONTH_PREFIXES.get(word[:4]) or _MONTH_PREFIXES.get(word[:3])
    if month is None:
        return None
    english = f"{day} {_ENGLISH_MONTHS[month - 1]} {year} {clock} {zone or '+0000'}"
    try:
        return parsedate_to_datetime(english)
    except (TypeError, ValueError, IndexError):
        return None


def _parse_datetime(value: object) -> datetime | None:
    """RFC 3339 (JSON Feed) or RFC 822 text, also with localized names, to aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = _localized_rfc822(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # feeds without a zone mean UTC in practice
    return parsed.astimezone(UTC)


def _json_text(value: object, *, is_html: bool, single_line: bool = False) -> str:
    if not isinstance(value, str):
        return ""
    if is_html:
        return html_to_text(value, single_line=single_line)
    return _plain_text(value, None, single_line=single_line)


def _json_author(entry: Mapping[str, Any], fallback: str | None) -> str | None:
    """JSON Feed 1.1 ``authors`` list, else the 1.0 ``author`` object, else the feed's author."""
    authors = entry.get("authors")
    candidates: list[object] = list(authors) if isinstance(authors, list) else []
    if not candidates and isinstance(entry.get("author"), dict):
        candidates.append(entry["author"])
    names = [
        _json_text(candidate.get("name"), is_html=False, single_line=True)
        for candidate in candidates
        if isinstance(candidate, dict)
    ]
    joined = ", ".join(name for name in names if name)
    return joined or fallback


def _parse_json_feed(document: Mapping[str, Any], url: str) -> ParsedFeed:
    """JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1) mapped onto :class:`ParsedFeed`."""
    base = _absolute_http_url(document.get("feed_url"), url) or url
    feed_author = _json_author(document, None)
    raw_items = document.get("items")
    items: list[FeedItem] = []
    for entry in raw_items if isinstance(raw_items, list) else []:
        if not isinstance(entry, dict):
            continue
        html_text = _json_text(entry.get("content_html"), is_html=True)
        plain_text = _json_text(entry.get("content_text"), is_html=False)
        summary = _json_text(entry.get("summary"), is_html=False)
        text = max((html_text, plain_text, summary), key=len)
        item = _make_item(
            title=_json_text(entry.get("title"), is_html=False, single_line=True),
            text=text,
            url=_absolute_http_url(entry.get("url") or entry.get("external_url"), base),
            published=_parse_datetime(entry.get("date_published"))
            or _parse_datetime(entry.get("date_modified")),
            guid=entry.get("id"),
            author=_json_author(entry, feed_author),
            image_url=_image_url(entry.get("image"), base)
            or _image_url(entry.get("banner_image"), base),
        )
        if item is not None:
            items.append(item)
    if isinstance(raw_items, list):
        error = _unusable_entries_error(len(raw_items), items)
    else:
        error = "not a feed: JSON without an 'items' list"
    return ParsedFeed(
        title=_json_text(document.get("title"), is_html=False, single_line=True),
        items=items,
        link=_absolute_http_url(document.get("home_page_url"), base),
        ttl_minutes=None,
        error=error,
    )


def _json_value(value: object) -> object:
    """RSS-in-JSON wraps attributes: ``{"#value": ...}`` or ``{"value": ...}`` for text nodes."""
    if isinstance(value, dict):
        for key in ("#value", "value", "#text", "_"):
            if key in value:
                return value[key]
    return value


def _json_enclosure_image(enclosure: object, base: str) -> str | None:
    """An RSS-in-JSON ``enclosure`` object (or list of them) that is an image."""
    for item in enclosure if isinstance(enclosure, list) else [enclosure]:
        if isinstance(item, Mapping):
            href = _json_value(item.get("url"))
            if isinstance(href, str) and _looks_like_image(href, _json_value(item.get("type"))):
                found = _image_url(href, base)
                if found is not None:
                    return found
    return None


def _parse_rss_in_json(channel: Mapping[str, Any], url: str) -> ParsedFeed:
    """Dave Winer's RSS-in-JSON: the RSS 2.0 element tree as JSON objects."""
    raw_items = channel.get("item")
    if isinstance(raw_items, dict):
        raw_items = [raw_items]
    items: list[FeedItem] = []
    for entry in raw_items if isinstance(raw_items, list) else []:
        if not isinstance(entry, dict):
            continue
        guid = _json_value(entry.get("guid"))
        link = _json_value(entry.get("link"))
        if not link and isinstance(guid, str) and guid.startswith(("http://", "https://")):
            link = guid
        item = _make_item(
            title=_json_text(_json_value(entry.get("title")), is_html=True, single_line=True),
            text=_json_text(_json_value(entry.get("description")), is_html=True),
            url=_absolute_http_url(link, url),
            published=_parse_datetime(_json_value(entry.get("pubDate"))),
            guid=guid,
            author=_json_text(_json_value(entry.get("author")), is_html=False, single_line=True),
            image_url=_json_enclosure_image(entry.get("enclosure"), url),
        )
        if item is not None:
            items.append(item)
    ttl = _json_value(channel.get("ttl"))
    return ParsedFeed(
        title=_json_text(_json_value(channel.get("title")), is_html=True, single_line=True),
        items=items,
        link=_absolute_http_url(_json_value(channel.get("link")), url),
        ttl_minutes=_positive_int(ttl),
        error=_unusable_entries_error(len(raw_items) if isinstance(raw_items, list) else 0, items),
    )


def _salvage_truncated_json_feed(text: str) -> dict[str, Any] | None:
    """Recover the complete items of a JSON Feed cut off mid-way (an interrupted download).

    The standard decoder only reads whole documents, so the items array is walked here with
    ``raw_decode``, one complete item object at a time, until the truncation point.
    """
    decoder = json.JSONDecoder(strict=False)
    match = re.search(r'"items"\s*:\s*\[', text)
    if match is None:
        return None
    position = match.end()
    items: list[Any] = []
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] != "{":
            break
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break
        items.append(item)
    if not items:
        return None
    header: dict[str, Any] = {}
    title = re.search(r'"title"\s*:\s*("(?:[^"\\]|\\.)*")', text[: match.start()])
    if title is not None:
        header["title"] = decoder.decode(title.group(1))
    return {**header, "items": items}


def _parse_json(content: bytes, url: str) -> ParsedFeed:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _failure(f"not a feed: JSON that is not UTF-8 ({exc})")
    try:
        # strict=False accepts raw control characters inside strings, a common JSON Feed slip.
        document = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        salvaged = _salvage_truncated_json_feed(text)
        if salvaged is None:
            return _failure(f"not a feed: invalid JSON ({exc})")
        partial = _parse_json_feed(salvaged, url)
        warning = f"truncated JSON ({exc}); read {len(partial.items)} complete items"
        return dataclasses.replace(partial, warning=warning)
    if not isinstance(document, dict):
        return _failure("not a feed: JSON that is not an object")
    rss = document.get("rss")
    if isinstance(rss, dict) and isinstance(rss.get("channel"), dict):
        return _parse_rss_in_json(rss["channel"], url)
    return _parse_json_feed(document, url)


# --------------------------------------------------------------------------------------------
# XML feeds through feedparser


def _positive_int(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _ttl_minutes(feed: Mapping[str, Any]) -> int | None:
    """RSS ``<ttl>``, else the syndication module's update period / frequency."""
    ttl = _positive_int(feed.get("ttl"))
    if ttl is not None:
        return ttl
    period = _SY_PERIOD_MINUTES.get(str(feed.get("sy_updateperiod", "")).strip().lower())
    if period is None:
        return None
    frequency = _positive_int(feed.get("sy_updatefrequency")) or 1
    return max(1, period // frequency)


def _struct_to_datetime(value: object) -> datetime | None:
    """feedparser's parsed dates (``time.struct_time`` in UTC) as aware datetimes."""
    if not isinstance(value, tuple) or len(value) < 6:  # struct_time is a tuple subclass
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in value[:6])
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _detail_text(entry: Mapping[str, Any], key: str, *, single_line: bool) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        return ""
    detail = entry.get(f"{key}_detail")
    content_type = detail.get("type") if isinstance(detail, Mapping) else None
    return _plain_text(value, content_type, single_line=single_line)


def _entry_text(entry: Mapping[str, Any]) -> str:
    """The longest body the entry offers: full content (content:encoded, atom:content) or the
    summary/description."""
    candidates = [_detail_text(entry, "summary", single_line=False)]
    contents = entry.get("content")
    for content in contents if isinstance(contents, list) else []:
        if isinstance(content, Mapping) and isinstance(content.get("value"), str):
            candidates.append(_plain_text(content["value"], content.get("type"), single_line=False))
    return max(candidates, key=len)


def _entry_author(entry: Mapping[str, Any]) -> str | None:
    detail = entry.get("author_detail")
    name = detail.get("name") if isinstance(detail, Mapping) else None
    if not isinstance(name, str) or not name.strip():
        name = entry.get("author")
    if not isinstance(name, str):
        return None
    return _plain_text(name, "text/html" if "<" in name else None, single_line=True) or None


def _entry_published(entry: Mapping[str, Any]) -> datetime | None:
    """Publication time, else update or creation time; localized dates as a last resort."""

    # dict.get bypasses FeedParserDict's deprecated updated -> published aliasing (and its
    # warning); the fallbacks are explicit here.
    def raw(key: str) -> Any:
        return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)

    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = _struct_to_datetime(raw(key))
        if parsed is not None:
            return parsed
    return _parse_datetime(raw("published")) or _parse_datetime(raw("updated"))


def _entries_to_items(entries: Iterable[Mapping[str, Any]], url: str) -> list[FeedItem]:
    items: list[FeedItem] = []
    for entry in entries:
        item = _make_item(
            title=_detail_text(entry, "title", single_line=True),
            text=_entry_text(entry),
            url=_absolute_http_url(entry.get("link"), url),
            published=_entry_published(entry),
            guid=entry.get("id"),
            author=_entry_author(entry),
            image_url=_entry_image(entry, url),
        )
        if item is not None:
            items.append(item)
    return items


def _describe_exception(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _parse_xml(content: bytes, url: str, content_type: str | None) -> ParsedFeed:
    headers = {"content-type": content_type or "application/xml"}
    if url:
        headers["content-location"] = url  # feedparser resolves relative links against it
    # A BytesIO, never the bytes themselves: feedparser treats some strings as a path or URL.
    # Its HTML sanitizer and relative-URI rewriting are turned off: every field becomes plain
    # text in html_to_text (which drops scripts, styles and embeds), so they would only halve
    # the parsing speed. Item and feed links are still resolved against xml:base.
    result = feedparser.parse(
        io.BytesIO(content),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    feed = result.get("feed", {})
    entries = result.get("entries", [])
    bozo_exception = result.get("bozo_exception") if result.get("bozo") else None
    title = _detail_text(feed, "title", single_line=True)
    if not result.get("version") and not entries and not title:
        if _HTML_HINT.search(content[:65536]):
            links = find_feed_links(content, url)
            advertised = f" (it advertises {len(links)} feed(s))" if links else ""
            return _failure(f"not a feed: looks like an HTML page{advertised}", feed_links=links)
        reason = _describe_exception(bozo_exception) if bozo_exception else "no feed element"
        return _failure(f"not a feed: {reason}")
    items = _entries_to_items(entries, url)
    warning = None
    if bozo_exception is not None:
        warning = f"malformed feed: {_describe_exception(bozo_exception)}"
    return ParsedFeed(
        title=title,
        items=items,
        link=_absolute_http_url(feed.get("link"), url),
        ttl_minutes=_ttl_minutes(feed),
        error=_unusable_entries_error(len(entries), items),
        warning=warning,
    )


def _unusable_entries_error(entry_count: int, items: list[FeedItem]) -> str | None:
    """An error when the feed has entries but none with a title, text or link."""
    if entry_count and not items:
        return f"no usable items: {entry_count} entries without title, text or link"
    return None


def _failure(error: str, *, feed_links: list[str] | None = None) -> ParsedFeed:
    return ParsedFeed(
        title="", items=[], link=None, ttl_minutes=None, error=error, feed_links=feed_links or []
    )


def parse_feed(
    content: bytes,
    *,
    url: str = "",
    content_type: str | None = None,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> ParsedFeed:
    """Parse a feed document of any common format; never raises.

    ``url`` is where the document came from (relative links resolve against it unless the feed
    sets ``xml:base``); ``content_type`` is the HTTP header, whose charset feedparser honours.
    A wrong content type does not matter when the bytes are a feed. Gzip-compressed bytes are
    inflated up to ``max_decompressed_bytes``. A document that yields no items has ``error`` set,
    except a well-formed feed that is simply empty.
    """
    try:
        if content.startswith(_GZIP_MAGIC):
            try:
                content = _gunzip(content, max_decompressed_bytes)
            except zlib.error as exc:
                return _failure(f"not a feed: corrupt gzip data ({exc})")
            except ValueError as exc:
                return _failure(f"not a feed: {exc}")
        if not content.strip():
            return _failure("not a feed: empty document")
        stripped = content.lstrip(b"\xef\xbb\xbf \t\r\n")
        is_json_type = content_type is not None and "json" in content_type.lower()
        if stripped.startswith((b"{", b"[")) or (is_json_type and not stripped.startswith(b"<")):
            return _parse_json(stripped, url)
        return _parse_xml(content, url, content_type)
    except Exception as exc:  # the contract is "never raises": report anything unforeseen
        return _failure(f"not a feed: parser failed ({type(exc).__name__}: {exc})")


# --------------------------------------------------------------------------------------------
# Article pages

#: Extracted article texts shorter than this are navigation or cookie banners, not articles.
MIN_ARTICLE_CHARS = 200


def extract_article(page: str | bytes, url: str) -> tuple[str, str] | None:
    """Title and main text of an article page (boilerplate removed by trafilatura), or None when
    the page holds no article text worth alerting on."""
    # Imported here: trafilatura pulls in a large dependency tree that feed-only runs never need.
    # Its import makes urllib3 warn about optional SOCKS support, which the bot does not use.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="SOCKS support in urllib3")
        import trafilatura

    if not page or not page.strip():
        return None
    try:
        document = trafilatura.bare_extraction(
            page, url=url or None, with_metadata=True, include_comments=False
        )
    except Exception:  # trafilatura raises assorted errors on hostile markup
        return None
    if document is None:
        return None
    fields = document if isinstance(document, dict) else document.as_dict()
    text = _normalise_whitespace(str(fields.get("text") or ""), single_line=False)
    if len(text) < MIN_ARTICLE_CHARS:
        return None
    title = _normalise_whitespace(str(fields.get("title") or ""), single_line=True)
    return (title or _title_from_text(text), text)
