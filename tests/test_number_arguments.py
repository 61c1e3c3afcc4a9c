"""Numbers typed in chat are parsed strictly: odd digits and huge ids get the usage line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import build_core
from bot.models import RawStory
from handlers.context import CommandContext
from handlers.numbers import parse_id, parse_number
from handlers.registry import build_router
from handlers.router import Request, Router
from tests.helpers import make_settings

ADMIN = "100"


@pytest.fixture
async def router(tmp_path: Path):  # type: ignore[no-untyped-def]
    core = await build_core(make_settings(tmp_path, telegram_admin_ids=frozenset({ADMIN})))
    await core.services.process(
        [RawStory("Budget passes", "Parliament passed the budget on Friday.", source_name="W")]
    )
    yield build_router(CommandContext(core.services, core.settings))
    await core.close()


async def ask(router: Router, command: str, args: str, user: str = "7") -> str:
    reply = await router.handle(Request("telegram", "c1", user, command, args))
    assert reply is not None
    return reply.text


def test_parse_number_accepts_ascii_digits_in_range_only() -> None:
    assert parse_number("42") == 42
    assert parse_id("#42") == 42
    for bad in ("²", "٣", "１２", "-1", "1.5", "", " 4", "9" * 40, "9" * 19):
        assert parse_number(bad) is None, bad
    assert parse_number("5", low=1, high=4) is None
    assert parse_id("0") is None


@pytest.mark.parametrize("args", ["9" * 40, "²", "#²", "٣", "x"])
async def test_story_with_a_bad_id_answers_with_the_usage_line(router, args: str) -> None:  # type: ignore[no-untyped-def]
    assert (await ask(router, "story", args)).startswith("Which story? Usage: /story ID")


async def test_story_with_a_good_id_still_works(router) -> None:  # type: ignore[no-untyped-def]
    assert (await ask(router, "story", "1")).startswith("Budget passes")
    assert "no story #99" in await ask(router, "story", "99")


@pytest.mark.parametrize("page", ["²", "9" * 40])
async def test_search_with_a_bad_page_answers_with_the_usage_line(router, page: str) -> None:  # type: ignore[no-untyped-def]
    text = await ask(router, "search", f"budget page {page}")
    assert "Usage: /search QUERY [page N]" in text


async def test_search_page_still_works(router) -> None:  # type: ignore[no-untyped-def]
    assert "Results for 'budget' (page 1)" in await ask(router, "search", "budget page 1")


@pytest.mark.parametrize("args", ["9" * 40, "²"])
async def test_unsubscribe_with_a_bad_id_does_not_crash(router, args: str) -> None:  # type: ignore[no-untyped-def]
    assert "No subscription" in await ask(router, "unsubscribe", args)


@pytest.mark.parametrize(
    "args", ["retry " + "9" * 40, "retry ²", "ban " + "9" * 40, "ban ²", "users page ²"]
)
async def test_admin_numbers_do_not_crash(router, args: str) -> None:  # type: ignore[no-untyped-def]
    text = await ask(router, "admin", args, user=ADMIN)
    assert "Something went wrong" not in text


@pytest.mark.parametrize("data", ["story:²", "more:" + "9" * 40, "search:²:budget"])
async def test_buttons_with_bad_numbers_expire_politely(router, data: str) -> None:  # type: ignore[no-untyped-def]
    from handlers.callbacks import handle_callback

    reply = await handle_callback(router, Request("telegram", "c1", "7", "callback", data))
    assert reply is not None and "Something went wrong" not in reply.text
