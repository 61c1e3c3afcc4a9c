"""The Slack transport end to end: the real bot (``NewsBot``) in HTTP mode, the real bolt app
behind the bot's own aiohttp server, the real slack_sdk client talking to ``FakeSlack``.

Requests are signed here the way Slack signs them (``v0:timestamp:body``, HMAC-SHA256 with the
signing secret). Stories come from another process (``newsbot ingest``) where the flow calls
for it; the delivery worker is drained by hand so each step is deterministic.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.app import NewsBot
from storage import chats as chat_store
from storage import subscriptions as sub_store
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_blocks import message_texts, validate_message, validate_untrusted_escaping
from tests.fakes.slack_socket import FakeSocketMode
from tests.helpers import make_settings, run_cli

pytestmark = pytest.mark.timeout(120)

SECRET = "secret"
ADMIN = "UADMIN1"
HOSTILE_TITLE = "<!channel> Earthquake shakes <@U123> valley & <https://evil.example|click>"
QUAKE_TEXT = (
    "A strong earthquake shook the northern valley towns early on Tuesday, cracking walls and "
    "cutting power to thousands of homes. Emergency crews checked bridges and schools while "
    "residents gathered in open squares. The regional seismic office said aftershocks were "
    "likely over the coming days and asked people to stay away from damaged buildings. Rail "
    "services were suspended while engineers inspected the tracks near the epicentre."
)


@pytest.fixture
async def bot(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[NewsBot]:
    settings = make_settings(
        tmp_path,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=slack.base_url,
        slack_admin_ids=frozenset({ADMIN}),
    )
    newsbot = NewsBot(settings)
    await newsbot.start()
    try:
        yield newsbot
    finally:
        await newsbot.stop()


def sign(body: str, timestamp: int, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


async def post(
    newsbot: NewsBot,
    body: str,
    content_type: str,
    *,
    timestamp: int | None = None,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    assert newsbot.web is not None
    stamp = int(time.time()) if timestamp is None else timestamp
    all_headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": sign(body, stamp, secret),
        **(headers or {}),
    }
    url = f"http://127.0.0.1:{newsbot.web.port}/slack/events"
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, content=body.encode(), headers=all_headers)


async def press_home_pause(newsbot: NewsBot, *, user: str) -> httpx.Response:
    """The Home tab's pause button pressed by ``user``, as Slack posts it (block_actions)."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T0FAKE"},
        "user": {"id": user},
        "api_app_id": "A1",
        "trigger_id": "1.2.3",
        "container": {"type": "view", "view_id": "V1"},
        "view": {"id": "V1", "type": "home"},
        "actions": [
            {
                "type": "button",
                "action_id": "newsbot.cmd.pause",
                "value": "pause",
                "block_id": "b2",
                "action_ts": "5.1",
            }
        ],
    }
    return await post(
        newsbot, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
    )


async def slash(
    newsbot: NewsBot,
    slack: FakeSlack,
    text: str,
    *,
    channel: str = "C100",
    channel_name: str = "newsroom",
    user: str = "U1",
    key: str = "k",
    **kwargs: Any,
) -> httpx.Response:
    form = {
        "token": "legacy",
        "team_id": "T0FAKE",
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": user.lower(),
        "command": "/news",
        "text": text,
        "response_url": slack.response_url(key),
        "trigger_id": "1.2.3",
        "api_app_id": "A1",
    }
    return await post(newsbot, urlencode(form), "application/x-www-form-urlencoded", **kwargs)


async def event(
    newsbot: NewsBot, payload: dict[str, Any], event_id: str, **kwargs: Any
) -> httpx.Response:
    body = {
        "token": "legacy",
        "team_id": "T0FAKE",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": payload,
    }
    return await post(newsbot, json.dumps(body), "application/json", **kwargs)


async def press(
    newsbot: NewsBot, slack: FakeSlack, value: str, *, key: str, **where: Any
) -> httpx.Response:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0FAKE"},
        "user": {"id": "U1"},
        "api_app_id": "A1",
        "trigger_id": "1.2.3",
        "response_url": slack.response_url(key),
        "actions": [
            {
                "type": "button",
                "action_id": "newsbot.action.1",
                "block_id": "b1",
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
        **where,
    }
    return await post(
        newsbot, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
    )


def responded(slack: FakeSlack, key: str) -> list[dict[str, Any]]:
    return [call.params for call in slack.responses(key)]


def texts(params: dict[str, Any]) -> str:
    return html.unescape("\n".join(message_texts(params)))


async def wait_response(slack: FakeSlack, key: str) -> dict[str, Any]:
    call = await slack.wait_for(lambda c: c.method == "respond" and c.path == f"/respond/{key}", 10)
    assert call.ok, call.response
    return call.params


def write_story(tmp_path: Path, name: str, title: str, text: str, url: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"title": title, "text": text, "url": url}) + "\n", encoding="utf-8")
    return path


async def ingest_elsewhere(tmp_path: Path, path: Path, source: str) -> None:
    """``newsbot ingest`` in another process, as an operator or a cron job would run it."""
    result = await asyncio.to_thread(run_cli, tmp_path, "ingest", str(path), "--source", source)
    assert result.returncode == 0, result.stderr


async def test_subscribe_alert_and_thread_update(
    tmp_path: Path, slack: FakeSlack, bot: NewsBot
) -> None:
    started = time.monotonic()
    response = await slash(bot, slack, "subscribe earthquake", key="sub")
    assert response.status_code == 200 and time.monotonic() - started < 3
    reply = await wait_response(slack, "sub")
    assert "Subscribed" in texts(reply) and "earthquake" in texts(reply)
    assert reply["response_type"] == "in_channel"  # the channel learns what it will receive
    assert validate_message(reply) == []

    first = write_story(tmp_path, "a.jsonl", HOSTILE_TITLE, QUAKE_TEXT, "https://a.example/quake")
    await ingest_elsewhere(tmp_path, first, "Outlet A")
    assert bot.worker is not None
    report = await bot.worker.drain()
    assert report.sent == 1, report
    [alert] = slack.sent_messages("C100")
    assert validate_message(alert.params) == []
    for text in message_texts(alert.params):
        assert validate_untrusted_escaping(text) == []
    header = alert.params["blocks"][0]["text"]["text"]
    assert html.unescape(header) == HOSTILE_TITLE  # shown literally, pinging nobody
    assert alert.params["unfurl_links"] in (False, "false", "0", 0)
    values = [
        e.get("value")
        for b in alert.params["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert any(v and v.startswith("story:") for v in values)

    # The same story reprinted by another outlet: one thread reply, no second alert.
    # A reprint drops a sentence (identical text would be an exact duplicate, not a source).
    shorter = QUAKE_TEXT.rsplit(". ", 1)[0] + "."
    reprint = write_story(
        tmp_path, "b.jsonl", "Valley quake damages homes", shorter, "https://b.example/q"
    )
    assert bot.core is not None
    await bot.core.services.ingest_file(reprint, source_name="Outlet B")  # in-process: faster
    report = await bot.worker.drain()
    assert report.updates == 1 and report.sent == 0, report
    messages = slack.sent_messages("C100")
    assert len(messages) == 2
    update = messages[1].params
    assert update["thread_ts"] == alert.response["ts"]
    assert "+1 more source: " in texts(update) and "Outlet B" in texts(update)


async def test_signature_and_timestamp_are_checked(slack: FakeSlack, bot: NewsBot) -> None:
    forged = await slash(bot, slack, "subscribe x", key="forged", secret="not-the-secret")
    stale = await slash(bot, slack, "subscribe x", key="stale", timestamp=int(time.time()) - 6 * 60)
    assert forged.status_code == 401 and stale.status_code == 401
    await asyncio.sleep(0.3)
    assert responded(slack, "forged") == [] and responded(slack, "stale") == []
    assert bot.core is not None
    assert await bot.core.db.call(chat_store.find_chat, "slack", "C100") is None


async def test_url_verification_is_answered(bot: NewsBot) -> None:
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    response = await post(bot, body, "application/json")
    assert response.status_code == 200 and "c-123" in response.text


async def test_mentions_and_dms_run_commands_and_retries_are_ignored(
    slack: FakeSlack, bot: NewsBot
) -> None:
    mention = {
        "type": "app_mention",
        "user": "U2",
        "text": "<@U0BOT> follow crime",
        "channel": "C400",
        "ts": "1.1",
        "event_ts": "1.1",
    }
    assert (await event(bot, mention, "Ev1")).status_code == 200
    await slack.wait_for(
        lambda c: c.method == "chat.postMessage" and c.params.get("channel") == "C400"
    )
    retried = await event(
        bot,
        mention,
        "Ev1",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retried.status_code == 200
    dm = {
        "type": "message",
        "channel_type": "im",
        "user": "U2",
        "text": "/subscribe flood",
        "channel": "D2",
        "ts": "2.1",
        "event_ts": "2.1",
    }
    assert (await event(bot, dm, "Ev2")).status_code == 200
    await slack.wait_for(
        lambda c: c.method == "chat.postMessage" and c.params.get("channel") == "D2"
    )
    await asyncio.sleep(0.3)
    [followed] = slack.sent_messages("C400")
    assert "Following Crime" in texts(followed.params)
    assert "Subscribed" in texts(slack.sent_messages("D2")[0].params)
    assert bot.core is not None
    chat = await bot.core.db.call(chat_store.find_chat, "slack", "C400")
    assert chat is not None and chat.kind == "channel"
    assert len(await bot.core.db.call(sub_store.chat_subscriptions, chat.id)) == 1


async def test_buttons_and_app_home(slack: FakeSlack, bot: NewsBot) -> None:
    await slash(
        bot, slack, "subscribe volcano", channel="D1", channel_name="directmessage", key="s1"
    )
    await wait_response(slack, "s1")
    assert bot.core is not None
    chat = await bot.core.db.call(chat_store.find_chat, "slack", "D1")
    assert chat is not None and chat.kind == "private"
    [sub] = await bot.core.db.call(sub_store.chat_subscriptions, chat.id)

    # The App Home tab shows the DM chat's subscription with an unsubscribe button.
    await event(
        bot,
        {
            "type": "app_home_opened",
            "user": "U1",
            "channel": "D1",
            "tab": "home",
            "event_ts": "3.1",
        },
        "Ev3",
    )
    home = await slack.wait_for(lambda c: c.method == "views.publish")
    assert home.ok and "volcano" in texts({"blocks": home.params["view"]["blocks"]})

    # A message button: the callback runs and answers ephemerally through response_url.
    await press(
        bot,
        slack,
        f"unsub:{sub.id}",
        key="b1",
        channel={"id": "D1"},
        container={"type": "message", "channel_id": "D1", "message_ts": "4.1"},
    )
    answer = await wait_response(slack, "b1")
    assert f"Removed subscription #{sub.id}" in texts(answer)
    assert answer["response_type"] == "ephemeral"
    assert await bot.core.db.call(sub_store.chat_subscriptions, chat.id) == []

    # Pause from the Home tab: the view is published again, showing the new state.
    slack.clear_calls()
    await press_home_pause(bot, user="U1")
    republished = await slack.wait_for(lambda c: c.method == "views.publish")
    assert "Paused" in texts({"blocks": republished.params["view"]["blocks"]})
    chat = await bot.core.db.call(chat_store.find_chat, "slack", "D1")
    assert chat is not None and chat.state == "paused"


async def test_files_are_uploaded_and_text_survives_a_failed_upload(
    slack: FakeSlack, bot: NewsBot
) -> None:
    await slash(
        bot, slack, "admin export", user=ADMIN, channel="D9", channel_name="directmessage", key="e1"
    )
    await wait_response(slack, "e1")
    done = await slack.wait_for(lambda c: c.method == "files.completeUploadExternal", 10)
    assert done.ok and done.params["channel_id"] == "D9"
    slack.fail_method("files.getUploadURLExternal", "not_in_channel")
    await slash(
        bot, slack, "admin export", user=ADMIN, channel="D9", channel_name="directmessage", key="e2"
    )
    first = await wait_response(slack, "e2")
    assert "OPML" in texts(first) or "sources" in texts(first).lower()
    await slack.wait_for(
        lambda c: (
            c.method == "respond"
            and c.path == "/respond/e2"
            and "Could not attach" in texts(c.params)
        ),
        10,
    )


async def test_archived_channel_puts_the_chat_to_sleep(
    tmp_path: Path, slack: FakeSlack, bot: NewsBot
) -> None:
    await slash(bot, slack, "subscribe earthquake", channel="C200", key="a1")
    await wait_response(slack, "a1")
    slack.fail_channel("C200", "is_archived")
    assert bot.core is not None and bot.worker is not None
    await bot.core.services.ingest_file(
        write_story(tmp_path, "q.jsonl", "Earthquake hits coast", QUAKE_TEXT, "https://q.example/1")
    )
    report = await bot.worker.drain()
    assert report.sent == 0 and report.dead == 0
    chat = await bot.core.db.call(chat_store.find_chat, "slack", "C200")
    assert chat is not None and chat.state == "dormant" and chat.state_reason == "is_archived"


async def test_rate_limit_is_honoured_and_nothing_is_lost(tmp_path: Path) -> None:
    # Stricter than the transport's pacing (one message per 2 s), so Slack's 429 is exercised.
    with FakeSlack(enforce_limits=True, post_burst=1, post_rate=0.5) as slack:
        settings = make_settings(
            tmp_path,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SECRET,
            slack_api_url=slack.base_url,
        )
        newsbot = NewsBot(settings)
        await newsbot.start()
        try:
            await slash(newsbot, slack, "subscribe earthquake", channel="C300", key="r1")
            await wait_response(slack, "r1")
            assert newsbot.core is not None and newsbot.worker is not None
            for n, place in enumerate(("harbour", "mountain")):
                text = f"An earthquake near the {place} town {n} damaged roads. " + " ".join(
                    f"{place}{k} {place}note{k}" for k in range(40)
                )
                await newsbot.core.services.ingest_file(
                    write_story(
                        tmp_path,
                        f"{n}.jsonl",
                        f"Earthquake near {place}",
                        text,
                        f"https://{place}.example/",
                    )
                )
            first = await newsbot.worker.drain()
            assert first.sent == 1 and first.deferred == 1, first
            assert slack.rate_limited == 1
            await asyncio.sleep(2.2)
            second = await newsbot.worker.drain()
            assert second.sent == 1, second
            assert len(slack.sent_messages("C300")) == 2
        finally:
            await newsbot.stop()


async def test_socket_mode_runs_commands_and_mentions_over_the_websocket(
    tmp_path: Path, slack: FakeSlack
) -> None:
    """With SLACK_APP_TOKEN the bot opens Socket Mode through SLACK_API_URL, acknowledges each
    envelope, answers a slash command on its response_url and a mention in the channel, and
    closes the WebSocket on stop."""
    settings = make_settings(
        tmp_path,
        slack_bot_token="xoxb-test",
        slack_app_token="xapp-test",
        slack_api_url=slack.base_url,
    )
    async with FakeSocketMode() as socket_mode:
        slack.socket_url = socket_mode.url
        newsbot = NewsBot(settings)
        await newsbot.start()
        try:
            await socket_mode.wait_connected()
            [opened] = slack.calls_to("apps.connections.open")
            assert opened.token == "xapp-test" and opened.ok

            command = {
                "token": "legacy",
                "team_id": "T0FAKE",
                "channel_id": "C500",
                "channel_name": "desk",
                "user_id": "U1",
                "user_name": "u1",
                "command": "/news",
                "text": "subscribe earthquake",
                "response_url": slack.response_url("socket"),
                "trigger_id": "1.2.3",
                "api_app_id": "A1",
            }
            ack = await socket_mode.send("slash_commands", command, accepts_response_payload=True)
            assert ack["envelope_id"] == "env-1"
            reply = await wait_response(slack, "socket")
            assert "Subscribed" in texts(reply) and "earthquake" in texts(reply)

            mention = {
                "token": "legacy",
                "team_id": "T0FAKE",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": "EvS1",
                "event_time": int(time.time()),
                "event": {
                    "type": "app_mention",
                    "user": "U1",
                    "text": "<@U0BOT> list",
                    "channel": "C500",
                    "ts": "5.1",
                    "event_ts": "5.1",
                },
            }
            await socket_mode.send("events_api", mention)
            listed = await slack.wait_for(
                lambda c: c.method == "chat.postMessage" and c.params.get("channel") == "C500"
            )
            assert "earthquake" in texts(listed.params)
            assert newsbot.core is not None
            chat = await newsbot.core.db.call(chat_store.find_chat, "slack", "C500")
            assert chat is not None
            assert len(await newsbot.core.db.call(sub_store.chat_subscriptions, chat.id)) == 1
        finally:
            await newsbot.stop()
        await socket_mode.wait_closed()
        assert socket_mode.connections == 1


async def test_socket_mode_refuses_a_bot_token_for_the_connection(slack: FakeSlack) -> None:
    """``apps.connections.open`` wants the app-level token; a bot token is refused, as on Slack,
    and the fake says when a test has no WebSocket to offer."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await AsyncWebClient(token="xoxb-test", base_url=slack.base_url).apps_connections_open(
            app_token="xoxb-test"
        )
    with pytest.raises(SlackApiError, match="socket_mode_not_enabled"):
        await AsyncWebClient(base_url=slack.base_url).apps_connections_open(app_token="xapp-1")
