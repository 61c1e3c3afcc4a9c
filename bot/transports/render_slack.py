"""Block Kit rendering of alerts, thread updates, replies and the App Home tab (pure: no I/O).

Everything an article or a user typed is untrusted. Slack reads ``<...>`` as control sequences
(``<!channel>`` notifies a whole channel, ``<https://evil|click>`` is a disguised link), so every
untrusted string goes through :func:`escape` (``&``, ``<``, ``>``) before it lands in any text
field, plain_text included, and in the ``text`` fallback. The only ``<...>`` sequences in our
output are links we build ourselves from http(s) URLs, with the label escaped. mrkdwn objects
holding untrusted text are ``verbatim`` so Slack does not auto-link names or bare URLs in them.

Limits respected here (Slack answers ``invalid_blocks`` otherwise): header 150 characters,
section text 3,000, button text 75, button value 2,000, URL 3,000, context 10 elements,
actions 25 elements, 50 blocks per message (100 per Home view). Lengths are counted on the
escaped text, and truncation never cuts an entity in half.

Plain dicts are built rather than slack_sdk's ``Block`` classes: those validate some limits
only by raising at construction, whereas we must always produce *something* valid from any
article, so we fit the text to the limit instead.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from bot.alerts import TOPIC_LABELS, Alert
from bot.i18n import Translator, translator
from bot.models import Button, Chat, Reply, Subscription

Block = dict[str, Any]

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
URL_LIMIT = 3000
CONTEXT_TEXT_LIMIT = 3000
MAX_MESSAGE_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_ACTIONS = 25
#: Fallback text (notifications, screen readers) is kept short enough to read at a glance.
FALLBACK_LIMIT = 3000
#: A reply longer than this is cut: a chat message is not the place for a 100 KB document.
MAX_REPLY_CHARS = 15_000
MAX_LISTED_SOURCES = 8
ELLIPSIS = "…"

ACTION_PREFIX = "newsbot.action."  # value = Button.action, handled by handlers.callbacks
LINK_PREFIX = "newsbot.link."  # URL buttons: Slack still sends a block_actions to acknowledge
COMMAND_PREFIX = "newsbot.cmd."  # App Home buttons that run a command without arguments
HOME_COMMANDS = frozenset({"pause", "resume"})

# C0/C1 controls (but newline and tab) and bidi embedding/override/isolate characters: invisible,
# and an article's U+202E would reverse the text we append after it (sources, buttons).
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_URL_IN_TEXT = re.compile(r"https?://[^\s<>|\"']+[^\s<>|\"'.,;:!?)\]]")


def clean(text: str) -> str:
    """Drop control and bidi-override characters; tabs become spaces. Visible text is kept."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", text).replace("\t", " "))


def escape(text: str) -> str:
    """Slack's three escapes, after :func:`clean`: the text then shows literally."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped_pieces(text: str) -> Iterator[str]:
    for char in clean(text):
        yield {"&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(char, char)


def fit(text: str, limit: int, *, one_line: bool = False) -> str:
    """``text`` escaped and cut to at most ``limit`` characters (ellipsis included).

    Cut at a word boundary when one is near, never inside an ``&amp;`` entity.
    """
    if one_line:
        text = " ".join(text.split())
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for piece in _escaped_pieces(text):
        if used + len(piece) > limit - len(ELLIPSIS):
            break
        out.append(piece)
        used += len(piece)
    cut = "".join(out)
    space = cut.rfind(" ")
    if space > len(cut) * 0.8:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def safe_url(url: str | None) -> str | None:
    """An http(s) URL usable inside ``<url|label>``, or None.

    Characters that would end or split the control sequence are percent-encoded and ``&`` is
    escaped as Slack asks; anything else (javascript:, spaces in the host...) is refused.
    """
    if not url:
        return None
    url = clean(url).strip()
    if not re.match(r"^https?://[^\s/?#]+", url, re.IGNORECASE):
        return None
    url = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")
    if re.search(r"\s", url):
        return None
    url = url.replace("&", "&amp;")
    return url if len(url) <= URL_LIMIT else None


def link(url: str | None, label: str, limit: int = 300) -> str:
    """``<url|label>`` with the label escaped, or just the escaped label without a usable URL."""
    target = safe_url(url)
    text = fit(label, limit, one_line=True) or "link"
    return f"<{target}|{text}>" if target else text


def plain(
    text: str, limit: int = SECTION_LIMIT, *, one_line: bool = False, default: str = "-"
) -> dict[str, Any]:
    """A plain_text object; Slack refuses empty text, so blank input shows ``default``."""
    shown = fit(text, limit, one_line=one_line)
    return {"type": "plain_text", "text": shown if shown.strip() else default, "emoji": False}


def mrkdwn(escaped_text: str) -> dict[str, Any]:
    """A mrkdwn object for text that is already escaped (``verbatim``: no auto-linking)."""
    return {"type": "mrkdwn", "text": escaped_text or " ", "verbatim": True}


def _button_element(button: Button, index: int) -> Block | None:
    label = plain(button.label, BUTTON_TEXT_LIMIT, one_line=True, default="Open")
    if button.url:
        target = safe_url(button.url)
        if target is None:
            return None
        # The url field is not mrkdwn: it carries the URL itself, unescaped.
        raw = target.replace("&amp;", "&")
        return {"type": "button", "text": label, "url": raw, "action_id": f"{LINK_PREFIX}{index}"}
    if button.action and len(button.action) <= BUTTON_VALUE_LIMIT:
        return {
            "type": "button",
            "text": label,
            "value": button.action,
            "action_id": f"{ACTION_PREFIX}{index}",
        }
    return None


def actions_blocks(rows: Sequence[Sequence[Button]], *, start: int = 0) -> list[Block]:
    """One actions block per row of buttons (unique action ids across the whole message)."""
    blocks: list[Block] = []
    index = start
    for row in rows:
        elements: list[Block] = []
        for button in row:
            element = _button_element(button, index)
            index += 1
            if element is not None and len(elements) < MAX_ACTIONS:
                elements.append(element)
        if elements:
            blocks.append({"type": "actions", "elements": elements})
    return blocks


def _context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts if t][:10]}


def _sources_line(
    sources: Sequence[tuple[str, str | None]], *, skip: int = 0, t: Translator | None = None
) -> str:
    """Escaped, linked source names; translated words are escaped like any other text."""
    t = t or translator(None)
    shown = list(sources)[skip : skip + MAX_LISTED_SOURCES]
    parts = [link(url, name or t._("unknown source"), 120) for name, url in shown]
    hidden = len(sources) - skip - len(shown)
    line = ", ".join(parts)
    if hidden > 0:
        line = escape(t._("{names} and {n} more", names="\ue000", n=hidden)).replace("\ue000", line)
    return line


def _cut_escaped(text: str, limit: int) -> str:
    """Shorten already-escaped text without splitting an entity or a ``<link>``."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    for opener, closer in (("&", ";"), ("<", ">")):
        start = cut.rfind(opener)
        if start != -1 and cut.find(closer, start) == -1:
            cut = cut[:start]
    return cut.rstrip(" ,") + ELLIPSIS


def _truncate_words(text: str, max_chars: int) -> str:
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars * 0.6 else cut).rstrip() + ELLIPSIS


#: Block Kit limits of an image block.
IMAGE_URL_LIMIT = 3000
IMAGE_ALT_LIMIT = 2000


def alert_fallback(alert: Alert) -> str:
    """The notification text: headline and the start of the summary, escaped."""
    summary = _truncate_words(" ".join(alert.summary.split()), 300)
    text = fit(f"{alert.headline}\n{summary}".strip(), FALLBACK_LIMIT)
    return text if text.strip() else escape(translator(alert.locale)._("News alert"))


def render_alert(alert: Alert, *, summary_chars: int = 0) -> dict[str, Any]:
    """``chat.postMessage`` arguments (``text`` and ``blocks``) for one alert.

    ``summary_chars`` (the chat's length setting) shortens the summary at a word boundary.
    """
    t = translator(alert.locale)
    blocks: list[Block] = [
        {
            "type": "header",
            "text": plain(alert.headline, HEADER_LIMIT, one_line=True, default=t._("News")),
        }
    ]
    image = safe_url(alert.image_url)
    if image is not None and len(image) <= IMAGE_URL_LIMIT:
        alt = " ".join(clean(alert.headline).split())[:IMAGE_ALT_LIMIT] or t._("Story image")
        blocks.append({"type": "image", "image_url": image, "alt_text": alt})
    summary = _truncate_words(alert.summary.strip(), summary_chars)
    summary_text = fit(summary, SECTION_LIMIT)
    if summary_text.strip():
        blocks.append({"type": "section", "text": mrkdwn(summary_text)})
    # Each label is escaped on its own and the escaped values put in after: a translation is
    # text like any other, and may not add markup.
    context = []
    if alert.sources:
        label = t.ngettext("Source:", "Sources:", len(alert.sources))
        context.append(f"{escape(label)} {_sources_line(alert.sources, t=t)}")
    if alert.topics:
        labels = ", ".join(t.topic(topic, TOPIC_LABELS.get(topic)) for topic in alert.topics[:4])
        context.append(f"{escape(t._('Topics:'))} {fit(labels, 500, one_line=True)}")
    if alert.reasons:
        reasons = fit(", ".join(alert.reasons), 1000, one_line=True)
        context.append(f"{escape(t._('Why:'))} {reasons}")
    if context:
        blocks.append(_context(*(_cut_escaped(c, CONTEXT_TEXT_LIMIT) for c in context)))
    blocks.extend(actions_blocks(alert.buttons))
    return {"text": alert_fallback(alert), "blocks": blocks[:MAX_MESSAGE_BLOCKS]}


def render_update(alert: Alert) -> dict[str, Any]:
    """The thread reply when a story's cluster gains outlets: "+N more sources: ..."."""
    t = translator(alert.locale)
    count = alert.more_sources
    label = t.ngettext("+{n} more source:", "+{n} more sources:", count)
    names = _sources_line(alert.sources, skip=1, t=t)
    text = _cut_escaped(f"{escape(label)} {names}", SECTION_LIMIT)
    fallback = fit(f"{label} " + ", ".join(n for n, _ in alert.sources[1:]), FALLBACK_LIMIT)
    return {"text": fallback, "blocks": [{"type": "section", "text": mrkdwn(text)}]}


def _command_pattern(commands: Collection[str]) -> re.Pattern[str] | None:
    names = sorted((c for c in commands if re.fullmatch(r"[a-z_]+", c)), key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"(?<![\w/])/(" + "|".join(names) + r")\b")


def slackify_commands(text: str, commands: Collection[str], slash_command: str = "/news") -> str:
    """Replies say ``/subscribe x``; on Slack the command is ``/news subscribe x``."""
    pattern = _command_pattern(commands)
    return pattern.sub(lambda m: f"{slash_command} {m.group(1)}", text) if pattern else text


def _linkify(text: str) -> str:
    """Escape plain text and turn its http(s) URLs into ``<url>`` links (verbatim disables
    Slack's own auto-linking, which would otherwise also link names)."""
    out: list[str] = []
    last = 0
    for match in _URL_IN_TEXT.finditer(text):
        out.append(escape(text[last : match.start()]))
        target = safe_url(match.group(0))
        out.append(f"<{target}>" if target else escape(match.group(0)))
        last = match.end()
    out.append(escape(text[last:]))
    return "".join(out)


def split_sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Escaped, linkified chunks of at most ``limit`` characters, cut at paragraph boundaries
    when possible, then at line ends, then at spaces."""
    chunks: list[str] = []
    current = ""
    for paragraph in re.split(r"(\n\s*\n)", text):
        piece = _linkify(paragraph)
        if len(current) + len(piece) <= limit:
            current += piece
            continue
        if current.strip():
            chunks.append(current.strip("\n"))
        current = ""
        while len(piece) > limit:
            window = piece[:limit]
            cut = max(window.rfind("\n"), window.rfind(" "))
            if cut < limit // 2:
                cut = limit
            # Never split inside an entity or a <link>.
            for opener, closer in (("&", ";"), ("<", ">")):
                start = window.rfind(opener, 0, cut)
                if start != -1 and window.find(closer, start, cut) == -1:
                    cut = start if start > 0 else cut
            chunks.append(piece[:cut].strip("\n"))
            piece = piece[cut:]
        current = piece
    if current.strip():
        chunks.append(current.strip("\n"))
    return [c for c in chunks if c.strip()]


def reply_fallback(reply: Reply) -> str:
    text = fit(f"{reply.title}\n{reply.text}".strip(), FALLBACK_LIMIT)
    return text if text.strip() else "newsbot"


def render_reply(
    reply: Reply,
    *,
    commands: Collection[str] = (),
    slash_command: str = "/news",
    locale: str | None = None,
) -> dict[str, Any]:
    """``text`` and ``blocks`` for a command's reply (its followups are sent separately);
    ``locale`` is the chat's interface language, for the few words added here."""
    t = translator(locale)
    text = slackify_commands(reply.text, commands, slash_command)
    if len(text) > MAX_REPLY_CHARS:
        text = (
            _truncate_words(text, MAX_REPLY_CHARS) + "\n" + t._("(cut: too long for one message)")
        )
    blocks: list[Block] = []
    if reply.title:
        blocks.append({"type": "header", "text": plain(reply.title, HEADER_LIMIT, one_line=True)})
    buttons = actions_blocks(reply.buttons)
    room = MAX_MESSAGE_BLOCKS - len(blocks) - len(buttons)
    sections = split_sections(text)
    if len(sections) > room:
        sections = [*sections[: room - 1], _cut_escaped(sections[room - 1], SECTION_LIMIT - 20)]
    blocks.extend({"type": "section", "text": mrkdwn(s)} for s in sections)
    blocks.extend(buttons)
    if not blocks:
        blocks.append({"type": "section", "text": mrkdwn(escape(t._("(empty reply)")))})
    fallback = reply_fallback(Reply(text, title=reply.title))
    return {"text": fallback, "blocks": blocks[:MAX_MESSAGE_BLOCKS]}


def _item(text: str, label: str, action: str, index: int) -> Block:
    return {
        "type": "section",
        "text": mrkdwn(fit(text, 1000)),
        "accessory": {
            "type": "button",
            "text": plain(label, BUTTON_TEXT_LIMIT, one_line=True),
            "value": action,
            "action_id": f"{ACTION_PREFIX}{index}",
        },
    }


def render_home(
    chat: Chat | None,
    subscriptions: Sequence[Subscription],
    *,
    notice: str = "",
    slash_command: str = "/news",
    max_items: int = 25,
    locale: str | None = None,
) -> dict[str, Any]:
    """The App Home view: subscriptions, follows, mutes and settings of the user's DM chat,
    each with a button that reuses a callback action (``unsub:ID``, ``unmu:ID``); in the
    chat's interface language, or ``locale`` (the user's) before there is a chat."""
    t = translator(chat.locale if chat is not None and chat.locale else locale)
    blocks: list[Block] = [{"type": "header", "text": plain(t._("Your news alerts"), HEADER_LIMIT)}]
    if notice:
        blocks.append(_context(fit(notice, 1000)))
    if chat is None:
        blocks.append(
            {
                "type": "section",
                "text": mrkdwn(
                    escape(
                        t._(
                            "No alerts set up yet. Try {command} subscribe earthquake, "
                            "{command} follow technology, or {command} help.",
                            command=slash_command,
                        )
                    )
                ),
            }
        )
        return {"type": "home", "blocks": blocks}
    queries = [
        s for s in subscriptions if s.kind == "query" and not s.canonical.startswith("topic:")
    ]
    follows = [s for s in subscriptions if s.kind == "query" and s.canonical.startswith("topic:")]
    mutes = [s for s in subscriptions if s.kind == "mute"]
    index = 0
    groups = (
        (
            t._("Subscriptions"),
            queries,
            t._("Unsubscribe"),
            "unsub",
            t._("{command} subscribe QUERY", command=slash_command),
        ),
        (
            t._("Topics followed"),
            follows,
            t._("Unfollow"),
            "unsub",
            t._("{command} follow TOPIC", command=slash_command),
        ),
        (
            t._("Muted"),
            mutes,
            t._("Unmute"),
            "unmu",
            t._("{command} mute WORD", command=slash_command),
        ),
    )
    for title, items, label, verb, hint in groups:
        blocks.append({"type": "section", "text": mrkdwn(f"*{escape(title)}*")})
        if not items:
            blocks.append(_context(escape(t._("None. Add one with {hint}.", hint=hint))))
        for sub in items[:max_items]:
            shown = sub.canonical.removeprefix("topic:") if verb == "unsub" else sub.canonical
            if sub.canonical.startswith("topic:"):
                shown = t.topic(shown, TOPIC_LABELS.get(shown))
            blocks.append(_item(f"#{sub.id} {shown}", label, f"{verb}:{sub.id}", index))
            index += 1
        if len(items) > max_items:
            blocks.append(
                _context(
                    escape(
                        t._(
                            "and {n} more: {command} list shows them all.",
                            n=len(items) - max_items,
                            command=slash_command,
                        )
                    )
                )
            )
        blocks.append({"type": "divider"})
    settings = [
        (t._("Delivery"), chat.mode),
        (t._("Digest"), chat.digest_schedule),
        (t._("Timezone"), chat.timezone),
        (t._("Quiet hours"), chat.quiet_hours or "off"),
        (t._("Cap"), t.ngettext("{n} alert an hour", "{n} alerts an hour", chat.hourly_cap)),
        (
            t._("Summary length"),
            t.ngettext("{n} character", "{n} characters", chat.summary_chars),
        ),
        (t._("Language"), t.locale),
        (t._("Story languages"), chat.language or "any"),
        (t._("State"), chat.state),
    ]
    blocks.append(
        {
            "type": "section",
            "text": mrkdwn(f"*{escape(t._('Settings'))}*"),
            "fields": [
                mrkdwn(f"{escape(name)}: {fit(value, 200, one_line=True)}")
                for name, value in settings
            ],
        }
    )
    toggle = "resume" if chat.state in ("paused", "dormant") else "pause"
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": plain(
                        t._("Resume alerts") if toggle == "resume" else t._("Pause alerts")
                    ),
                    "value": toggle,
                    "action_id": f"{COMMAND_PREFIX}{toggle}",
                    **({"style": "primary"} if toggle == "resume" else {}),
                }
            ],
        }
    )
    blocks.append(
        _context(
            escape(
                t._(
                    "Change settings with {command} settings NAME VALUE.",
                    command=slash_command,
                )
            )
        )
    )
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def install_page(
    title: str, message: str, *, retry: str | None = None, reason: str | None = None
) -> str:
    """The small HTML page the OAuth install flow ends on (installed, or why not). Every
    value is HTML-escaped: a workspace name is chosen by whoever created the workspace."""
    import html

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(message)}</p>",
    ]
    if reason:
        parts.append(f"<p><small>Reason: {html.escape(reason)}</small></p>")
    if retry:
        parts.append(f'<p><a href="{html.escape(retry, quote=True)}">Install again</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts)
