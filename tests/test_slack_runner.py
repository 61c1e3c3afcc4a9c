"""The Slack runner's own plumbing: one HTTP session for the bot's lifetime, and listener
failures logged in our format through bolt's ``app.error``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import NewsBot
from bot.settings import Settings
from bot.transports.slack import SlackRunner, SlackTransport
from tests.fakes.slack_api import FakeSlack
from tests.helpers import make_settings
from tests.test_slack_e2e import SECRET, press_home_pause, slash, wait_response


def slack_settings(tmp_path: Path, slack: FakeSlack) -> Settings:
    return make_settings(
        tmp_path,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=slack.base_url,
    )


@pytest.fixture
async def bot(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[NewsBot]:
    newsbot = NewsBot(slack_settings(tmp_path, slack))
    await newsbot.start()
    try:
        yield newsbot
    finally:
        await newsbot.stop()


def runner_of(bot: NewsBot) -> SlackRunner:
    runner = next(r for r in bot._platform_runners if isinstance(r, SlackRunner))
    return runner


async def test_every_call_goes_through_one_session(
    bot: NewsBot, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[aiohttp.ClientSession] = []
    original = aiohttp.ClientSession.__init__

    def counting(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        created.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", counting)
    transport = bot.transports["slack"]
    assert isinstance(transport, SlackTransport)
    for number in range(5):
        result = await transport.post(f"C{number}", {"text": f"hello {number}"})
        assert result.ok, result
    await transport.client.auth_test()
    assert len(slack.sent_messages()) == 5
    assert created == []  # no session per call: the runner's one session carried them all
    runner = runner_of(bot)
    assert transport.client.session is runner.session and not runner.session.closed
    await bot.stop()
    assert runner.session.closed


async def test_a_failing_listener_is_logged_in_our_format(
    bot: NewsBot, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    # A Home-tab button for a user whose DM cannot be opened: the listener raises.
    slack.fail_method("conversations.open", "user_not_found")
    with caplog.at_level(logging.ERROR):
        await press_home_pause(bot, user="U9")
        for _ in range(100):
            if any("event=slack_listener_failed" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    ours = [r for r in caplog.records if "event=slack_listener_failed" in r.getMessage()]
    assert ours and ours[0].name == "bot.transports.slack"
    assert "type=block_actions" in ours[0].getMessage()
    assert ours[0].exc_info is not None


async def test_building_the_slack_app_leaves_our_logger_level_alone(
    tmp_path: Path, slack: FakeSlack
) -> None:
    """Bolt sets the level of the logger named after its app to the root's level: the app must
    not be named after our own logger, or our INFO lines vanish once root is at WARNING."""
    ours, root = logging.getLogger("newsbot"), logging.getLogger()
    saved = (ours.level, root.level)
    ours.setLevel(logging.NOTSET)
    root.setLevel(logging.WARNING)
    newsbot = NewsBot(slack_settings(tmp_path, slack))
    try:
        await newsbot.start()
        response = await slash(newsbot, slack, "help", key="level")
        assert response.status_code == 200
        await wait_response(slack, "level")
        assert ours.level == logging.NOTSET
    finally:
        await newsbot.stop()
        ours.setLevel(saved[0])
        root.setLevel(saved[1])
