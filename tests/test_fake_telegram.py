"""The fake Telegram Bot API, driven by the real python-telegram-bot, and its HTML validator.

Other tests trust the fake to reject what Telegram rejects, so these check both that valid
calls de-serialise in python-telegram-bot and that each failure mode surfaces as the exception
the bot's error handling is written against.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_html import (
    TelegramHTMLError,
    parse_telegram_html,
    utf16_length,
    validate_telegram_html,
)

TOKEN = "123456:TEST-token_value"


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to RetryAfter.retry_after as a timedelta (PTB 22 warns about ints otherwise)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(poll_timeout_cap=0.2) as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=tg.api_url, base_file_url=tg.file_url) as started:
        yield started


def _seconds(value: int | float | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# -- the HTML validator ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "plain"),
    [
        ("<b>bold <i>both</i></b> plain", "bold both plain"),
        ("<strong>s</strong><em>e</em><ins>u</ins><strike>x</strike><del>d</del>", "seuxd"),
        ('<a href="https://example.org/?a=1&amp;b=2">link</a>', "link"),
        ("&lt;tag&gt; &amp; &quot;q&quot; &#65;&#x42;", '<tag> & "q" AB'),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st"),
        ('<pre><code class="language-python">x = 1 &lt; 2</code></pre>', "x = 1 < 2"),
        ("<blockquote expandable>quote</blockquote>", "quote"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
        ("<B>upper-case tags</B> and a bare > sign", "upper-case tags and a bare > sign"),
        ("no markup at all", "no markup at all"),
    ],
)
def test_valid_html_gives_the_displayed_text(html: str, plain: str) -> None:
    assert validate_telegram_html(html) == plain


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("<a href>x</a>", "Expected equal sign"),
        ("AT&T", "character '&' must be escaped"),
        ("&nbsp;", "character '&' must be escaped"),
        ("é<u>", "Can't find end tag"),
        ("éé<x>", "at byte offset 4"),  # offsets count UTF-8 bytes, like Telegram's
    ],
)
def test_invalid_html_is_rejected_with_telegrams_description(html: str, reason: str) -> None:
    with pytest.raises(TelegramHTMLError) as caught:
        validate_telegram_html(html)
    assert reason in caught.value.description
    assert caught.value.description.startswith("Bad Request: can't parse entities: ")


def test_bare_ampersand_is_tolerated_only_when_not_strict() -> None:
    assert validate_telegram_html("AT&T", strict_ampersand=False) == "AT&T"


def test_entities_are_placed_in_utf16_code_units() -> None:
    parsed = parse_telegram_html('😀 <b>bold</b> <a href="https://e.org">x</a>')
    bold, link = parsed.entities
    assert (bold.type, bold.offset, bold.length) == ("bold", 3, 4)  # the emoji is 2 units
    assert (link.type, link.offset, link.url) == ("text_link", 8, "https://e.org")


def test_utf16_length_counts_astral_characters_twice() -> None:
    assert utf16_length("abc") == 3
    assert utf16_length("é") == 1
    assert utf16_length("😀") == 2
    assert utf16_length("𝔸b") == 3


def test_pre_with_code_language_becomes_one_entity() -> None:
    parsed = parse_telegram_html('<pre><code class="language-go">go</code></pre>')
    assert [(e.type, e.language) for e in parsed.entities] == [("pre", "go")]


# -- the server through python-telegram-bot ----------------------------------------------------


async def test_get_me_and_valid_html_message(tg: FakeTelegram, bot: Bot) -> None:
    assert bot.username == tg.bot_username
    first = await bot.send_message(42, "<b>Hello</b> &amp; welcome", parse_mode="HTML")
    second = await bot.send_message(42, "again")
    other = await bot.send_message(43, "elsewhere")
    assert first.text == "Hello & welcome"
    assert first.entities[0].type == "bold"
    assert first.chat.type == ChatType.PRIVATE
    assert second.message_id == first.message_id + 1
    assert other.message_id == 1  # message ids are per chat
    sent = tg.sent_messages(42)
    assert [call.params["text"] for call in sent] == ["<b>Hello</b> &amp; welcome", "again"]
    assert sent[0].params["chat_id"] == 42
    assert sent[0].token == TOKEN


async def test_invalid_html_raises_bad_request(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)parse entities"):
        await bot.send_message(42, "price < 5 & falling", parse_mode="HTML")
    assert tg.sent_messages() == []
    assert tg.calls_to("sendMessage")[0].status == 400


async def test_length_limits_count_utf16_units_after_parsing(bot: Bot) -> None:
    await bot.send_message(42, "😀" * 2048)  # exactly 4,096 units
    await bot.send_message(42, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")  # tags are free
    with pytest.raises(BadRequest, match=r"(?i)Message is too long"):
        await bot.send_message(42, "😀" * 2048 + "a")
    with pytest.raises(BadRequest, match=r"(?i)Message text is empty"):
        await bot.send_message(42, "<b> </b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Message caption is too long"):
        await bot.send_photo(42, b"img", caption="x" * 1025)


async def test_inline_keyboards_are_validated(tg: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Open", url="https://example.org"),
          InlineKeyboardButton("Mute", callback_data="mute:1")]]
    )  # fmt: skip
    message = await bot.send_message(42, "with buttons", reply_markup=keyboard)
    assert message.reply_markup == keyboard
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(42, "x", reply_markup=too_long)
    bad_url = InlineKeyboardMarkup([[InlineKeyboardButton("x", url="javascript:alert(1)")]])
    with pytest.raises(BadRequest, match=r"(?i)wrong http url"):
        await bot.send_message(42, "x", reply_markup=bad_url)
    url = f"{tg.api_url}{TOKEN}/sendMessage"
    text_only = {"inline_keyboard": [[{"text": "t"}]]}
    response = httpx.post(url, json={"chat_id": 42, "text": "x", "reply_markup": text_only})
    assert "Text buttons are unallowed" in response.json()["description"]
    response = httpx.post(url, data={"chat_id": "42", "text": "x", "reply_markup": "{not json"})
    assert response.json()["description"].endswith("can't parse reply keyboard markup JSON object")
    assert len(tg.sent_messages(42)) == 1


async def test_private_chat_flood_limit_raises_retry_after(tg: FakeTelegram, bot: Bot) -> None:
    tg.enforce_limits = True
    for n in range(3):  # the documented burst
        await bot.send_message(42, f"burst {n}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(42, "one too many")
    assert _seconds(caught.value.retry_after) == 1
    assert tg.rate_limited == 1
    await bot.send_message(43, "another private chat has its own bucket")


async def test_group_and_global_limits_follow_the_clock(tg: FakeTelegram, bot: Bot) -> None:
    now = [1000.0]
    tg.clock = lambda: now[0]
    tg.enforce_limits = True
    for n in range(20):
        now[0] += 0.1
        await bot.send_message(-5, f"group {n}")
    with pytest.raises(RetryAfter):
        await bot.send_message(-5, "21st within a minute")
    now[0] += 60.0
    await bot.send_message(-5, "the window has slid")
    now[0] += 1.0
    for user in range(100, 130):  # 30 private chats in the same instant
        await bot.send_message(user, "fan-out")
    with pytest.raises(RetryAfter):
        await bot.send_message(131, "31st in one second")
    assert tg.rate_limited == 2


async def test_injected_chat_failures(tg: FakeTelegram, bot: Bot) -> None:
    tg.block_chat(7)
    with pytest.raises(Forbidden, match=r"(?i)blocked by the user"):
        await bot.send_message(7, "x")
    tg.fail_chat(8, 403, "Forbidden: bot was kicked from the group chat")
    with pytest.raises(Forbidden, match=r"(?i)kicked"):
        await bot.send_message(8, "x")
    tg.migrate_chat(-9, -1009)
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(-9, "x")
    assert migrated.value.new_chat_id == -1009
    tg.fail_chat(10, 400, "Bad Request: chat not found", times=1)
    with pytest.raises(BadRequest, match=r"(?i)Chat not found"):
        await bot.send_message(10, "x")
    await bot.send_message(10, "the fault was for one call only")
    tg.fail_chat(11, 500, "Internal Server Error")
    with pytest.raises(NetworkError):
        await bot.send_message(11, "x")


async def test_method_failures_outage_and_unknown_method(tg: FakeTelegram, bot: Bot) -> None:
    tg.fail_method("setMyCommands", 400, "Bad Request: BOT_COMMAND_INVALID")
    with pytest.raises(BadRequest):
        await bot.set_my_commands([("start", "Start")])
    tg.clear_faults()
    assert await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    tg.set_down()
    with pytest.raises(NetworkError, match=r"(?i)Bad Gateway"):
        await bot.send_message(42, "x")
    tg.set_down(False)
    response = httpx.post(f"{tg.api_url}{TOKEN}/noSuchMethod", json={})
    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }


async def test_timeout_chat_times_out_the_client(tg: FakeTelegram) -> None:
    tg.timeout_chat(42)
    request = HTTPXRequest(read_timeout=0.3)
    async with Bot(TOKEN, base_url=tg.api_url, request=request) as impatient:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await impatient.send_message(42, "x")
        assert time.monotonic() - started < 5
        await impatient.send_message(43, "other chats are unaffected")


async def test_json_and_form_bodies_are_parsed_and_typed(tg: FakeTelegram) -> None:
    url = f"{tg.api_url}{TOKEN}/sendMessage"
    as_json = httpx.post(url, json={"chat_id": "42", "text": "json"}).json()
    as_form = httpx.post(
        url, data={"chat_id": "42", "text": "form", "disable_notification": "true"}
    )
    assert as_json["ok"] and as_form.json()["ok"]
    form_call = tg.sent_messages(42)[1]
    assert form_call.params == {"chat_id": 42, "text": "form", "disable_notification": True}
    bad_token = httpx.post(f"{tg.api_url}not-a-token/getMe")
    assert bad_token.status_code == 401


async def test_photo_and_document_uploads(tg: FakeTelegram, bot: Bot) -> None:
    payload = b"\x89PNG\r\n\x1a\n\x00binary\r\n--not-a-boundary\r\n" * 20
    photo = await bot.send_photo(
        -1001234567890, payload, caption="<i>chart</i>", parse_mode="HTML", filename="c.png"
    )
    assert photo.caption == "chart"
    assert photo.chat.type == ChatType.SUPERGROUP
    summary = tg.calls_to("sendPhoto")[0].params["photo"]
    assert summary == {"filename": "c.png", "size": len(payload), "content_type": "image/png"}
    downloaded = await (await bot.get_file(photo.photo[-1].file_id)).download_as_bytearray()
    assert bytes(downloaded) == payload
    again = await bot.send_photo(-1001234567890, photo.photo[-1].file_id)  # re-send by file_id
    assert again.photo[-1].file_id == photo.photo[-1].file_id
    sent_document = (await bot.send_document(42, b"a,b\n1,2\n", filename="t.csv")).document
    assert sent_document is not None
    assert (sent_document.file_name, sent_document.file_size) == ("t.csv", 8)
    with pytest.raises(BadRequest, match=r"(?i)Wrong file identifier"):
        await bot.send_document(42, "no-such-file-id")


async def test_edit_delete_and_chat_queries(tg: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(42, "draft")
    edited = await bot.edit_message_text("<b>final</b>", 42, message.message_id, parse_mode="HTML")
    assert not isinstance(edited, bool) and edited.text == "final"
    stored = tg.message(42, message.message_id)
    assert stored is not None and stored["text"] == "final"
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("<b>final</b>", 42, message.message_id, parse_mode="HTML")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x")]])
    await bot.edit_message_reply_markup(42, message.message_id, reply_markup=markup)
    assert await bot.delete_message(42, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)not found"):
        await bot.delete_message(42, message.message_id)
    assert await bot.send_chat_action(42, "typing")

    tg.set_chat(-1001, type="supergroup", title="News", is_forum=True)
    tg.set_admins(-1001, [5, 6], creator=5)
    chat = await bot.get_chat(-1001)
    assert (chat.type, chat.title, chat.is_forum) == (ChatType.SUPERGROUP, "News", True)
    admins = await bot.get_chat_administrators(-1001)
    assert [(a.user.id, a.status) for a in admins] == [(5, "creator"), (6, "administrator")]
    assert (await bot.get_chat_member(-1001, 7)).status == "member"
    with pytest.raises(BadRequest, match=r"(?i)private chat"):
        await bot.get_chat_administrators(42)


async def test_get_updates_long_poll_offsets_and_webhook_conflict(tg: FakeTelegram) -> None:
    url = f"{tg.api_url}{TOKEN}/getUpdates"
    started = time.monotonic()
    assert httpx.post(url, json={"timeout": 30}).json()["result"] == []
    assert time.monotonic() - started < 2  # the poll timeout is capped
    first = tg.push_message(42, "hello")
    second = tg.push_message(42, "again")
    result = httpx.post(url, json={"timeout": 1}).json()["result"]
    assert [u["update_id"] for u in result] == [first["update_id"], second["update_id"]]
    confirmed = httpx.post(url, json={"offset": second["update_id"]}).json()["result"]
    assert [u["update_id"] for u in confirmed] == [second["update_id"]]
    assert httpx.post(f"{tg.api_url}{TOKEN}/setWebhook", json={"url": "https://x.org/h"}).json()[
        "ok"
    ]
    conflict = httpx.post(url, json={})
    assert conflict.status_code == 409


async def test_application_receives_start_through_polling_and_replies(tg: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, "<b>Welcome</b>", parse_mode="HTML"
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("done")

    app = ApplicationBuilder().token(TOKEN).base_url(tg.api_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.05, timeout=1)
        try:
            tg.push_message(42, "/start")
            reply = await tg.wait_for(lambda c: c.method == "sendMessage" and c.ok)
            assert reply.params["chat_id"] == 42
            assert reply.response["result"]["text"] == "Welcome"
            query = tg.push_callback(42, reply.response["result"]["message_id"], "mute:1")
            answer = await tg.wait_for(lambda c: c.method == "answerCallbackQuery")
            assert answer.ok
            assert answer.params["callback_query_id"] == query["callback_query"]["id"]
        finally:
            await app.updater.stop()
            await app.stop()
    assert tg.calls_to("deleteWebhook"), "polling starts by deleting any webhook"


def test_my_chat_member_update_deserialises(tg: FakeTelegram) -> None:
    bot = Bot(TOKEN)
    raw = tg.push_my_chat_member(-5, "kicked")
    update = Update.de_json(raw, bot)
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    assert update.my_chat_member.old_chat_member.status == "member"


async def test_strict_chats_and_channel_posts() -> None:
    with FakeTelegram(strict_chats=True) as strict:
        async with Bot(TOKEN, base_url=strict.api_url) as bot:
            with pytest.raises(BadRequest, match=r"(?i)chat not found"):
                await bot.send_message(42, "nobody declared this chat")
            strict.set_chat("@newsroom")
            post = await bot.send_message("@newsroom", "to the channel")
            assert post.chat.type == ChatType.CHANNEL
            assert post.sender_chat is not None and post.from_user is None
        assert strict.server_errors == []


async def test_wait_for_times_out_and_blocking_variant_sees_calls(
    tg: FakeTelegram, bot: Bot
) -> None:
    with pytest.raises(TimeoutError):
        await tg.wait_for(lambda call: call.method == "sendMessage", timeout=0.1)
    await bot.send_message(42, "now")
    found = await asyncio.to_thread(
        tg.wait_for_blocking, lambda call: call.method == "sendMessage", 1.0
    )
    assert found.params["text"] == "now"
