"""Admin commands on every transport, end to end: refused for non-admins (and audited), working
for admins, and the OPML import with its file on Telegram and Slack.

Telegram runs the real ``Application`` against ``FakeTelegram``, Slack the real bolt app in HTTP
mode against ``FakeSlack``, the console the router with the console transport. One running bot
per platform serves the whole module, so the table of every admin subcommand stays fast.
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bot.app import NewsBot
from bot.models import Chat
from bot.transports.console import CONSOLE_CHAT_ID, ConsoleTransport, read_commands
from bot.transports.slack import MAX_UPLOAD_BYTES, trusted_file_url
from handlers.admin import SUBCOMMANDS
from handlers.context import CommandContext
from handlers.registry import build_router
from handlers.router import Router
from storage import chats as chat_store
from storage import sources as source_store
from storage.db import DatabaseWorker
from tests.fakes.feed_server import FeedServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import make_settings, running_newsbot
from tests.test_slack_e2e import SECRET, event, slash, texts, wait_response
from tests.test_telegram_e2e import BOT_NAME, reply_containing, text_of

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

REFUSAL = "Sorry, that command is for the bot's admins only."
REFUSED = "refused: not an admin"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TG_TOKEN = "123:ABC"
TG_ADMIN = 4242
SLACK_ADMIN = "UADMIN9"
SLACK_USER = "UPLAIN1"
TABLE = sorted(SUBCOMMANDS)
FEEDS = ("http://127.0.0.1:9/alpha.xml", "http://127.0.0.1:9/beta.xml")


# -- one running bot per platform for the module -------------------------------------------


@pytest.fixture(scope="module")
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(poll_timeout_cap=0.2, bot_username=BOT_NAME) as fake:
        yield fake


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tg_bot(
    tmp_path_factory: pytest.TempPathFactory, tg: FakeTelegram
) -> AsyncIterator[NewsBot]:
    settings = make_settings(
        tmp_path_factory.mktemp("telegram"),
        telegram_bot_token=TG_TOKEN,
        telegram_api_url=tg.api_url,
        telegram_admin_ids=frozenset({str(TG_ADMIN)}),
    )
    async with running_newsbot(settings) as bot:
        yield bot


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def slack_bot(
    tmp_path_factory: pytest.TempPathFactory, slack: FakeSlack
) -> AsyncIterator[NewsBot]:
    settings = make_settings(
        tmp_path_factory.mktemp("slack"),
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=slack.base_url,
        slack_admin_ids=frozenset({SLACK_ADMIN}),
    )
    async with running_newsbot(settings) as bot:
        yield bot


def console_router(bot: NewsBot, *, admin: bool) -> Router:
    """The console's router over a running bot's services (one database, no second model
    load); ``console_admin`` decides whether the console user is an admin."""
    assert bot.core is not None
    settings = replace(bot.core.settings, console_admin=admin)
    return build_router(CommandContext(bot.core.services, settings))


async def run_console(router: Router, *lines: str) -> str:
    """Type lines into the console as a user would; returns what the console printed."""
    assert router.context.services is not None
    out = io.StringIO()
    transport = ConsoleTransport(out, color=False)
    db = router.context.services.db

    async def chat_for() -> Chat:
        return await db.call(chat_store.ensure_chat, "console", CONSOLE_CHAT_ID)

    await read_commands(
        io.StringIO("".join(f"{line}\n" for line in lines)), router.handle, transport, chat_for
    )
    return out.getvalue()


async def audit_rows(db: DatabaseWorker, platform: str, chat_id: str) -> list[dict[str, Any]]:
    def query(database: Any) -> list[dict[str, Any]]:
        return list(
            database.table("audit_log").rows_where(
                "platform = ? AND chat_id = ?", [platform, chat_id], order_by="id"
            )
        )

    return await db.call(query)


async def assert_refusal_audited(
    db: DatabaseWorker, platform: str, chat: str, user: str, sub: str
) -> None:
    rows = await audit_rows(db, platform, chat)
    assert [(r["user_id"], r["action"], r["arguments"], r["result"]) for r in rows] == [
        (user, "admin", f"{sub} 1", REFUSED)
    ]


# -- every admin subcommand refused for a non-admin, on every transport ----------------------


@pytest.mark.parametrize("sub", TABLE)
async def test_telegram_refuses_admin_subcommand(
    tg: FakeTelegram, tg_bot: NewsBot, sub: str
) -> None:
    assert tg_bot.core is not None
    chat = 5000 + TABLE.index(sub)  # a private chat per row: its one reply is this row's
    tg.push_message(chat, f"/admin {sub} 1")
    reply = await reply_containing(tg, chat, REFUSAL)
    assert text_of(reply) == REFUSAL
    await assert_refusal_audited(tg_bot.core.db, "telegram", str(chat), str(chat), sub)


@pytest.mark.parametrize("sub", TABLE)
async def test_slack_refuses_admin_subcommand(
    slack: FakeSlack, slack_bot: NewsBot, sub: str
) -> None:
    assert slack_bot.core is not None
    response = await slash(
        slack_bot, slack, f"admin {sub} 1", user=SLACK_USER, channel="C500", key=f"refuse-{sub}"
    )
    assert response.status_code == 200
    answer = await wait_response(slack, f"refuse-{sub}")
    assert set(texts(answer).splitlines()) == {REFUSAL}  # the text and its block
    assert answer["response_type"] == "ephemeral"  # only the person who asked sees it
    rows = [
        r
        for r in await audit_rows(slack_bot.core.db, "slack", "C500")
        if r["arguments"] == f"{sub} 1"
    ]
    assert [(r["user_id"], r["result"]) for r in rows] == [(SLACK_USER, REFUSED)]


@pytest.mark.parametrize("sub", TABLE)
async def test_console_refuses_admin_subcommand(tg_bot: NewsBot, sub: str) -> None:
    assert tg_bot.core is not None
    router = console_router(tg_bot, admin=False)
    printed = await run_console(router, f"/admin {sub} 1")
    assert printed.strip() == REFUSAL
    rows = [
        r
        for r in await audit_rows(tg_bot.core.db, "console", CONSOLE_CHAT_ID)
        if r["arguments"] == f"{sub} 1"
    ]
    assert [(r["user_id"], r["result"]) for r in rows] == [("console", REFUSED)]


# -- an admin command that works, on every transport ----------------------------------------


async def test_telegram_admin_stats_sends_text_and_a_png_photo(
    tg: FakeTelegram, tg_bot: NewsBot
) -> None:
    assert tg_bot.core is not None
    tg.push_message(TG_ADMIN, "/admin stats")
    text = await reply_containing(tg, TG_ADMIN, "Stories per day by topic")
    assert "Deliveries: sent" in text_of(text) and "Ingest-to-alert latency" in text_of(text)
    photo = await tg.wait_for(
        lambda c: c.method == "sendPhoto" and c.params.get("chat_id") == TG_ADMIN, 10
    )
    assert photo.ok and photo.params["photo"]["filename"] == "newsbot-stats.png"
    # Read the photo back through the Bot API's file download, as a client would.
    file_id = photo.response["result"]["photo"][0]["file_id"]
    async with httpx.AsyncClient(timeout=10) as client:
        info = await client.post(f"{tg.api_url}{TG_TOKEN}/getFile", json={"file_id": file_id})
        path = info.json()["result"]["file_path"]
        content = (await client.get(f"{tg.file_url}{TG_TOKEN}/{path}")).content
    assert content.startswith(PNG_MAGIC)
    rows = await audit_rows(tg_bot.core.db, "telegram", str(TG_ADMIN))
    assert any(
        r["arguments"] == "stats" and r["result"].startswith("Stories per day") for r in rows
    )


async def test_slack_admin_stats_answers_and_uploads_the_chart(
    slack: FakeSlack, slack_bot: NewsBot
) -> None:
    await slash(
        slack_bot,
        slack,
        "admin stats",
        user=SLACK_ADMIN,
        channel="D900",
        channel_name="directmessage",
        key="stats",
    )
    answer = await wait_response(slack, "stats")
    assert "Stories per day by topic" in texts(answer) and "Deliveries: sent" in texts(answer)
    asked = await slack.wait_for(
        lambda c: (
            c.method == "files.getUploadURLExternal"
            and c.params.get("filename") == "newsbot-stats.png"
        ),
        10,
    )
    assert asked.ok
    done = await slack.wait_for(
        lambda c: (
            c.method == "files.completeUploadExternal" and c.params.get("channel_id") == "D900"
        ),
        10,
    )
    assert done.ok
    [uploaded] = done.response["files"]
    content = slack.uploaded_file(uploaded["id"])
    assert content is not None and content.startswith(PNG_MAGIC)


async def test_console_admin_stats_prints_the_figures(tg_bot: NewsBot) -> None:
    printed = await run_console(console_router(tg_bot, admin=True), "/admin stats")
    assert "Stories per day by topic" in printed and "Deliveries: sent" in printed
    assert "(file newsbot-stats.png," in printed and "not saved" in printed


# -- OPML import with its file ---------------------------------------------------------------


async def add_feeds(db: DatabaseWorker) -> list[int]:
    ids = []
    for number, url in enumerate(FEEDS):
        source, _created = await db.call(
            source_store.add_source, url, name=f"Feed {number}", interval_minutes=30
        )
        ids.append(source.id)
    return ids


async def remove_feeds(db: DatabaseWorker, ids: list[int]) -> None:
    for source_id in ids:
        await db.call(source_store.remove_source, source_id)


async def feed_urls(db: DatabaseWorker) -> set[str]:
    return {s.url for s in await db.call(source_store.list_sources)}


def document_message(
    chat: int, user: int, document: dict[str, Any], caption: str
) -> dict[str, Any]:
    """A user's message carrying a file with a command as its caption, as Telegram sends it."""
    return {
        "message": {
            "message_id": int(time.time() * 1000) % 1_000_000_000,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "Admin"},
            "from": {"id": user, "is_bot": False, "first_name": "Admin"},
            "caption": caption,
            "caption_entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            "document": document,
        }
    }


async def test_telegram_opml_export_then_import_of_the_sent_document(
    tg: FakeTelegram, tg_bot: NewsBot
) -> None:
    assert tg_bot.core is not None
    db = tg_bot.core.db
    ids = await add_feeds(db)
    tg.push_message(TG_ADMIN, "/admin export")
    sent = await tg.wait_for(
        lambda c: c.method == "sendDocument" and c.params.get("chat_id") == TG_ADMIN, 10
    )
    assert sent.ok
    document = sent.response["result"]["document"]
    await remove_feeds(db, ids)
    assert not await feed_urls(db) & set(FEEDS)

    # A non-admin sending the same file is refused, and the file is not even downloaded.
    downloads = len(tg.calls_to("getFile"))
    tg.push_update(document_message(5100, 5100, document, "/admin import"))
    await reply_containing(tg, 5100, REFUSAL)
    assert len(tg.calls_to("getFile")) == downloads

    tg.push_update(document_message(TG_ADMIN, TG_ADMIN, document, "/admin import"))
    reply = await reply_containing(tg, TG_ADMIN, "OPML import:")
    assert "OPML import: 2 added, 0 already known, 0 refused." in text_of(reply)
    assert await feed_urls(db) >= set(FEEDS)
    got = [c for c in tg.calls_to("getFile") if c.params.get("file_id") == document["file_id"]]
    assert got and got[-1].ok


async def test_telegram_import_without_a_file_says_what_to_do(
    tg: FakeTelegram, tg_bot: NewsBot
) -> None:
    tg.push_message(TG_ADMIN, "/admin import")
    await reply_containing(tg, TG_ADMIN, "Attach an .opml file")


def shared_file(file_id: str, name: str, url: str, size: int) -> dict[str, Any]:
    """A file object as Slack puts it in a ``message`` event with subtype ``file_share``."""
    return {
        "id": file_id,
        "name": name,
        "title": name,
        "mimetype": "text/x-opml",
        "filetype": "xml",
        "size": size,
        "url_private": url,
        "url_private_download": url,
    }


def file_share(channel: str, user: str, text: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "file_share",
        "channel_type": "im",
        "channel": channel,
        "user": user,
        "text": text,
        "files": files,
        "ts": f"{time.time():.6f}",
        "event_ts": f"{time.time():.6f}",
    }


async def reply_in(slack: FakeSlack, channel: str, containing: str) -> str:
    call = await slack.wait_for(
        lambda c: (
            c.method == "chat.postMessage"
            and c.ok
            and c.params.get("channel") == channel
            and containing in texts(c.params)
        ),
        10,
    )
    return texts(call.params)


async def test_slack_opml_import_from_a_file_shared_in_a_dm(
    slack: FakeSlack, slack_bot: NewsBot
) -> None:
    assert slack_bot.core is not None
    db = slack_bot.core.db
    ids = await add_feeds(db)
    await slash(
        slack_bot,
        slack,
        "admin export",
        user=SLACK_ADMIN,
        channel="D901",
        channel_name="directmessage",
        key="export",
    )
    await wait_response(slack, "export")
    done = await slack.wait_for(
        lambda c: (
            c.method == "files.completeUploadExternal" and c.params.get("channel_id") == "D901"
        ),
        10,
    )
    [exported] = done.response["files"]
    opml = slack.uploaded_file(exported["id"])
    assert opml is not None and b"xmlUrl" in opml
    await remove_feeds(db, ids)

    with FeedServer() as files:
        path = f"/files-pri/T0FAKE-{exported['id']}/newsbot-sources.opml"
        files.route(path, body=opml, content_type="text/x-opml")
        shared = shared_file(exported["id"], "newsbot-sources.opml", files.url(path), len(opml))

        # From someone who is not an admin: refused, and nothing is downloaded.
        await event(slack_bot, file_share("D902", SLACK_USER, "admin import", [shared]), "EvImp1")
        assert set((await reply_in(slack, "D902", REFUSAL)).splitlines()) == {REFUSAL}
        assert files.requests_for(path) == []

        await event(slack_bot, file_share("D901", SLACK_ADMIN, "admin import", [shared]), "EvImp2")
        text = await reply_in(slack, "D901", "OPML import:")
        assert "OPML import: 2 added, 0 already known, 0 refused." in text
        [download] = files.requests_for(path)
        assert download.headers["authorization"] == "Bearer xoxb-test"
    assert await feed_urls(db) >= set(FEEDS)
    rows = await audit_rows(db, "slack", "D901")
    assert any(
        r["arguments"] == "import" and r["result"].startswith("OPML import: 2 added") for r in rows
    )


async def test_slack_import_refuses_large_and_foreign_files(
    slack: FakeSlack, slack_bot: NewsBot
) -> None:
    big = shared_file("FBIG1", "big.opml", f"{slack.root_url}/never-fetched", MAX_UPLOAD_BYTES + 1)
    await event(slack_bot, file_share("D903", SLACK_ADMIN, "admin import", [big]), "EvImp3")
    assert "too large" in await reply_in(slack, "D903", "too large")

    # A link off Slack's hosts is never sent the bot token.
    foreign = shared_file("FFOR1", "x.opml", "https://files.example.net/x.opml", 100)
    await event(slack_bot, file_share("D904", SLACK_ADMIN, "admin import", [foreign]), "EvImp4")
    assert "files:read" in await reply_in(slack, "D904", "could not download")
    assert not [c for c in slack.calls if "never-fetched" in c.path]


async def test_slack_import_with_a_served_file_over_the_cap_is_cut_off(
    slack: FakeSlack, slack_bot: NewsBot
) -> None:
    """The size in the event may understate the file: the download itself is capped too."""
    with FeedServer() as files:
        files.route("/big.opml", body=b"<opml>" + b" " * MAX_UPLOAD_BYTES, content_type="text/xml")
        lying = shared_file("FLIE1", "big.opml", files.url("/big.opml"), 10)
        await event(slack_bot, file_share("D905", SLACK_ADMIN, "admin import", [lying]), "EvImp5")
        assert "too large" in await reply_in(slack, "D905", "too large")


async def test_trusted_file_urls() -> None:
    api = "https://slack.com/api/"
    assert trusted_file_url("https://files.slack.com/files-pri/T1-F1/a.opml", api)
    assert not trusted_file_url("http://files.slack.com/files-pri/T1-F1/a.opml", api)
    assert not trusted_file_url("https://files.slack.com.evil.example/a.opml", api)
    assert not trusted_file_url("https://evil.example/?files.slack.com", api)
    proxy = "http://127.0.0.1:8099/api/"
    assert trusted_file_url("http://127.0.0.1:9000/files/a.opml", proxy)
    assert not trusted_file_url("https://127.0.0.1:9000/files/a.opml", proxy)
    assert not trusted_file_url("not a url at all", api)
