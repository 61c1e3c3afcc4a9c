"""Story images: taken from every form a feed or page gives, stored as a URL, shown by each
platform, turned off per chat, and never the reason an alert is lost.

Feeds and pages are our own fixtures served by the local feed server; the platforms are the
fakes, whose recorded payloads the tests read back.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.alerts import Alert
from bot.app import NewsBot, build_core
from bot.models import Button
from bot.pipeline.feeds import page_image, parse_feed
from bot.pipeline.urls import public_image_url
from bot.transports import render_slack
from bot.transports.console import ConsoleTransport
from bot.transports.render_telegram import link_preview
from handlers.commands import _parse_setting
from storage import chats as chat_store
from storage import stories as story_store
from storage import subscriptions as sub_store
from storage.engine import SqliteStore
from storage.migrations import MIGRATIONS
from storage.sources import add_source
from tests.fakes.feed_server import FeedServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import Call, FakeTelegram
from tests.helpers import make_settings, running_newsbot, running_telegram_bot

IMAGE = "https://img.example.org/tram.jpg"
ARTICLE = "https://local.example/tram"
TRAM_TEXT = (
    "The city council approved a new tram line linking the station to the university, with "
    "construction starting next spring and services expected in three years."
)


def rss(item_extra: str, *, namespaces: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0" {namespaces}><channel><title>Local Wire</title>'
        f"<item><title>Council approves new tram line</title><link>{ARTICLE}</link>"
        f"<description>{TRAM_TEXT}</description>{item_extra}</item></channel></rss>"
    ).encode()


MEDIA_NS = 'xmlns:media="http://search.yahoo.com/mrss/"'

FEEDS: dict[str, tuple[bytes, str | None]] = {
    "rss enclosure": (rss(f'<enclosure url="{IMAGE}" length="1000" type="image/jpeg"/>'), IMAGE),
    "rss audio enclosure is no image": (
        rss('<enclosure url="https://cdn.example.org/a.mp3" length="9" type="audio/mpeg"/>'),
        None,
    ),
    "media:content": (
        rss(f'<media:content url="{IMAGE}" medium="image" width="800"/>', namespaces=MEDIA_NS),
        IMAGE,
    ),
    "media:content video is skipped for the thumbnail": (
        rss(
            '<media:content url="https://cdn.example.org/v.mp4" type="video/mp4"/>'
            f'<media:thumbnail url="{IMAGE}"/>',
            namespaces=MEDIA_NS,
        ),
        IMAGE,
    ),
    "media:thumbnail": (rss(f'<media:thumbnail url="{IMAGE}"/>', namespaces=MEDIA_NS), IMAGE),
    "relative enclosure resolved against the feed": (
        rss('<enclosure url="/img/tram.png" length="1" type="image/png"/>'),
        "https://news.example.org/img/tram.png",
    ),
    "plain http image dropped": (
        rss('<enclosure url="http://img.example.org/t.jpg" length="1" type="image/jpeg"/>'),
        None,
    ),
    "private address image dropped": (
        rss('<enclosure url="https://10.0.0.5/t.jpg" length="1" type="image/jpeg"/>'),
        None,
    ),
    "atom enclosure link": (
        (
            '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>W</title>'
            "<entry><title>Council approves new tram line</title><id>urn:x:1</id>"
            f'<link href="{ARTICLE}"/>'
            f'<link rel="enclosure" type="image/webp" href="{IMAGE}"/>'
            f"<updated>2024-05-01T10:00:00Z</updated><summary>{TRAM_TEXT}</summary>"
            "</entry></feed>"
        ).encode(),
        IMAGE,
    ),
    "json feed image": (
        (
            '{"version": "https://jsonfeed.org/version/1.1", "title": "W", "items": [{"id": "1",'
            f'"url": "{ARTICLE}", "title": "Council approves new tram line",'
            f'"content_text": "{TRAM_TEXT}", "image": "{IMAGE}"}}]}}'
        ).encode(),
        IMAGE,
    ),
    "json feed banner_image": (
        (
            '{"version": "https://jsonfeed.org/version/1.1", "title": "W", "items": [{"id": "1",'
            f'"url": "{ARTICLE}", "title": "Council approves new tram line",'
            f'"content_text": "{TRAM_TEXT}", "image": "http://insecure.example/x.jpg",'
            f'"banner_image": "{IMAGE}"}}]}}'
        ).encode(),
        IMAGE,
    ),
}


@pytest.mark.parametrize("form", sorted(FEEDS))
def test_feed_image_forms(form: str) -> None:
    content, expected = FEEDS[form]
    parsed = parse_feed(content, url="https://news.example.org/feed")
    assert parsed.error is None and len(parsed.items) == 1
    assert parsed.items[0].image_url == expected


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://img.example.org/a.jpg", True),
        ("https://93.184.216.34/a.jpg", True),
        ("HTTPS://img.example.org/a.jpg", True),
        ("http://img.example.org/a.jpg", False),
        ("https://localhost/a.jpg", False),
        ("https://cam.localhost/a.jpg", False),
        ("https://127.0.0.1/a.jpg", False),
        ("https://192.168.1.4/a.jpg", False),
        ("https://[::1]/a.jpg", False),
        ("https://169.254.169.254/latest", False),
        ("https://intranet/a.jpg", False),
        ("https://img.example.org/a b.jpg", False),
        ("data:image/png;base64,AAAA", False),
        ("https://img.example.org:99999/a.jpg", False),
        ("", False),
    ],
)
def test_public_image_url(url: str, kept: bool) -> None:
    assert (public_image_url(url) is not None) is kept


def test_page_image_prefers_og_then_twitter() -> None:
    og = (
        '<html><head><meta name="twitter:image" content="https://img.example.org/tw.jpg">'
        '<meta property="og:image" content="/media/og.jpg"></head><body></body></html>'
    )
    assert page_image(og, "https://news.example.org/a/1") == "https://news.example.org/media/og.jpg"
    twitter_only = '<meta name="twitter:image" content="https://img.example.org/tw.jpg">'
    assert page_image(twitter_only, "https://x.example") == "https://img.example.org/tw.jpg"
    assert page_image('<meta property="og:image" content="https://127.0.0.1/x.jpg">', "") is None
    assert page_image("<p>no image</p>", "https://x.example") is None


async def test_polled_feed_stores_the_image_url(tmp_path: Path) -> None:
    core = await build_core(make_settings(tmp_path))
    try:
        with FeedServer() as server:
            server.route("/feed.xml", body=FEEDS["media:content"][0])
            source, _ = await core.db.call(add_source, server.url("/feed.xml"), name="Wire")
            outcome = await core.services.poll_source(source)
            assert outcome.report is not None and len(outcome.report.new) == 1
            story = await core.db.call(story_store.get_story, outcome.report.new[0].id)
            assert story.image_url == IMAGE
    finally:
        await core.close()


async def test_teaser_expansion_and_page_ingest_take_og_image(tmp_path: Path) -> None:
    core = await build_core(make_settings(tmp_path))
    body = " ".join(["The new tram line will run every six minutes at peak hours."] * 12)
    try:
        with FeedServer() as server:
            page = (
                "<html><head><title>Tram line approved</title>"
                '<meta property="og:image" content="https://img.example.org/og-tram.jpg">'
                f"</head><body><article><h1>Tram line approved</h1><p>{body}</p>"
                "</article></body></html>"
            ).encode()
            server.route("/article", body=page, content_type="text/html; charset=utf-8")
            teaser = (
                '<?xml version="1.0"?><rss version="2.0"><channel><title>W</title><item>'
                f"<title>Tram line approved</title><link>{server.url('/article')}</link>"
                "<description>The council said yes...</description></item></channel></rss>"
            ).encode()
            server.route("/teasers.xml", body=teaser)
            source, _ = await core.db.call(
                add_source, server.url("/teasers.xml"), name="Teasers", fetch_full_text=True
            )
            outcome = await core.services.poll_source(source)
            assert outcome.report is not None and len(outcome.report.new) == 1
            story = await core.db.call(story_store.get_story, outcome.report.new[0].id)
            assert story.image_url == "https://img.example.org/og-tram.jpg"
            assert "six minutes" in story.text

            server.route(
                "/other",
                body=page.replace(b"og-tram", b"og-other").replace(b"six", b"eight"),
                content_type="text/html",
            )
            ingested = await core.services.ingest_url(server.url("/other"))
            assert ingested.error is None and len(ingested.report.new) == 1
            other = await core.db.call(story_store.get_story, ingested.report.new[0].id)
            assert other.image_url == "https://img.example.org/og-other.jpg"
    finally:
        await core.close()


def test_migration_adds_image_columns_to_an_existing_database(tmp_path: Path) -> None:
    db = Database(tmp_path / "old.db")
    MIGRATIONS.apply(db, stop_before="m003_story_images")
    db.execute(
        "INSERT INTO chats (platform, external_id, created_at) VALUES ('telegram', '1', 'now')"
    )
    MIGRATIONS.apply(db)
    assert "image_url" in db.table("stories").columns_dict
    store = SqliteStore(db)
    chat = chat_store.find_chat(store, "telegram", "1")
    assert chat is not None and chat.images is True
    assert chat_store.update_chat_settings(store, chat.id, images=False).images is False


def test_settings_images_on_off() -> None:
    assert _parse_setting("images", "off") == {"images": False}
    assert _parse_setting("images", " ON ") == {"images": True}
    with pytest.raises(Exception, match="on or off"):
        _parse_setting("images", "maybe")


def sample_alert(image_url: str | None = IMAGE) -> Alert:
    return Alert(
        1,
        1,
        1,
        "Tram <line> & approval",
        "The council approved it.",
        ARTICLE,
        (("Local Wire", ARTICLE),),
        ("transport",),
        ("tram",),
        ((Button("Details", action="story:1"),),),
        image_url=image_url,
    )


def test_renders_show_the_image() -> None:
    preview = link_preview(ARTICLE, IMAGE)
    assert (preview.url, preview.prefer_large_media, preview.show_above_text) == (
        IMAGE,
        True,
        True,
    )
    assert link_preview(ARTICLE, None).url == ARTICLE

    blocks = render_slack.render_alert(sample_alert())["blocks"]
    image_blocks = [b for b in blocks if b["type"] == "image"]
    assert image_blocks == [
        {"type": "image", "image_url": IMAGE, "alt_text": "Tram <line> & approval"}
    ]
    assert blocks.index(image_blocks[0]) == 1  # right under the headline
    no_image = render_slack.render_alert(sample_alert(None))["blocks"]
    assert not [b for b in no_image if b["type"] == "image"]

    stream = io.StringIO()
    transport = ConsoleTransport(stream, color=False)
    transport.console.width = 200
    transport.console.print(transport.render_alert(sample_alert()))
    lines = [line.strip("│ ") for line in stream.getvalue().splitlines()]
    assert IMAGE in lines


# -- end to end against the platform fakes ----------------------------------------------------


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(poll_timeout_cap=0.2, bot_username="newsbot_test_bot") as fake:
        yield fake


def alerts_to(tg: FakeTelegram, chat_id: int) -> list[Call]:
    return [c for c in tg.sent_messages(chat_id) if "matched:" in str(c.params.get("text"))]


async def subscribe(tg: FakeTelegram, chat_id: int, command: str) -> None:
    tg.push_message(chat_id, command)
    await tg.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.ok
            and c.params.get("chat_id") == chat_id
            and ("Subscribed" in str(c.params.get("text")) or "Saved" in str(c.params.get("text")))
        ),
        10,
    )
    tg.clear_calls()


async def poll_feed(bot: NewsBot, server: FeedServer, path: str, body: bytes) -> None:
    assert bot.core is not None
    server.route(path, body=body)
    source, _ = await bot.core.db.call(add_source, server.url(path), name=path.strip("/"))
    outcome = await bot.core.services.poll_source(source)
    assert outcome.report is not None and outcome.report.new


async def test_telegram_alert_shows_the_image_and_respects_the_setting(
    tmp_path: Path, tg: FakeTelegram
) -> None:
    async with running_telegram_bot(tmp_path, tg.api_url) as bot:
        assert bot.worker is not None and bot.core is not None
        await subscribe(tg, 42, "/subscribe tram")
        await subscribe(tg, 43, "/subscribe tram")
        await subscribe(tg, 43, "/settings images off")
        with FeedServer() as server:
            await poll_feed(bot, server, "/feed.xml", FEEDS["media:content"][0])
        report = await bot.worker.drain()
        assert report.sent == 2, report
        [with_image] = alerts_to(tg, 42)
        assert with_image.params["link_preview_options"] == {
            "url": IMAGE,
            "prefer_large_media": True,
            "show_above_text": True,
        }
        assert with_image.params["reply_markup"]["inline_keyboard"]  # buttons kept
        [without] = alerts_to(tg, 43)
        assert without.params["link_preview_options"]["url"] == ARTICLE
        assert "prefer_large_media" not in without.params["link_preview_options"]
        assert bot.core.metrics.images_refused.labels("telegram")._value.get() == 0


@pytest.mark.parametrize(
    "error",
    [
        "Bad Request: WEBPAGE_MEDIA_EMPTY",
        "Bad Request: wrong file identifier/HTTP URL specified",
        "Bad Request: failed to get HTTP URL content",
        "Bad Request: wrong type of the web page content",
    ],
)
async def test_telegram_refused_image_still_delivers_once(
    tmp_path: Path, tg: FakeTelegram, error: str
) -> None:
    tg.refuse_image(IMAGE, error)
    async with running_telegram_bot(tmp_path, tg.api_url) as bot:
        assert bot.worker is not None and bot.core is not None
        await subscribe(tg, 42, "/subscribe tram")
        with FeedServer() as server:
            await poll_feed(bot, server, "/feed.xml", FEEDS["rss enclosure"][0])
        report = await bot.worker.drain()
        assert report.sent == 1 and report.dead == 0, report
        attempts = [
            c for c in tg.calls if c.method == "sendMessage" and "matched:" in str(c.params["text"])
        ]
        assert [c.ok for c in attempts] == [False, True]  # refused once, then sent without it
        assert attempts[0].params["link_preview_options"]["url"] == IMAGE
        assert attempts[1].params["link_preview_options"]["url"] == ARTICLE
        assert len(alerts_to(tg, 42)) == 1
        assert bot.core.metrics.images_refused.labels("telegram")._value.get() == 1
        assert (await bot.worker.drain()).sent == 0


async def test_telegram_edit_on_cluster_growth_keeps_the_image(
    tmp_path: Path, tg: FakeTelegram
) -> None:
    async with running_telegram_bot(tmp_path, tg.api_url) as bot:
        assert bot.worker is not None and bot.core is not None
        await subscribe(tg, 42, "/subscribe tram")
        with FeedServer() as server:
            await poll_feed(bot, server, "/one.xml", FEEDS["rss enclosure"][0])
            assert (await bot.worker.drain()).sent == 1
            # The same story from a second outlet joins the cluster; the alert is edited.
            tg.refuse_image(IMAGE)  # and this time the image is refused on the edit
            second = FEEDS["media:thumbnail"][0].replace(b"Local Wire", b"Other Wire")
            second = second.replace(b"local.example/tram", b"other.example/tram")
            second = second.replace(b"three years", b"three years, officials said")
            await poll_feed(bot, server, "/two.xml", second)
        await bot.worker.drain()
        edits = [c for c in tg.calls if c.method == "editMessageText"]
        assert edits, [c.method for c in tg.calls]
        assert [c.ok for c in edits] == [False, True]
        assert edits[1].params["link_preview_options"]["url"] == ARTICLE
        assert edits[1].params["reply_markup"]["inline_keyboard"]
        assert bot.core.metrics.images_refused.labels("telegram")._value.get() == 1


@pytest.mark.parametrize("refused", [False, True])
async def test_slack_image_block_and_refused_image(tmp_path: Path, refused: bool) -> None:
    with FakeSlack() as slack:
        slack.set_channel("C1", name="news")
        if refused:
            slack.refuse_image(IMAGE)
        settings = make_settings(
            tmp_path,
            slack_bot_token="xoxb-test",
            slack_signing_secret="secret",
            slack_api_url=slack.base_url,
        )
        async with running_newsbot(settings) as bot:
            assert bot.worker is not None and bot.core is not None
            db = bot.core.db
            chat = await db.call(chat_store.ensure_chat, "slack", "C1", kind="group")
            await db.call(
                sub_store.add_subscription, chat.id, kind="query", query="tram", canonical="tram"
            )
            with FeedServer() as server:
                await poll_feed(bot, server, "/feed.xml", FEEDS["json feed image"][0])
            report = await bot.worker.drain()
            assert report.sent == 1 and report.dead == 0, report
            posts = [c for c in slack.calls if c.method == "chat.postMessage"]
            delivered = [c for c in posts if c.ok]
            assert len(delivered) == 1
            images = [b for b in delivered[0].params["blocks"] if b["type"] == "image"]
            counted = bot.core.metrics.images_refused.labels("slack")._value.get()
            if refused:
                assert [c.ok for c in posts] == [False, True]
                assert posts[0].response["error"] == "invalid_blocks"
                assert images == [] and counted == 1
            else:
                assert images and images[0]["image_url"] == IMAGE
                assert images[0]["alt_text"] == "Council approves new tram line"
                assert counted == 0
