"""Admin commands through the router: refused for non-admins (and audited), working for admins."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import build_core
from bot.models import Chat, RawStory, Reply
from handlers.admin import SUBCOMMANDS
from handlers.context import CommandContext
from handlers.registry import build_router
from handlers.router import Request, Router
from storage import audit, chats
from tests.fakes.feed_server import FeedServer
from tests.helpers import make_settings

ADMIN, USER = "100", "200"
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Valid Feed</title>
<item><title>Ferry timetable changes</title><link>https://f.example/1</link>
<description>The ferry company published a new winter timetable with fewer crossings.</description>
</item></channel></rss>"""


@pytest.fixture
async def setup(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    """Every admin command on both engines (``db_url``: SQLite, then PostgreSQL)."""
    core = await build_core(
        make_settings(tmp_path, telegram_admin_ids=frozenset({ADMIN}), db_path=db_url)
    )
    context = CommandContext(core.services, core.settings)
    sent: list[tuple[str, str]] = []

    async def send_to_chat(chat: Chat, reply: Reply) -> bool:
        sent.append((chat.external_id, reply.text))
        return True

    context.send_to_chat = send_to_chat
    router = build_router(context)
    await core.services.process(
        [RawStory("Budget passes", "Parliament passed the budget on Friday.", source_name="Wire")]
    )
    yield router, core, sent
    await core.close()


async def admin(
    router: Router, args: str, user: str = ADMIN, chat: str = "c-admin", attachment=None
) -> Reply:  # type: ignore[no-untyped-def]
    reply = await router.handle(
        Request("telegram", chat, user, "admin", args, attachment=attachment)
    )
    assert reply is not None
    return reply


@pytest.mark.parametrize("sub", sorted(SUBCOMMANDS))
async def test_every_admin_command_is_refused_for_a_non_admin(setup, sub: str) -> None:  # type: ignore[no-untyped-def]
    router, core, _ = setup
    reply = await admin(router, f"{sub} 1", user=USER, chat="c-user")
    assert reply.text == "Sorry, that command is for the bot's admins only."
    rows = await core.db.call(audit.recent, 5)
    assert rows[0]["user_id"] == USER and rows[0]["result"] == "refused: not an admin"


async def test_sources_add_validates_the_feed(setup) -> None:  # type: ignore[no-untyped-def]
    router, _core, _ = setup
    with FeedServer() as server:
        server.route("/feed.xml", body=RSS)
        server.route(
            "/page.html",
            content_type="text/html",
            body=b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml"></head><body>hi</body></html>',
        )
        refused = await admin(router, f"addsource {server.url('/page.html')}")
        assert "not a usable feed" in refused.text and server.url("/feed.xml") in refused.text
        added = await admin(router, f"addsource {server.url('/feed.xml')} Valid 30")
        assert added.text.startswith("Added source #1 Valid (every 30 min)")
        polled = await admin(router, "poll 1")
        assert "1 new" in polled.text
    listing = await admin(router, "sources")
    assert "#1 Valid" in listing.text and "1 stories in 24 h" in listing.text
    assert "Paused" in (await admin(router, "pausesource 1")).text
    assert "Resumed" in (await admin(router, "resumesource Valid")).text
    export = await admin(router, "export")
    opml = export.attachments[0].content
    assert b"xmlUrl" in opml
    assert "Removed" in (await admin(router, "removesource 1")).text
    imported = await admin(router, "import", attachment=("feeds.opml", opml))
    assert "1 added, 0 already known, 0 refused" in imported.text
    again = await admin(router, "import", attachment=("feeds.opml", opml + b""))
    assert "0 added, 1 already known" in again.text
    broken = await admin(router, "import", attachment=("x.opml", b"<opml><body><outline"))
    assert broken.text.startswith("Error")


async def test_stats_has_figures_and_a_png_chart(setup) -> None:  # type: ignore[no-untyped-def]
    router, _core, _ = setup
    reply = await admin(router, "stats")
    assert "Stories per day by topic" in reply.text and "Deliveries:" in reply.text
    assert "latency" in reply.text
    chart = reply.attachments[0]
    assert chart.mime_type == "image/png" and chart.content.startswith(b"\x89PNG")


async def test_users_ban_unban_and_banned_chats_are_ignored(setup) -> None:  # type: ignore[no-untyped-def]
    router, core, _ = setup
    await router.handle(Request("telegram", "c-user", USER, "start"))
    users = await admin(router, "users")
    assert "telegram:c-user" in users.text
    target = await core.db.call(chats.find_chat, "telegram", "c-user")
    assert "banned" in (await admin(router, f"ban {target.id}")).text
    assert await router.handle(Request("telegram", "c-user", USER, "help")) is None
    assert "active" in (await admin(router, f"unban {target.id}")).text
    assert await router.handle(Request("telegram", "c-user", USER, "help")) is not None


async def test_broadcast_asks_then_sends_once(setup) -> None:  # type: ignore[no-untyped-def]
    router, _core, sent = setup
    await router.handle(Request("telegram", "c-user", USER, "start"))
    ask = await admin(router, "broadcast Maintenance tonight at 22:00")
    assert "Confirm with /admin broadcast confirm" in ask.text and not sent
    token = ask.text.rsplit(" ", 1)[-1]
    done = await admin(router, f"broadcast confirm {token}")
    assert done.text.startswith("Broadcast done: sent to 2 chat(s)")
    assert {chat for chat, _ in sent} == {"c-admin", "c-user"}
    assert "expired" in (await admin(router, f"broadcast confirm {token}")).text


async def test_queue_jobs_health_audit(setup) -> None:  # type: ignore[no-untyped-def]
    router, _core, _ = setup
    assert "Outbox by transport" in (await admin(router, "queue")).text
    assert "not running in this process" in (await admin(router, "jobs")).text
    assert "Database:" in (await admin(router, "health")).text
    assert "queue" in (await admin(router, "audit")).text
    assert "Admin commands" in (await admin(router, "")).text


async def test_more_is_offered_only_when_there_is_a_next_page(setup) -> None:  # type: ignore[no-untyped-def]
    router, core, _ = setup
    from storage import sources as source_store

    for n in range(3):
        await core.db.call(source_store.add_source, f"https://s{n}.example/feed.xml", name=f"S{n}")
    await router.handle(Request("telegram", "c-user", USER, "start"))
    sources = await admin(router, "sources")
    assert "S2" in sources.text and "More:" not in sources.text
    users = await admin(router, "users")
    assert "telegram:c-user" in users.text and "More:" not in users.text
    for n in range(3, 12):
        await core.db.call(source_store.add_source, f"https://s{n}.example/feed.xml", name=f"S{n}")
    first = await admin(router, "sources")
    assert "More: /admin sources page 2" in first.text
    second = await admin(router, "sources page 2")
    assert "S11" in second.text and "More:" not in second.text
    assert "No sources on page 3" in (await admin(router, "sources page 3")).text


async def test_stats_does_not_count_mutes_as_subscriptions(setup) -> None:  # type: ignore[no-untyped-def]
    router, _core, _ = setup
    for text in ("subscribe earthquake", "subscribe flood", "mute sport", "mute celebrity"):
        command, _, args = text.partition(" ")
        await router.handle(Request("telegram", "c-user", USER, command, args))
    stats = await admin(router, "stats")
    assert "Subscriptions: 2 (and 2 mutes)" in stats.text
    users = await admin(router, "users")
    assert "subs 2," in users.text


def test_charts_write_no_matplotlib_lines_into_our_log(caplog: pytest.LogCaptureFixture) -> None:
    import logging
    from datetime import UTC, datetime

    from handlers.admin import stats_chart

    now = datetime(2026, 3, 9, tzinfo=UTC)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("matplotlib").setLevel(logging.NOTSET)  # as a fresh process has it
        for _ in range(2):
            assert stats_chart({"2026-03-08": {"world": 3}}, now).startswith(b"\x89PNG")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("matplotlib")] == []
