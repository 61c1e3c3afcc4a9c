"""Hostile input, generated in bulk: renderers never emit a message the platforms would reject,
and the command router never crashes or hangs on any text."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts import Alert
from bot.app import build_core
from bot.models import Button, Reply
from bot.transports import render_slack, render_telegram
from handlers.context import CommandContext
from handlers.registry import build_router
from handlers.router import Request, Router, parse_command_text
from tests.fakes.slack_blocks import validate_message, validate_untrusted_escaping
from tests.fakes.telegram_html import utf16_length, validate_telegram_html
from tests.helpers import make_settings

FUZZ_CASES = 10_000
HOSTILE_PIECES = (
    "<b>",
    "</b>",
    "<i>",
    "<a href='javascript:alert(1)'>x</a>",
    "<script>",
    "&",
    "&amp;",
    "&lt;",
    "&#",
    "&#x",
    "<!channel>",
    "<!here>",
    "<@U123>",
    "<#C123|general>",
    "<https://evil.example|click>",
    "*bold*",
    "_it_",
    "~s~",
    "`code`",
    "```",
    "\u200b",
    "\u200d",
    "\u202e",
    "\u2066",
    "\ufeff",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\r\n",
    "\n\n",
    "\t",
    "😀",
    "👩‍👩‍👧",
    "𝕏",
    "עברית",
    "العربية",
    "ﷺ",
    "\ud7ff",
    "]]>",
    "{{x}}",
    "%s",
    "\\",
    '"',
    "'",
    "/subscribe <query>",
    "@channel",
)


def hostile_string(rng: random.Random) -> str:
    pieces = [
        rng.choice(HOSTILE_PIECES) if rng.random() < 0.6 else rng.choice("abc XYZ 123.,")
        for _ in range(rng.randint(0, 40))
    ]
    if rng.random() < 0.01:
        pieces.append("x" * 100_000)  # a 100 KB line
    return "".join(pieces)


def hostile_alert(rng: random.Random, n: int) -> Alert:
    url = rng.choice([None, 'https://news.example/a?b=<c>&d="e"', "javascript:alert(1)", "ftp://x"])
    return Alert(
        delivery_id=n,
        story_id=n,
        cluster_id=n,
        headline=hostile_string(rng),
        summary=hostile_string(rng),
        url=url,
        sources=((hostile_string(rng)[:80] or "src", url), ("Other <b>", None)),
        topics=("disaster", "world"),
        reasons=(hostile_string(rng)[:60],),
        buttons=(
            (
                Button("Full story", url="https://news.example/a"),
                Button("Details", action=f"story:{n}"),
            ),
        ),
    )


@pytest.mark.slow
def test_ten_thousand_hostile_alerts_render_valid_on_both_platforms() -> None:
    rng = random.Random(8)
    rejected = []
    for n in range(FUZZ_CASES):
        alert = hostile_alert(rng, n)
        message = render_telegram.render_alert(alert)
        try:
            plain = validate_telegram_html(message.html)
            assert utf16_length(plain) <= 4096
        except Exception as exc:  # the fake's validator raising is exactly a rejected message
            rejected.append(("telegram", n, str(exc)[:200]))
        payload = render_slack.render_alert(alert)
        errors = validate_message({**payload, "channel": "C1"})
        errors += validate_untrusted_escaping(payload.get("text", ""))
        if errors:
            rejected.append(("slack", n, "; ".join(errors)[:200]))
    assert rejected == [], rejected[:5]


@pytest.mark.slow
def test_hostile_replies_render_valid_on_both_platforms() -> None:
    rng = random.Random(9)
    for n in range(1_000):
        reply = Reply(
            hostile_string(rng) or "x",
            buttons=((Button(hostile_string(rng)[:30] or "b", action="story:1"),),),
        )
        for part in render_telegram.render_reply(reply):
            validate_telegram_html(part.html)
        payload = render_slack.render_reply(reply)
        assert validate_message({**payload, "channel": "C1"}) == [], n


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Router:
    loop = asyncio.new_event_loop()
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    core = loop.run_until_complete(build_core(make_settings(tmp)))
    router = build_router(CommandContext(core.services, core.settings))
    router.clock = lambda: 0.0  # no rate limit in the way of the fuzzer
    router._allow = lambda request: True  # type: ignore[method-assign]
    router.loop = loop  # type: ignore[attr-defined]
    return router


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300))
def test_router_never_crashes_on_any_text(router: Router, text: str) -> None:
    loop: asyncio.AbstractEventLoop = router.loop  # type: ignore[attr-defined]
    parsed = parse_command_text("/" + text.lstrip("/"))
    command, args = parsed if parsed else ("search", text)
    reply = loop.run_until_complete(
        asyncio.wait_for(router.handle(Request("console", "fuzz", "console", command, args)), 10)
    )
    assert reply is None or isinstance(reply.text, str)
    assert reply is None or "Something went wrong" not in reply.text, (command, args)
