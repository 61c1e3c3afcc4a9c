"""The real bot on Telegram, end to end: ``NewsBot`` with python-telegram-bot's ``Application``
against the fake Bot API server, stories ingested by a second ``newsbot`` process.

Users act by pushing updates into the fake (delivered by long polling, or posted to the
webhook route); what they receive is read back from the fake's call log and message store.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import NewsBot
from storage import chats as chat_store
from storage import deliveries as outbox
from tests.fakes.telegram_api import Call, FakeTelegram
from tests.fakes.telegram_html import parse_telegram_html
from tests.helpers import REPO, run_cli, running_telegram_bot

BOT_NAME = "newsbot_test_bot"
HOSTILE = 'Earthquake <b>shakes</b> Dhaka & <a href="javascript:alert(1)">x</a> <script>'


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(poll_timeout_cap=0.2, bot_username=BOT_NAME) as fake:
        yield fake


async def ingest(tmp_path: Path, *stories: dict[str, str], db_url: str | None = None) -> None:
    """Stories arrive through a second process, as from a cron job, into the same database
    (``db_url``: that database's ``NEWSBOT_DB``, when not the default file in ``tmp_path``)."""
    path = tmp_path / f"stories{len(list(tmp_path.glob('stories*')))}.jsonl"
    path.write_text("\n".join(json.dumps(story) for story in stories) + "\n", encoding="utf-8")
    # The checkout on the path too, so this works whether or not the package is installed.
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
    extra = {"NEWSBOT_DB": db_url} if db_url else {}
    result = await asyncio.to_thread(
        run_cli, tmp_path, "ingest", str(path), PYTHONPATH=python_path, **extra
    )
    assert result.returncode == 0, result.stderr


async def push_story(bot: NewsBot, story: dict[str, str]) -> None:
    """A story pushed in-process (as POST /ingest does); quicker than a second process."""
    assert bot.core is not None
    report, errors = await bot.core.services.ingest_payload(story)
    assert report.new and not errors, errors


def text_of(call: Call) -> str:
    """What the user sees of a sent message (the HTML parsed as Telegram parses it)."""
    text = str(call.params.get("text") or call.params.get("caption") or "")
    return parse_telegram_html(text).text if call.params.get("parse_mode") == "HTML" else text


def sent_to(tg: FakeTelegram, chat_id: int | str, containing: str = "") -> list[Call]:
    return [c for c in tg.sent_messages(chat_id) if containing in text_of(c)]


async def reply_containing(
    tg: FakeTelegram, chat_id: int | str, text: str, timeout: float = 10
) -> Call:
    return await tg.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.ok
            and c.params.get("chat_id") == chat_id
            and text in text_of(c)
        ),
        timeout,
    )


async def test_subscribe_alert_button_and_hostile_headline(
    tmp_path: Path, tg: FakeTelegram, db_url: str
) -> None:
    """On both engines: the bot and the ingesting process share SQLite's file or PostgreSQL."""
    async with running_telegram_bot(tmp_path, tg.api_url, db_path=db_url) as bot:
        assert bot.worker is not None and bot.core is not None
        tg.push_message(42, "/start")
        await reply_containing(tg, 42, "Hello!")
        tg.push_message(42, "/subscribe earthquake")
        await reply_containing(tg, 42, "Subscribed (#")
        tg.push_message(42, "/help")
        help_call = await reply_containing(tg, 42, "/subscribe QUERY")
        assert help_call.params["parse_mode"] == "HTML"
        await ingest(
            tmp_path,
            {
                "title": HOSTILE,
                "url": "https://example.org/quake?id=1&lang=en",
                "text": "A strong earthquake shook Dhaka on Monday, damaging buildings and "
                "cutting power to thousands of homes across the city.",
            },
            db_url=db_url,
        )
        report = await bot.worker.drain()
        assert report.sent == 1, report
        alert = sent_to(tg, 42, "matched:")[0]
        assert alert.params["parse_mode"] == "HTML"
        stored = tg.message(42, alert.response["result"]["message_id"])
        assert stored is not None
        assert stored["text"].startswith(HOSTILE + "\n\n")  # literally, tags and all
        bold = [e for e in stored.get("entities", []) if e["type"] == "bold"]
        assert bold and bold[0]["offset"] == 0
        links = [e["url"] for e in stored.get("entities", []) if e["type"] == "text_link"]
        assert links == ["https://example.org/quake?id=1&lang=en"]
        assert "#disaster" in stored["text"] and "matched: earthquake" in stored["text"]
        preview = alert.params["link_preview_options"]
        assert preview.get("url") == "https://example.org/quake?id=1&lang=en"
        buttons = [b for row in stored["reply_markup"]["inline_keyboard"] for b in row]
        details = next(b for b in buttons if b["text"] == "Details")
        assert any(b.get("url") == "https://example.org/quake?id=1&lang=en" for b in buttons)

        tg.push_callback(42, stored["message_id"], details["callback_data"])
        answered = await tg.wait_for(lambda c: c.method == "answerCallbackQuery", 10)
        assert answered.ok and answered.params.get("text")
        await reply_containing(tg, 42, "Dhaka", 10)
        tg.clear_calls()
        tg.push_callback(42, stored["message_id"], "story:<script>&forged")
        forged = await tg.wait_for(lambda c: c.method == "answerCallbackQuery", 10)
        assert forged.ok
        await reply_containing(tg, 42, "expired")
        # Nothing is sent twice: a second drain finds nothing due.
        assert (await bot.worker.drain()).sent == 0


async def test_groups_forum_topics_and_other_bots(tmp_path: Path, tg: FakeTelegram) -> None:
    group, forum = -4001, -1001234567890
    tg.set_chat(group, "group", title="Newsroom")
    tg.set_chat(forum, "supergroup", title="Desk", is_forum=True)
    async with running_telegram_bot(tmp_path, tg.api_url) as bot:
        assert bot.worker is not None
        tg.push_message(group, "/subscribe@other_bot flood")
        tg.push_message(group, f"/subscribe@{BOT_NAME} flood")
        await reply_containing(tg, group, "Subscribed")
        tg.push_message(forum, f"/subscribe@{BOT_NAME} flood", thread_id=77)
        in_topic = await reply_containing(tg, forum, "Subscribed")
        assert in_topic.params.get("message_thread_id") == 77
        assert len(sent_to(tg, group, "Subscribed")) == 1  # the other bot's command was ignored
        await push_story(
            bot,
            {
                "title": "River flood forces evacuations",
                "url": "https://example.org/flood",
                "text": "A river flood forced the evacuation of three towns on Tuesday after days "
                "of heavy rain, officials said.",
            },
        )
        assert (await bot.worker.drain()).sent == 2
        assert sent_to(tg, group, "River flood forces evacuations")
        topic_alert = sent_to(tg, forum, "River flood forces evacuations")
        assert topic_alert and topic_alert[0].params.get("message_thread_id") == 77


async def test_blocked_chat_goes_dormant_and_429_loses_nothing(
    tmp_path: Path, tg: FakeTelegram
) -> None:
    async with running_telegram_bot(tmp_path, tg.api_url) as bot:
        assert bot.worker is not None and bot.core is not None
        db = bot.core.db
        for user_chat in (50, 51):
            tg.push_message(user_chat, "/subscribe earthquake")
            await reply_containing(tg, user_chat, "Subscribed")
        tg.block_chat(50)
        tg.fail_chat(
            51, 429, "Too Many Requests: retry after 1", times=1, parameters={"retry_after": 1}
        )
        await push_story(
            bot,
            {
                "title": "Earthquake hits the coast",
                "text": "An earthquake hit the coast early "
                "on Wednesday; no damage was reported by the authorities.",
            },
        )
        first = await bot.worker.drain()
        assert first.sent == 0 and first.deferred == 2
        blocked = await db.call(chat_store.find_chat, "telegram", "50")
        assert blocked is not None and blocked.state == "dormant"
        assert "blocked" in (blocked.state_reason or "")
        await asyncio.sleep(1.2)
        second = await bot.worker.drain()
        assert second.sent == 1
        assert len(sent_to(tg, 51, "Earthquake hits the coast")) == 1
        assert not sent_to(tg, 50, "Earthquake hits the coast")
        counts = await db.call(outbox.counts_by_status)
        assert counts.get(("telegram", "dead"), 0) == 0

        # The user unblocks the bot: Telegram says so with a my_chat_member update.
        tg.clear_faults()
        tg.push_my_chat_member(50, "member", old_status="kicked")
        for _ in range(100):
            chat = await db.call(chat_store.find_chat, "telegram", "50")
            if chat is not None and chat.state == "active":
                break
            await asyncio.sleep(0.05)
        assert chat is not None and chat.state == "active"
        tg.push_my_chat_member(50, "kicked")
        for _ in range(100):
            chat = await db.call(chat_store.find_chat, "telegram", "50")
            if chat is not None and chat.state == "dormant":
                break
            await asyncio.sleep(0.05)
        assert chat is not None and chat.state == "dormant"


async def test_channel_admin_subscribes_from_private_chat(tmp_path: Path, tg: FakeTelegram) -> None:
    # The fake keys a chat looked up by "@name" under that name (real Telegram would answer
    # with the channel's numeric id), so the channel is declared under its name here.
    tg.set_chat("@newschan", "channel", title="News Channel")
    tg.set_admins("@newschan", [60], creator=61)
    async with running_telegram_bot(tmp_path, tg.api_url) as bot:
        assert bot.core is not None
        tg.push_message(60, "/subscribe @newschan earthquake")
        await reply_containing(tg, 60, "Subscribed")
        tg.push_message(62, "/subscribe @newschan earthquake")
        await reply_containing(tg, 62, "Only an administrator")
        tg.push_message(61, "/list @newschan")
        await reply_containing(tg, 61, "earthquake")
        channel = await bot.core.db.call(chat_store.find_chat, "telegram", "@newschan")
        assert channel is not None and channel.kind == "channel"
        member_calls = tg.calls_to("getChatMember")
        assert {c.params["user_id"] for c in member_calls} == {60, 61, 62}
        private = await bot.core.db.call(chat_store.find_chat, "telegram", "62")
        assert private is None  # a refused request touches nothing


async def test_refused_optional_method_and_webhook_mode(tmp_path: Path, tg: FakeTelegram) -> None:
    tg.fail_method("setMyCommands", 400, "Bad Request: method is not supported here")
    overrides = {
        "telegram_webhook_url": "https://bot.example.org/tg/hook",
        "telegram_webhook_secret": "s3cret-token",
    }
    async with running_telegram_bot(tmp_path, tg.api_url, **overrides) as bot:
        assert bot.web is not None
        assert tg.calls_to("setMyCommands")[0].status == 400
        webhook = tg.calls_to("setWebhook")[0]
        assert webhook.params["secret_token"] == "s3cret-token"
        update = {
            "update_id": 9001,
            "message": {
                "message_id": 5,
                "date": 0,
                "text": "/start",
                "chat": {"id": 70, "type": "private", "first_name": "W"},
                "from": {"id": 70, "is_bot": False, "first_name": "W"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        url = f"http://127.0.0.1:{bot.web.port}/tg/hook"
        async with httpx.AsyncClient() as client:
            wrong = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
            )
            assert wrong.status_code == 401
            missing = await client.post(url, json=update)
            assert missing.status_code == 401
            right = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            )
            assert right.status_code == 200
        await reply_containing(tg, 70, "Hello!")
    assert not tg.calls_to("getUpdates")
