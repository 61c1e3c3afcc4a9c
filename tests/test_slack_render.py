"""Block Kit rendering: hostile article text stays literal, Slack's limits always hold.

Every rendered message goes through the fake Slack's validator (``validate_message``: layout
limits and mrkdwn escaping) and its untrusted-escaping check (no ``<!channel>``, ``<@U1>``...).
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts import Alert
from bot.models import Button, Chat, Reply, Subscription
from bot.transports import render_slack
from tests.fakes.slack_blocks import (
    message_texts,
    validate_blocks,
    validate_message,
    validate_untrusted_escaping,
)

HOSTILE = [
    "<!channel> evacuate now",
    "<!here|here> and <!everyone>",
    "ping <@U123> and <#C999|general>",
    "<https://evil.example|click here for your bank>",
    "Tom &amp; Jerry & friends <3 > all",
    "*bold* _italic_ ~strike~ `code` ```block``` > quote",
    "zero\u200bwidth\u200d joiner and \u202eRTL override\u202c and \u2066isolate\u2069",
    "control \x00\x07\x1b[31m characters\x7f\x85",
    "<<<>>>&&&;;;&lt;",
    "<!subteam^S123|@team> <!date^1392734382^{date_short}|Feb 18>",
    "@channel @here @everyone",
]


def make_alert(**overrides: Any) -> Alert:
    values: dict[str, Any] = dict(
        delivery_id=1,
        story_id=7,
        cluster_id=7,
        headline="Bridge reopens after repairs",
        summary="The river bridge reopened on Monday after three months of repairs.",
        url="https://news.example/bridge",
        sources=(("Daily Example", "https://news.example/bridge"), ("Other Post", None)),
        topics=("world",),
        reasons=("bridge",),
        buttons=(
            (
                Button("Full story", url="https://news.example/bridge"),
                Button("Details", action="story:7"),
            ),
            (Button("More like this", action="more:7"), Button("Less like this", action="less:7")),
        ),
    )
    values.update(overrides)
    return Alert(**values)


def assert_safe(payload: dict[str, Any]) -> None:
    assert validate_message(payload) == []
    for text in message_texts(payload):
        assert validate_untrusted_escaping(text) == [], text


def visible(text: str) -> str:
    """What Slack shows for an escaped string."""
    return html.unescape(text)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_alert_text_is_escaped_everywhere(hostile: str) -> None:
    alert = make_alert(
        headline=hostile,
        summary=f"{hostile}\n\n{hostile}",
        sources=((hostile, "https://news.example/a?b=1&c=<2>|x"), ("Wire", None)),
        reasons=(hostile,),
        buttons=((Button(hostile, action="story:7"),),),
    )
    payload = render_slack.render_alert(alert)
    assert_safe(payload)
    header = payload["blocks"][0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    printable = render_slack.clean(hostile)
    # The words arrive literally: escaped, never interpreted or dropped.
    assert visible(header["text"]["text"]) == " ".join(printable.split())[:150]
    assert printable.strip() in visible(payload["blocks"][1]["text"]["text"])
    assert visible(render_slack.escape(hostile)) == printable


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_reply_text_is_escaped(hostile: str) -> None:
    reply = Reply(
        f"Results for {hostile}\nhttps://news.example/x?a=1&b=2",
        title=hostile,
        buttons=((Button(hostile, action="search:1:x"),),),
    )
    payload = render_slack.render_reply(reply)
    assert_safe(payload)
    assert "<https://news.example/x?a=1&amp;b=2>" in payload["blocks"][1]["text"]["text"]


def test_control_and_bidi_characters_are_dropped_but_visible_text_kept() -> None:
    assert render_slack.clean("a\x00b\u202ec\td\u200be") == "abc d\u200be"


def test_sources_are_links_with_escaped_names_and_urls() -> None:
    alert = make_alert(
        sources=(("A & B <News>", "https://x.example/p?q=1&r=2"), ("Bad", "javascript:alert(1)"))
    )
    payload = render_slack.render_alert(alert)
    context = payload["blocks"][2]["elements"][0]["text"]
    assert "<https://x.example/p?q=1&amp;r=2|A &amp; B &lt;News&gt;>" in context
    assert "javascript" not in context and "Bad" in context
    assert_safe(payload)


def test_alert_layout_buttons_and_fallback() -> None:
    payload = render_slack.render_alert(make_alert())
    kinds = [block["type"] for block in payload["blocks"]]
    assert kinds == ["header", "section", "context", "actions", "actions"]
    buttons = [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b.get("value") for b in buttons] == [None, "story:7", "more:7", "less:7"]
    assert buttons[0]["url"] == "https://news.example/bridge"
    assert len({b["action_id"] for b in buttons}) == 4
    assert payload["text"].startswith("Bridge reopens after repairs")
    context = payload["blocks"][2]["elements"]
    assert "Topics: World" in context[1]["text"] and "Why: bridge" in context[2]["text"]


def test_unsafe_url_buttons_are_left_out() -> None:
    alert = make_alert(
        buttons=((Button("Open", url="javascript:alert(1)"), Button("Go", action="story:7")),)
    )
    buttons = render_slack.render_alert(alert)["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Go"]


def test_huge_inputs_respect_every_limit() -> None:
    big = ("word & <!channel> " * 6000)[:100_000]
    alert = make_alert(
        headline=big,
        summary=big,
        sources=tuple((big, None) for _ in range(40)),
        reasons=(big,) * 20,
    )
    payload = render_slack.render_alert(alert)
    assert_safe(payload)
    assert len(payload["blocks"][0]["text"]["text"]) <= 150
    assert len(payload["blocks"][1]["text"]["text"]) <= 3000
    assert len(payload["text"]) <= render_slack.FALLBACK_LIMIT
    reply = render_slack.render_reply(Reply(big, buttons=((Button("x", action="story:1"),),)))
    assert_safe(reply)
    assert len(reply["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in reply["blocks"] if b["type"] == "section")
    assert reply["blocks"][-1]["type"] == "actions"


def test_summary_respects_the_chat_length_setting() -> None:
    alert = make_alert(summary="alpha beta gamma delta " * 50)
    text = render_slack.render_alert(alert, summary_chars=60)["blocks"][1]["text"]["text"]
    assert len(text) <= 61 and text.endswith("…")


def test_reply_sections_split_at_paragraph_boundaries() -> None:
    paragraphs = [f"Paragraph {n}: " + "x" * 1200 for n in range(5)]
    payload = render_slack.render_reply(Reply("\n\n".join(paragraphs)))
    sections = [b["text"]["text"] for b in payload["blocks"]]
    assert len(sections) == 3
    assert all(s.startswith("Paragraph") for s in sections)
    assert all(len(s) <= 3000 for s in sections)
    assert "".join(sections).count("Paragraph") == 5


def test_entities_are_never_cut_in_half() -> None:
    text = "&" * 5000
    payload = render_slack.render_reply(Reply(text))
    assert_safe(payload)
    assert visible("".join(b["text"]["text"] for b in payload["blocks"])) == text


def test_thread_update_lists_the_new_sources() -> None:
    alert = make_alert(
        sources=(("First", None), ("Second <b>", "https://b.example/"), ("Third", None))
    )
    payload = render_slack.render_update(alert)
    assert_safe(payload)
    text = payload["blocks"][0]["text"]["text"]
    assert text.startswith("+2 more sources: <https://b.example/|Second &lt;b&gt;>, Third")
    assert "First" not in text


def test_commands_are_shown_as_the_slash_command() -> None:
    text = "Send /help, /subscribe earthquake or /unsub 3; see https://x.example/subscribe"
    shown = render_slack.slackify_commands(text, {"help", "subscribe", "unsub"})
    assert shown == (
        "Send /news help, /news subscribe earthquake or /news unsub 3; "
        "see https://x.example/subscribe"
    )


def _chat(state: str = "active") -> Chat:
    return Chat(id=1, platform="slack", external_id="D1", title="DM", kind="private", state=state)


def test_home_view_lists_everything_with_callback_buttons() -> None:
    subs = [
        Subscription(1, 1, "query", "earthquake", "earthquake"),
        Subscription(2, 1, "query", "topic:crime", "topic:crime"),
        Subscription(3, 1, "mute", "<!channel>", "<!channel>"),
    ]
    view = render_slack.render_home(_chat(), subs, notice="Removed <@U1>")
    assert view["type"] == "home"
    assert validate_blocks(view["blocks"], max_blocks=100) == []
    for text in message_texts({"blocks": view["blocks"]}):
        assert validate_untrusted_escaping(text) == []
    values = [b["accessory"]["value"] for b in view["blocks"] if "accessory" in b]
    assert values == ["unsub:1", "unsub:2", "unmu:3"]
    toggle = view["blocks"][-2]["elements"][0]
    assert toggle["value"] == "pause"
    paused = render_slack.render_home(_chat("paused"), subs)
    assert paused["blocks"][-2]["elements"][0]["value"] == "resume"


def test_home_view_stays_within_limits_with_many_subscriptions() -> None:
    subs = [Subscription(n, 1, "query", f"q{n}", f"q{n}") for n in range(300)]
    view = render_slack.render_home(_chat(), subs)
    assert validate_blocks(view["blocks"], max_blocks=100) == []
    assert "275 more" in str(view)
    assert validate_blocks(render_slack.render_home(None, [])["blocks"], max_blocks=100) == []


_TOKENS = st.sampled_from(
    [
        "<",
        ">",
        "&",
        "!channel",
        "@U1",
        "#C1",
        "|",
        "https://e.example/a?b&c",
        "&amp;",
        "*",
        "_",
        "~",
        "`",
        "\n",
        "\n\n",
        " ",
        "\u202e",
        "\x00",
        "é",
        "\u200b",
        "&lt;",
    ]
)
_HOSTILE_TEXT = st.lists(_TOKENS | st.text(max_size=8), max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headline=_HOSTILE_TEXT,
    summary=_HOSTILE_TEXT,
    source=_HOSTILE_TEXT,
    reason=_HOSTILE_TEXT,
    label=_HOSTILE_TEXT,
    url=_HOSTILE_TEXT,
)
def test_any_text_renders_a_valid_safe_alert(
    headline: str, summary: str, source: str, reason: str, label: str, url: str
) -> None:
    alert = make_alert(
        headline=headline,
        summary=summary,
        sources=((source, "https://s.example/" + url),),
        reasons=(reason,),
        buttons=((Button(label, action="story:7"), Button(label, url=url)),),
    )
    assert_safe(render_slack.render_alert(alert))
    assert_safe(render_slack.render_update(make_alert(sources=(("a", None), (source, url)))))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_HOSTILE_TEXT, title=_HOSTILE_TEXT)
def test_any_text_renders_a_valid_safe_reply(text: str, title: str) -> None:
    assert_safe(render_slack.render_reply(Reply(text, title=title)))
