"""The Slack transport: a slack-bolt ``AsyncApp`` in the bot's own asyncio loop.

:class:`SlackRunner` is what the composition root builds (``SlackRunner(settings, router)``,
``attach_web``, ``start``, ``stop``, ``.transport``). It adapts Slack's inputs to the
platform-neutral :class:`~handlers.router.Request` and renders replies with
:mod:`bot.transports.render_slack`; no command is implemented here.

Inputs: the ``/news SUBCOMMAND ARGS`` slash command, mentions (``@newsbot subscribe x``),
direct messages (``subscribe x``), button presses (``block_actions``) and the App Home tab.
Every listener calls ``ack()`` first (Slack wants an answer within 3 seconds); bolt then answers
the HTTP request while the listener goes on to run the command and reply through
``respond`` (the slash command's response_url) or ``chat.postMessage``.

Chats: a channel is one chat (``external_id`` = channel id, kind "channel"); a user's direct
messages are one chat whose ``external_id`` is the DM channel id (``D...``), which is also what
the App Home tab reads (``app_home_opened`` carries it; otherwise ``conversations.open``).

Receiving: Socket Mode when ``SLACK_APP_TOKEN`` is set (no public URL), otherwise HTTP at
``POST /slack/events`` on the bot's own server, every request checked against
``SLACK_SIGNING_SECRET`` by bolt's request verification (bad signature or a timestamp more than
five minutes off: 401). Events Slack retries (``X-Slack-Retry-Num``) are acted on once: a
bounded memory of event ids drops the repeats.

Sending: one message a second per channel (:class:`~bot.transports.pacing.Pacer`), a 429's
``Retry-After`` pauses that channel and is reported as ``retry_after`` so nothing is lost;
channel errors put the chat to sleep (``chat_gone``).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerts import Alert
from bot.models import Attachment, Chat, Reply
from bot.settings import Settings
from bot.startup import StartupError, Unreachable, keep_trying
from bot.transports import render_slack
from bot.transports.base import SendResult
from bot.transports.pacing import Pacer, Rate
from bot.web import WebServer
from handlers.callbacks import handle_callback
from handlers.router import Request, Router
from storage import chats as chat_store
from storage import subscriptions as sub_store

log = logging.getLogger(__name__)

PLATFORM = "slack"
SLASH_COMMAND = "/news"
#: What Slack says when it cannot fetch or use an image block's image.
_IMAGE_ERRORS = ("invalid_blocks", "downloading image failed", "invalid image")


def image_refused(error: str | None) -> bool:
    """True when a refused ``chat.postMessage`` may be the alert's image block's fault."""
    lowered = (error or "").lower()
    return any(marker in lowered for marker in _IMAGE_ERRORS)


EVENTS_PATH = "/slack/events"
#: Slack's chat.postMessage limit is about one message per second per channel.
CHANNEL_RATE = Rate(1.0, burst=1)
#: Workspace-wide ceiling; Slack allows several hundred posts a minute across channels.
GLOBAL_RATE = Rate(50.0, burst=10)
#: Errors meaning the bot can no longer post to this conversation: the chat goes dormant.
CHAT_GONE_ERRORS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "account_inactive"}
)
#: Errors worth retrying later (Slack-side trouble, not our message).
TRANSIENT_ERRORS = frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "ratelimited",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
    }
)
#: Errors that mean the token itself is unusable: refuse to start rather than fail every send.
FATAL_AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive"})
#: Commands whose replies the whole channel should see (they change the channel's alerts);
#: other replies in a channel are ephemeral, shown to the person who asked.
CHANNEL_VISIBLE = frozenset(
    {
        "subscribe",
        "unsubscribe",
        "follow",
        "unfollow",
        "mute",
        "unmute",
        "pause",
        "resume",
        "start",
        "stop",
        "digest",
    }
)
SEEN_EVENTS_LIMIT = 10_000
#: Files shared with a command (an OPML import) are read into memory: at most this many bytes.
MAX_UPLOAD_BYTES = 1_000_000
#: Message subtypes that are still a person typing a command: a plain message, or one with files.
COMMAND_SUBTYPES = frozenset({None, "", "file_share"})
_LEADING_MENTION = re.compile(r"^(\s*<@[A-Z0-9]+(\|[^>]*)?>[\s:,]*)+")


def chat_kind(channel_id: str, channel_name: str = "") -> str:
    """Our chat kind for a Slack conversation id (``D`` DMs, ``mpdm-`` group DMs, channels)."""
    if channel_id.startswith("D") or channel_name == "directmessage":
        return "private"
    if channel_name.startswith("mpdm-"):
        return "group"
    return "channel"


def parse_words(text: str) -> tuple[str, str]:
    """``subscribe earthquake`` or ``/subscribe earthquake`` -> ("subscribe", "earthquake");
    nothing -> help. Unknown words go to the router, which answers with a hint."""
    stripped = _LEADING_MENTION.sub("", text or "").strip()
    if not stripped:
        return "help", ""
    first, _, rest = stripped.partition(" ")
    command = first.lstrip("/").lower()[:32] or "help"
    return command, rest.strip()


def trusted_file_url(url: str, api_url: str) -> bool:
    """Whether the bot token may be sent to ``url`` to download a shared file: Slack's own
    hosts over HTTPS, or the host ``SLACK_API_URL`` points at (a proxy, or a test server).
    A file link from anywhere else is never fetched with the token."""
    try:
        parts = urlsplit(url)
        api = urlsplit(api_url)
        host = (parts.hostname or "").lower()
        api_host = (api.hostname or "").lower()
    except ValueError:
        return False
    if host and host == api_host and parts.scheme == api.scheme:
        return True
    return parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))


class SeenEvents:
    """A bounded set of event ids, oldest forgotten first: Slack retries within minutes, so
    remembering the last few thousand is enough to act on each event once."""

    def __init__(self, limit: int = SEEN_EVENTS_LIMIT) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)
        return True


_SIGNATURE_RE = re.compile(r"v0=[0-9a-f]{64}")


def signature_headers_problem(headers: Mapping[str, str]) -> str | None:
    """Why Slack's signature headers are unusable, or None when their shape is right.

    Bolt's verifier turns the timestamp into an int and compares the signature as text: a
    timestamp that is not a number, or a signature with non-ASCII characters, would raise there
    (a 500 with a traceback). Shape is checked here, before it; bolt still checks the values.
    """
    timestamp = headers.get("X-Slack-Request-Timestamp") or ""
    signature = headers.get("X-Slack-Signature") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "X-Slack-Request-Timestamp must be Unix seconds"
    if not _SIGNATURE_RE.fullmatch(signature):
        return "X-Slack-Signature must be v0= and 64 hex digits"
    return None


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list | tuple) else value)
    return None


class SlackTransport:
    """Sends alerts, thread updates and replies with ``chat.postMessage``, paced per channel."""

    platform = PLATFORM

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        pacer: Pacer | None = None,
        channel_rate: Rate = CHANNEL_RATE,
        unfurl: bool = False,
        commands: frozenset[str] = frozenset(),
    ) -> None:
        self.client = client
        self.pacer = pacer or Pacer(GLOBAL_RATE)
        self.channel_rate = channel_rate
        self.unfurl = unfurl
        self.commands = commands  # command names, so replies say "/news subscribe"

    # -- the Transport protocol --------------------------------------------------------------

    async def send_alert(self, chat: Chat, alert: Alert) -> SendResult:
        payload = render_slack.render_alert(alert, summary_chars=chat.summary_chars)
        result = await self.post(chat.external_id, payload, thread_ts=alert.thread_id)
        if alert.image_url and image_refused(result.permanent_error):
            # Slack could not fetch or use the image: the alert goes again without it, once.
            log.info("event=slack_image_refused channel=%s", chat.external_id)
            payload = render_slack.render_alert(
                replace(alert, image_url=None), summary_chars=chat.summary_chars
            )
            retry = await self.post(chat.external_id, payload, thread_ts=alert.thread_id)
            result = retry.without_image()
        if result.ok and alert.thread_id:
            # Updates go to the thread the alert lives in: its parent, not the reply itself.
            return SendResult.sent(alert.thread_id)
        return result

    async def send_update(self, chat: Chat, alert: Alert, message_ref: str) -> SendResult:
        """A cluster gained outlets: say so in the thread of the original alert."""
        return await self.post(
            chat.external_id, render_slack.render_update(alert), thread_ts=message_ref
        )

    async def send_reply(
        self, chat: Chat, reply: Reply, thread_id: str | None = None
    ) -> SendResult:
        return await self.post_reply(chat.external_id, reply, thread_ts=thread_id)

    # -- sending -------------------------------------------------------------------------------

    def render_reply(self, reply: Reply) -> dict[str, Any]:
        return render_slack.render_reply(reply, commands=self.commands, slash_command=SLASH_COMMAND)

    async def post_reply(
        self, channel: str, reply: Reply, *, thread_ts: str | None = None
    ) -> SendResult:
        """A reply and its followups as messages, then its files; the text goes first so that
        a failed upload never loses it."""
        first: SendResult | None = None
        for part in (reply, *reply.followups):
            result = await self.post(channel, self.render_reply(part), thread_ts=thread_ts)
            first = first or result
            if not result.ok:
                return result
            await self.upload_all(channel, part.attachments, thread_ts=thread_ts)
        assert first is not None
        return first

    async def post(
        self, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None
    ) -> SendResult:
        """One paced ``chat.postMessage``, its outcome as a :class:`SendResult`."""
        await self.pacer.wait(channel, self.channel_rate)
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        try:
            response = await self.client.chat_postMessage(
                channel=channel,
                unfurl_links=self.unfurl,
                unfurl_media=self.unfurl,
                **payload,
                **extra,
            )
        except SlackApiError as exc:
            return self.failure(channel, exc)
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            return SendResult(ok=False, transient_error=f"network: {exc!r}"[:300])
        return SendResult.sent(str(response.get("ts") or ""))

    def failure(self, channel: str, exc: SlackApiError) -> SendResult:
        """Map a refused call onto what the delivery worker should do."""
        response = exc.response
        status = getattr(response, "status_code", 200)
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        error = str(data.get("error") or f"http_{status}")
        if status == 429:
            raw = _header(getattr(response, "headers", None), "Retry-After")
            try:
                wait = max(1.0, float(raw)) if raw else 1.0
            except ValueError:
                wait = 1.0
            self.pacer.pause(wait, key=channel)
            log.info("event=slack_rate_limited channel=%s retry_after=%s", channel, wait)
            return SendResult(ok=False, retry_after=wait)
        if error in CHAT_GONE_ERRORS:
            return SendResult(ok=False, chat_gone=error)
        if status >= 500 or error in TRANSIENT_ERRORS:
            return SendResult(ok=False, transient_error=error)
        details = (data.get("response_metadata") or {}).get("messages") or []
        # A refused message body is our bug (invalid_blocks, msg_too_long): say so loudly.
        log.error(
            "event=slack_message_rejected channel=%s error=%s details=%s",
            channel,
            error,
            details[:5],
        )
        return SendResult(ok=False, permanent_error=f"{error}: {'; '.join(details[:3])}"[:500])

    async def upload_all(
        self, channel: str, attachments: tuple[Attachment, ...], *, thread_ts: str | None = None
    ) -> list[str]:
        """Upload files with ``files_upload_v2``; returns the names that could not be sent."""
        failed = []
        for attachment in attachments:
            extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
            if attachment.caption:
                extra["initial_comment"] = render_slack.fit(attachment.caption, 3000)
            try:
                await self.client.files_upload_v2(
                    channel=channel,
                    content=attachment.content,
                    filename=attachment.filename,
                    title=attachment.filename,
                    **extra,
                )
            except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning(
                    "event=slack_upload_failed channel=%s file=%s error=%r",
                    channel,
                    attachment.filename,
                    str(exc)[:200],
                )
                failed.append(attachment.filename)
        return failed


Respond = Callable[..., Awaitable[Any]]


class SlackRunner:
    """Builds the bolt app and the transport from settings; see the module docstring."""

    def __init__(self, settings: Settings, router: Router, *, pacer: Pacer | None = None) -> None:
        self.settings = settings
        self.router = router
        self.socket_mode = bool(settings.slack_app_token)
        if not self.socket_mode and not settings.slack_signing_secret:
            raise ValueError(
                "Slack HTTP mode needs SLACK_SIGNING_SECRET "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            )
        # One HTTP session for the bot's lifetime: without it slack_sdk opens a session, so a
        # new TLS connection, for every call. Closed in stop().
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.client = AsyncWebClient(
            token=settings.slack_bot_token, base_url=settings.slack_api_url, session=self.session
        )
        commands = frozenset(router.commands) | frozenset(router.aliases)
        self.transport = SlackTransport(self.client, pacer=pacer, commands=commands)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret,
            request_verification_enabled=True,
            process_before_response=False,  # ack first, work after: bolt answers Slack at ack()
            # Bolt sets the level of the logger named after the app to the root's level when it
            # runs a listener; a name outside our "newsbot" logger keeps that logger's level ours.
            name="newsbot-slack",
        )
        self.seen_events = SeenEvents()
        self._dm_channels: dict[str, str] = {}
        self._socket: Any = None
        #: False where another process (the ingest leader) holds Socket Mode's connection.
        self.connect_socket = True
        self._register()
        self.app.error(self._on_listener_error)

    # -- lifecycle -----------------------------------------------------------------------

    def attach_web(self, web_server: WebServer) -> None:
        """HTTP mode: Slack's Events API, slash commands and interactivity at /slack/events."""
        if not self.socket_mode:
            web_server.add_route("POST", EVENTS_PATH, self.handle_http)

    async def handle_http(self, request: web.Request) -> web.Response:
        problem = signature_headers_problem(request.headers)
        if problem is not None:
            return web.Response(status=401, text=problem)
        bolt_request = await to_bolt_request(request)
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def _auth_test(self) -> None:
        """``auth.test``: the token's check. Slack or the network being down is worth retrying;
        a refused token is not."""
        url = self.settings.slack_api_url
        try:
            identity = await self.client.auth_test()
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", 200)
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or f"HTTP {status}")
            if error in FATAL_AUTH_ERRORS or error == "token_expired":
                raise StartupError(
                    f"Slack refused SLACK_BOT_TOKEN ({error}); copy the Bot User OAuth Token "
                    "(xoxb-...) again from the app's OAuth & Permissions page"
                ) from None
            if status >= 500 or status == 429 or error in TRANSIENT_ERRORS:
                raise Unreachable(error) from None
            raise StartupError(
                f"the Slack API at {url} refused auth.test ({error}); check SLACK_API_URL"
            ) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Unreachable(" ".join(str(exc).split())[:200] or type(exc).__name__) from None
        log.info(
            "event=slack_ready team=%s bot_user=%s mode=%s",
            identity.get("team_id"),
            identity.get("user_id"),
            "socket" if self.socket_mode else "http",
        )

    async def start(self) -> None:
        await keep_trying(
            f"the Slack API at {self.settings.slack_api_url}",
            self._auth_test,
            budget_seconds=self.settings.startup_retry_seconds,
            hint="check the network, a proxy, or SLACK_API_URL",
        )
        if self.connect_socket:
            await self.start_socket()

    async def start_socket(self) -> None:
        """Socket Mode's one WebSocket (one process: the leader when several run)."""
        if self.socket_mode and self._socket is None:
            self._socket = self.build_socket_handler()
            # Connects, then bolt keeps the WebSocket alive and reconnects on its own.
            try:
                await self._socket.connect_async()
            except SlackApiError as exc:
                data = exc.response.data if isinstance(exc.response.data, dict) else {}
                raise StartupError(
                    f"Slack refused SLACK_APP_TOKEN ({data.get('error') or 'error'}); use an "
                    "app-level token (xapp-...) with the connections:write scope"
                ) from None

    def build_socket_handler(self) -> Any:
        """Socket Mode over the app-level token; ``apps.connections.open`` goes through
        SLACK_API_URL too, so nothing assumes slack.com."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        opener = AsyncWebClient(base_url=self.settings.slack_api_url, session=self.session)
        return AsyncSocketModeHandler(self.app, self.settings.slack_app_token, web_client=opener)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        await self.session.close()

    async def _on_listener_error(self, error: Exception, body: dict[str, Any]) -> None:
        """bolt's error handler: a listener that failed is logged in our format (one event line
        and its traceback, masked like every record), not in bolt's."""
        log.error(
            "event=slack_listener_failed type=%s error=%r",
            body.get("type") or body.get("command") or "unknown",
            " ".join(str(error).split())[:200],
            exc_info=error,
        )

    # -- listeners -----------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        app.middleware(self._drop_retried_events)
        app.command(SLASH_COMMAND)(self._on_slash_command)
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("app_home_opened")(self._on_home_opened)
        for gone in ("member_left_channel", "channel_archive", "group_archive"):
            app.event(gone)(self._on_channel_gone)
        app.action(re.compile("^" + re.escape(render_slack.ACTION_PREFIX)))(self._on_button)
        app.action(re.compile("^" + re.escape(render_slack.COMMAND_PREFIX)))(self._on_home_command)
        app.action(re.compile("^" + re.escape(render_slack.LINK_PREFIX)))(self._on_link)

    async def _drop_retried_events(
        self, req: Any, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Act on each Events API event once, however often Slack retries it."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and not self.seen_events.first_time(event_id):
            retry = _header(req.headers, "x-slack-retry-num")
            log.info("event=slack_retry_dropped event_id=%s retry=%s", event_id, retry)
            return BoltResponse(status=200, body="")
        await next()
        return None

    async def _run(self, request: Request) -> Reply | None:
        try:
            return await self.router.handle(request)
        except Exception:
            log.exception("event=slack_command_failed command=%s", request.command)
            return Reply("Something went wrong on our side; it has been logged. Please try again.")

    async def _on_slash_command(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Respond
    ) -> None:
        await ack()
        channel = str(body.get("channel_id") or "")
        channel_name = str(body.get("channel_name") or "")
        kind = chat_kind(channel, channel_name)
        command, args = parse_words(str(body.get("text") or ""))
        title = (
            f"DM {body.get('user_name', '')}".strip() if kind == "private" else f"#{channel_name}"
        )
        request = Request(
            PLATFORM,
            channel,
            str(body.get("user_id") or ""),
            command,
            args,
            chat_title=title,
            chat_kind=kind,
        )
        reply = await self._run(request)
        if reply is not None:
            public = kind != "private" and command in CHANNEL_VISIBLE and not reply.ephemeral
            await self._respond(respond, channel, reply, ephemeral=not public and kind != "private")

    async def _respond(
        self, respond: Respond, channel: str, reply: Reply, *, ephemeral: bool
    ) -> None:
        """Answer through the response_url; fall back to a message if that fails."""
        for part in (reply, *reply.followups):
            payload = self.transport.render_reply(part)
            try:
                await respond(
                    **payload,
                    response_type="ephemeral" if ephemeral else "in_channel",
                    replace_original=False,
                )
            except Exception as exc:
                log.warning(
                    "event=slack_respond_failed channel=%s error=%r", channel, str(exc)[:200]
                )
                await self.transport.post(channel, payload)
            failed = await self.transport.upload_all(channel, part.attachments)
            if failed:
                note = Reply(
                    f"(Could not attach {', '.join(failed)} here; the bot may need to be invited.)"
                )
                try:
                    await respond(
                        **self.transport.render_reply(note),
                        response_type="ephemeral",
                        replace_original=False,
                    )
                except Exception:
                    log.warning("event=slack_respond_failed channel=%s", channel)

    async def _on_mention(self, ack: Callable[..., Awaitable[None]], event: dict[str, Any]) -> None:
        await ack()
        await self._text_command(event)

    async def _on_message(self, ack: Callable[..., Awaitable[None]], event: dict[str, Any]) -> None:
        """Direct messages only; edits, joins and bot posts (subtypes) are not commands, but a
        file shared with a command as its text (``admin import`` with an .opml file) is."""
        await ack()
        if (
            event.get("channel_type") != "im"
            or event.get("subtype") not in COMMAND_SUBTYPES
            or event.get("bot_id")
        ):
            return
        await self._text_command(event)

    async def _text_command(self, event: dict[str, Any]) -> None:
        channel = str(event.get("channel") or "")
        thread_ts = event.get("thread_ts")
        command, args = parse_words(str(event.get("text") or ""))
        request = Request(
            PLATFORM,
            channel,
            str(event.get("user") or ""),
            command,
            args,
            chat_kind=chat_kind(channel),
            thread_id=thread_ts,
        )
        files = event.get("files")
        reply: Reply | None
        if isinstance(files, list) and files and self._may_read_files(request):
            attachment = await self.download_file(files[0])
            if isinstance(attachment, Reply):
                reply = attachment
            else:
                reply = await self._run(replace(request, attachment=attachment))
        else:
            reply = await self._run(request)
        if reply is not None:
            result = await self.transport.post_reply(channel, reply, thread_ts=thread_ts)
            if not result.ok:
                log.warning("event=slack_reply_failed channel=%s result=%s", channel, result)

    def _may_read_files(self, request: Request) -> bool:
        """Only a command that exists, and that this user may run, gets its file downloaded:
        the router refuses the rest anyway, and nothing is fetched with the bot token for them."""
        spec = self.router.resolve(request.command)
        return spec is not None and (not spec.admin or self.router.is_admin(request))

    async def download_file(self, file: Any) -> tuple[str, bytes] | Reply:
        """A shared file's ``(name, bytes)`` from its ``url_private``, read with the bot token
        (Slack needs the ``files:read`` scope for that) and capped at MAX_UPLOAD_BYTES; or the
        reply that explains why not."""
        too_large = Reply(f"That file is too large: the limit is {MAX_UPLOAD_BYTES // 1000} KB.")
        failed = Reply(
            "I could not download that file. Please share it again (the Slack app needs the "
            "files:read scope)."
        )
        if not isinstance(file, dict):
            return failed
        size = file.get("size")
        if isinstance(size, int) and size > MAX_UPLOAD_BYTES:
            return too_large
        url = file.get("url_private_download") or file.get("url_private")
        if not isinstance(url, str) or not trusted_file_url(url, self.settings.slack_api_url):
            log.warning("event=slack_file_url_refused url=%r", str(url)[:200])
            return failed
        headers = {"Authorization": f"Bearer {self.settings.slack_bot_token}"}
        chunks: list[bytes] = []
        received = 0
        try:
            # No redirects: the token must not follow the request to another host, and
            # Slack answers an unauthorised download with a redirect to its sign-in page.
            async with self.session.get(url, headers=headers, allow_redirects=False) as response:
                if response.status != 200 or response.content_type == "text/html":
                    log.warning(
                        "event=slack_file_download_failed status=%s type=%s",
                        response.status,
                        response.content_type,
                    )
                    return failed
                async for chunk in response.content.iter_chunked(64 * 1024):
                    received += len(chunk)
                    if received > MAX_UPLOAD_BYTES:
                        return too_large
                    chunks.append(chunk)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("event=slack_file_download_failed error=%r", str(exc)[:200])
            return failed
        return str(file.get("name") or "upload"), b"".join(chunks)

    async def _dm_channel(self, user_id: str) -> str:
        """The id of the bot's DM with ``user_id`` (the chat the App Home tab shows)."""
        if user_id not in self._dm_channels:
            opened = await self.client.conversations_open(users=user_id)
            self._dm_channels[user_id] = str(opened["channel"]["id"])
        return self._dm_channels[user_id]

    async def publish_home(self, user_id: str, dm_channel: str, *, notice: str = "") -> None:
        db = self.router.context.services.db
        chat = await db.call(chat_store.find_chat, PLATFORM, dm_channel)
        subs = await db.call(sub_store.chat_subscriptions, chat.id) if chat else []
        view = render_slack.render_home(chat, subs, notice=notice, slash_command=SLASH_COMMAND)
        try:
            await self.client.views_publish(user_id=user_id, view=view)
        except SlackClientError as exc:
            log.warning("event=slack_home_failed user=%s error=%r", user_id, str(exc)[:200])

    async def _on_home_opened(
        self, ack: Callable[..., Awaitable[None]], event: dict[str, Any]
    ) -> None:
        await ack()
        if event.get("tab", "home") != "home":
            return
        user = str(event.get("user") or "")
        channel = event.get("channel")
        if isinstance(channel, str) and channel.startswith("D"):
            self._dm_channels[user] = channel
        try:
            dm = await self._dm_channel(user)
        except SlackClientError as exc:
            log.warning("event=slack_dm_open_failed user=%s error=%r", user, str(exc)[:200])
            return
        await self.publish_home(user, dm)

    @staticmethod
    def _from_home(body: dict[str, Any]) -> bool:
        return (body.get("container") or {}).get("type") == "view" or (body.get("view") or {}).get(
            "type"
        ) == "home"

    async def _on_button(
        self,
        ack: Callable[..., Awaitable[None]],
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Respond,
    ) -> None:
        """A button's value is the callback data of :mod:`handlers.callbacks`."""
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        value = str(action.get("value") or "")
        if self._from_home(body):
            dm = await self._dm_channel(user)
            request = Request(PLATFORM, dm, user, "callback", value, chat_kind="private")
            reply = await self._callback(request)
            await self.publish_home(user, dm, notice=reply.text if reply else "")
            return
        channel = str(
            (body.get("channel") or {}).get("id")
            or (body.get("container") or {}).get("channel_id")
            or ""
        )
        request = Request(PLATFORM, channel, user, "callback", value, chat_kind=chat_kind(channel))
        reply = await self._callback(request)
        if reply is not None:
            await self._respond(respond, channel, reply, ephemeral=True)

    async def _callback(self, request: Request) -> Reply | None:
        try:
            return await handle_callback(self.router, request)
        except Exception:
            log.exception("event=slack_callback_failed data=%r", request.args)
            return Reply("Something went wrong on our side; it has been logged. Please try again.")

    async def _on_home_command(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        """Pause/resume from the App Home tab (commands without arguments, allow-listed)."""
        await ack()
        command = str(action.get("value") or "")
        user = str((body.get("user") or {}).get("id") or "")
        if command not in render_slack.HOME_COMMANDS:
            return
        dm = await self._dm_channel(user)
        reply = await self._run(Request(PLATFORM, dm, user, command, "", chat_kind="private"))
        await self.publish_home(user, dm, notice=reply.text if reply else "")

    async def _on_link(self, ack: Callable[..., Awaitable[None]]) -> None:
        """URL buttons open in the browser; Slack still expects the press acknowledged."""
        await ack()

    async def _on_channel_gone(
        self, ack: Callable[..., Awaitable[None]], event: dict[str, Any], context: dict[str, Any]
    ) -> None:
        """The bot was removed from a channel, or it was archived: stop sending there."""
        await ack()
        if event.get("type") == "member_left_channel" and event.get("user") != context.get(
            "bot_user_id"
        ):
            return
        channel = str(event.get("channel") or "")
        db = self.router.context.services.db
        chat = await db.call(chat_store.find_chat, PLATFORM, channel)
        if chat is not None and chat.state == "active":
            reason = "archived" if event.get("type", "").endswith("archive") else "bot removed"
            await db.call(chat_store.set_chat_state, chat.id, "dormant", reason)
            log.info("event=chat_dormant chat=%s reason=%s", chat.id, reason)
