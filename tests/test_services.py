"""Services over real parts: a local feed server, a real inbox folder, the real HTTP server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import build_core
from bot.pipeline.fetch import Fetcher
from bot.web import WebServer
from storage import sources
from tests.fakes.feed_server import FeedServer
from tests.helpers import make_settings

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Local Wire</title>
<item><title>Council approves new tram line</title><link>https://local.example/tram</link>
<description>The city council approved a new tram line linking the station to the university,
with construction starting next spring and services expected in three years.</description></item>
<item><title>Library extends opening hours</title><link>https://local.example/library</link>
<description>The central library will open until ten in the evening from next month after a
survey found students wanted more late study space.</description></item>
</channel></rss>"""


async def test_poll_stores_stories_then_uses_conditional_get(tmp_path: Path) -> None:
    core = await build_core(make_settings(tmp_path))
    try:
        with FeedServer() as server:
            server.route("/feed.xml", body=RSS, etag='"v1"')
            source, _ = await core.db.call(
                sources.add_source, server.url("/feed.xml"), name="Local Wire"
            )
            first = await core.services.poll_source(source)
            assert first.status == "ok" and len(first.report.new) == 2
            source = await core.db.call(sources.get_source, source.id)
            assert source.etag == '"v1"' and source.last_success_at is not None
            second = await core.services.poll_source(source)
            assert second.status == "not_modified"
            assert server.requests_for("/feed.xml")[-1].headers["if-none-match"] == '"v1"'
    finally:
        await core.close()


async def test_broken_feed_pauses_itself_with_the_reason(tmp_path: Path) -> None:
    core = await build_core(make_settings(tmp_path))
    core.services.fetcher = Fetcher(core.http, allow_private=True, pause_after_errors=3)
    try:
        with FeedServer() as server:
            server.route("/broken.xml", status=500, body=b"oops")
            source, _ = await core.db.call(
                sources.add_source, server.url("/broken.xml"), name="Broken"
            )
            for _ in range(3):
                source = await core.db.call(sources.get_source, source.id)
                outcome = await core.services.poll_source(source)
                assert outcome.status == "error"
            source = await core.db.call(sources.get_source, source.id)
            assert source.state == "error"
            assert "3 consecutive errors" in (source.state_reason or "")
            assert "500" in (source.last_error or "")
    finally:
        await core.close()


async def test_inbox_files_move_to_done_or_failed_with_a_reason(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.inbox.mkdir()
    (settings.inbox / "wire.txt").write_text(
        "FLOODS: Heavy rain flooded the lower town on Sunday, closing roads and the railway.\n"
        "Photo: Staff\n"
        "Crews pumped the flood water from basements in the lower town through the night.\n\n"
        "Markets rose on Monday as energy prices fell for a third week.\n",
        encoding="utf-8",
    )
    (settings.inbox / "notes.xml").write_text("<html><body>not a feed</body></html>")
    (settings.inbox / "stories.jsonl").write_text(
        json.dumps({"title": "Bridge reopens", "text": "The old bridge reopened after repairs."})
        + "\n{broken json\n",
        encoding="utf-8",
    )
    core = await build_core(settings)
    try:
        outcomes = {
            o.name.rsplit("/", 1)[-1]: o for o in await core.services.scan_inbox(settle_seconds=0)
        }
        assert len(outcomes["wire.txt"].report.new) == 2
        assert len(outcomes["stories.jsonl"].report.new) == 1
        assert len(outcomes["stories.jsonl"].warnings) == 1
        assert "line 2" in outcomes["stories.jsonl"].warnings[0]
        assert outcomes["notes.xml"].error
        done = sorted(p.name for p in (settings.inbox / "done").iterdir())
        failed = sorted(p.name for p in (settings.inbox / "failed").iterdir())
        assert len(done) == 2 and any(n.endswith("wire.txt") for n in done)
        assert any(n.endswith("notes.xml") for n in failed)
        reason = next(
            p for p in (settings.inbox / "failed").iterdir() if p.name.endswith(".reason.txt")
        )
        assert reason.read_text().strip()
        assert not [
            p for p in settings.inbox.iterdir() if p.is_file()
        ]  # nothing left, nothing deleted
        # The photo credit never reaches the story text.
        rows = await core.db.call(lambda db: [r["text"] for r in db["stories"].rows])
        assert not any("Photo: Staff" in text for text in rows)
    finally:
        await core.close()


@pytest.fixture
async def web(tmp_path: Path):  # type: ignore[no-untyped-def]
    core = await build_core(make_settings(tmp_path, ingest_token="s3cret-token"))
    alive = {"scheduler": True}
    server = WebServer(core.services, core.metrics, scheduler_alive=lambda: alive["scheduler"])
    port = await server.start("127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield client, alive
    await server.stop()
    await core.close()


async def test_ingest_endpoint_needs_the_token(web) -> None:  # type: ignore[no-untyped-def]
    client, _ = web
    story = {"title": "Solar farm opens", "text": "A solar farm opened in the valley on Tuesday."}
    assert (await client.post("/ingest", json=story)).status_code == 401
    wrong = await client.post("/ingest", json=story, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    headers = {"Authorization": "Bearer s3cret-token"}
    ok = await client.post("/ingest", json=[story, {"text": 5}], headers=headers)
    assert ok.status_code == 201
    body = ok.json()
    assert len(body["ids"]) == 1 and body["errors"] == ["item 1: 'text' must be a string"]
    again = await client.post("/ingest", json=story, headers=headers)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    bad = await client.post("/ingest", content=b"{nope", headers=headers)
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]


async def test_ingest_endpoint_refuses_input_that_is_not_text(web) -> None:  # type: ignore[no-untyped-def]
    client, _ = web
    headers = {"Authorization": "Bearer s3cret-token"}
    binary = Path(sys.executable).resolve().read_bytes()[:3000]
    raw = await client.post("/ingest", content=binary, headers=headers)
    assert raw.status_code == 400
    controls = "".join(chr(c) for c in (1, 2, 3, 4, 5, 6, 7, 8, 27, 127)) * 30
    story = {"title": "Looks fine", "text": controls + " a few words"}
    answer = await client.post("/ingest", json=story, headers=headers)
    assert answer.status_code == 400
    assert "not text" in answer.json()["errors"][0]


async def test_healthz_and_metrics(web) -> None:  # type: ignore[no-untyped-def]
    client, alive = web
    assert (await client.get("/healthz")).status_code == 200
    alive["scheduler"] = False
    assert (await client.get("/healthz")).status_code == 503
    metrics = (await client.get("/metrics")).text
    names = {family.name for family in text_string_to_metric_families(metrics)}
    assert {"newsbot_stories_ingested", "newsbot_alerts_sent", "newsbot_queue_depth"} <= names


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda s: s.route("/f", endless=True, send_length=False), "larger than"),
        (lambda s: s.gzip_bomb("/f", 50_000_000), "larger than"),
        (lambda s: s.double_gzip_bomb("/f", 50_000_000), "larger than"),
        (lambda s: (s.redirect("/f", "/g"), s.redirect("/g", "/f")), "redirect"),
        (
            lambda s: s.route(
                "/f", body=b"<html><body>hello</body></html>", content_type="text/html"
            ),
            "not a feed",
        ),
    ],
    ids=["endless", "gzip-bomb", "double-gzip-bomb", "redirect-loop", "html-page"],
)
async def test_hostile_responses_are_bounded_and_the_source_records_why(
    tmp_path: Path, setup, reason: str
) -> None:  # type: ignore[no-untyped-def]
    core = await build_core(make_settings(tmp_path))
    core.services.fetcher = Fetcher(core.http, allow_private=True, max_bytes=1_000_000)
    try:
        with FeedServer() as server:
            setup(server)
            source, _ = await core.db.call(sources.add_source, server.url("/f"), name="Hostile")
            outcome = await core.services.poll_source(source)
            assert outcome.status == "error"
            stored = await core.db.call(sources.get_source, source.id)
            assert reason in (stored.last_error or ""), stored.last_error
    finally:
        await core.close()


async def test_any_poll_failure_is_recorded_so_backoff_and_pause_apply(tmp_path: Path) -> None:
    """A failure that is no network error (here the HTTP layer running out of memory) used to
    escape the poll unrecorded, so the source was fetched again every interval forever."""

    def out_of_memory(request: httpx.Request) -> httpx.Response:
        raise MemoryError("no room for the response")

    core = await build_core(make_settings(tmp_path))
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(out_of_memory)) as http:
            core.services.fetcher = Fetcher(http, allow_private=True, pause_after_errors=2)
            source, _ = await core.db.call(
                sources.add_source, "http://127.0.0.1:9/feed.xml", name="Greedy"
            )
            for expected_errors in (1, 2):
                source = await core.db.call(sources.get_source, source.id)
                outcome = await core.services.poll_source(source)
                assert outcome.status == "error" and "MemoryError" in (outcome.error or "")
                stored = await core.db.call(sources.get_source, source.id)
                assert stored.consecutive_errors == expected_errors
                assert "MemoryError" in (stored.last_error or "")
            assert stored.state == "error"  # paused after 2 consecutive errors
    finally:
        await core.close()
