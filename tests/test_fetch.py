"""The fetcher against a real local HTTP server (tests/fakes/feed_server.py)."""

from __future__ import annotations

import asyncio
import gzip
import random
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpcore
import httpx
import pytest

from bot.pipeline.fetch import (
    USER_AGENT,
    Fetcher,
    FetchError,
    PublicPeersOnly,
    SourceState,
    build_http_client,
)
from tests.fakes.feed_server import FeedServer

STORY = " ".join(["A long paragraph about the harbour ferry timetable changes."] * 8)
RSS = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Harbour News</title><link>https://harbour.example/</link>
<item><title>Ferry timetable changes</title><link>https://harbour.example/ferry</link>
<guid>ferry-1</guid><description>{STORY}</description></item>
</channel></rss>""".encode()
LAST_MODIFIED = "Wed, 01 May 2024 10:00:00 GMT"
FIXED_NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(timeout=5.0) as http:
        yield http


def make_fetcher(client: httpx.AsyncClient, **options: Any) -> Fetcher:
    options.setdefault("allow_private", True)  # the test server is on 127.0.0.1
    options.setdefault("rng", random.Random(7))
    options.setdefault("now", lambda: FIXED_NOW)
    return Fetcher(client, **options)


def test_user_agent_names_the_bot_and_its_version() -> None:
    name, _, rest = USER_AGENT.partition("/")
    version = rest.split(" ", 1)[0]
    assert name == "newsbot"
    assert version.count(".") >= 2
    assert USER_AGENT.endswith("(+https://github.com/newsbot/newsbot)")


async def test_ok_fetch_parses_and_keeps_validators(server: FeedServer, client) -> None:
    server.route("/feed.xml", body=RSS, etag='"v1"', last_modified=LAST_MODIFIED)
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/feed.xml")))
    assert result.status == "ok", result.error
    assert result.http_status == 200
    assert result.feed is not None and result.feed.items[0].title == "Ferry timetable changes"
    assert (result.etag, result.last_modified) == ('"v1"', LAST_MODIFIED)
    assert result.final_url == server.url("/feed.xml")
    assert result.permanent_redirect_url is None
    assert result.next_check_seconds == 15 * 60
    assert result.elapsed_s > 0
    (request,) = server.requests
    assert request.headers["user-agent"] == USER_AGENT
    assert "application/rss+xml" in request.headers["accept"]
    assert "if-none-match" not in request.headers


async def test_conditional_get_answers_not_modified(server: FeedServer, client) -> None:
    server.route("/feed.xml", body=RSS, etag='"v1"', last_modified=LAST_MODIFIED)
    fetcher = make_fetcher(client)
    state = SourceState(url=server.url("/feed.xml"))
    state.apply(await fetcher.fetch(state))
    result = await fetcher.fetch(state)
    assert result.status == "not_modified"
    assert result.http_status == 304
    assert result.feed is None
    assert (result.etag, result.last_modified) == ('"v1"', LAST_MODIFIED)
    second = server.requests[1]
    assert second.headers["if-none-match"] == '"v1"'
    assert second.headers["if-modified-since"] == LAST_MODIFIED


async def test_last_modified_alone_is_enough(server: FeedServer, client) -> None:
    server.route("/feed.xml", body=RSS, last_modified=LAST_MODIFIED)
    state = SourceState(url=server.url("/feed.xml"), last_modified=LAST_MODIFIED)
    result = await make_fetcher(client).fetch(state)
    assert result.status == "not_modified"
    assert result.last_modified == LAST_MODIFIED
    for _ in range(100):  # the server records a request just after answering it
        if server.requests:
            break
        await asyncio.sleep(0.01)
    assert "if-none-match" not in server.requests[0].headers


async def test_changed_etag_gets_the_new_body(server: FeedServer, client) -> None:
    server.route("/feed.xml", body=RSS, etag='"v2"')
    state = SourceState(url=server.url("/feed.xml"), etag='"v1"')
    result = await make_fetcher(client).fetch(state)
    assert result.status == "ok"
    assert result.etag == '"v2"'


async def test_retry_after_seconds_on_429(server: FeedServer, client) -> None:
    server.route("/feed.xml", status=429, headers={"Retry-After": "7200"})
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/feed.xml")))
    assert result.status == "error"
    assert result.error == "HTTP 429 Too Many Requests (retry after 7200 s)"
    assert result.next_check_seconds == 7200


async def test_retry_after_http_date_on_503(server: FeedServer, client) -> None:
    later = format_datetime(FIXED_NOW + timedelta(hours=3), usegmt=True)
    server.route("/feed.xml", status=503, headers={"Retry-After": later})
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/feed.xml")))
    assert result.http_status == 503
    assert result.next_check_seconds == 3 * 3600


async def test_retry_after_is_capped(server: FeedServer, client) -> None:
    server.route("/feed.xml", status=429, headers={"Retry-After": str(30 * 24 * 3600)})
    fetcher = make_fetcher(client, max_interval_s=6 * 3600)
    result = await fetcher.fetch(SourceState(url=server.url("/feed.xml")))
    assert result.next_check_seconds == 6 * 3600


@pytest.mark.parametrize(
    ("cache_control", "interval_minutes", "expected"),
    [
        ("public, max-age=7200", 15, 7200),  # the server asks for less frequent polling
        ("max-age=10", 15, 900),  # never more often than configured
        ("max-age=999999999", 15, 24 * 3600),  # capped
        ("no-cache", 0, 60),  # floor
    ],
)
async def test_cache_control_max_age_within_bounds(
    server: FeedServer, client, cache_control: str, interval_minutes: int, expected: float
) -> None:
    server.route("/feed.xml", body=RSS, headers={"Cache-Control": cache_control})
    state = SourceState(url=server.url("/feed.xml"), interval_minutes=interval_minutes)
    result = await make_fetcher(client).fetch(state)
    assert result.status == "ok"
    assert result.next_check_seconds == expected


async def test_rss_ttl_stretches_the_interval(server: FeedServer, client) -> None:
    server.route("/feed.xml", body=RSS.replace(b"<title>Harbour", b"<ttl>120</ttl><title>Harbour"))
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/feed.xml")))
    assert result.feed is not None and result.feed.ttl_minutes == 120
    assert result.next_check_seconds == 7200


@pytest.mark.parametrize("status", [301, 308])
async def test_permanent_redirect_updates_the_url(server: FeedServer, client, status: int) -> None:
    server.redirect("/old.xml", "/new.xml", status=status)
    server.route("/new.xml", body=RSS)
    state = SourceState(url=server.url("/old.xml"))
    result = await make_fetcher(client).fetch(state)
    assert result.status == "ok"
    assert result.final_url == server.url("/new.xml")
    assert result.permanent_redirect_url == server.url("/new.xml")
    state.apply(result)
    assert state.url == server.url("/new.xml")


@pytest.mark.parametrize("status", [302, 307])
async def test_temporary_redirect_keeps_the_url(server: FeedServer, client, status: int) -> None:
    server.redirect("/feed.xml", "/today.xml", status=status)
    server.route("/today.xml", body=RSS)
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/feed.xml")))
    assert result.status == "ok"
    assert result.final_url == server.url("/today.xml")
    assert result.permanent_redirect_url is None


async def test_permanent_then_temporary_redirect_stores_the_permanent_hop(
    server: FeedServer, client
) -> None:
    server.redirect("/a.xml", "/b.xml", status=301)
    server.redirect("/b.xml", "/c.xml", status=302)
    server.route("/c.xml", body=RSS)
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/a.xml")))
    assert result.final_url == server.url("/c.xml")
    assert result.permanent_redirect_url == server.url("/b.xml")


async def test_redirect_loop(server: FeedServer, client) -> None:
    server.redirect("/a.xml", "/b.xml", status=302)
    server.redirect("/b.xml", "/a.xml", status=302)
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/a.xml")))
    assert (result.status, result.error) == ("error", "redirect loop")
    assert len(server.requests) == 2


async def test_too_many_redirects(server: FeedServer, client) -> None:
    for hop in range(5):
        server.redirect(f"/{hop}", f"/{hop + 1}", status=302)
    server.route("/5", body=RSS)
    fetcher = make_fetcher(client, max_redirects=3)
    result = await fetcher.fetch(SourceState(url=server.url("/0")))
    assert result.error == "too many redirects (more than 3)"
    assert len(server.requests) == 4


async def test_private_address_refused_by_default(server: FeedServer, client) -> None:
    server.route("/feed.xml", body=RSS)
    fetcher = Fetcher(client)
    result = await fetcher.fetch(SourceState(url=server.url("/feed.xml")))
    assert result.status == "error"
    assert result.error is not None
    assert result.error.startswith("refused: 127.0.0.1 is a private address")
    assert server.requests == []  # refused before connecting
    with pytest.raises(FetchError, match=r"refused: 127\.0\.0\.1"):
        await fetcher.fetch_page(server.url("/feed.xml"))


async def test_redirect_to_a_private_address_is_refused_on_that_hop() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/"})

    transport = httpx.MockTransport(answer)
    async with build_http_client(transport=transport) as http:
        result = await Fetcher(http).fetch(SourceState(url="http://93.184.216.34/feed"))
    assert result.error == "refused: 169.254.169.254 is a cloud metadata address"
    assert seen == ["http://93.184.216.34/feed"]


async def _rebinding_resolver(host: str, port: int) -> list[str]:
    """A DNS server that tells the pre-request check a public address (the rebinding trick)."""
    return ["93.184.216.34"]


@pytest.mark.parametrize("public_only", [True, False])
async def test_dns_rebinding_is_refused_at_connect_time(
    server: FeedServer, public_only: bool
) -> None:
    """The check before the request is told "public", the connection reaches 127.0.0.1.

    With ``public_only`` the client refuses the connection before sending anything; without it
    (the control) the same fetch gets through, which shows the test can fail.
    """
    server.route("/feed.xml", body=RSS)
    url = server.url("/feed.xml").replace("127.0.0.1", "localhost")
    async with build_http_client(timeout=5.0, public_only=public_only) as http:
        fetcher = Fetcher(http, resolve=_rebinding_resolver, rng=random.Random(7))
        result = await fetcher.fetch(SourceState(url=url))
    if public_only:
        assert result.status == "error"
        assert result.error is not None
        assert "refused: 127.0.0.1 is a private address (loopback)" in result.error
        assert server.requests == []
    else:
        assert result.status == "ok", result.error
        assert len(server.requests) == 1


async def test_public_only_client_still_reaches_a_public_peer() -> None:
    """The guard passes public peers: a fake inner backend stands in for the internet."""

    class _Stream(httpcore.AsyncNetworkStream):
        def __init__(self) -> None:
            self.closed = False

        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return b""

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            return None

        async def aclose(self) -> None:
            self.closed = True

        def get_extra_info(self, info: str) -> Any:
            return ("93.184.216.34", 80) if info == "server_addr" else None

    class _Internet(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host: str, port: int, **options: Any) -> _Stream:
            return _Stream()

    stream = await PublicPeersOnly(_Internet()).connect_tcp("news.example", 80)
    assert isinstance(stream, _Stream) and not stream.closed
    with pytest.raises(httpcore.ConnectError, match="Unix sockets"):
        await PublicPeersOnly(_Internet()).connect_unix_socket("/run/docker.sock")


async def test_slow_trickle_is_bounded_by_the_total_deadline(server: FeedServer, client) -> None:
    server.route("/slow.xml", body=RSS, trickle_chunk=8, trickle_interval_s=0.05)
    fetcher = make_fetcher(client, total_timeout=0.5)
    started = time.monotonic()
    result = await fetcher.fetch(SourceState(url=server.url("/slow.xml")))
    assert result.error == "timed out after 0.5 s"
    assert time.monotonic() - started < 2.0  # the whole body would take ~4 s


async def test_server_that_never_answers_hits_the_read_timeout(server: FeedServer) -> None:
    server.route("/stuck.xml", body=RSS, delay_s=3.0)
    async with build_http_client(timeout=0.3) as http:
        result = await make_fetcher(http).fetch(SourceState(url=server.url("/stuck.xml")))
    assert result.error == "timed out waiting for the server"


async def test_connection_refused_is_reported(client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await make_fetcher(client).fetch(SourceState(url=f"http://127.0.0.1:{port}/"))
    assert result.error is not None and result.error.startswith("connection failed")


@pytest.mark.parametrize(
    "options",
    [
        {"send_length": True},  # refused from Content-Length before reading
        {"send_length": False},  # counted while streaming
        {"endless": True},
    ],
)
async def test_oversized_bodies_are_cut_off(server: FeedServer, client, options) -> None:
    server.route("/big.xml", body=bytes(300_000), **options)
    fetcher = make_fetcher(client, max_bytes=100_000)
    result = await fetcher.fetch(SourceState(url=server.url("/big.xml")))
    assert result.error == "response larger than 100,000 bytes"


async def test_gzip_bomb_is_bounded_in_memory(server: FeedServer, client) -> None:
    server.gzip_bomb("/bomb.xml", decompressed_size=32 * 1024 * 1024)
    fetcher = make_fetcher(client, max_bytes=1_000_000)
    tracemalloc.start()
    try:
        result = await fetcher.fetch(SourceState(url=server.url("/bomb.xml")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error == "response larger than 1,000,000 bytes"
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes while reading a 32 MiB bomb"


async def test_doubled_gzip_encoding_is_bounded_in_memory(server: FeedServer, client) -> None:
    """``Content-Encoding: gzip, gzip``: each layer is inflated in bounded steps and the cap
    applies to the fully decoded body (httpx's own decoder would inflate 64 MiB at once)."""
    server.double_gzip_bomb("/double.xml", decompressed_size=64 * 1024 * 1024)
    assert len(server.lookup("/double.xml").body) < 4_000  # type: ignore[union-attr]
    fetcher = make_fetcher(client, max_bytes=1_000_000)
    tracemalloc.start()
    try:
        result = await fetcher.fetch(SourceState(url=server.url("/double.xml")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "error"
    assert result.error == "response larger than 1,000,000 bytes"
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes while reading a doubled gzip bomb"


async def test_doubled_gzip_feed_within_the_cap_is_decoded(server: FeedServer, client) -> None:
    server.route(
        "/twice.xml",
        body=gzip.compress(gzip.compress(RSS)),
        headers={"Content-Encoding": "gzip, gzip"},
    )
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/twice.xml")))
    assert result.status == "ok" and result.feed is not None and len(result.feed.items) == 1


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("br", "unsupported content encoding 'br'"),
        ("gzip, gzip, gzip", "3 stacked content encodings"),
        ("gzip, compress", "unsupported content encoding 'compress'"),
    ],
)
async def test_unbounded_or_stacked_encodings_are_refused(
    server: FeedServer, client, encoding: str, message: str
) -> None:
    server.route("/enc.xml", body=gzip.compress(RSS), headers={"Content-Encoding": encoding})
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/enc.xml")))
    assert result.status == "error" and message in (result.error or "")
    assert result.consecutive_errors == 1 and result.next_check_seconds > 0


async def test_gzip_encoded_feed_is_decoded(server: FeedServer, client) -> None:
    server.route("/feed.xml", body=RSS, gzip=True)
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/feed.xml")))
    assert result.status == "ok"
    assert result.feed is not None and len(result.feed.items) == 1


async def test_wrong_content_type_is_tolerated(server: FeedServer, client) -> None:
    server.route("/feed", body=RSS, content_type="text/html; charset=utf-8")
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/feed")))
    assert result.status == "ok"


async def test_html_page_is_an_error_listing_its_feeds(server: FeedServer, client) -> None:
    page = b'<html><head><link rel="alternate" type="application/atom+xml" href="/atom"></head>'
    server.route("/", body=page, content_type="text/html")
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/")))
    assert result.status == "error"
    assert result.error is not None and result.error.startswith("not a feed: looks like an HTML")
    assert result.feed is not None and result.feed.feed_links == [server.url("/atom")]


async def test_http_error_status(server: FeedServer, client) -> None:
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/missing")))
    assert (result.status, result.http_status, result.error) == ("error", 404, "HTTP 404 Not Found")
    assert result.consecutive_errors == 1
    assert not result.should_pause


async def test_gone_pauses_at_once(server: FeedServer, client) -> None:
    server.route("/feed.xml", status=410)
    result = await make_fetcher(client).fetch(SourceState(url=server.url("/feed.xml")))
    assert result.should_pause
    assert result.error is not None and result.error.startswith("HTTP 410 Gone; paused")


async def test_backoff_grows_then_pauses_and_success_resets(server: FeedServer, client) -> None:
    server.route("/feed.xml", status=500)
    fetcher = make_fetcher(client, pause_after_errors=4, max_interval_s=10**9)
    state = SourceState(url=server.url("/feed.xml"), interval_minutes=10)
    waits = []
    results = []
    for _ in range(4):
        result = await fetcher.fetch(state)
        state.apply(result)
        waits.append(result.next_check_seconds)
        results.append(result)
    for errors, wait in enumerate(waits, start=1):
        base = 600 * 2**errors
        assert base <= wait <= base * 1.1  # at most 10 % jitter
    assert [result.should_pause for result in results] == [False, False, False, True]
    assert results[-1].error == "HTTP 500 Internal Server Error; paused after 4 consecutive errors"
    assert state.consecutive_errors == 4

    server.route("/feed.xml", body=RSS)
    recovered = await fetcher.fetch(state)
    state.apply(recovered)
    assert recovered.status == "ok"
    assert state.consecutive_errors == 0


async def test_backoff_is_capped(server: FeedServer, client) -> None:
    server.route("/feed.xml", status=500)
    fetcher = make_fetcher(client, max_interval_s=3600, pause_after_errors=1000)
    state = SourceState(url=server.url("/feed.xml"), consecutive_errors=200)
    result = await fetcher.fetch(state)
    assert result.next_check_seconds == 3600
    assert result.consecutive_errors == 201


async def test_one_request_at_a_time_per_host(server: FeedServer, client) -> None:
    for number in range(4):
        server.route(f"/feed{number}.xml", body=RSS, delay_s=0.15)
    fetcher = make_fetcher(client)
    states = [SourceState(url=server.url(f"/feed{number}.xml")) for number in range(4)]
    results = await asyncio.gather(*(fetcher.fetch(state) for state in states))
    assert all(result.status == "ok" for result in results)
    assert len(server.requests) == 4
    assert server.max_concurrent == 1


async def test_different_hosts_are_fetched_in_parallel(client) -> None:
    with FeedServer() as first, FeedServer() as second:
        for running in (first, second):
            running.route("/feed.xml", body=RSS, delay_s=0.4)
        fetcher = make_fetcher(client)
        await asyncio.gather(
            fetcher.fetch(SourceState(url=first.url("/feed.xml"))),
            fetcher.fetch(SourceState(url=second.url("/feed.xml"))),
        )
        (one,), (two,) = first.requests, second.requests
    assert one.started < two.finished and two.started < one.finished  # the requests overlapped


async def test_fetch_page_follows_redirects(server: FeedServer, client) -> None:
    server.redirect("/story", "/story/", status=301)
    server.route("/story/", body=b"<html><body>hi</body></html>", content_type="text/html")
    final_url, body, content_type = await make_fetcher(client).fetch_page(server.url("/story"))
    assert final_url == server.url("/story/")
    assert body == b"<html><body>hi</body></html>"
    assert content_type == "text/html"
    assert server.requests[-1].headers["accept"].startswith("text/html")


async def test_fetch_page_raises_with_a_clear_message(server: FeedServer, client) -> None:
    fetcher = make_fetcher(client, max_bytes=1000)
    with pytest.raises(FetchError, match="HTTP 404 Not Found"):
        await fetcher.fetch_page(server.url("/nope"))
    server.route("/huge", body=bytes(5000), content_type="text/html")
    with pytest.raises(FetchError, match="response larger than 1,000 bytes"):
        await fetcher.fetch_page(server.url("/huge"))
