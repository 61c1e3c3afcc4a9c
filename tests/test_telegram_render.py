"""Telegram HTML rendering: hostile text stays literal, markup stays valid, limits hold.

Every rendering is checked with the fake server's TDLib-like parser, which rejects what
Telegram rejects, and measured in UTF-16 code units after entity parsing, as Telegram counts.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts import Alert
from bot.models import Button, Reply
from bot.transports.render_telegram import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    clean_text,
    inline_keyboard,
    link_preview,
    render_alert,
    render_caption,
    render_reply,
    render_text,
    render_update_notice,
    safe_url,
    split_text,
    utf16_len,
)
from tests.fakes.telegram_html import parse_telegram_html, utf16_length, validate_telegram_html

HOSTILE = [
    "<b>bold?</b> & <i>not</i>",
    "Tom & Jerry &amp; friends &lt;3 &#x41; &nbsp;",
    "<script>alert('x')</script>",
    "unbalanced <b> and </i> and <a",
    '<a href="javascript:alert(1)">click</a>',
    "<a href=javascript:alert(1)>click</a>",
    "emoji 👩‍👩‍👧‍👦 🇺🇦 👍🏽 ❤️ and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "עברית מימין לשמאל \u202eevil\u202c العربية",
    "zero\u200bwidth\u200c\u200djoin\ufeff",
    "control\x00chars\x07here\x1b[31m",
    "quotes \" ' ` and back\\slash",
]


def _alert(headline: str, **changes: object) -> Alert:
    values: dict[str, object] = {
        "delivery_id": 1,
        "story_id": 7,
        "cluster_id": 7,
        "headline": headline,
        "summary": "A short summary of what happened.",
        "url": "https://example.org/news/1?a=1&b=2",
        "sources": (("Example Times", "https://example.org/news/1"),),
        "topics": ("disaster", "world"),
        "reasons": ("earthquake", "Dhaka"),
        "buttons": (
            (
                Button("Full story", url="https://example.org/news/1"),
                Button("Details", action="story:7"),
            ),
        ),
    }
    values.update(changes)
    return Alert(**values)  # type: ignore[arg-type]


def _shown(html_text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = validate_telegram_html(html_text)
    assert utf16_length(text) <= limit
    return text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_headlines_render_literally(hostile: str) -> None:
    rendered = render_alert(_alert(hostile, summary=hostile, sources=((hostile, None),)))
    shown = _shown(rendered.html)
    assert shown == rendered.plain
    assert shown.startswith(clean_text(hostile).strip())
    assert shown.count(clean_text(hostile).strip()) == 3
    links = [e for e in parse_telegram_html(rendered.html).entities if e.type == "text_link"]
    assert links == []  # the source had no URL; nothing in the text may create one


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_reply_text_and_title_render_literally(hostile: str) -> None:
    messages = render_reply(Reply(hostile, title=hostile))
    assert len(messages) == 1
    shown = _shown(messages[0].html)
    assert shown == f"{clean_text(hostile).strip()}\n\n{clean_text(hostile)}"


def test_alert_layout_bold_headline_link_hashtags_and_reasons() -> None:
    alert = _alert(
        "Quake & aftershocks",
        sources=(
            ("Example Times", 'https://example.org/a?x=1&y="2"'),
            ("Other", None),
            ("Third", None),
        ),
    )
    rendered = render_alert(alert)
    parsed = parse_telegram_html(rendered.html)
    assert parsed.text.splitlines()[0] == "Quake & aftershocks"
    bold = [e for e in parsed.entities if e.type == "bold"]
    assert bold[0].offset == 0 and bold[0].length == len("Quake & aftershocks")
    link = next(e for e in parsed.entities if e.type == "text_link")
    assert link.url == 'https://example.org/a?x=1&y="2"'
    assert "Source: Example Times (+2 more sources)" in parsed.text
    assert "#disaster #world" in parsed.text
    assert parsed.text.endswith("matched: earthquake, Dhaka")


def test_only_http_urls_become_links_or_previews() -> None:
    for bad in (
        "javascript:alert(1)",
        "data:text/html,x",
        "tg://resolve?domain=x",
        "https://exa mple.org",
        "http://",
        "ftp://example.org/x",
        "",
        None,
    ):
        assert safe_url(bad) is None
        rendered = render_alert(_alert("x", url=bad, sources=(("S", bad),)))
        assert not [e for e in parse_telegram_html(rendered.html).entities if e.type == "text_link"]
        assert link_preview(bad).is_disabled is True
    preview = link_preview("https://example.org/story")
    assert preview.url == "https://example.org/story" and not preview.is_disabled


def test_keyboard_keeps_safe_url_buttons_and_callback_data() -> None:
    markup = inline_keyboard(
        (
            (Button("Open", url="https://example.org"), Button("Evil", url="javascript:x")),
            (Button("Details", action="story:1"),),
        )
    )
    assert markup is not None
    rows = markup.inline_keyboard
    assert [[b.text for b in row] for row in rows] == [["Open"], ["Details"]]
    assert rows[1][0].callback_data == "story:1"
    assert inline_keyboard(()) is None
    with pytest.raises(AssertionError):
        inline_keyboard(((Button("Long", action="x" * 65),),))


def test_huge_alert_is_cut_to_one_message_within_the_limit() -> None:
    huge = "<b>&" * 25_000  # 100 KB of markup-looking text
    rendered = render_alert(_alert(huge, summary=huge, reasons=(huge,)))
    shown = _shown(rendered.html)
    assert utf16_len(shown) <= MESSAGE_LIMIT
    assert shown.startswith("<b>&<b>&")


def test_astral_characters_count_two_units() -> None:
    assert utf16_len("👍") == 2 and utf16_len("a") == 1 and utf16_len("𝔘") == 2
    text = "👍" * 3000  # 6,000 units, 3,000 code points
    chunks = split_text(text, MESSAGE_LIMIT)
    assert len(chunks) == 2
    assert all(utf16_len(chunk) <= MESSAGE_LIMIT for chunk in chunks)
    assert "".join(chunks) == text


def test_splitting_prefers_paragraphs_then_lines_then_sentences() -> None:
    paragraph = ("word " * 300).strip()  # 1,499 characters
    text = "\n\n".join([paragraph] * 5)
    chunks = split_text(text, MESSAGE_LIMIT)
    two = len(paragraph) * 2 + 2
    assert [len(c) for c in chunks] == [two, two, len(paragraph)]
    lines = "\n".join(["line of text"] * 600)
    assert all(c.startswith("line") and c.endswith("text") for c in split_text(lines, 1000))
    sentences = " ".join(["This is one sentence."] * 300)
    assert all(c.endswith("sentence.") for c in split_text(sentences, 1000))


def test_a_long_reply_splits_without_cutting_tags_or_entities() -> None:
    text = "\n".join(f"/subscribe <query {i}> & more" for i in range(600))
    messages = render_reply(Reply(text, title="Your <subscriptions>"))
    assert len(messages) > 1
    shown = [_shown(m.html) for m in messages]
    assert shown[0].startswith("Your <subscriptions>\n\n/subscribe <query 0> & more")
    joined = "\n".join(s.removeprefix("Your <subscriptions>\n\n") for s in shown)
    assert joined == text
    assert parse_telegram_html(messages[0].html).entities[0].type == "bold"


def test_hard_cut_keeps_emoji_sequences_whole() -> None:
    family = "👩\u200d👩\u200d👧"
    text = family * 1000
    chunks = split_text(text, 100)
    assert "".join(chunks) == text
    assert all(utf16_len(c) <= 100 and not c.startswith("\u200d") for c in chunks)


def test_captions_are_cut_to_1024_units() -> None:
    caption = render_caption("<chart> & " * 500)
    assert utf16_length(_shown(caption.html, CAPTION_LIMIT)) <= CAPTION_LIMIT


def test_update_notice_and_empty_reply() -> None:
    many = tuple((f"Outlet {i} <x>", None) for i in range(8))
    notice = _shown(render_update_notice(_alert("Flood <warning>", sources=many)).html)
    assert "Flood <warning>" in notice and "8 sources" in notice and "and 3 more" in notice
    assert render_reply(Reply("")) == [] and render_reply(Reply("  \n ")) == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_renders_as_valid_html_with_the_same_text(text: str) -> None:
    messages = render_text(text)
    cleaned = clean_text(text)
    if not cleaned.strip():
        assert messages == []
        return
    assert len(messages) == 1
    assert _shown(messages[0].html) == cleaned


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=3000), st.integers(min_value=8, max_value=600))
def test_split_respects_limits_and_keeps_every_visible_character(text: str, limit: int) -> None:
    cleaned = clean_text(text)
    messages = render_text(text, limit)
    shown = [_shown(m.html, limit) for m in messages]
    assert re.sub(r"\s+", "", "".join(shown)) == re.sub(r"\s+", "", cleaned)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=2000), st.text(max_size=200), st.lists(st.text(max_size=30), max_size=4))
def test_any_alert_is_valid_html_within_the_limit(
    summary: str, headline: str, reasons: list[str]
) -> None:
    rendered = render_alert(_alert(headline, summary=summary, reasons=tuple(reasons)))
    assert _shown(rendered.html) == rendered.plain
