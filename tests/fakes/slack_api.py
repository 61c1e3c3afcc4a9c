"""A fake Slack Web API server for tests, talked to by the real slack_sdk / slack-bolt clients.

Usage::

    with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.base_url)
        await client.chat_postMessage(channel="C1", text="hi")
        assert slack.sent_messages("C1")[0].params["text"] == "hi"

Like Slack, errors are HTTP 200 with ``{"ok": false, "error": ...}`` except rate limiting (429
with a ``Retry-After`` header) and outages (``set_down``: 502 with an HTML body). Message bodies
go through ``slack_blocks.validate_message``; failures are ``invalid_blocks`` with the problems
in ``response_metadata.messages``.

Rate limit (``enforce_limits=True``): chat.postMessage is limited per channel by a token bucket
with a burst of ``post_burst`` (3) messages refilled at ``post_rate`` (1) per second, our
reading of Slack's "1 message per second per channel, short bursts allowed". Only accepted
posts use quota.

Beyond ``/api/{method}`` the fake serves the upload URLs that ``files.getUploadURLExternal``
hands out (``files_upload_v2``'s second step, recorded as method ``"upload"``) and
``response_url(key)`` endpoints for slash commands (recorded as method ``"respond"``).

OAuth (several workspaces): ``oauth_app(client_id, secret)`` registers the app and
``add_workspace(team_id, name)`` the workspaces that may install it. ``authorize_url`` is
Slack's consent page (recorded as method ``"oauth.authorize"``): it "approves" at once and
redirects to ``oauth_redirect_url`` (the app's configured Redirect URL) with a one-time code
and the flow's state, or with ``error=access_denied`` when ``deny_installs`` is set.
``oauth.v2.access`` trades the code for a bot token of that workspace; ``auth.test`` then
answers as that workspace, and ``revoke_workspace`` makes its tokens ``token_revoked``. With
``token_lifetime`` set (seconds), tokens rotate as with Slack's token rotation: each comes with
``expires_in`` and a refresh token that ``oauth.v2.access`` (``grant_type=refresh_token``)
trades, once, for a new pair.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.fakes._server import (
    ApiError,
    Call,
    FakeServer,
    Request,
    Response,
    TokenBucket,
    UploadedFile,
    retry_after_seconds,
)
from tests.fakes.slack_blocks import (
    MAX_MESSAGE_TEXT,
    MAX_VIEW_BLOCKS,
    validate_blocks,
    validate_message,
    validate_untrusted_escaping,
)

_JSON_FIELDS = frozenset({"blocks", "attachments", "view", "files", "metadata"})
_TOKEN_PREFIXES = ("xoxb-", "xoxp-", "xapp-", "xoxe.")
_API_PATH = re.compile(r"^/api/(?P<method>[A-Za-z0-9.]+)/?$")
_UPLOAD_PATH = re.compile(r"^/upload/(?P<file_id>[A-Z0-9]+)$")
_RESPOND_PATH = re.compile(r"^/respond/(?P<key>[\w.-]+)$")
#: Errors ``fail_channel`` is meant for (others are accepted too, as Slack has many).
CHANNEL_ERRORS = ("channel_not_found", "not_in_channel", "is_archived", "account_inactive")


def _ok(**fields: Any) -> Response:
    return Response.json(200, {"ok": True, **fields})


def _fail(error: str, status: int = 200, **fields: Any) -> ApiError:
    return ApiError(Response.json(status, {"ok": False, "error": error, **fields}))


def _decode(name: str, value: Any) -> Any:
    """Form bodies carry JSON-valued arguments as text; decode them for the call log."""
    if name in _JSON_FIELDS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass
class FakeChannel:
    """A conversation as conversations.info reports it."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_archived: bool = False
    is_member: bool = True
    user: str | None = None  # the other member of a DM

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_im and not self.is_private,
            "is_group": self.is_private and not self.is_im,
            "is_im": self.is_im,
            "is_private": self.is_private or self.is_im,
            "is_archived": self.is_archived,
            "is_member": self.is_member,
            "created": 1_600_000_000,
        }
        if self.user:
            data["user"] = self.user
        return data


@dataclass
class FakeWorkspace:
    """A workspace that can install the app through the OAuth flow."""

    team_id: str
    name: str
    bot_user_id: str
    bot_id: str
    enterprise_id: str | None = None
    tokens: list[str] | None = None

    def identity(self) -> dict[str, Any]:
        return {
            "url": f"https://{self.name.lower().replace(' ', '-')}.slack.com/",
            "team": self.name,
            "user": "newsbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "enterprise_id": self.enterprise_id,
            "is_enterprise_install": False,
        }


@dataclass
class _Fault:
    error: str
    status: int
    remaining: int | None

    def fire(self) -> ApiError | None:
        if self.remaining is not None:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
        return _fail(self.error, self.status)


class FakeSlack(FakeServer):
    """A Slack Web API server on 127.0.0.1; see the module docstring for behaviour."""

    def __init__(
        self,
        *,
        enforce_limits: bool = False,
        strict_channels: bool = False,
        post_burst: int = 3,
        post_rate: float = 1.0,
        team_id: str = "T0FAKE",
        bot_user_id: str = "U0BOT",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``strict_channels``: unknown channels are channel_not_found, not created on use."""
        super().__init__()
        self.enforce_limits = enforce_limits
        self.strict_channels = strict_channels
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.clock = clock
        self._post_burst = post_burst
        self._post_rate = post_rate
        #: WebSocket URL ``apps.connections.open`` hands out to app-level tokens.
        self.socket_url: str | None = None
        #: Number of requests answered with 429.
        self.rate_limited = 0
        self._down = False
        self._channels: dict[str, FakeChannel] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._ts_base = int(time.time())
        self._ts_counter = itertools.count(1)
        self._ids = itertools.count(1)
        self._pending_files: dict[str, dict[str, Any]] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._channel_faults: dict[str, _Fault] = {}
        self._method_faults: dict[str, _Fault] = {}
        self._channel_delays: dict[str, float] = {}
        self._refused_images: set[str] = set()
        #: OAuth: the app's credentials, its Redirect URL, and what installs produced.
        self.client_id: str | None = None
        self.client_secret: str | None = None
        self.oauth_redirect_url: str | None = None
        self.deny_installs = False
        self.token_lifetime: int | None = None
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> team
        self._workspaces: dict[str, FakeWorkspace] = {}
        self._codes: dict[str, tuple[str, str | None]] = {}  # code -> (team, redirect_uri)
        self._token_teams: dict[str, str] = {}
        self._revoked: set[str] = set()
        self._buckets: dict[str, TokenBucket] = {}
        self._handlers: dict[str, Callable[[dict[str, Any]], Response]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._get_permalink,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "apps.connections.open": self._connections_open,
        }

    # -- URLs ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Web API base URL, as ``SLACK_API_URL`` and ``AsyncWebClient(base_url=...)`` take."""
        return f"{self.root_url}/api/"

    @property
    def authorize_url(self) -> str:
        """Slack's consent page, as ``SLACK_AUTHORIZE_URL`` takes it."""
        return f"{self.root_url}/oauth/v2/authorize"

    def response_url(self, key: str | None = None) -> str:
        """A slash-command ``response_url`` on the fake; POSTs to it are ``respond`` calls."""
        return f"{self.root_url}/respond/{key or next(self._ids)}"

    # -- test-side set-up ------------------------------------------------------------------

    def set_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        is_private: bool = False,
        is_im: bool = False,
        is_archived: bool = False,
        is_member: bool = True,
    ) -> FakeChannel:
        with self._cond:
            channel = FakeChannel(
                channel_id,
                name or channel_id.lower(),
                is_private=is_private,
                is_im=is_im,
                is_archived=is_archived,
                is_member=is_member,
            )
            self._channels[channel_id] = channel
            return channel

    def set_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
        deleted: bool = False,
        locale: str | None = None,
    ) -> None:
        """``locale`` (``es-ES``) is what ``users.info`` tells when asked with include_locale."""
        with self._cond:
            self._users[user_id] = self._user_object(
                user_id, name=name, real_name=real_name, tz=tz, is_bot=is_bot, deleted=deleted
            )
            if locale:
                self._users[user_id]["locale"] = locale

    def oauth_app(self, client_id: str, client_secret: str) -> None:
        """The app's credentials (Basic Information -> App Credentials)."""
        with self._cond:
            self.client_id = client_id
            self.client_secret = client_secret

    def add_workspace(
        self, team_id: str, name: str, *, enterprise_id: str | None = None
    ) -> FakeWorkspace:
        """A workspace whose admins may install the app through the OAuth flow."""
        with self._cond:
            workspace = FakeWorkspace(
                team_id,
                name,
                bot_user_id=f"UBOT{team_id}",
                bot_id=f"BBOT{team_id}",
                enterprise_id=enterprise_id,
                tokens=[],
            )
            self._workspaces[team_id] = workspace
            return workspace

    def workspace_tokens(self, team_id: str) -> list[str]:
        """Bot tokens issued to ``team_id`` by oauth.v2.access, oldest first."""
        with self._cond:
            return list(self._workspaces[team_id].tokens or [])

    def revoke_workspace(self, team_id: str) -> None:
        """The app was uninstalled from ``team_id``: its tokens stop working."""
        with self._cond:
            self._revoked.update(self._workspaces[team_id].tokens or [])

    # -- fault injection -------------------------------------------------------------------

    def fail_channel(self, channel: str, error: str, times: int | None = None) -> None:
        """Make calls addressed to ``channel`` fail with ``error`` (see CHANNEL_ERRORS)."""
        with self._cond:
            self._channel_faults[channel] = _Fault(error, 200, times)

    def fail_method(
        self, method: str, error: str, times: int | None = None, *, status: int = 200
    ) -> None:
        """Make every call of ``method`` fail with ``error`` (HTTP ``status``)."""
        with self._cond:
            self._method_faults[method] = _Fault(error, status, times)

    def refuse_image(self, url: str) -> None:
        """Refuse messages with an image block showing ``url``, as Slack does when it cannot
        download the image: ``invalid_blocks`` with "downloading image failed"."""
        with self._cond:
            self._refused_images.add(url)

    def delay_channel(self, channel: str, seconds: float) -> None:
        """Answer calls addressed to ``channel`` only after ``seconds``."""
        with self._cond:
            self._channel_delays[channel] = seconds

    def set_down(self, down: bool = True) -> None:
        """Answer everything with 502 and an HTML page, as during a Slack outage."""
        with self._cond:
            self._down = down

    def clear_faults(self) -> None:
        with self._cond:
            self._channel_faults.clear()
            self._method_faults.clear()
            self._channel_delays.clear()
            self._refused_images.clear()
            self._down = False

    # -- assertion helpers -----------------------------------------------------------------

    def sent_messages(self, channel: str | None = None) -> list[Call]:
        """Accepted chat.postMessage calls, optionally only those addressed to ``channel``."""
        return [
            call
            for call in self.calls
            if call.method == "chat.postMessage"
            and call.ok
            and (
                channel is None
                or channel in (call.params.get("channel"), (call.response or {}).get("channel"))
            )
        ]

    def responses(self, key: str | None = None) -> list[Call]:
        """Accepted POSTs to ``response_url`` endpoints (all, or one key's)."""
        return [
            call
            for call in self.calls_to("respond")
            if call.ok and (key is None or call.path == f"/respond/{key}")
        ]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The current state of a posted message (after chat.update), or None."""
        with self._cond:
            stored = self._messages.get((channel, ts))
            return json.loads(json.dumps(stored)) if stored is not None else None

    @staticmethod
    def validate_untrusted_escaping(text: str, *, link_names: bool = False) -> list[str]:
        """Mentions/broadcasts in ``text`` (``slack_blocks.validate_untrusted_escaping``)."""
        return validate_untrusted_escaping(text, link_names=link_names)

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self._cond:
            down = self._down
        upload = _UPLOAD_PATH.match(request.path)
        respond = _RESPOND_PATH.match(request.path)
        api = _API_PATH.match(request.path)
        authorize = request.path == "/oauth/v2/authorize"
        if authorize:
            method = "oauth.authorize"
        elif upload:
            method = "upload"
        elif respond:
            method = "respond"
        else:
            method = api["method"] if api else request.path
        params = {name: _decode(name, value) for name, value in request.fields.items()}
        for name, uploaded in request.files.items():
            params[name] = uploaded.summary()
        call = self.record(method, params, self._token(request), request.headers, request.path)
        if down:
            return self.answer(
                call, Response.text(502, "<html>502 Bad Gateway</html>", "text/html")
            )
        try:
            if authorize:
                response = self._authorize(params)
            elif upload:
                response = self._receive_upload(upload["file_id"], request)
            elif respond:
                response = self._respond(params)
            elif api is None:
                response = Response.text(404, "Not Found")
            elif method == "oauth.v2.access":
                response = self._oauth_access(params, request.headers.get("authorization", ""))
            else:
                response = self._api_call(method, params, call.token)
        except ApiError as exc:
            response = exc.response
        return self.answer(call, response)

    def bad_body(self, reason: str) -> Response:
        return Response.json(200, {"ok": False, "error": "invalid_json", "detail": reason})

    @staticmethod
    def _token(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        token = request.fields.get("token")
        return token if isinstance(token, str) else None

    def _api_call(self, method: str, params: dict[str, Any], token: str | None) -> Response:
        handler = self._handlers.get(method)
        if handler is None:
            raise _fail("unknown_method")
        if not token:
            raise _fail("not_authed")
        if not token.startswith(_TOKEN_PREFIXES):
            raise _fail("invalid_auth")
        with self._cond:
            if token in self._revoked:
                raise _fail("token_revoked")
        channel = params.get("channel") or params.get("channel_id")
        channel = channel if isinstance(channel, str) else None
        with self._cond:
            delay = self._channel_delays.get(channel, 0.0) if channel else 0.0
        if delay:
            self.sleep(delay)
        with self._cond:
            fault = self._method_faults.get(method)
            error = fault.fire() if fault else None
            if error is None and channel:
                for key in self._fault_keys(channel):
                    if key in self._channel_faults:
                        error = self._channel_faults[key].fire()
                        break
            if error is not None:
                raise error
        if method == "apps.connections.open":
            return self._connections_open(params, token)
        if method == "auth.test":
            return self._auth_test(params, token)
        return handler(params)

    # -- state helpers (caller holds the lock) ---------------------------------------------

    def _fault_keys(self, channel: str) -> list[str]:
        """The names a fault may have been registered under: as sent, and as resolved."""
        keys = [channel]
        if channel.startswith(("U", "W")):
            keys.append("D" + channel[1:])
        elif channel.startswith("#"):
            keys.extend(c.id for c in self._channels.values() if c.name == channel[1:])
        return keys

    def _resolve(self, channel: str) -> FakeChannel:
        """Find a conversation by id, user id (its DM) or #name, like chat.postMessage does."""
        if channel.startswith("#"):
            for known in self._channels.values():
                if known.name == channel[1:]:
                    return known
            raise _fail("channel_not_found")
        if channel.startswith(("U", "W")):
            dm_id = "D" + channel[1:]
            if dm_id not in self._channels:
                self._channels[dm_id] = FakeChannel(dm_id, dm_id.lower(), is_im=True, user=channel)
            return self._channels[dm_id]
        known_channel = self._channels.get(channel)
        if known_channel is not None:
            return known_channel
        if self.strict_channels or not re.fullmatch(r"[CDG][A-Z0-9]+", channel):
            raise _fail("channel_not_found")
        created = FakeChannel(
            channel, channel.lower(), is_private=channel.startswith("G"), is_im=channel[0] == "D"
        )
        self._channels[channel] = created
        return created

    def _channel_param(self, params: dict[str, Any], name: str = "channel") -> FakeChannel:
        value = params.get(name)
        if not isinstance(value, str) or not value:
            raise _fail("channel_not_found")
        with self._cond:
            channel = self._resolve(value)
            if channel.is_archived:
                raise _fail("is_archived")
            return channel

    def _next_ts(self) -> str:
        n = next(self._ts_counter)
        return f"{self._ts_base + n // 1_000_000}.{n % 1_000_000:06d}"

    @staticmethod
    def _user_object(
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
        deleted: bool = False,
    ) -> dict[str, Any]:
        handle = name or user_id.lower()
        return {
            "id": user_id,
            "name": handle,
            "real_name": real_name or handle,
            "deleted": deleted,
            "is_bot": is_bot,
            "tz": tz,
            "profile": {"display_name": handle, "real_name": real_name or handle},
        }

    def _check_message(self, params: dict[str, Any]) -> None:
        text = params.get("text")
        blocks = params.get("blocks")
        if not text and not blocks and not params.get("attachments"):
            raise _fail("no_text")
        if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
            raise _fail("msg_too_long")
        errors = validate_message(params)
        with self._cond:
            refused = set(self._refused_images)
        for index, block in enumerate(blocks if isinstance(blocks, list) else []):
            if isinstance(block, dict) and block.get("image_url") in refused:
                errors.append(
                    f"[ERROR] downloading image failed [json-pointer:/blocks/{index}/image_url]"
                )
        if errors:
            raise _fail("invalid_blocks", response_metadata={"messages": errors})

    def _check_flood(self, channel_id: str) -> None:
        if not self.enforce_limits:
            return
        now = self.clock()
        bucket = self._buckets.setdefault(
            channel_id, TokenBucket(self._post_burst, self._post_rate, now)
        )
        wait = bucket.wait_time(now)
        if wait > 0:
            self.rate_limited += 1
            raise ApiError(
                Response.json(
                    429,
                    {"ok": False, "error": "ratelimited"},
                    headers={"Retry-After": str(retry_after_seconds(wait))},
                )
            )
        bucket.consume()

    def _message_object(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": "B0BOT",
            "text": params.get("text") or "",
            "ts": ts,
            "team": self.team_id,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if params.get(key):
                message[key] = params[key]
        return message

    # -- methods ---------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any], token: str | None = None) -> Response:
        with self._cond:
            team = self._token_teams.get(token or "")
            workspace = self._workspaces.get(team) if team else None
        if workspace is not None:
            return _ok(**workspace.identity())
        return _ok(
            url="https://fake-workspace.slack.com/",
            team="Fake Workspace",
            user="newsbot",
            team_id=self.team_id,
            user_id=self.bot_user_id,
            bot_id="B0BOT",
            is_enterprise_install=False,
        )

    def _post_message(self, params: dict[str, Any]) -> Response:
        channel = self._channel_param(params)
        self._check_message(params)
        with self._cond:
            if not channel.is_member and not channel.is_im:
                raise _fail("not_in_channel")
            self._check_flood(channel.id)
            ts = self._next_ts()
            message = self._message_object(params, ts)
            self._messages[(channel.id, ts)] = message
        return _ok(channel=channel.id, ts=ts, message=message)

    def _update(self, params: dict[str, Any]) -> Response:
        channel = self._channel_param(params)
        self._check_message(params)
        ts = str(params.get("ts") or "")
        with self._cond:
            stored = self._messages.get((channel.id, ts))
            if stored is None:
                raise _fail("message_not_found")
            stored.update(self._message_object(params, ts))
            stored["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
            return _ok(channel=channel.id, ts=ts, text=stored["text"], message=dict(stored))

    def _post_ephemeral(self, params: dict[str, Any]) -> Response:
        channel = self._channel_param(params)
        if not params.get("user"):
            raise _fail("user_not_in_channel")
        self._check_message(params)
        with self._cond:
            return _ok(message_ts=self._next_ts(), channel=channel.id)

    def _get_permalink(self, params: dict[str, Any]) -> Response:
        channel = self._channel_param(params)
        ts = str(params.get("message_ts") or "")
        with self._cond:
            if (channel.id, ts) not in self._messages:
                raise _fail("message_not_found")
        permalink = f"https://fake-workspace.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
        return _ok(channel=channel.id, permalink=permalink)

    def _view(self, params: dict[str, Any], expected_type: str) -> dict[str, Any]:
        view = params.get("view")
        if not isinstance(view, dict):
            raise _fail("invalid_arguments")
        if view.get("type") != expected_type:
            raise _fail(
                "invalid_arguments",
                response_metadata={
                    "messages": [f"[ERROR] must be '{expected_type}' [json-pointer:/view/type]"]
                },
            )
        errors = validate_blocks(
            view.get("blocks", []), max_blocks=MAX_VIEW_BLOCKS, pointer="/view/blocks"
        )
        if errors:
            raise _fail("invalid_blocks", response_metadata={"messages": errors})
        with self._cond:
            view_id = f"V{next(self._ids):08d}"
        return {"id": view_id, "team_id": self.team_id, **view}

    def _views_publish(self, params: dict[str, Any]) -> Response:
        if not params.get("user_id"):
            raise _fail("invalid_arguments")
        return _ok(view=self._view(params, "home"))

    def _views_open(self, params: dict[str, Any]) -> Response:
        if not params.get("trigger_id"):
            raise _fail("invalid_trigger_id")
        return _ok(view=self._view(params, "modal"))

    def _conversations_info(self, params: dict[str, Any]) -> Response:
        channel = params.get("channel")
        if not isinstance(channel, str) or not channel:
            raise _fail("channel_not_found")
        with self._cond:
            return _ok(channel=self._resolve(channel).to_api())

    def _conversations_open(self, params: dict[str, Any]) -> Response:
        users = str(params.get("users") or "").split(",")
        if not users[0] or len(users) != 1:
            raise _fail("invalid_arguments" if not users[0] else "not_supported_by_fake")
        with self._cond:
            return _ok(channel={"id": self._resolve(users[0].strip()).id})

    def _users_info(self, params: dict[str, Any]) -> Response:
        user_id = params.get("user")
        if not isinstance(user_id, str) or not re.fullmatch(r"[UW][A-Z0-9]+", user_id):
            raise _fail("user_not_found")
        with self._cond:
            user = dict(self._users.get(user_id) or self._user_object(user_id))
        # As Slack does: the locale only for a call that asks for it.
        if str(params.get("include_locale", "")).lower() not in ("1", "true"):
            user.pop("locale", None)
        return _ok(user=user)

    def _get_upload_url(self, params: dict[str, Any]) -> Response:
        filename = params.get("filename")
        try:
            length = int(params.get("length", ""))
        except ValueError:
            length = -1
        if not filename or length < 0:
            raise _fail("invalid_arguments")
        with self._cond:
            file_id = f"F{next(self._ids):08d}"
            self._pending_files[file_id] = {"name": str(filename), "length": length, "data": None}
        return _ok(upload_url=f"{self.root_url}/upload/{file_id}", file_id=file_id)

    def _receive_upload(self, file_id: str, request: Request) -> Response:
        # files_upload_v2 POSTs the raw bytes; a multipart "file" part is accepted too.
        uploaded: UploadedFile | None = request.files.get("file")
        data = uploaded.content if uploaded else request.body
        with self._cond:
            pending = self._pending_files.get(file_id)
            if pending is None:
                return Response.text(404, "Not Found")
            pending["data"] = data
        return Response.text(200, f"OK - {len(data)}")

    def _complete_upload(self, params: dict[str, Any]) -> Response:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise _fail("invalid_arguments")
        channel_id = params.get("channel_id")
        channel = self._channel_param(params, "channel_id") if channel_id else None
        completed = []
        with self._cond:
            for item in files:
                file_id = item.get("id") if isinstance(item, dict) else None
                pending = self._pending_files.get(str(file_id))
                if pending is None or pending["data"] is None:
                    raise _fail("file_not_found")
                if len(pending["data"]) != pending["length"]:
                    raise _fail("file_upload_size_mismatch")
            for item in files:
                pending = self._pending_files.pop(item["id"])
                info = {
                    "id": item["id"],
                    "name": pending["name"],
                    "title": item.get("title") or pending["name"],
                    "size": pending["length"],
                    "channels": [channel.id] if channel else [],
                }
                self._files[item["id"]] = dict(info, content=pending["data"])
                completed.append(info)
        return _ok(files=completed)

    def _connections_open(self, params: dict[str, Any], token: str | None = None) -> Response:
        """Socket Mode's WebSocket URL: app-level tokens only, as on Slack.

        The URL is ``socket_url`` (a ``tests.fakes.slack_socket.FakeSocketMode``), set by the
        test; with none set the fake has no WebSocket to offer and says so.
        """
        if not (token or "").startswith("xapp-"):
            raise _fail("not_allowed_token_type")
        with self._cond:
            url = self.socket_url
        if url is None:
            raise _fail("socket_mode_not_enabled")
        return _ok(url=url)

    def _authorize(self, params: dict[str, Any]) -> Response:
        """Slack's consent page, approved (or denied) at once: a redirect back to the app."""
        with self._cond:
            if self.client_id is None or params.get("client_id") != self.client_id:
                return Response.text(400, "<html>Invalid client_id parameter</html>", "text/html")
            redirect = params.get("redirect_uri") or self.oauth_redirect_url
            if not redirect:
                return Response.text(400, "<html>No redirect URL configured</html>", "text/html")
            state = str(params.get("state") or "")
            if self.deny_installs:
                query = {"error": "access_denied", "state": state}
            else:
                team = str(params.get("team") or "")
                if team not in self._workspaces:
                    return Response.text(400, "<html>Unknown workspace</html>", "text/html")
                code = secrets.token_hex(8)
                self._codes[code] = (team, params.get("redirect_uri"))
                query = {"code": code, "state": state}
        response = Response.text(302, "")
        response.headers["Location"] = f"{redirect}?{urlencode(query)}"
        return response

    def _oauth_access(self, params: dict[str, Any], authorization: str = "") -> Response:
        """Trade a one-time code for the workspace's bot token (credentials as HTTP Basic auth,
        or as form fields, as Slack accepts both)."""
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        with self._cond:
            if client_id != self.client_id:
                raise _fail("invalid_client_id")
            if client_secret != self.client_secret:
                raise _fail("bad_client_secret")
            if params.get("grant_type") == "refresh_token":
                refresh = str(params.get("refresh_token") or "")
                if refresh not in self._refresh_tokens:
                    raise _fail("invalid_refresh_token")
                team = self._refresh_tokens.pop(refresh)
            else:
                code = str(params.get("code") or "")
                if code not in self._codes:
                    raise _fail("invalid_code")
                team, redirect_uri = self._codes.pop(code)
                if redirect_uri is not None and params.get("redirect_uri") != redirect_uri:
                    raise _fail("bad_redirect_uri")
            workspace = self._workspaces[team]
            token = f"xoxb-{team}-{secrets.token_hex(6)}"
            assert workspace.tokens is not None
            workspace.tokens.append(token)
            self._token_teams[token] = team
            rotation: dict[str, Any] = {}
            if self.token_lifetime is not None:
                refresh = f"xoxe-1-{secrets.token_hex(8)}"
                self._refresh_tokens[refresh] = team
                rotation = {"refresh_token": refresh, "expires_in": self.token_lifetime}
        enterprise = (
            {"id": workspace.enterprise_id, "name": "Org"} if workspace.enterprise_id else None
        )
        return _ok(
            app_id="A0FAKE",
            authed_user={"id": f"UINSTALLER{team}"},
            scope=str(params.get("scope") or "chat:write,commands"),
            token_type="bot",
            access_token=token,
            bot_user_id=workspace.bot_user_id,
            team={"id": team, "name": workspace.name},
            enterprise=enterprise,
            is_enterprise_install=False,
            **rotation,
        )

    def _respond(self, params: dict[str, Any]) -> Response:
        errors = validate_message(params)
        if errors:
            return Response.text(400, "invalid_blocks")
        return Response.text(200, "ok")

    def uploaded_file(self, file_id: str) -> bytes | None:
        """The bytes of a completed upload (to compare with what the code sent)."""
        with self._cond:
            stored = self._files.get(file_id)
            return stored["content"] if stored else None
