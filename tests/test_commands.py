"""Every chat command through the router, as any transport calls it, over a real database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import build_core
from bot.models import RawStory
from handlers.callbacks import handle_callback
from handlers.context import CommandContext
from handlers.registry import build_router
from handlers.router import Request, Router, parse_command_text
from tests.helpers import make_settings


@pytest.fixture
async def router(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    """Every chat command on both engines (``db_url``: SQLite, then PostgreSQL)."""
    core = await build_core(make_settings(tmp_path, db_path=db_url))
    router = build_router(CommandContext(core.services, core.settings))
    await core.services.process(
        [
            RawStory(
                "Earthquake shakes Nordland coast",
                "A strong earthquake shook the Nordland "
                "coast on Monday, damaging the harbour and cutting power to homes.",
                "https://n.example/1",
                source_name="North Wire",
            ),
            RawStory(
                "Champions win the cup final",
                "The champions won the cup final 2-1 with a "
                "late goal in front of a full stadium on Saturday night.",
                "https://n.example/2",
                source_name="Sport Daily",
            ),
        ]
    )
    yield router
    await core.close()


async def say(router: Router, text: str, chat: str = "c1", user: str = "u1") -> str:
    parsed = parse_command_text(text)
    assert parsed is not None
    reply = await router.handle(Request("console", chat, user, parsed[0], parsed[1]))
    assert reply is not None
    return reply.text


def test_command_parsing_handles_bot_names() -> None:
    assert parse_command_text("/subscribe@newsbot  quake ") == ("subscribe", "quake")
    assert parse_command_text("/subscribe@otherbot quake", bot_username="newsbot") is None
    assert parse_command_text("hello") is None


async def test_any_command_can_be_the_first_message(router: Router) -> None:
    text = await say(router, "/subscribe earthquakes AND -drill")
    assert text.startswith("Subscribed (#1): earthquakes AND NOT drill")


async def test_subscribe_list_unsubscribe(router: Router) -> None:
    await say(router, '/subscribe "cup final" OR derby')
    await say(router, "/follow sport")
    await say(router, "/mute topic:crime")
    listing = await say(router, "/list")
    assert '"cup final" OR derby' in listing and "sport" in listing and "topic:crime" in listing
    assert (await say(router, "/unsubscribe 1")).startswith("Removed subscription #1")
    assert "No subscription" in await say(router, "/unsubscribe 1")
    assert "Removed follow" in await say(router, "/unfollow sport")


async def test_bad_arguments_get_a_clear_error_with_an_example(router: Router) -> None:
    error = await say(router, "/subscribe (earthquake AND")
    assert "could not read that query" in error and "^" in error
    assert "Example" in await say(router, "/subscribe")
    assert "not a topic" in await say(router, "/follow gardening")
    assert "Could not change that" in await say(router, "/settings quiet soon")
    assert "too long" in await say(router, "/subscribe " + "x" * 2000)
    assert "don't know the command" in await say(router, "/frobnicate")


async def test_latest_search_and_story(router: Router) -> None:
    latest = await say(router, "/latest")
    assert "Earthquake shakes Nordland coast" in latest
    assert "Champions" in await say(router, "/latest sport")
    assert "Nordland" in await say(router, "/latest earthquake")
    found = await say(router, "/search harbour")
    assert "Earthquake shakes Nordland coast" in found and "[harbour]" in found
    assert "Nothing found" in await say(router, "/search zebra")
    story = await say(router, "/story 1")
    assert "North Wire" in story and "https://n.example/1" in story
    assert "no story #99" in (await say(router, "/story 99")).lower()


async def test_settings_pause_resume_stop(router: Router) -> None:
    assert "mode: instant" in await say(router, "/settings")
    changed = await say(router, "/settings quiet 22:00-07:00")
    assert "quiet: 22:00-07:00" in changed
    assert "timezone: Europe/Berlin" in await say(router, "/settings timezone Europe/Berlin")
    assert "Paused" in await say(router, "/pause")
    assert "state: paused" in await say(router, "/settings")
    await say(router, "/resume")
    assert "/stop confirm" in await say(router, "/stop")
    assert "forgotten" in await say(router, "/stop confirm")


async def test_rate_limit_per_chat(router: Router) -> None:
    replies = [await say(router, "/topics") for _ in range(35)]
    assert "too fast" in replies[-1]
    assert "Topics" in await say(router, "/topics", chat="other-chat")


async def test_buttons_map_to_commands_and_forged_data_is_refused(router: Router) -> None:
    await say(router, "/subscribe earthquake")
    base = Request("console", "c1", "u1", "callback")
    story = await handle_callback(router, replace(base, args="story:1"))
    assert story is not None and "North Wire" in story.text
    for forged in ("", "x" * 100, "story:abc", "drop table", "unsub:1;2", "zz:1"):
        reply = await handle_callback(router, replace(base, args=forged))
        assert reply is not None and "expired" in reply.text
    undo = await handle_callback(router, replace(base, args="unsub:1"))
    assert undo is not None and "Removed subscription #1" in undo.text


async def test_per_chat_limits_say_so_clearly(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.commands as commands

    monkeypatch.setattr(commands, "MAX_SUBSCRIPTIONS_PER_CHAT", 2)
    await say(router, "/subscribe alpha")
    await say(router, "/subscribe bravo")
    refused = await say(router, "/subscribe charlie")
    assert "the most allowed" in refused and "/unsubscribe" in refused
    await say(router, "/unsubscribe alpha")
    too_long = await say(router, "/subscribe " + " OR ".join(f"w{n}" for n in range(110)))
    assert "could not read that query" in too_long and "500" in too_long


async def test_latest_has_a_button_for_every_story_it_lists(router: Router) -> None:
    ctx = router.context
    await ctx.services.process(
        [
            RawStory(title, text, f"https://h.example/{n}", source_name="Port Wire")
            for n, (title, text) in enumerate(
                [
                    ("Ferry strike ends", "Ferry crews voted to end their strike on Tuesday."),
                    ("New library opens", "The city opened a library with a rooftop garden."),
                    ("Wheat harvest record", "Farmers brought in the largest wheat harvest yet."),
                    ("Bridge closed for repairs", "Engineers closed the old bridge until May."),
                    ("Orchestra tours Asia", "The national orchestra begins a tour of Japan."),
                    ("Glacier retreat measured", "Surveyors found the glacier shrank 40 metres."),
                ]
            )
        ]
    )
    reply = await router.handle(Request("console", "c1", "u1", "latest", ""))
    assert reply is not None
    listed = [line.split()[0] for line in reply.text.splitlines() if line.startswith("#")]
    buttons = [button.label for row in reply.buttons for button in row]
    assert len(listed) == 5 and buttons == listed
