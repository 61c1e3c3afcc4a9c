"""Slack for several workspaces, end to end: the real bot in HTTP mode with bolt's OAuth install
flow, its installation and state stores in a real SQLite file, and bolt's client talking to
``FakeSlack``, which plays Slack's consent page and ``oauth.v2.access``.

An install is what a browser does: open ``/slack/install`` (a page with the "Add to Slack"
link, and the flow's state in a cookie), follow the link to Slack's consent page, which
redirects back to ``/slack/oauth_redirect?code=...&state=...``, sending the cookie along.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from bot.app import NewsBot
from bot.settings import Settings, SettingsError, load_settings
from bot.startup import StartupError
from bot.transports.slack import check_oauth_settings
from storage import chats as chat_store
from storage import slack_installs
from storage.db import open_database, utcnow
from storage.engine import Store
from tests.fakes.slack_api import Call, FakeSlack
from tests.helpers import make_settings
from tests.test_slack_e2e import QUAKE_TEXT, SECRET, sign

pytestmark = pytest.mark.timeout(120)

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "client-secret-0123456789"
ALPHA, BETA = "TALPHA1", "TBETA02"
COOKIE = "slack-app-oauth-state"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.oauth_app(CLIENT_ID, CLIENT_SECRET)
        fake.add_workspace(ALPHA, "Alpha News")
        fake.add_workspace(BETA, "Beta <Desk>")
        yield fake


def oauth_settings(tmp_path: Path, slack: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_client_id": CLIENT_ID,
        "slack_client_secret": CLIENT_SECRET,
        "slack_signing_secret": SECRET,
        "slack_api_url": slack.base_url,
        "slack_authorize_url": slack.authorize_url,
        **overrides,
    }
    return make_settings(tmp_path, **values)


async def started(settings: Settings, slack: FakeSlack) -> NewsBot:
    newsbot = NewsBot(settings)
    await newsbot.start()
    assert newsbot.web is not None
    # The app's Redirect URL, as configured on the app's OAuth & Permissions page.
    slack.oauth_redirect_url = f"http://127.0.0.1:{newsbot.web.port}/slack/oauth_redirect"
    return newsbot


@pytest.fixture
async def bot(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[NewsBot]:
    newsbot = await started(oauth_settings(tmp_path, slack), slack)
    try:
        yield newsbot
    finally:
        await newsbot.stop()


def base(newsbot: NewsBot) -> str:
    assert newsbot.web is not None
    return f"http://127.0.0.1:{newsbot.web.port}"


async def open_install_page(newsbot: NewsBot, team: str) -> tuple[str, str]:
    """``/slack/install``: the consent page's URL from the "Add to Slack" link, and the state
    cookie the page set."""
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(f"{base(newsbot)}/slack/install", params={"team": team})
    assert page.status_code == 200, page.text
    assert "Add to Slack" in page.text
    link = re.search(r'<a href="([^"]+)">', page.text)
    assert link is not None
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    state = cookie.split(";", 1)[0].split("=", 1)[1]
    return html.unescape(link.group(1)), state


async def consent(url: str) -> str:
    """Slack's consent page: approved (or refused), it redirects back to the app."""
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(url)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def come_back(url: str, state_cookie: str | None) -> httpx.Response:
    """The browser lands on the app's redirect URL, with the state cookie (the cookie is
    ``Secure``; a browser sends it to http://127.0.0.1 too, httpx would not, so it is set by
    hand)."""
    headers = {"Cookie": f"{COOKIE}={state_cookie}"} if state_cookie else {}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url, headers=headers)


async def install(newsbot: NewsBot, slack: FakeSlack, team: str) -> str:
    """The whole flow for ``team``; returns the bot token Slack issued to it."""
    url, state = await open_install_page(newsbot, team)
    parts = parse_qs(urlsplit(url).query)
    assert parts["client_id"] == [CLIENT_ID] and parts["state"] == [state]
    assert "chat:write" in parts["scope"][0].split(",")
    back = await come_back(await consent(url), state)
    assert back.status_code == 200, back.text
    assert "newsbot is installed" in back.text
    assert "deleted" in back.headers["set-cookie"]  # the state cookie has served its purpose
    return slack.workspace_tokens(team)[-1]


async def post_signed(newsbot: NewsBot, body: str, content_type: str) -> httpx.Response:
    stamp = int(time.time())
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": sign(body, stamp),
    }
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            f"{base(newsbot)}/slack/events", content=body.encode(), headers=headers
        )


async def event(newsbot: NewsBot, team: str, payload: dict[str, Any]) -> httpx.Response:
    body = {
        "token": "legacy",
        "team_id": team,
        "api_app_id": "A0FAKE",
        "type": "event_callback",
        "event_id": f"Ev{time.monotonic_ns()}",
        "event_time": int(time.time()),
        "event": payload,
    }
    return await post_signed(newsbot, json.dumps(body), "application/json")


async def mention(newsbot: NewsBot, team: str, channel: str, text: str) -> httpx.Response:
    """``@newsbot TEXT`` in ``channel`` of workspace ``team``."""
    payload = {"type": "app_mention", "user": "U1", "text": text, "channel": channel}
    return await event(newsbot, team, {**payload, "ts": f"{time.time():.6f}"})


async def slash(
    newsbot: NewsBot, slack: FakeSlack, team: str, channel: str, text: str, key: str
) -> httpx.Response:
    form = {
        "token": "legacy",
        "team_id": team,
        "channel_id": channel,
        "channel_name": channel.lower(),
        "user_id": "U1",
        "user_name": "u1",
        "command": "/news",
        "text": text,
        "response_url": slack.response_url(key),
        "trigger_id": "1.2.3",
        "api_app_id": "A0FAKE",
    }
    return await post_signed(newsbot, urlencode(form), "application/x-www-form-urlencoded")


def posts_to(slack: FakeSlack, channel: str) -> list[Call]:
    return [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == channel]


def alerts_to(slack: FakeSlack, channel: str) -> list[Call]:
    """Alerts posted to ``channel`` (an alert's buttons carry ``story:`` values; replies' not)."""
    return [c for c in posts_to(slack, channel) if '"story:' in json.dumps(c.params)]


async def bots(newsbot: NewsBot) -> dict[str, dict[str, Any] | None]:
    assert newsbot.core is not None
    db = newsbot.core.db
    return {team: await db.call(slack_installs.find_bot, CLIENT_ID, team) for team in (ALPHA, BETA)}


async def subscribe(newsbot: NewsBot, slack: FakeSlack, team: str, channel: str) -> None:
    key = f"sub-{team}"
    answer = await slash(newsbot, slack, team, channel, "subscribe earthquake", key)
    assert answer.status_code == 200
    call = await slack.wait_for(lambda c: c.path == f"/respond/{key}", 10)
    assert call.ok and "Subscribed" in json.dumps(call.params)


async def alert_everyone(newsbot: NewsBot, title: str, url: str) -> None:
    assert newsbot.core is not None and newsbot.worker is not None
    _, errors = await newsbot.core.services.ingest_payload(
        {"title": title, "text": QUAKE_TEXT, "url": url}
    )
    assert not errors


async def test_two_workspaces_install_and_each_is_served_with_its_own_token(
    slack: FakeSlack, bot: NewsBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    token_a = await install(bot, slack, ALPHA)
    token_b = await install(bot, slack, BETA)
    assert token_a != token_b

    # oauth.v2.access got the app's credentials (HTTP Basic) and one code each.
    exchanges = slack.calls_to("oauth.v2.access")
    assert len(exchanges) == 2 and all(c.ok for c in exchanges)
    assert all(c.headers["authorization"].startswith("Basic ") for c in exchanges)
    stored = await bots(bot)
    assert stored[ALPHA] is not None and stored[ALPHA]["bot_token"] == token_a
    assert stored[BETA] is not None and stored[BETA]["bot_token"] == token_b
    assert stored[BETA]["team_name"] == "Beta <Desk>"

    # A mention in each workspace is answered with that workspace's token.
    for team, channel, token in ((ALPHA, "CALPHA1", token_a), (BETA, "CBETA1", token_b)):
        answer = await mention(bot, team, channel, "<@UBOT> help")
        assert answer.status_code == 200
        reply = await slack.wait_for(
            lambda c, ch=channel: c.method == "chat.postMessage" and c.params["channel"] == ch, 10
        )
        assert reply.ok and reply.headers["authorization"] == f"Bearer {token}"
    # bolt checked each token once with auth.test, each with its own.
    checked = {c.token for c in slack.calls_to("auth.test")}
    assert {token_a, token_b} <= checked

    # Each workspace's channel becomes its own chat, named WORKSPACE:CHANNEL.
    await subscribe(bot, slack, ALPHA, "CALPHA1")
    await subscribe(bot, slack, BETA, "CBETA1")
    assert bot.core is not None
    for ref in (f"{ALPHA}:CALPHA1", f"{BETA}:CBETA1"):
        assert await bot.core.db.call(chat_store.find_chat, "slack", ref) is not None

    # An alert goes to each chat with the token of the chat's workspace, to the bare channel.
    await alert_everyone(bot, "Earthquake shakes the valley", "https://a.example/quake")
    assert bot.worker is not None
    report = await bot.worker.drain()
    assert report.sent == 2, report
    [to_alpha] = alerts_to(slack, "CALPHA1")
    [to_beta] = alerts_to(slack, "CBETA1")
    assert to_alpha.ok and to_alpha.token == token_a
    assert to_beta.ok and to_beta.token == token_b
    assert to_beta.headers["authorization"] == f"Bearer {token_b}"

    # No token and no client secret ever reached a log line.
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "event=slack_installed" in logged
    for secret in (token_a, token_b, CLIENT_SECRET):
        assert secret not in logged


async def test_uninstall_removes_the_workspace_and_its_chats_fall_silent(
    slack: FakeSlack, bot: NewsBot
) -> None:
    token_a = await install(bot, slack, ALPHA)
    token_b = await install(bot, slack, BETA)
    await subscribe(bot, slack, ALPHA, "CALPHA1")
    await subscribe(bot, slack, BETA, "CBETA1")

    slack.revoke_workspace(BETA)
    answer = await event(bot, BETA, {"type": "app_uninstalled"})
    assert answer.status_code == 200
    stored = await bots(bot)
    assert stored[BETA] is None and stored[ALPHA] is not None
    assert bot.core is not None
    assert await bot.core.db.call(slack_installs.find_installation, CLIENT_ID, BETA) is None

    # Beta's requests are no longer authorized: nothing is run or sent for them, and a person
    # typing a command there is told why.
    before = len(slack.calls)
    refused = await mention(bot, BETA, "CBETA1", "help")
    assert "not installed in this workspace" in refused.text
    assert (await slash(bot, slack, BETA, "CBETA1", "latest", "late")).status_code == 200
    told = await slack.wait_for(lambda c: c.path == "/respond/late", 10)
    assert "not installed in this workspace" in json.dumps(told.params)
    # Alpha is still served meanwhile.
    await mention(bot, ALPHA, "CALPHA1", "help")
    await slack.wait_for(lambda c: c.method == "chat.postMessage" and c.token == token_a, 10)
    assert not [
        c for c in slack.calls[before:] if c.method == "chat.postMessage" and c.token != token_a
    ]

    # An alert reaches Alpha; Beta's chat goes to sleep without a call made with its token.
    await alert_everyone(bot, "Earthquake shakes the valley", "https://a.example/quake")
    assert bot.worker is not None
    report = await bot.worker.drain()
    assert report.sent == 1, report
    assert [c.token for c in alerts_to(slack, "CALPHA1")] == [token_a]
    assert alerts_to(slack, "CBETA1") == []
    chat = await bot.core.db.call(chat_store.find_chat, "slack", f"{BETA}:CBETA1")
    assert chat is not None and chat.state == "dormant" and chat.state_reason == "app_not_installed"

    # Installing again brings the workspace back, with a new token.
    token_b2 = await install(bot, slack, BETA)
    assert token_b2 != token_b
    await mention(bot, BETA, "CBETA1", "help")
    reply = await slack.wait_for(
        lambda c: c.method == "chat.postMessage" and c.token == token_b2, 10
    )
    assert reply.ok


async def test_a_forged_reused_or_foreign_state_is_refused_and_nothing_is_stored(
    slack: FakeSlack, bot: NewsBot
) -> None:
    url, state = await open_install_page(bot, ALPHA)
    back = await consent(url)
    code = parse_qs(urlsplit(back).query)["code"][0]
    redirect = f"{base(bot)}/slack/oauth_redirect"

    forged = await come_back(f"{redirect}?{urlencode({'code': code, 'state': 'forged'})}", "forged")
    assert forged.status_code == 401
    assert "newsbot was not installed" in forged.text and "expired" in forged.text

    # The right state from another browser (no cookie) is refused too.
    foreign = await come_back(back, None)
    assert foreign.status_code == 400 and "another browser" in foreign.text
    assert slack.calls_to("oauth.v2.access") == []
    assert (await bots(bot))[ALPHA] is None

    # The genuine return installs once; the same link again is refused.
    assert (await come_back(back, state)).status_code == 200
    replay = await come_back(back, state)
    assert replay.status_code == 401 and "already used" in replay.text
    assert len(slack.calls_to("oauth.v2.access")) == 1


async def test_a_refused_install_shows_why_and_stores_nothing(
    slack: FakeSlack, bot: NewsBot
) -> None:
    slack.deny_installs = True
    url, state = await open_install_page(bot, BETA)
    back = await come_back(await consent(url), state)
    assert back.status_code == 200
    assert "cancelled" in back.text and "Nothing was installed" in back.text
    assert 'href="/slack/install"' in back.text
    assert slack.calls_to("oauth.v2.access") == []
    assert (await bots(bot))[BETA] is None


async def test_the_single_token_workspace_keeps_its_chats_when_the_flow_is_added(
    tmp_path: Path, slack: FakeSlack
) -> None:
    """SLACK_BOT_TOKEN's workspace (the fake's own, T0FAKE) keeps bare channel ids and its
    token; a workspace installed through the flow gets its own."""
    settings = oauth_settings(tmp_path, slack, slack_bot_token="xoxb-home-token")
    newsbot = await started(settings, slack)
    try:
        await subscribe(newsbot, slack, slack.team_id, "CHOME1")
        token_b = await install(newsbot, slack, BETA)
        await subscribe(newsbot, slack, BETA, "CBETA1")
        assert newsbot.core is not None
        db = newsbot.core.db
        assert await db.call(chat_store.find_chat, "slack", "CHOME1") is not None
        assert await db.call(chat_store.find_chat, "slack", f"{BETA}:CBETA1") is not None

        await alert_everyone(newsbot, "Earthquake shakes the valley", "https://a.example/q")
        assert newsbot.worker is not None
        assert (await newsbot.worker.drain()).sent == 2
        [home] = alerts_to(slack, "CHOME1")
        [beta] = alerts_to(slack, "CBETA1")
        assert home.token == "xoxb-home-token" and beta.token == token_b
    finally:
        await newsbot.stop()


def test_half_configured_flow_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="SLACK_CLIENT_SECRET"):
        check_oauth_settings(
            make_settings(tmp_path, slack_client_id=CLIENT_ID, slack_signing_secret=SECRET)
        )
    with pytest.raises(StartupError, match="SLACK_APP_TOKEN"):
        check_oauth_settings(
            make_settings(
                tmp_path,
                slack_client_id=CLIENT_ID,
                slack_client_secret=CLIENT_SECRET,
                slack_signing_secret=SECRET,
                slack_app_token="xapp-1",
            )
        )
    settings = make_settings(tmp_path, slack_client_id=CLIENT_ID, slack_signing_secret=SECRET)
    assert settings.slack_enabled and settings.slack_oauth  # so start-up reaches the check
    with pytest.raises(SettingsError, match="SLACK_SCOPES='chat:write, im write'"):
        load_settings({"SLACK_SCOPES": "chat:write, im write"})
    assert load_settings({"SLACK_SCOPES": "chat:write,commands"}).slack_scopes == (
        "chat:write,commands"
    )


def test_storage_keeps_one_bot_per_workspace_and_states_are_one_time(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.db")
    bot = {"team_id": "T1", "bot_token": "xoxb-1"}
    slack_installs.save_installation(db, CLIENT_ID, "T1", {"team_id": "T1", "user_id": "U1"}, bot)
    slack_installs.save_installation(
        db, CLIENT_ID, "T1", {"team_id": "T1", "user_id": "U2"}, {**bot, "bot_token": "xoxb-2"}
    )
    assert slack_installs.find_bot(db, CLIENT_ID, "T1") == {**bot, "bot_token": "xoxb-2"}
    assert slack_installs.find_bot(db, "other-app", "T1") is None
    assert slack_installs.find_installation(db, CLIENT_ID, "T1", "U1") == {
        "team_id": "T1",
        "user_id": "U1",
    }
    assert slack_installs.installed_workspaces(db, CLIENT_ID) == ["T1"]
    assert slack_installs.delete_workspace(db, CLIENT_ID, "T1") == 3
    assert slack_installs.find_installation(db, CLIENT_ID, "T1") is None

    now = utcnow()
    slack_installs.issue_state(db, "s1", now + timedelta(minutes=10))
    slack_installs.issue_state(db, "s2", now + timedelta(minutes=10))
    assert slack_installs.consume_state(db, "s1")
    assert not slack_installs.consume_state(db, "s1")  # once only
    assert not slack_installs.consume_state(db, "s2", now=now + timedelta(minutes=11))
    assert not slack_installs.consume_state(db, "never-issued")
    db.close()


async def test_home_tab_and_direct_messages_of_an_installed_workspace(
    slack: FakeSlack, bot: NewsBot
) -> None:
    await install(bot, slack, ALPHA)
    token_b = await install(bot, slack, BETA)
    dm = {"type": "message", "channel_type": "im", "user": "UB1", "channel": "DBETA1"}
    answer = await event(bot, BETA, {**dm, "text": "subscribe flood", "ts": "5.1"})
    assert answer.status_code == 200
    reply = await slack.wait_for(
        lambda c: c.method == "chat.postMessage" and c.params["channel"] == "DBETA1", 10
    )
    assert reply.ok and reply.token == token_b and "flood" in json.dumps(reply.params)
    assert bot.core is not None
    chat = await bot.core.db.call(chat_store.find_chat, "slack", f"{BETA}:DBETA1")
    assert chat is not None and chat.kind == "private"

    opened = {"type": "app_home_opened", "user": "UB1", "channel": "DBETA1", "tab": "home"}
    assert (await event(bot, BETA, opened)).status_code == 200
    view = await slack.wait_for(lambda c: c.method == "views.publish", 10)
    assert view.ok and view.token == token_b and view.params["user_id"] == "UB1"
    assert "flood" in json.dumps(view.params["view"])  # the home tab shows Beta's DM chat


async def test_one_token_mode_acknowledges_an_uninstall(tmp_path: Path, slack: FakeSlack) -> None:
    settings = make_settings(
        tmp_path,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=slack.base_url,
    )
    newsbot = NewsBot(settings)
    await newsbot.start()
    try:
        assert newsbot.web is not None and "/slack/install" not in {
            resource.canonical for resource in newsbot.web.app.router.resources()
        }
        answer = await event(newsbot, slack.team_id, {"type": "app_uninstalled"})
        assert answer.status_code == 200
    finally:
        await newsbot.stop()


def test_installations_table_and_queries_run_on_both_engines(store: Store) -> None:
    """m005 and the named queries run on the migrated store of each engine (SQLite, PostgreSQL)."""
    db = store
    bot = {"team_id": "T1", "bot_token": "xoxb-1"}
    slack_installs.save_installation(db, CLIENT_ID, "T1", {"user_id": "U1"}, bot)
    slack_installs.save_installation(
        db, CLIENT_ID, "T1", {"user_id": "U1"}, {**bot, "bot_token": "xoxb-2"}
    )
    assert slack_installs.find_bot(db, CLIENT_ID, "T1") == {**bot, "bot_token": "xoxb-2"}
    assert slack_installs.find_installation(db, CLIENT_ID, "T1") == {"user_id": "U1"}
    assert slack_installs.installed_workspaces(db, CLIENT_ID) == ["T1"]
    slack_installs.issue_state(db, "s1", utcnow() + timedelta(minutes=10))
    assert slack_installs.consume_state(db, "s1")
    assert not slack_installs.consume_state(db, "s1")
    assert slack_installs.delete_workspace(db, CLIENT_ID, "T1") == 2
    assert slack_installs.find_bot(db, CLIENT_ID, "T1") is None


async def test_an_install_that_cannot_be_saved_leaves_nothing_behind(
    slack: FakeSlack, bot: NewsBot
) -> None:
    """The installer's row is written before the bot's: when the second write fails, the
    transaction takes the first back, and the page says so."""
    assert bot.core is not None
    await bot.core.db.call(lambda db: db.execute("ALTER TABLE slack_bots RENAME TO away"))
    url, state = await open_install_page(bot, ALPHA)
    back = await come_back(await consent(url), state)
    assert back.status_code == 500 and "could not be saved" in back.text
    rows = await bot.core.db.call(
        lambda db: db.execute("SELECT COUNT(*) FROM slack_installations").fetchone()[0]
    )
    assert rows == 0


async def test_rotating_tokens_are_refreshed_before_use(slack: FakeSlack, bot: NewsBot) -> None:
    """With token rotation, a token close to expiry (here: always, it lives one minute) is
    traded for a new one before it is used, by bolt for requests and by us for alerts, and
    the new one is stored."""
    slack.token_lifetime = 60
    first = await install(bot, slack, ALPHA)
    stored = (await bots(bot))[ALPHA]
    assert stored is not None and stored["bot_refresh_token"].startswith("xoxe-1-")

    await mention(bot, ALPHA, "CALPHA1", "help")
    reply = await slack.wait_for(lambda c: c.method == "chat.postMessage", 10)
    assert reply.ok and reply.token not in (None, first)
    assert reply.token in slack.workspace_tokens(ALPHA)

    await subscribe(bot, slack, ALPHA, "CALPHA1")
    await alert_everyone(bot, "Earthquake shakes the valley", "https://a.example/quake")
    assert bot.worker is not None
    assert (await bot.worker.drain()).sent == 1
    [alert] = alerts_to(slack, "CALPHA1")
    latest = (await bots(bot))[ALPHA]
    assert latest is not None and alert.token == latest["bot_token"]
    assert alert.token == slack.workspace_tokens(ALPHA)[-1]
    refreshes = [c for c in slack.calls_to("oauth.v2.access") if c.params.get("grant_type")]
    assert refreshes and all(c.ok for c in refreshes)
