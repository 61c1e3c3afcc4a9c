"""How each Bot API failure becomes a SendResult, against the fake server, without the bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.alerts import Alert
from bot.models import Attachment, Button, Chat, Reply
from bot.transports.pacing import Pacer, Rate
from bot.transports.telegram import (
    TelegramTransport,
    file_url_for,
    parse_message_ref,
    telegram_pacer,
)
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import VirtualTime

TOKEN = "123:ABC"


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def transport(tg: FakeTelegram) -> AsyncIterator[TelegramTransport]:
    request = HTTPXRequest(read_timeout=0.5, connect_timeout=2)
    async with Bot(TOKEN, base_url=tg.api_url, base_file_url=tg.file_url, request=request) as bot:
        yield TelegramTransport(bot, Pacer(Rate(1000)))


def chat(external_id: str) -> Chat:
    return Chat(1, "telegram", external_id, "", "private", "active")


def alert(sources: int = 1) -> Alert:
    return Alert(
        1,
        1,
        1,
        "Dam <breach> & flood",
        "Water rose fast.",
        "https://example.org/dam",
        tuple((f"Outlet {i}", None) for i in range(sources)),
        ("disaster",),
        ("flood",),
        ((Button("Details", action="story:1"),),),
    )


def test_urls_and_refs() -> None:
    assert file_url_for("http://h:1/bot") == "http://h:1/file/bot"
    assert parse_message_ref("-100123:45") == ("-100123", 45)
    with pytest.raises(ValueError):
        parse_message_ref("nonsense")


async def test_failures_map_to_send_results(tg: FakeTelegram, transport: TelegramTransport) -> None:
    tg.block_chat(1)
    assert (await transport.send_alert(chat("1"), alert())).chat_gone
    tg.fail_chat(2, 403, "Forbidden: bot can't send messages to the user")
    assert (await transport.send_alert(chat("2"), alert())).transient_error
    tg.migrate_chat(-3, -1009999)
    assert (await transport.send_alert(chat("-3"), alert())).migrated_to == "-1009999"
    tg.fail_chat(4, 400, "Bad Request: chat not found")
    assert (await transport.send_alert(chat("4"), alert())).permanent_error
    tg.fail_chat(5, 429, "Too Many Requests: retry after 3", parameters={"retry_after": 3})
    assert (await transport.send_alert(chat("5"), alert())).retry_after == 3
    tg.set_down()
    assert (await transport.send_alert(chat("6"), alert())).transient_error
    tg.clear_faults()


async def test_rejected_html_is_resent_as_plain_text(
    tg: FakeTelegram, transport: TelegramTransport, caplog: pytest.LogCaptureFixture
) -> None:
    tg.fail_chat(7, 400, "Bad Request: can't parse entities: Unsupported start tag", times=1)
    result = await transport.send_alert(chat("7"), alert())
    assert result.ok
    sent = tg.sent_messages(7)[0]
    assert "parse_mode" not in sent.params and sent.params["text"].startswith("Dam <breach>")
    assert "event=html_rejected" in caplog.text


async def test_timeout_is_retried_once_and_flagged(
    tg: FakeTelegram, transport: TelegramTransport
) -> None:
    tg.delay_chat(8, 1.0)
    result = await transport.send_alert(chat("8"), alert())
    assert not result.ok and result.transient_error  # both attempts timed out
    tg.clear_faults()
    assert len(tg.calls_to("sendMessage")) == 2


async def test_update_edits_then_replies_when_edit_fails(
    tg: FakeTelegram, transport: TelegramTransport
) -> None:
    first = await transport.send_alert(chat("9"), alert())
    assert first.ok and first.message_ref
    edited = await transport.send_update(chat("9"), alert(sources=3), first.message_ref)
    assert edited.ok
    _, message_id = parse_message_ref(first.message_ref)
    stored = tg.message(9, message_id)
    assert stored is not None and "(+2 more sources)" in stored["text"]
    again = await transport.send_update(chat("9"), alert(sources=3), first.message_ref)
    assert again.ok  # "not modified": answered with a reply instead
    reply = tg.sent_messages(9)[-1]
    assert reply.params["reply_parameters"]["message_id"] == message_id


async def test_reply_with_image_still_delivers_text_when_photo_refused(
    tg: FakeTelegram, transport: TelegramTransport
) -> None:
    tg.fail_method("sendPhoto", 400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    reply = Reply(
        "Stats <today>", attachments=(Attachment("c.png", b"\x89PNG", "image/png", "chart"),)
    )
    result = await transport.send_reply(chat("10"), reply)
    assert result.ok
    methods = [c.method for c in tg.sent_messages(10)]
    assert methods == ["sendMessage", "sendDocument"]


def too_many(tg: FakeTelegram, chat_id: int) -> None:
    tg.fail_chat(
        chat_id, 429, "Too Many Requests: retry after 3", parameters={"retry_after": 3}, times=1
    )


async def test_one_429_pauses_only_that_chat(tg: FakeTelegram) -> None:
    vt = VirtualTime()
    async with Bot(TOKEN, base_url=tg.api_url, base_file_url=tg.file_url) as bot:
        transport = TelegramTransport(bot, Pacer(Rate(1000), clock=vt.clock, sleep=vt.sleep))
        too_many(tg, 11)
        assert (await transport.send_alert(chat("11"), alert())).retry_after == 3
        assert (await transport.send_alert(chat("12"), alert())).ok
        assert vt.now < 0.1  # the other chat did not wait
        assert (await transport.send_alert(chat("11"), alert())).ok
        assert vt.now >= 3  # the told chat waited out its retry_after


async def test_several_chats_told_to_wait_at_once_pause_everything(tg: FakeTelegram) -> None:
    vt = VirtualTime()
    async with Bot(TOKEN, base_url=tg.api_url, base_file_url=tg.file_url) as bot:
        transport = TelegramTransport(bot, Pacer(Rate(1000), clock=vt.clock, sleep=vt.sleep))
        for chat_id in (21, 22, 23):
            too_many(tg, chat_id)
            assert (await transport.send_alert(chat(str(chat_id)), alert())).retry_after
        assert (await transport.send_alert(chat("24"), alert())).ok
        assert vt.now >= 3  # the bot's overall limit was hit: a fresh chat waited too


async def test_fan_out_stays_under_the_global_limit_without_429s() -> None:
    """Slots booked twice too fast for the server: the cap alone must keep every arrival
    within the server's limit (10 a second here, to keep the test short)."""
    with FakeTelegram(enforce_limits=True, global_per_second=10) as fake:
        async with Bot(TOKEN, base_url=fake.api_url, base_file_url=fake.file_url) as bot:
            transport = TelegramTransport(bot, Pacer(Rate(20), window_limit=10))
            results = await asyncio.gather(
                *(transport.send_alert(chat(str(100 + n)), alert()) for n in range(25))
            )
        assert fake.rate_limited == 0 and fake.server_errors == []
        assert all(result.ok for result in results)
        assert len({call.params["chat_id"] for call in fake.sent_messages()}) == 25


def test_default_pacer_caps_sends_per_second() -> None:
    for pacer in (TelegramTransport(Bot(TOKEN)).pacer, telegram_pacer(Rate(29))):
        assert pacer.window_limit == 30 and pacer.window_seconds == 1.0
        assert pacer.global_rate.per_second < 30
