"""Telegram HTML rendering of alerts and replies: pure functions, no network.

Everything we send uses ``parse_mode=HTML``, and everything that comes from outside (headlines,
summaries, source names, URLs, our own plain-text replies, which contain ``<query>``-style
usage hints) is escaped here, so nothing an article contains can break the markup or add a
link. Messages are built as a list of :class:`Span` (plain text plus a style) and only then
turned into HTML, so the length Telegram checks (UTF-16 code units of the text *after* entity
parsing) is simply the length of the spans' plain text, and splitting happens on plain text
before any tag exists: a tag or an ``&amp;`` can never be cut in half.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions

from bot.alerts import Alert
from bot.i18n import translator
from bot.models import Button, Reply

MESSAGE_LIMIT = 4096  # UTF-16 code units of the parsed text of one message
CAPTION_LIMIT = 1024  # the same for a photo or document caption
CALLBACK_DATA_LIMIT = 64  # bytes
HEADLINE_LIMIT = 400
REASONS_LIMIT = 300
SOURCE_NAME_LIMIT = 100
TITLE_LIMIT = 256
ELLIPSIS = "…"

# Characters no chat message should carry: C0/C1 controls other than tab and newline, and lone
# surrogates (which cannot even be encoded as UTF-8). Zero-width and bidirectional characters
# are kept: they are legitimate in right-to-left and emoji text and cannot create markup.
_UNSENDABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_HASHTAG_UNSAFE = re.compile(r"\W+")
# Where a long text may be split, best first: paragraph, line, sentence, word.
_SPLIT_POINTS = (
    re.compile(r"\n[ \t]*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"(?<=[.!?…。！？])\s+"),
    re.compile(r"\s+"),
)
# Code points that belong to the previous character: never start a chunk with one of them.
_JOINERS = frozenset("\u200d\ufe0e\ufe0f\u20e3")


@dataclass(frozen=True)
class Span:
    """A run of plain text and how to show it; ``href`` is only set for http(s) URLs."""

    text: str
    bold: bool = False
    italic: bool = False
    href: str | None = None


@dataclass(frozen=True)
class RenderedMessage:
    """One message ready to send: the HTML, and the plain text Telegram will display.

    ``plain`` is also the fallback body should a server ever refuse our HTML.
    """

    html: str
    plain: str

    @property
    def length(self) -> int:
        return utf16_len(self.plain)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits (astral emoji count 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def clean_text(text: str) -> str:
    """Drop control characters and lone surrogates; keep everything a reader could see.

    ``\\r\\n`` becomes ``\\n`` first so that Windows line ends do not turn into stray carriage
    returns.
    """
    return _UNSENDABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def escape_text(text: str) -> str:
    """Escape for Telegram HTML text: ``&``, ``<`` and ``>`` (quotes are harmless there)."""
    return html.escape(text, quote=False)


def safe_url(url: str | None) -> str | None:
    """The URL if it may become a link (http or https with a host), else None.

    ``javascript:``, ``data:``, ``tg:`` and anything malformed are shown as text, never linked.
    """
    if not url:
        return None
    url = url.strip()
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-16 units, at a word boundary when one is near,
    ending with an ellipsis."""
    if utf16_len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    cut = _prefix_within(text, limit - 1)
    head = text[:cut]
    space = head.rfind(" ")
    if space >= cut * 2 // 3:
        head = head[:space]
    return head.rstrip() + ELLIPSIS


def _prefix_within(text: str, limit: int) -> int:
    """The largest code-point index whose prefix fits in ``limit`` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _safe_cut(text: str, cut: int) -> int:
    """Move a hard cut back so it does not separate a character from its joiner, variation
    selector, skin-tone modifier or combining mark (which would garble an emoji or a letter)."""
    floor = max(1, cut - 16)
    position = cut
    while (
        position > floor
        and position < len(text)
        and (
            text[position] in _JOINERS
            or text[position - 1] == "\u200d"
            or unicodedata.combining(text[position])
            or 0x1F3FB <= ord(text[position]) <= 0x1F3FF
        )
    ):
        position -= 1
    return position if position > floor else cut


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split plain text into chunks of at most ``limit`` UTF-16 units.

    Splits on a paragraph break when one falls in the last two thirds of the allowed length,
    else a line break, a sentence end, a space, and only as a last resort mid-word. The white
    space at a split point is dropped; every other character is kept, in order. Chunks with
    nothing but white space are dropped (Telegram refuses empty messages).
    """
    chunks: list[str] = []
    rest = text
    while rest:
        if utf16_len(rest) <= limit:
            chunks.append(rest)
            break
        cut = _prefix_within(rest, limit)
        head, tail = rest[:cut], ""
        for pattern in _SPLIT_POINTS:
            best = None
            for match in pattern.finditer(rest, 0, cut + 1):
                if match.start() >= max(1, cut // 3):
                    best = match
            if best is not None:
                head, tail = rest[: best.start()], rest[best.end() :]
                break
        else:
            cut = _safe_cut(rest, cut)
            head, tail = rest[:cut], rest[cut:]
        chunks.append(head)
        rest = tail
    return [chunk for chunk in chunks if chunk.strip()]


def render_spans(spans: Iterable[Span]) -> RenderedMessage:
    """Spans to Telegram HTML; every piece of text escaped, links only for safe URLs."""
    parts: list[str] = []
    plain: list[str] = []
    for span in spans:
        text = clean_text(span.text)
        if not text:
            continue
        plain.append(text)
        body = escape_text(text)
        if span.italic:
            body = f"<i>{body}</i>"
        if span.bold:
            body = f"<b>{body}</b>"
        href = safe_url(span.href)
        if href is not None:
            body = f'<a href="{html.escape(href, quote=True)}">{body}</a>'
        parts.append(body)
    return RenderedMessage("".join(parts), "".join(plain))


def render_text(text: str, limit: int = MESSAGE_LIMIT) -> list[RenderedMessage]:
    """Plain text as one or more escaped messages within ``limit``."""
    return [render_spans([Span(chunk)]) for chunk in split_text(clean_text(text), limit)]


def render_reply(reply: Reply, limit: int = MESSAGE_LIMIT) -> list[RenderedMessage]:
    """A command's reply: the title in bold, then the text, split into as many messages as
    needed. An empty reply renders as no message at all."""
    title = truncate(clean_text(reply.title).strip(), TITLE_LIMIT)
    text = clean_text(reply.text)
    if not title:
        return render_text(text, limit)
    room = limit - utf16_len(title) - 2
    chunks = split_text(text, room)
    if not chunks:
        return [render_spans([Span(title, bold=True)])]
    first = render_spans([Span(title, bold=True), Span("\n\n"), Span(chunks[0])])
    return [first, *(render_spans([Span(chunk)]) for chunk in chunks[1:])]


def render_caption(text: str) -> RenderedMessage:
    """A photo or document caption, cut (not split) to Telegram's 1,024-unit caption limit."""
    return render_spans([Span(truncate(clean_text(text), CAPTION_LIMIT))])


def hashtag(topic: str) -> str:
    """``#topic`` with anything Telegram would end a hashtag at replaced by ``_``."""
    tag = _HASHTAG_UNSAFE.sub("_", topic).strip("_")
    return f"#{tag}" if tag else ""


def _source_spans(alert: Alert) -> list[Span]:
    if not alert.sources:
        return []
    t = translator(alert.locale)
    name, url = alert.sources[0]
    spans = [
        Span(t._("Source: ")),
        Span(truncate(clean_text(name), SOURCE_NAME_LIMIT) or t._("unknown source"), href=url),
    ]
    if alert.more_sources:
        spans.append(
            Span(t.ngettext(" (+{n} more source)", " (+{n} more sources)", alert.more_sources))
        )
    return spans


def render_alert(alert: Alert, limit: int = MESSAGE_LIMIT) -> RenderedMessage:
    """An alert as one message: bold headline, summary, source with link and "+N more
    sources", topics as hashtags, and why it matched. The summary gives way (is shortened)
    when everything together would exceed ``limit``."""
    t = translator(alert.locale)
    headline = truncate(clean_text(alert.headline).strip(), HEADLINE_LIMIT) or t._("(untitled)")
    tail: list[Span] = []
    sources = _source_spans(alert)
    if sources:
        tail += [Span("\n\n"), *sources]
    tags = " ".join(tag for tag in (hashtag(t) for t in alert.topics) if tag)
    if tags:
        tail += [Span("\n" if sources else "\n\n"), Span(tags)]
    if alert.reasons:
        reasons = truncate(clean_text(", ".join(alert.reasons)), REASONS_LIMIT)
        tail += [Span("\n"), Span(t._("matched: "), italic=True), Span(reasons)]
    head = [Span(headline, bold=True)]
    used = sum(utf16_len(clean_text(span.text)) for span in head + tail)
    summary = clean_text(alert.summary).strip()
    if summary:
        summary = truncate(summary, limit - used - 2)
        head += [Span("\n\n"), Span(summary)]
    return render_spans(head + tail)


def render_update_notice(alert: Alert) -> RenderedMessage:
    """What is sent as a reply to an alert that could not be edited to show new sources."""
    t = translator(alert.locale)
    names = ", ".join(
        truncate(clean_text(name), SOURCE_NAME_LIMIT) for name, _ in alert.sources[:5]
    )
    extra = len(alert.sources) - 5
    if extra > 0:
        names = t._("{names} and {n} more", names=names, n=extra)
    return render_spans(
        [
            Span(t._("Update: "), bold=True),
            Span(truncate(clean_text(alert.headline).strip(), HEADLINE_LIMIT)),
            Span("\n"),
            Span(
                t.ngettext(
                    "Now reported by {n} source: {names}",
                    "Now reported by {n} sources: {names}",
                    len(alert.sources),
                    names=names,
                )
            ),
        ]
    )


def link_preview(url: str | None, image_url: str | None = None) -> LinkPreviewOptions:
    """Preview the story's image, large and above the text, when it has one; else the story
    itself when it has a safe URL; otherwise no preview at all, so that Telegram does not pick
    some other link out of the text.

    A preview (rather than a photo with a caption) keeps the alert an ordinary text message:
    its 4,096-character limit, its buttons and ``edit_message_text`` on cluster growth all stay
    as they are.
    """
    image = safe_url(image_url)
    if image is not None:
        return LinkPreviewOptions(url=image, prefer_large_media=True, show_above_text=True)
    safe = safe_url(url)
    if safe is None:
        return LinkPreviewOptions(is_disabled=True)
    return LinkPreviewOptions(url=safe, prefer_small_media=True)


def inline_keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard: url buttons for safe URLs, callback buttons for actions.

    A button with neither (or an unsafe URL) is left out rather than failing the whole send.
    """
    keyboard: list[list[InlineKeyboardButton]] = []
    for row in rows:
        out: list[InlineKeyboardButton] = []
        for button in row:
            label = clean_text(button.label).strip() or "?"
            url = safe_url(button.url)
            if url is not None:
                out.append(InlineKeyboardButton(label, url=url))
            elif button.action:
                size = len(button.action.encode())
                assert 1 <= size <= CALLBACK_DATA_LIMIT, f"callback data too long: {button.action}"
                out.append(InlineKeyboardButton(label, callback_data=button.action))
        if out:
            keyboard.append(out)
    return InlineKeyboardMarkup(keyboard) if keyboard else None
