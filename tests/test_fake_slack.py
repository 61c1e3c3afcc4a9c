"""The fake Slack Web API, driven by the real slack_sdk client, and its Block Kit validator.

These pin down what other tests rely on: valid messages are accepted and recorded, invalid
blocks and unescaped mrkdwn are rejected the way Slack reports them, and rate limits and channel
errors surface as ``SlackApiError`` with the status, headers and error names Slack uses.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes._server import Request, Response
from tests.fakes.slack_api import CHANNEL_ERRORS, FakeSlack
from tests.fakes.slack_blocks import (
    message_texts,
    mrkdwn_errors,
    validate_blocks,
    validate_message,
    validate_untrusted_escaping,
)

TOKEN = "xoxb-test-token"


@pytest.fixture
async def client(slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    web_client = AsyncWebClient(token=TOKEN, base_url=slack.base_url, timeout=5)
    yield web_client
    if web_client.session is not None:
        await web_client.session.close()


def _section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def _button(text: str, action_id: str, value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }


# -- the Block Kit validator -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "plain words",
        "Tom &amp; Jerry &lt;3 &gt; all",
        "see <https://example.org/a?b=1&amp;c=2|the story>",
        "<mailto:a@example.org> and <https://example.org>",
        "hi <@U123ABC>, see <#C42|news> and <!here> or <!subteam^S1|team>",
        "> a quote\n>>> a long quote",
        "<!date^1392734382^{date_short}|Feb 18, 2014>",
    ],
)
def test_well_escaped_mrkdwn_passes(text: str) -> None:
    assert mrkdwn_errors(text) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Tom & Jerry", "unescaped '&' at offset 4"),
        ("1 < 2", "unescaped '<' at offset 2"),
        ("<script>", "unescaped '<' at offset 0"),
        ("a > b", "unescaped '>' at offset 2"),
        ("<https://e.org|Q&A>", "unescaped '&'"),
        ("<https://e.org", "unescaped '<'"),
    ],
)
def test_unescaped_mrkdwn_is_an_error(text: str, problem: str) -> None:
    errors = mrkdwn_errors(text)
    assert any(problem in error for error in errors), errors
    assert all(e.startswith("[ERROR]") and e.endswith("[json-pointer:/text]") for e in errors)


def test_block_limits() -> None:
    assert validate_blocks([_section("x" * 3000)]) == []
    assert "less than 3001" in validate_blocks([_section("x" * 3001)])[0]
    assert "no more than 50" in validate_blocks([{"type": "divider"}] * 51)[0]
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    assert "/blocks/0/text/text" in validate_blocks([header])[0]
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}
    assert "1 to 10" in validate_blocks([context])[0]
    buttons = [_button(f"b{n}", f"a{n}") for n in range(26)]
    assert "1 to 25" in validate_blocks([{"type": "actions", "elements": buttons}])[0]
    long_button = {"type": "actions", "elements": [_button("b" * 76, "a")]}
    assert "less than 76" in validate_blocks([long_button])[0]
    big_value = {"type": "actions", "elements": [_button("b", "a", value="v" * 2001)]}
    assert "/value" in validate_blocks([big_value])[0]
    twins = {"type": "actions", "elements": [_button("b", "same"), _button("c", "same")]}
    assert "action_id must be unique" in validate_blocks([twins])[0]
    same_ids = [_section("a", block_id="x"), _section("b", block_id="x")]
    assert "block_id must be unique" in validate_blocks(same_ids)[0]
    assert "unsupported block type" in validate_blocks([{"type": "table"}])[0]
    assert validate_blocks('[{"type": "divider"}]') == []  # form bodies carry JSON text


def test_message_needs_a_text_fallback_and_escaped_text() -> None:
    blocks = [_section("body")]
    assert validate_message({"text": "fallback", "blocks": blocks}) == []
    assert "text fallback" in validate_message({"blocks": blocks})[0]
    assert "unescaped '&'" in validate_message({"text": "a & b"})[0]
    assert validate_message({"text": "a & b", "mrkdwn": False}) == []


def test_untrusted_escaping_finds_mentions_and_broadcasts() -> None:
    assert validate_untrusted_escaping("&lt;!channel&gt; is harmless") == []
    found = validate_untrusted_escaping("hey <!channel> and <!here|here> cc <@U1> in <#C9>")
    assert found == ["<!channel>", "<!here|here>", "<@U1>", "<#C9>"]
    assert validate_untrusted_escaping("mail @channel") == []
    assert validate_untrusted_escaping("mail @channel", link_names=True) == ["@channel"]


def test_message_texts_collects_every_visible_string() -> None:
    params = {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "head"}},
            _section("body", accessory=_button("more", "a")),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "source"}]},
        ],
    }
    assert message_texts(params) == ["fallback", "head", "body", "more", "source"]


# -- the server through slack_sdk --------------------------------------------------------------


async def test_post_message_is_accepted_and_recorded(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    auth = await client.auth_test()
    assert auth["user_id"] == slack.bot_user_id
    blocks = [_section("*Breaking*: <https://example.org|story>")]
    first = await client.chat_postMessage(channel="C1", text="Breaking", blocks=blocks)
    second = await client.chat_postMessage(channel="C2", text="other")
    assert first["channel"] == "C1"
    assert float(second["ts"]) > float(first["ts"])
    sent = slack.sent_messages("C1")
    assert len(sent) == 1
    assert sent[0].params["blocks"] == blocks
    assert sent[0].token == TOKEN
    assert sent[0].headers["authorization"] == f"Bearer {TOKEN}"
    dm = await client.chat_postMessage(channel="U777", text="direct")
    assert dm["channel"] == "D777"


async def test_invalid_blocks_are_rejected(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="t", blocks=[_section("x" * 3001)])
    assert caught.value.response["error"] == "invalid_blocks"
    messages = caught.value.response["response_metadata"]["messages"]
    assert messages == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    with (
        pytest.raises(SlackApiError, match="invalid_blocks"),
        pytest.warns(UserWarning, match="top-level `text`"),
    ):
        await client.chat_postMessage(channel="C1", blocks=[_section("no fallback")])
    with pytest.raises(SlackApiError, match="no_text"), pytest.warns(UserWarning):
        await client.chat_postMessage(channel="C1")
    assert slack.sent_messages() == []


async def test_rate_limit_answers_429_with_retry_after(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.enforce_limits = True
    for n in range(3):  # the documented burst
        await client.chat_postMessage(channel="C1", text=f"burst {n}")
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="one too many")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    assert slack.rate_limited == 1
    await client.chat_postMessage(channel="C2", text="each channel has its own bucket")


async def test_rate_limit_refills_with_the_clock(slack: FakeSlack, client: AsyncWebClient) -> None:
    now = [50.0]
    slack.clock = lambda: now[0]
    slack.enforce_limits = True
    for _ in range(3):
        await client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C1", text="x")
    now[0] += 1.0
    await client.chat_postMessage(channel="C1", text="one token back after a second")


@pytest.mark.parametrize("error", CHANNEL_ERRORS)
async def test_channel_errors(slack: FakeSlack, client: AsyncWebClient, error: str) -> None:
    slack.fail_channel("C9", error, times=1)
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C9", text="x")
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == error
    await client.chat_postMessage(channel="C9", text="the fault was for one call only")


async def test_outage_delay_unknown_method_and_auth(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.set_down()
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="x")
    assert caught.value.response.status_code == 502
    slack.set_down(False)
    slack.delay_channel("C5", 0.3)
    started = time.monotonic()
    await client.chat_postMessage(channel="C5", text="slow")
    assert time.monotonic() - started >= 0.3
    with pytest.raises(SlackApiError, match="unknown_method"):
        await client.api_call("chat.noSuchThing")
    anonymous = AsyncWebClient(base_url=slack.base_url)
    with pytest.raises(SlackApiError, match="not_authed"):
        await anonymous.auth_test()
    if anonymous.session is not None:
        await anonymous.session.close()
    form = httpx.post(slack.base_url + "auth.test", data={"token": "bogus"})
    assert form.json() == {"ok": False, "error": "invalid_auth"}


async def test_update_permalink_views_and_lookups(slack: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="v1")
    await client.chat_update(channel="C1", ts=posted["ts"], text="v2")
    stored = slack.message("C1", posted["ts"])
    assert stored is not None and stored["text"] == "v2"
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel="C1", ts="1.000000", text="x")
    link = await client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
    assert posted["ts"].replace(".", "") in link["permalink"]
    assert (await client.chat_postEphemeral(channel="C1", user="U1", text="psst"))["ok"]
    home = {"type": "home", "blocks": [_section("home")]}
    assert (await client.views_publish(user_id="U1", view=home))["view"]["type"] == "home"
    with pytest.raises(SlackApiError, match="invalid_trigger_id"):
        await client.views_open(trigger_id="", view={"type": "modal", "blocks": []})
    slack.set_channel("C7", name="news", is_private=True)
    info = await client.conversations_info(channel="C7")
    assert (info["channel"]["name"], info["channel"]["is_private"]) == ("news", True)
    slack.set_user("U5", name="ana", tz="Europe/Lisbon")
    assert (await client.users_info(user="U5"))["user"]["tz"] == "Europe/Lisbon"
    assert (await client.conversations_open(users="U5"))["channel"]["id"] == "D5"
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await client.apps_connections_open(app_token="xoxb-not-an-app-token")


async def test_files_upload_v2_flow(slack: FakeSlack, client: AsyncWebClient) -> None:
    content = b"date,count\r\n2024-01-01,3\r\n\x00\xff"
    result = await client.files_upload_v2(
        channel="C1", content=content, filename="counts.csv", title="Counts"
    )
    uploaded = result["file"]
    assert (uploaded["title"], uploaded["size"]) == ("Counts", len(content))
    assert uploaded["channels"] == ["C1"]
    assert slack.uploaded_file(uploaded["id"]) == content
    assert [c.method for c in slack.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


async def test_response_url_records_respond_calls(slack: FakeSlack) -> None:
    url = slack.response_url("cmd1")
    webhook = AsyncWebhookClient(url)
    ok = await webhook.send(text="Subscribed to *tech*", response_type="ephemeral")
    assert (ok.status_code, ok.body) == (200, "ok")
    bad = await webhook.send(text="t", blocks=[_section("x" * 3001)])
    assert bad.status_code == 400
    responses = slack.responses("cmd1")
    assert [r.params["text"] for r in responses] == ["Subscribed to *tech*"]
    assert slack.responses("other") == []


def test_a_crash_inside_the_fake_fails_the_test_that_caused_it() -> None:
    class Broken(FakeSlack):
        def handle(self, request: Request) -> Response:
            raise RuntimeError("handler bug")

    with pytest.raises(AssertionError, match="handler bug"), Broken() as fake:
        answer = httpx.post(f"{fake.base_url}auth.test", timeout=5)
        assert answer.status_code == 500
