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

Several workspaces: with ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` the app is installed
through bolt's OAuth flow (``GET /slack/install``, ``GET /slack/oauth_redirect``), each
workspace's bot token kept in our database (:mod:`bot.transports.slack_install_store`), and
every incoming request is authorized by its workspace's token from there. A chat of such a
workspace is ``WORKSPACE:CHANNEL`` (``T123:C456``), so every send picks that workspace's token;
chats of the workspace of ``SLACK_BOT_TOKEN`` (the only one without the OAuth flow) keep their
bare channel ids, so a deployment that moves to the flow keeps its chats.

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
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerts import Alert
from bot.i18n import Translator, translator
from bot.models import Attachment, Chat, Reply
from bot.settings import Settings
from bot.startup import StartupError, Unreachable, keep_trying
from bot.transports import render_slack
from bot.transports.base import SendResult
from bot.transports.pacing import Pacer, Rate
from bot.transports.slack_install_store import (
    DatabaseInstallationStore,
    DatabaseStateStore,
    workspace_key,
)
from bot.web import WebServer
from handlers.callbacks import handle_callback
from handlers.router import Request, Router
from storage import chats as chat_store
from storage import subscriptions as sub_store

log = logging.getLogger(__name__)

PLATFORM = "slack"
SLASH_COMMAND = "/news"
USER_LOCALE_CACHE = 10_000  # users whose locale is remembered; the cache starts over past it
#: What Slack says when it cannot fetch or use an image block's image.
_IMAGE_ERRORS = ("invalid_blocks", "downloading image failed", "invalid image")


def image_refused(error: str | None) -> bool:
    """True when a refused ``chat.postMessage`` may be the alert's image block's fault."""
    lowered = (error or "").lower()
    return any(marker in lowered for marker in _IMAGE_ERRORS)


EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
#: Why a chat of a workspace that no longer has the app installed went to sleep.
NOT_INSTALLED = "app_not_installed"
NOT_INSTALLED_MESSAGE = (
    "newsbot is not installed in this workspace (any more). An admin of the workspace can "
    f"install it again from the bot's {INSTALL_PATH} page."
)
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


#: Finds the client (with the right workspace's token) and the Slack channel id for a chat's
#: ``external_id``; the client is None when the app is not installed in that workspace.
Resolver = Callable[[str], Awaitable[tuple[AsyncWebClient | None, str]]]


class SlackTransport:
    """Sends alerts, thread updates and replies with ``chat.postMessage``, paced per channel.

    Every method takes a chat's ``external_id`` as its channel: a bare channel id goes with
    ``client``; with a ``resolver`` (several workspaces), the resolver picks the token of the
    chat's workspace and strips the workspace from the id."""

    platform = PLATFORM

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        pacer: Pacer | None = None,
        channel_rate: Rate = CHANNEL_RATE,
        unfurl: bool = False,
        commands: frozenset[str] = frozenset(),
        resolver: Resolver | None = None,
    ) -> None:
        self.client = client
        self.pacer = pacer or Pacer(GLOBAL_RATE)
        self.channel_rate = channel_rate
        self.unfurl = unfurl
        self.commands = commands  # command names, so replies say "/news subscribe"
        self.resolver = resolver

    async def client_for(self, chat_ref: str) -> tuple[AsyncWebClient | None, str]:
        """The client to reach ``chat_ref`` with, and the Slack channel id within it."""
        if self.resolver is None:
            return self.client, chat_ref
        return await self.resolver(chat_ref)

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
        return await self.post_reply(
            chat.external_id, reply, thread_ts=thread_id, locale=chat.locale
        )

    # -- sending -------------------------------------------------------------------------------

    def render_reply(self, reply: Reply, locale: str | None = None) -> dict[str, Any]:
        return render_slack.render_reply(
            reply, commands=self.commands, slash_command=SLASH_COMMAND, locale=locale
        )

    async def post_reply(
        self,
        channel: str,
        reply: Reply,
        *,
        thread_ts: str | None = None,
        locale: str | None = None,
    ) -> SendResult:
        """A reply and its followups as messages, then its files; the text goes first so that
        a failed upload never loses it."""
        first: SendResult | None = None
        for part in (reply, *reply.followups):
            result = await self.post(channel, self.render_reply(part, locale), thread_ts=thread_ts)
            first = first or result
            if not result.ok:
                return result
            await self.upload_all(channel, part.attachments, thread_ts=thread_ts)
        assert first is not None
        return first

    async def post(
        self, channel: str, payload: dict[str, Any], *, thread_ts: str | None = None
    ) -> SendResult:
        """One paced ``chat.postMessage`` to the chat ``channel`` (an ``external_id``), with its
        workspace's token; its outcome as a :class:`SendResult`."""
        client, channel_id = await self.client_for(channel)
        if client is None:
            # Uninstalled, or the token revoked: nothing can reach this chat until it returns.
            return SendResult(ok=False, chat_gone=NOT_INSTALLED)
        await self.pacer.wait(channel, self.channel_rate)
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        try:
            response = await client.chat_postMessage(
                channel=channel_id,
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
        failed: list[str] = []
        if not attachments:
            return failed
        client, channel_id = await self.client_for(channel)
        if client is None:
            return [attachment.filename for attachment in attachments]
        for attachment in attachments:
            extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
            if attachment.caption:
                extra["initial_comment"] = render_slack.fit(attachment.caption, 3000)
            try:
                await client.files_upload_v2(
                    channel=channel_id,
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

#: What the install page says for each reason bolt gives for a failed install.
INSTALL_FAILURES = {
    "access_denied": "The installation was cancelled in Slack.",
    "invalid_browser": (
        "This page was opened without the installation that started it (another browser, or "
        "cookies blocked): start again from the install page, in one browser."
    ),
    "invalid_state": (
        "This installation link has expired or was already used: start again from the install page."
    ),
    "missing_code": "Slack did not send an installation code.",
    "invalid_code": (
        "Slack did not accept the installation code (it may have expired or been used)."
    ),
    "storage_error": "The installation could not be saved; please try again later.",
}


def check_oauth_settings(settings: Settings) -> None:
    """The OAuth install flow needs both app credentials and HTTP mode: say which is missing
    in one line, rather than run on one workspace, or none."""
    missing = [
        name
        for name, value in (
            ("SLACK_CLIENT_ID", settings.slack_client_id),
            ("SLACK_CLIENT_SECRET", settings.slack_client_secret),
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
        )
        if not value
    ]
    if missing:
        raise StartupError(
            f"the Slack install flow (several workspaces) needs {' and '.join(missing)} too; "
            "copy them from the app's Basic Information page"
        )
    if settings.slack_app_token:
        raise StartupError(
            "the Slack install flow (several workspaces) runs in HTTP mode: leave "
            "SLACK_APP_TOKEN empty and set the app's request URLs to /slack/events"
        )


class SlackRunner:
    """Builds the bolt app and the transport from settings; see the module docstring."""

    def __init__(self, settings: Settings, router: Router, *, pacer: Pacer | None = None) -> None:
        self.settings = settings
        self.router = router
        self.socket_mode = bool(settings.slack_app_token)
        self.oauth = settings.slack_oauth
        if not self.socket_mode and not settings.slack_signing_secret:
            raise ValueError(
                "Slack HTTP mode needs SLACK_SIGNING_SECRET "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            )
        if self.oauth:
            check_oauth_settings(settings)
        # One HTTP session for the bot's lifetime: without it slack_sdk opens a session, so a
        # new TLS connection, for every call. Closed in stop().
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        # With the OAuth flow this client has no token: bolt gives each request a copy with
        # its workspace's token, and sends go through resolve().
        self.client = AsyncWebClient(
            token=None if self.oauth else settings.slack_bot_token,
            base_url=settings.slack_api_url,
            session=self.session,
        )
        commands = frozenset(router.commands) | frozenset(router.aliases)
        self.store: DatabaseInstallationStore | None = None
        oauth_settings: AsyncOAuthSettings | None = None
        authorize: AsyncInstallationStoreAuthorize | None = None
        if self.oauth:
            db = router.context.services.db
            rotator = AsyncTokenRotator(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret,
                client=self.client,
            )
            self.store = DatabaseInstallationStore(db, settings.slack_client_id, rotator=rotator)
            oauth_settings = self.build_oauth_settings(self.store, DatabaseStateStore(db))
            authorize = AsyncInstallationStoreAuthorize(
                logger=log,
                installation_store=self.store,
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret,
                # One auth.test per token, not per request; a removed installation is still
                # refused, as the store is asked first every time.
                cache_enabled=True,
                client=self.client,
            )
        # bolt's own authorize when given: one that caches auth.test and rotates tokens.
        app_options: dict[str, Any] = {}
        if authorize is not None:
            app_options["authorize"] = authorize
            # What a person in a workspace without an installation sees (slash commands).
            app_options["user_facing_authorize_error_message"] = NOT_INSTALLED_MESSAGE
        self.transport = SlackTransport(
            self.client,
            pacer=pacer,
            commands=commands,
            resolver=self.resolve if self.oauth else None,
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret,
            request_verification_enabled=True,
            process_before_response=False,  # ack first, work after: bolt answers Slack at ack()
            # Bolt sets the level of the logger named after the app to the root's level when it
            # runs a listener; a name outside our "newsbot" logger keeps that logger's level ours.
            name="newsbot-slack",
            oauth_settings=oauth_settings,
            **app_options,
        )
        self.seen_events = SeenEvents()
        self._dm_channels: dict[str, str] = {}
        # Each user's Slack locale (users.info, include_locale), asked once per user: a chat
        # with no interface language chosen yet starts in it.
        self._user_locales: dict[str, str | None] = {}
        self._socket: Any = None
        #: False where another process (the ingest leader) holds Socket Mode's connection.
        self.connect_socket = True
        self._register()
        self.app.error(self._on_listener_error)

    # -- several workspaces --------------------------------------------------------------

    def build_oauth_settings(
        self, store: DatabaseInstallationStore, states: DatabaseStateStore
    ) -> AsyncOAuthSettings:
        """bolt's install flow over our stores, at our paths, with our own result pages. Every
        value is passed explicitly: bolt would otherwise read SLACK_* variables itself."""
        settings = self.settings
        return AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=[s.strip() for s in settings.slack_scopes.split(",") if s.strip()],
            user_scopes=[],
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            authorization_url=settings.slack_authorize_url,
            installation_store=store,
            state_store=states,
            state_expiration_seconds=int(states.lifetime.total_seconds()),
            callback_options=AsyncCallbackOptions(
                success=self._install_succeeded, failure=self._install_failed
            ),
            logger=log,
        )

    def chat_ref(self, context: AsyncBoltContext | Mapping[str, Any], channel: str) -> str:
        """The ``external_id`` of ``channel`` as seen in this request's workspace: the bare id
        with one workspace, ``WORKSPACE:CHANNEL`` for workspaces installed by the flow."""
        if self.store is None or not channel:
            return channel
        workspace = workspace_key(
            context.get("enterprise_id"),
            context.get("team_id"),
            bool(context.get("is_enterprise_install")),
        )
        if workspace is None or workspace == self.store.home_workspace:
            return channel
        return f"{workspace}:{channel}"

    async def resolve(self, chat_ref: str) -> tuple[AsyncWebClient | None, str]:
        """The transport's resolver: a client with the token of the chat's workspace (read
        from the installation store on each send, so an uninstall takes effect at once)."""
        assert self.store is not None
        workspace, separator, channel = chat_ref.rpartition(":")
        if not separator:
            channel = chat_ref
            workspace = self.store.home_workspace or ""
        token = await self.store.bot_token(workspace) if workspace else None
        if token is None:
            return None, channel
        client = AsyncWebClient(
            token=token, base_url=self.settings.slack_api_url, session=self.session
        )
        return client, channel

    async def _install_succeeded(self, args: AsyncSuccessArgs) -> BoltResponse:
        installation = args.installation
        where = installation.team_name or installation.enterprise_name or "your workspace"
        page = render_slack.install_page(
            "newsbot is installed",
            f"newsbot can now be used in {where}. In Slack, type {SLASH_COMMAND} help in a "
            "channel, or open the app's Home tab.",
        )
        return self._install_page(200, page, args.settings)

    async def _install_failed(self, args: AsyncFailureArgs) -> BoltResponse:
        """A failed or refused install: a page that says why and how to try again; nothing
        is stored (bolt calls this before it saves anything)."""
        reason = args.reason
        log.warning("event=slack_install_failed reason=%s", reason)
        explanation = INSTALL_FAILURES.get(reason, "The installation did not complete.")
        page = render_slack.install_page(
            "newsbot was not installed",
            f"{explanation} Nothing was installed.",
            retry=INSTALL_PATH,
            reason=reason,
        )
        return self._install_page(args.suggested_status_code, page, args.settings)

    @staticmethod
    def _install_page(status: int, page: str, settings: AsyncOAuthSettings) -> BoltResponse:
        # The flow's state cookie has served its purpose either way.
        return BoltResponse(
            status=status,
            body=page,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Set-Cookie": settings.state_utils.build_set_cookie_for_deletion(),
            },
        )

    # -- lifecycle -----------------------------------------------------------------------

    def attach_web(self, web_server: WebServer) -> None:
        """HTTP mode: Slack's Events API, slash commands and interactivity at /slack/events;
        with the OAuth flow, its two pages as well."""
        if not self.socket_mode:
            web_server.add_route("POST", EVENTS_PATH, self.handle_http)
        if self.oauth:
            web_server.add_route("GET", INSTALL_PATH, self.handle_install)
            web_server.add_route("GET", REDIRECT_PATH, self.handle_oauth_redirect)

    async def handle_install(self, request: web.Request) -> web.Response:
        """The "Add to Slack" page: a fresh state, remembered in the database and in a cookie
        of the installer's browser, and the button to Slack's consent page."""
        flow = self.app.oauth_flow
        assert flow is not None
        bolt_response = await flow.handle_installation(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def handle_oauth_redirect(self, request: web.Request) -> web.Response:
        """Slack sends the installer back here: the state is checked (same browser, issued
        by us, unused, unexpired), the code traded for the workspace's token with
        ``oauth.v2.access``, and the installation stored."""
        flow = self.app.oauth_flow
        assert flow is not None
        bolt_response = await flow.handle_callback(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def handle_http(self, request: web.Request) -> web.Response:
        problem = signature_headers_problem(request.headers)
        if problem is not None:
            return web.Response(status=401, text=problem)
        bolt_request = await to_bolt_request(request)
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def _auth_test(self) -> None:
        """``auth.test``: the token's check. Slack or the network being down is worth retrying;
        a refused token is not. With the OAuth flow and no SLACK_BOT_TOKEN there is no token
        to check: the workspaces come from the database."""
        url = self.settings.slack_api_url
        if self.store is not None and not self.settings.slack_bot_token:
            workspaces = await self.store.workspaces()
            log.info("event=slack_ready mode=oauth workspaces=%d", len(workspaces))
            return
        try:
            identity = await self.client.auth_test(token=self.settings.slack_bot_token)
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
        if self.store is not None:
            # The workspace of SLACK_BOT_TOKEN keeps being served with it (and its chats keep
            # their bare ids) until it installs through the flow itself.
            self.store.set_home(
                Bot(
                    enterprise_id=identity.get("enterprise_id"),
                    team_id=identity.get("team_id"),
                    bot_token=self.settings.slack_bot_token,
                    bot_id=str(identity.get("bot_id") or ""),
                    bot_user_id=str(identity.get("user_id") or ""),
                    is_enterprise_install=bool(identity.get("is_enterprise_install")),
                    installed_at=0.0,
                )
            )
        log.info(
            "event=slack_ready team=%s bot_user=%s mode=%s",
            identity.get("team_id"),
            identity.get("user_id"),
            ("oauth+" if self.oauth else "") + ("socket" if self.socket_mode else "http"),
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
        app.event("app_uninstalled")(self._on_uninstalled)
        app.event("tokens_revoked")(self._on_tokens_revoked)

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

    async def user_locale(self, user_id: str, client: AsyncWebClient | None = None) -> str | None:
        """The user's Slack locale (``es-ES``) from ``users.info`` with ``include_locale``,
        asked once per user and cached; None when Slack does not say or the call fails (the
        ``users:read`` scope is missing, say): the chat then starts in English."""
        if not user_id:
            return None
        if user_id not in self._user_locales:
            locale: str | None = None
            try:
                # The workspace's own client (its token) in OAuth mode; the app's otherwise.
                api = client or self.client
                response = await api.users_info(user=user_id, include_locale=True)
                user = response.get("user") or {}
                found = user.get("locale") if isinstance(user, dict) else None
                locale = found if isinstance(found, str) else None
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                log.info("event=slack_locale_unknown user=%s error=%r", user_id, str(exc)[:200])
            if len(self._user_locales) >= USER_LOCALE_CACHE:
                self._user_locales.clear()
            self._user_locales[user_id] = locale
        return self._user_locales[user_id]

    async def _translator(self, request: Request) -> Translator:
        return translator(await self.router.locale_of(request))

    async def _run(self, request: Request) -> Reply | None:
        try:
            return await self.router.handle(request)
        except Exception:
            log.exception("event=slack_command_failed command=%s", request.command)
            t = await self._translator(request)
            return Reply(
                t._("Something went wrong on our side; it has been logged. Please try again.")
            )

    async def _on_slash_command(
        self,
        ack: Callable[..., Awaitable[None]],
        body: dict[str, Any],
        respond: Respond,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        channel_id = str(body.get("channel_id") or "")
        channel = self.chat_ref(context, channel_id)
        channel_name = str(body.get("channel_name") or "")
        kind = chat_kind(channel_id, channel_name)
        command, args = parse_words(str(body.get("text") or ""))
        title = (
            f"DM {body.get('user_name', '')}".strip() if kind == "private" else f"#{channel_name}"
        )
        user = str(body.get("user_id") or "")
        request = Request(
            PLATFORM,
            channel,
            user,
            command,
            args,
            chat_title=title,
            chat_kind=kind,
            user_locale=await self.user_locale(user, context.client),
        )
        reply = await self._run(request)
        if reply is not None:
            public = kind != "private" and command in CHANNEL_VISIBLE and not reply.ephemeral
            await self._respond(
                respond,
                channel,
                reply,
                ephemeral=not public and kind != "private",
                locale=await self.router.locale_of(request),
            )

    async def _respond(
        self,
        respond: Respond,
        channel: str,
        reply: Reply,
        *,
        ephemeral: bool,
        locale: str | None = None,
    ) -> None:
        """Answer through the response_url; fall back to a message if that fails."""
        t = translator(locale)
        for part in (reply, *reply.followups):
            payload = self.transport.render_reply(part, locale)
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
                    t._(
                        "(Could not attach {files} here; the bot may need to be invited.)",
                        files=", ".join(failed),
                    )
                )
                try:
                    await respond(
                        **self.transport.render_reply(note, locale),
                        response_type="ephemeral",
                        replace_original=False,
                    )
                except Exception:
                    log.warning("event=slack_respond_failed channel=%s", channel)

    async def _on_mention(
        self, ack: Callable[..., Awaitable[None]], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        await self._text_command(event, context)

    async def _on_message(
        self, ack: Callable[..., Awaitable[None]], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Direct messages only; edits, joins and bot posts (subtypes) are not commands, but a
        file shared with a command as its text (``admin import`` with an .opml file) is."""
        await ack()
        if (
            event.get("channel_type") != "im"
            or event.get("subtype") not in COMMAND_SUBTYPES
            or event.get("bot_id")
        ):
            return
        await self._text_command(event, context)

    async def _text_command(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        channel_id = str(event.get("channel") or "")
        channel = self.chat_ref(context, channel_id)
        thread_ts = event.get("thread_ts")
        command, args = parse_words(str(event.get("text") or ""))
        user = str(event.get("user") or "")
        request = Request(
            PLATFORM,
            channel,
            user,
            command,
            args,
            chat_kind=chat_kind(channel_id),
            thread_id=thread_ts,
            user_locale=await self.user_locale(user, context.client),
        )
        files = event.get("files")
        reply: Reply | None
        if isinstance(files, list) and files and self._may_read_files(request):
            token = context.bot_token or self.settings.slack_bot_token
            attachment = await self.download_file(
                files[0], token=token, locale=await self.router.locale_of(request)
            )
            if isinstance(attachment, Reply):
                reply = attachment
            else:
                reply = await self._run(replace(request, attachment=attachment))
        else:
            reply = await self._run(request)
        if reply is not None:
            result = await self.transport.post_reply(
                channel, reply, thread_ts=thread_ts, locale=await self.router.locale_of(request)
            )
            if not result.ok:
                log.warning("event=slack_reply_failed channel=%s result=%s", channel, result)

    def _may_read_files(self, request: Request) -> bool:
        """Only a command that exists, and that this user may run, gets its file downloaded:
        the router refuses the rest anyway, and nothing is fetched with the bot token for them."""
        spec = self.router.resolve(request.command)
        return spec is not None and (not spec.admin or self.router.is_admin(request))

    async def download_file(
        self, file: Any, *, token: str | None = None, locale: str | None = None
    ) -> tuple[str, bytes] | Reply:
        """A shared file's ``(name, bytes)`` from its ``url_private``, read with the bot token
        of the workspace it was shared in (Slack needs the ``files:read`` scope for that) and
        capped at MAX_UPLOAD_BYTES; or the reply that explains why not, in the chat's language
        ``locale``."""
        t = translator(locale)
        too_large = Reply(
            t._("That file is too large: the limit is {limit} KB.", limit=MAX_UPLOAD_BYTES // 1000)
        )
        failed = Reply(
            t._(
                "I could not download that file. Please share it again (the Slack app needs "
                "the files:read scope)."
            )
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
        headers = {"Authorization": f"Bearer {token or self.settings.slack_bot_token}"}
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

    async def _dm_channel(
        self, user_id: str, client: AsyncWebClient, context: AsyncBoltContext
    ) -> str:
        """The chat of the bot's DM with ``user_id`` (the chat the App Home tab shows), as an
        ``external_id`` of the request's workspace."""
        key = self.chat_ref(context, user_id)
        if key not in self._dm_channels:
            opened = await client.conversations_open(users=user_id)
            self._dm_channels[key] = self.chat_ref(context, str(opened["channel"]["id"]))
        return self._dm_channels[key]

    async def publish_home(
        self, user_id: str, dm_channel: str, client: AsyncWebClient, *, notice: str = ""
    ) -> None:
        db = self.router.context.services.db
        chat = await db.call(chat_store.find_chat, PLATFORM, dm_channel)
        subs = await db.call(sub_store.chat_subscriptions, chat.id) if chat else []
        view = render_slack.render_home(
            chat,
            subs,
            notice=notice,
            slash_command=SLASH_COMMAND,
            locale=await self.user_locale(user_id, client),
        )
        try:
            await client.views_publish(user_id=user_id, view=view)
        except SlackClientError as exc:
            log.warning("event=slack_home_failed user=%s error=%r", user_id, str(exc)[:200])

    async def _on_home_opened(
        self,
        ack: Callable[..., Awaitable[None]],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        if event.get("tab", "home") != "home":
            return
        user = str(event.get("user") or "")
        channel = event.get("channel")
        if isinstance(channel, str) and channel.startswith("D"):
            self._dm_channels[self.chat_ref(context, user)] = self.chat_ref(context, channel)
        try:
            dm = await self._dm_channel(user, client, context)
        except SlackClientError as exc:
            log.warning("event=slack_dm_open_failed user=%s error=%r", user, str(exc)[:200])
            return
        await self.publish_home(user, dm, client)

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
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        """A button's value is the callback data of :mod:`handlers.callbacks`."""
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        value = str(action.get("value") or "")
        if self._from_home(body):
            dm = await self._dm_channel(user, client, context)
            request = Request(
                PLATFORM,
                dm,
                user,
                "callback",
                value,
                chat_kind="private",
                user_locale=await self.user_locale(user, client),
            )
            reply = await self._callback(request)
            await self.publish_home(user, dm, client, notice=reply.text if reply else "")
            return
        channel_id = str(
            (body.get("channel") or {}).get("id")
            or (body.get("container") or {}).get("channel_id")
            or ""
        )
        channel = self.chat_ref(context, channel_id)
        request = Request(
            PLATFORM,
            channel,
            user,
            "callback",
            value,
            chat_kind=chat_kind(channel_id),
            user_locale=await self.user_locale(user, client),
        )
        reply = await self._callback(request)
        if reply is not None:
            await self._respond(
                respond, channel, reply, ephemeral=True, locale=await self.router.locale_of(request)
            )

    async def _callback(self, request: Request) -> Reply | None:
        try:
            return await handle_callback(self.router, request)
        except Exception:
            log.exception("event=slack_callback_failed data=%r", request.args)
            t = await self._translator(request)
            return Reply(
                t._("Something went wrong on our side; it has been logged. Please try again.")
            )

    async def _on_home_command(
        self,
        ack: Callable[..., Awaitable[None]],
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        """Pause/resume from the App Home tab (commands without arguments, allow-listed)."""
        await ack()
        command = str(action.get("value") or "")
        user = str((body.get("user") or {}).get("id") or "")
        if command not in render_slack.HOME_COMMANDS:
            return
        dm = await self._dm_channel(user, client, context)
        request = Request(
            PLATFORM,
            dm,
            user,
            command,
            "",
            chat_kind="private",
            user_locale=await self.user_locale(user, client),
        )
        reply = await self._run(request)
        await self.publish_home(user, dm, client, notice=reply.text if reply else "")

    async def _on_link(self, ack: Callable[..., Awaitable[None]]) -> None:
        """URL buttons open in the browser; Slack still expects the press acknowledged."""
        await ack()

    async def _on_channel_gone(
        self, ack: Callable[..., Awaitable[None]], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """The bot was removed from a channel, or it was archived: stop sending there."""
        await ack()
        if event.get("type") == "member_left_channel" and event.get("user") != context.get(
            "bot_user_id"
        ):
            return
        channel = self.chat_ref(context, str(event.get("channel") or ""))
        db = self.router.context.services.db
        chat = await db.call(chat_store.find_chat, PLATFORM, channel)
        if chat is not None and chat.state == "active":
            reason = "archived" if event.get("type", "").endswith("archive") else "bot removed"
            await db.call(chat_store.set_chat_state, chat.id, "dormant", reason)
            log.info("event=chat_dormant chat=%s reason=%s", chat.id, reason)

    # -- several workspaces: leaving -------------------------------------------------------

    async def _on_uninstalled(
        self, ack: Callable[..., Awaitable[None]], context: AsyncBoltContext
    ) -> None:
        """The app was removed from a workspace: its tokens are deleted, so nothing more is
        sent there (its chats go to sleep at their next alert) and its requests are refused.
        With one token there is nothing to delete: the event is acknowledged and logged."""
        await ack()
        if self.store is None:
            log.warning(
                "event=slack_uninstalled team=%s (SLACK_BOT_TOKEN is revoked)", context.team_id
            )
            return
        await self.store.async_delete_all(
            enterprise_id=context.enterprise_id,
            team_id=None if context.is_enterprise_install else context.team_id,
        )

    async def _on_tokens_revoked(
        self, ack: Callable[..., Awaitable[None]], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Tokens revoked in a workspace: a revoked bot token is deleted, as are the
        installations of users whose tokens were revoked."""
        await ack()
        if self.store is None:
            log.warning("event=slack_tokens_revoked team=%s", context.team_id)
            return
        tokens = event.get("tokens") or {}
        team_id = None if context.is_enterprise_install else context.team_id
        for user_id in tokens.get("oauth") or []:
            await self.store.async_delete_installation(
                enterprise_id=context.enterprise_id, team_id=team_id, user_id=str(user_id)
            )
        if tokens.get("bot"):
            await self.store.async_delete_bot(enterprise_id=context.enterprise_id, team_id=team_id)
        log.info("event=slack_tokens_revoked team=%s", context.team_id)
