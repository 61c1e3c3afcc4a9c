"""A fake Telegram Bot API server for tests, talked to by the real python-telegram-bot.

Usage::

    with FakeTelegram() as tg:
        bot = Bot(TOKEN, base_url=tg.api_url, base_file_url=tg.file_url)
        tg.push_message(42, "/start")          # delivered through getUpdates
        ...
        assert tg.sent_messages(42)[0].params["text"] == "..."

It follows the real API where our bot can trip over it: the URL layout
``{api_url}{TOKEN}/{method}``, JSON / form / multipart bodies, Telegram's HTML parser (see
``telegram_html``), UTF-16 length limits, inline keyboard checks, "message is not modified",
flood limits (``enforce_limits=True``) and injected failures (blocked users, migrated groups,
timeouts, a whole-service outage).

Flood limits (documented by Telegram only approximately; these are our choices):

* overall: at most ``global_per_second`` (30) sends in any sliding 1 s window;
* private chat: token bucket with a burst of ``private_burst`` (3) sends, refilled at
  ``private_rate`` (1) per second;
* group, supergroup or channel: at most ``group_per_minute`` (20) sends in any sliding 60 s.

Only sends count (sendMessage, sendPhoto, sendDocument); a rejected call does not use quota.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from tests.fakes._server import (
    ApiError,
    Call,
    FakeServer,
    Request,
    Response,
    SlidingWindow,
    TokenBucket,
    UploadedFile,
    retry_after_seconds,
)
from tests.fakes.telegram_html import (
    MessageEntity,
    TelegramHTMLError,
    parse_telegram_html,
    utf16_length,
)

ChatType = Literal["private", "group", "supergroup", "channel"]
ChatKey = int | str

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
INLINE_BUTTON_LIMIT = 100
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})

_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_PATH_RE = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)/?$")
_FILE_PATH_RE = re.compile(r"^/file/bot(?P<token>[^/]+)/(?P<path>.+)$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_INT_FIELDS = frozenset(
    {
        "message_id", "user_id", "offset", "limit", "timeout", "message_thread_id",
        "reply_to_message_id", "from_chat_id", "cache_time", "max_connections", "until_date",
    }
)  # fmt: skip
_BOOL_FIELDS = frozenset(
    {
        "disable_notification", "protect_content", "show_alert", "drop_pending_updates",
        "disable_web_page_preview", "allow_sending_without_reply", "has_spoiler",
        "disable_content_type_detection", "only_if_banned", "allow_paid_broadcast",
    }
)  # fmt: skip
_JSON_FIELDS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope",
        "link_preview_options", "reply_parameters", "media",
    }
)  # fmt: skip
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip
_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


def chat_key(value: Any) -> ChatKey:
    """Normalise a chat_id as Telegram does: integers (even when sent as text) or "@username"."""
    if isinstance(value, bool):
        raise ApiError(_error(400, "Bad Request: chat_id is empty"))
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if not text:
        raise ApiError(_error(400, "Bad Request: chat_id is empty"))
    return text


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> Response:
    payload: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        payload["parameters"] = parameters
    return Response.json(code, payload)


def _bad(description: str) -> ApiError:
    return ApiError(_error(400, f"Bad Request: {description}"))


def _coerce(name: str, value: Any) -> Any:
    """Give form values the types Telegram would parse them as (JSON bodies are already typed)."""
    if not isinstance(value, str):
        return value
    if name == "chat_id":
        return int(value) if re.fullmatch(r"-?\d+", value.strip()) else value
    if name in _INT_FIELDS and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if name in _BOOL_FIELDS and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # left as text so the method reports it the way Telegram would
    return value


@dataclass
class FakeChat:
    """A chat as the fake knows it; ``to_api`` gives the Bot API ``Chat`` object."""

    id: ChatKey
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    is_forum: bool = False
    admins: list[int] = field(default_factory=list)
    creator: int | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.first_name or "Test"
        else:
            data["title"] = self.title or f"Chat {self.id}"
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class _Fault:
    code: int
    description: str
    parameters: dict[str, Any] | None
    remaining: int | None  # None: for ever

    def fire(self) -> Response | None:
        if self.remaining is not None:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
        return _error(self.code, self.description, self.parameters)


def _infer_chat_type(key: ChatKey) -> ChatType:
    # Telegram's id ranges: users are positive, basic groups small negatives, supergroups
    # and channels -100xxxxxxxxxx; "@name" addresses a public channel or supergroup.
    if isinstance(key, str):
        return "channel"
    if key > 0:
        return "private"
    return "supergroup" if key <= -1_000_000_000_000 else "group"


def _user(
    user_id: int,
    *,
    username: str | None = None,
    first_name: str = "Test",
    language_code: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        data["username"] = username
    if language_code:  # the user's app language, as Telegram reports it (IETF tag, often "en")
        data["language_code"] = language_code
    return data


class FakeTelegram(FakeServer):
    """A Bot API server on 127.0.0.1; see the module docstring for behaviour and limits."""

    def __init__(
        self,
        *,
        enforce_limits: bool = False,
        strict_ampersand: bool = True,
        strict_chats: bool = False,
        bot_username: str = "newsbot_test_bot",
        poll_timeout_cap: float = 1.0,
        global_per_second: int = 30,
        private_burst: int = 3,
        private_rate: float = 1.0,
        group_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``strict_chats``: unknown chats are "chat not found" instead of being created on use.

        ``clock`` drives the flood limits only, so tests can step time instead of sleeping.
        """
        super().__init__()
        self.enforce_limits = enforce_limits
        self.strict_ampersand = strict_ampersand
        self.strict_chats = strict_chats
        self.bot_username = bot_username
        self.poll_timeout_cap = poll_timeout_cap
        self.clock = clock
        self._global_per_second = global_per_second
        self._private_burst = private_burst
        self._private_rate = private_rate
        self._group_per_minute = group_per_minute
        #: Number of requests answered with 429 by the flood limits.
        self.rate_limited = 0
        self._down = False
        self._chats: dict[ChatKey, FakeChat] = {}
        self._message_ids: dict[ChatKey, itertools.count[int]] = {}
        self._messages: dict[tuple[ChatKey, int], dict[str, Any]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._open_callbacks: set[str] = set()
        self._allowed_updates: list[str] = []
        self._webhook: dict[str, Any] = {}
        self._commands: dict[str, list[dict[str, str]]] = {}
        self._files: dict[str, UploadedFile] = {}
        self._file_ids = itertools.count(1)
        self._chat_faults: dict[ChatKey, _Fault] = {}
        self._method_faults: dict[str, _Fault] = {}
        self._chat_delays: dict[ChatKey, float] = {}
        self._refused_images: dict[str, str] = {}
        self._global_window = SlidingWindow(global_per_second, 1.0)
        self._buckets: dict[ChatKey, TokenBucket] = {}
        self._group_windows: dict[ChatKey, SlidingWindow] = {}
        handlers: dict[str, Callable[[Request, dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "close": self._true,
            "logOut": self._true,
        }
        # Telegram treats method names case-insensitively; calls are logged as documented.
        self._handlers = {name.lower(): handler for name, handler in handlers.items()}
        self._canonical = {name.lower(): name for name in handlers}

    # -- URLs ------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """Base URL without the token, as ``TELEGRAM_API_URL`` / ``base_url`` expect."""
        return f"{self.root_url}/bot"

    @property
    def file_url(self) -> str:
        """Base URL for file downloads (``base_file_url``), token appended by the client."""
        return f"{self.root_url}/file/bot"

    # -- test-side set-up ------------------------------------------------------------------

    def set_chat(
        self,
        chat_id: ChatKey,
        type: ChatType | None = None,
        title: str | None = None,
        is_forum: bool = False,
        username: str | None = None,
    ) -> FakeChat:
        """Declare a chat (type inferred from the id when not given)."""
        key = chat_key(chat_id)
        with self._cond:
            chat = self._chats.get(key) or FakeChat(key, type or _infer_chat_type(key))
            if type is not None:
                chat.type = type
            chat.title = title if title is not None else chat.title
            chat.username = username if username is not None else chat.username
            chat.is_forum = is_forum
            self._chats[key] = chat
            return chat

    def set_admins(
        self, chat_id: ChatKey, user_ids: Iterable[int], *, creator: int | None = None
    ) -> None:
        """Set a group's administrators (``creator`` is reported as the owner)."""
        with self._cond:
            chat = self._chat(chat_key(chat_id), create=True)
            chat.admins = list(user_ids)
            chat.creator = creator

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update for getUpdates (an ``update_id`` is assigned if missing)."""
        with self._cond:
            update = dict(update)
            update.setdefault("update_id", next(self._update_ids))
            self._updates.append(update)
            self._cond.notify_all()
            return update

    def push_message(
        self,
        chat_id: ChatKey,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: ChatType | None = None,
        thread_id: int | None = None,
        username: str | None = "tester",
        first_name: str = "Test",
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """Queue a user's text message; a leading ``/command`` gets its bot_command entity.

        ``user_id`` defaults to the chat id in private chats and to 1001 elsewhere;
        ``language_code`` is the sender's app language.
        """
        with self._cond:
            key = chat_key(chat_id)
            chat = self._chat(key, create=True)
            if chat_type is not None:
                chat.type = chat_type
            sender = user_id if user_id is not None else (key if chat.type == "private" else 1001)
            assert isinstance(sender, int), "private chats are addressed by numeric id"
            message = self._new_message(
                chat,
                sender=_user(
                    sender, username=username, first_name=first_name, language_code=language_code
                ),
            )
            message["text"] = text
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_length(command)}
                ]
            if thread_id is not None:
                message["message_thread_id"] = thread_id
                message["is_topic_message"] = chat.is_forum
            return self.push_update({"message": message})

    def push_callback(
        self,
        chat_id: ChatKey,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """Queue a button press on a message; ``update["callback_query"]["id"]`` can be answered."""
        with self._cond:
            key = chat_key(chat_id)
            chat = self._chat(key, create=True)
            sender = user_id if user_id is not None else (key if chat.type == "private" else 1001)
            assert isinstance(sender, int), "private chats are addressed by numeric id"
            message = self._messages.get((key, message_id)) or {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat.to_api(),
            }
            query_id = str(next(self._callback_ids))
            self._open_callbacks.add(query_id)
            query = {
                "id": query_id,
                "from": _user(sender, language_code=language_code),
                "chat_instance": f"instance{key}",
                "data": data,
                "message": message,
            }
            return self.push_update({"callback_query": query})

    def push_my_chat_member(
        self,
        chat_id: ChatKey,
        status: Literal["member", "administrator", "left", "kicked"],
        *,
        user_id: int | None = None,
        old_status: str | None = None,
    ) -> dict[str, Any]:
        """Queue the bot being added to / removed from / blocked in a chat."""
        with self._cond:
            key = chat_key(chat_id)
            chat = self._chat(key, create=True)
            actor = user_id if user_id is not None else (key if chat.type == "private" else 1001)
            assert isinstance(actor, int), "private chats are addressed by numeric id"
            previous = old_status or ("left" if status in ("member", "administrator") else "member")
            update = {
                "chat": chat.to_api(),
                "from": _user(actor),
                "date": int(time.time()),
                "old_chat_member": self._member(self.bot_id, previous),
                "new_chat_member": self._member(self.bot_id, status),
            }
            return self.push_update({"my_chat_member": update})

    # -- fault injection -------------------------------------------------------------------

    def fail_chat(
        self,
        chat_id: ChatKey,
        code: int,
        description: str,
        times: int | None = None,
        *,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Make every call addressed to the chat fail (``times`` calls, or for ever)."""
        with self._cond:
            self._chat_faults[chat_key(chat_id)] = _Fault(code, description, parameters, times)

    def block_chat(self, chat_id: ChatKey) -> None:
        """The user blocked the bot (403), the commonest failure in production."""
        self.fail_chat(chat_id, 403, "Forbidden: bot was blocked by the user")

    def migrate_chat(self, chat_id: ChatKey, new_chat_id: int, times: int | None = None) -> None:
        """A group upgraded to a supergroup: 400 with ``parameters.migrate_to_chat_id``."""
        self.fail_chat(
            chat_id,
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            times,
            parameters={"migrate_to_chat_id": new_chat_id},
        )

    def fail_method(
        self,
        method: str,
        code: int,
        description: str,
        times: int | None = None,
        *,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Make every call of ``method`` fail (e.g. setMyCommands, sendPhoto)."""
        with self._cond:
            self._method_faults[method.lower()] = _Fault(code, description, parameters, times)

    def refuse_image(self, url: str, description: str = "Bad Request: WEBPAGE_MEDIA_EMPTY") -> None:
        """Refuse every sendMessage/editMessageText whose link preview is ``url`` with a 400, as
        Telegram does when it cannot fetch or use the page or image behind a preview."""
        with self._cond:
            self._refused_images[url] = description

    def delay_chat(self, chat_id: ChatKey, seconds: float) -> None:
        """Answer calls for the chat only after ``seconds`` (then normally)."""
        with self._cond:
            self._chat_delays[chat_key(chat_id)] = seconds

    def timeout_chat(self, chat_id: ChatKey, seconds: float = 30.0) -> None:
        """Hold calls for the chat longer than any client timeout we configure."""
        self.delay_chat(chat_id, seconds)

    def set_down(self, down: bool = True) -> None:
        """Answer every request with 502 Bad Gateway, as during a Telegram outage."""
        with self._cond:
            self._down = down

    def clear_faults(self) -> None:
        with self._cond:
            self._chat_faults.clear()
            self._method_faults.clear()
            self._chat_delays.clear()
            self._refused_images.clear()
            self._down = False

    # -- assertions helpers ----------------------------------------------------------------

    def sent_messages(self, chat_id: ChatKey | None = None) -> list[Call]:
        """Accepted sendMessage/sendPhoto/sendDocument calls, optionally for one chat."""
        key = None if chat_id is None else chat_key(chat_id)
        return [
            call
            for call in self.calls
            if call.method in SEND_METHODS
            and call.ok
            and (key is None or call.params.get("chat_id") == key)
        ]

    def message(self, chat_id: ChatKey, message_id: int) -> dict[str, Any] | None:
        """The current state of a message (after edits), or None if unknown / deleted."""
        with self._cond:
            stored = self._messages.get((chat_key(chat_id), message_id))
            return json.loads(json.dumps(stored)) if stored is not None else None

    @property
    def pending_updates(self) -> int:
        with self._cond:
            return len(self._updates)

    @property
    def bot_id(self) -> int:
        return 777000111

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        file_match = _FILE_PATH_RE.match(request.path)
        if file_match and request.verb == "GET":
            return self._download(file_match["token"], file_match["path"])
        match = _PATH_RE.match(request.path)
        token = match["token"] if match else None
        raw_method = match["method"] if match else request.path
        method = self._canonical.get(raw_method.lower(), raw_method)
        params = {name: _coerce(name, value) for name, value in request.fields.items()}
        for name, upload in request.files.items():
            params[name] = upload.summary()
        call = self.record(method, params, token, request.headers, request.path)
        try:
            response = self._handle_call(request, method, params, token)
        except ApiError as exc:
            response = exc.response
        return self.answer(call, response)

    def _handle_call(
        self, request: Request, method: str, params: dict[str, Any], token: str | None
    ) -> Response:
        with self._cond:
            if self._down:
                return _error(502, "Bad Gateway")
        if token is None:
            return _error(404, "Not Found")
        if not _TOKEN_RE.match(token):
            return _error(401, "Unauthorized")
        handler = self._handlers.get(method.lower())
        if handler is None:
            return _error(404, "Not Found: method not found")
        key = chat_key(params["chat_id"]) if "chat_id" in params else None
        with self._cond:
            delay = self._chat_delays.get(key, 0.0) if key is not None else 0.0
        if delay:
            self.sleep(delay)
        with self._cond:
            fault = self._method_faults.get(method.lower())
            injected = fault.fire() if fault else None
            if injected is None and key is not None and key in self._chat_faults:
                injected = self._chat_faults[key].fire()
            if injected is not None:
                return injected
            preview = params.get("link_preview_options")
            if method.lower() in ("sendmessage", "editmessagetext") and isinstance(preview, dict):
                refused = self._refused_images.get(str(preview.get("url")))
                if refused is not None:
                    return _error(400, refused)
        result = handler(request, params)
        return Response.json(200, {"ok": True, "result": result})

    def bad_body(self, reason: str) -> Response:
        return _error(400, f"Bad Request: can't parse request body: {reason}")

    # -- state helpers (caller holds the lock) ---------------------------------------------

    def _chat(self, key: ChatKey, *, create: bool = False) -> FakeChat:
        chat = self._chats.get(key)
        if chat is None:
            if self.strict_chats and not create:
                raise _bad("chat not found")
            chat = FakeChat(key, _infer_chat_type(key))
            if isinstance(key, str):
                chat.username = key.lstrip("@")
            self._chats[key] = chat
        return chat

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Newsbot Test",
            "username": self.bot_username,
        }

    def _member(self, user_id: int, status: str) -> dict[str, Any]:
        user = self._bot_user() if user_id == self.bot_id else _user(user_id)
        if status == "administrator":
            rights = (
                "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                "can_restrict_members", "can_promote_members", "can_change_info",
                "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
            )  # fmt: skip
            member: dict[str, Any] = {
                "status": status,
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
            }
            member.update(dict.fromkeys(rights, True))
            return member
        if status == "creator":
            return {"status": status, "user": user, "is_anonymous": False}
        if status == "kicked":
            return {"status": status, "user": user, "until_date": 0}
        return {"status": status, "user": user}

    def _new_message(self, chat: FakeChat, *, sender: dict[str, Any] | None) -> dict[str, Any]:
        counter = self._message_ids.setdefault(chat.id, itertools.count(1))
        message: dict[str, Any] = {
            "message_id": next(counter),
            "date": int(time.time()),
            "chat": chat.to_api(),
        }
        if chat.type == "channel":
            message["sender_chat"] = chat.to_api()
        elif sender is not None:
            message["from"] = sender
        self._messages[(chat.id, message["message_id"])] = message
        return message

    def _stored_message(self, params: dict[str, Any], missing: str) -> dict[str, Any]:
        key = chat_key(params.get("chat_id", ""))
        message_id = params.get("message_id")
        stored = self._messages.get((key, message_id)) if isinstance(message_id, int) else None
        if stored is None:
            raise _bad(missing)
        return stored

    # -- validation ------------------------------------------------------------------------

    def _formatted(
        self, text: Any, parse_mode: Any, entities: Any, *, caption: bool
    ) -> tuple[str, list[dict[str, Any]]]:
        """Apply parse_mode like Telegram and enforce the UTF-16 length limit."""
        text = "" if text is None else str(text)
        parsed_entities: list[dict[str, Any]] = list(entities) if isinstance(entities, list) else []
        mode = str(parse_mode or "").lower()
        if mode == "html":
            try:
                parsed = parse_telegram_html(text, strict_ampersand=self.strict_ampersand)
            except TelegramHTMLError as exc:
                raise ApiError(_error(400, exc.description)) from exc
            text = parsed.text
            parsed_entities = [entity.to_api() for entity in parsed.entities]
        elif mode not in ("", "markdownv2", "markdown"):
            # MarkdownV2 / Markdown bodies are passed through unchecked: the bot sends HTML.
            raise _bad(f"unsupported parse_mode {parse_mode!r}")
        if not caption and not text.strip():
            raise _bad("message text is empty")
        limit = CAPTION_LIMIT if caption else MESSAGE_LIMIT
        if utf16_length(text) > limit:
            raise _bad("message caption is too long" if caption else "message is too long")
        return text, parsed_entities

    def _reply_markup(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise _bad("can't parse reply keyboard markup JSON object") from exc
        if not isinstance(value, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in value:
            self._check_inline_keyboard(value["inline_keyboard"])
            return value
        if "keyboard" in value:
            rows = value["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad(
                    'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
                )
            return None
        if value.get("remove_keyboard") is True or value.get("force_reply") is True:
            return None
        raise _bad("can't parse reply keyboard markup JSON object")

    @staticmethod
    def _check_inline_keyboard(rows: Any) -> None:
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        buttons = [button for row in rows for button in row]
        if len(buttons) > INLINE_BUTTON_LIMIT:
            raise _bad("REPLY_MARKUP_TOO_LONG")
        for button in buttons:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            actions = [name for name in _BUTTON_ACTIONS if name in button]
            if not actions:
                raise _bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                    raise _bad("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                parts = urlsplit(url) if isinstance(url, str) else None
                if parts is None or parts.scheme not in ("http", "https", "tg") or not parts.netloc:
                    raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _check_flood(self, chat: FakeChat) -> None:
        """Raise 429 if a send to ``chat`` now would exceed a limit; else use the quota."""
        if not self.enforce_limits:
            return
        now = self.clock()
        limiter: TokenBucket | SlidingWindow
        if chat.type == "private":
            limiter = self._buckets.setdefault(
                chat.id, TokenBucket(self._private_burst, self._private_rate, now)
            )
        else:
            limiter = self._group_windows.setdefault(
                chat.id, SlidingWindow(self._group_per_minute, 60.0)
            )
        wait = max(self._global_window.wait_time(now), limiter.wait_time(now))
        if wait > 0:
            self.rate_limited += 1
            seconds = retry_after_seconds(wait)
            raise ApiError(
                _error(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
            )
        self._global_window.consume(now)
        if isinstance(limiter, TokenBucket):
            limiter.consume()
        else:
            limiter.consume(now)

    def _upload(self, request: Request, name: str) -> UploadedFile | str:
        """The file of a sendPhoto/sendDocument: an upload, a known file_id or a URL."""
        value = request.fields.get(name)
        if name in request.files:
            return request.files[name]
        if isinstance(value, str) and value.startswith("attach://"):
            attached = request.files.get(value.removeprefix("attach://"))
            if attached is not None:
                return attached
        if isinstance(value, str) and value:
            if value in self._files or value.startswith(("http://", "https://")):
                return value
            raise _bad("wrong file identifier/HTTP URL specified")
        raise _bad(f"there is no {name} in the request")

    # -- methods (each returns the "result") -----------------------------------------------

    def _true(self, request: Request, params: dict[str, Any]) -> bool:
        return True

    def _get_me(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        user = self._bot_user()
        user.update(
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
        return user

    def _get_updates(self, request: Request, params: dict[str, Any]) -> list[Any]:
        with self._cond:
            if self._webhook.get("url"):
                raise ApiError(
                    _error(
                        409,
                        "Conflict: can't use getUpdates method while webhook is active; use "
                        "deleteWebhook to delete the webhook first",
                    )
                )
            offset = params.get("offset")
            limit = params.get("limit") or 100
            limit = max(1, min(100, limit)) if isinstance(limit, int) else 100
            timeout = params.get("timeout") or 0
            timeout = min(float(timeout), self.poll_timeout_cap)
            allowed = params.get("allowed_updates")
            if isinstance(allowed, list):
                self._allowed_updates = [str(kind) for kind in allowed]
            if isinstance(offset, int) and offset:
                if offset > 0:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                else:
                    self._updates = self._updates[offset:]
            if self._allowed_updates:
                self._updates = [
                    u for u in self._updates if any(kind in u for kind in self._allowed_updates)
                ]
            deadline = time.monotonic() + timeout
            while not self._updates and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self._updates[:limit])

    def _set_webhook(self, request: Request, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        with self._cond:
            if not url:
                self._webhook = {}
                return True
            if not url.startswith("https://"):
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            self._webhook = {
                "url": url,
                "secret_token": params.get("secret_token"),
                "allowed_updates": params.get("allowed_updates"),
            }
            return True

    def _delete_webhook(self, request: Request, params: dict[str, Any]) -> bool:
        with self._cond:
            self._webhook = {}
            if params.get("drop_pending_updates"):
                self._updates.clear()
            return True

    def _get_webhook_info(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            info: dict[str, Any] = {
                "url": self._webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self._webhook.get("allowed_updates"):
                info["allowed_updates"] = self._webhook["allowed_updates"]
            return info

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, request: Request, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command"))):
                raise _bad("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        with self._cond:
            self._commands[self._commands_key(params)] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        return True

    def _get_my_commands(self, request: Request, params: dict[str, Any]) -> list[dict[str, str]]:
        with self._cond:
            return list(self._commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, request: Request, params: dict[str, Any]) -> bool:
        with self._cond:
            self._commands.pop(self._commands_key(params), None)
        return True

    def _send_message(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        text, entities = self._formatted(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        markup = self._reply_markup(params.get("reply_markup"))
        with self._cond:
            chat = self._chat(chat_key(params.get("chat_id", "")))
            self._check_flood(chat)
            message = self._new_message(chat, sender=self._bot_user())
            message["text"] = text
            if entities:
                message["entities"] = entities
            if markup is not None:
                message["reply_markup"] = markup
            if isinstance(params.get("message_thread_id"), int):
                message["message_thread_id"] = params["message_thread_id"]
            return dict(message)

    def _send_media(
        self, request: Request, params: dict[str, Any], kind: Literal["photo", "document"]
    ) -> dict[str, Any]:
        caption, entities = self._formatted(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._reply_markup(params.get("reply_markup"))
        with self._cond:
            chat = self._chat(chat_key(params.get("chat_id", "")))
            source = self._upload(request, kind)
            self._check_flood(chat)
            if isinstance(source, UploadedFile):
                file_id = f"{kind}-{next(self._file_ids)}"
                self._files[file_id] = source
                size, name, mime = source.size, source.filename, source.content_type
            else:
                file_id = source
                known = self._files.get(source)
                size = known.size if known else 0
                name = known.filename if known else source.rsplit("/", 1)[-1]
                mime = known.content_type if known else "application/octet-stream"
            message = self._new_message(chat, sender=self._bot_user())
            info = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size}
            if kind == "photo":
                message["photo"] = [dict(info, width=320, height=240)]
            else:
                message["document"] = dict(info, file_name=name, mime_type=mime)
            if caption:
                message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
            if markup is not None:
                message["reply_markup"] = markup
            return dict(message)

    def _send_photo(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        return self._send_media(request, params, "photo")

    def _send_document(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        return self._send_media(request, params, "document")

    def _get_file(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        with self._cond:
            stored = self._files.get(file_id)
        if stored is None:
            raise _bad("wrong file_id or the file is temporarily unavailable")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": stored.size,
            "file_path": f"files/{file_id}/{stored.filename}",
        }

    def _download(self, token: str, path: str) -> Response:
        file_id = path.split("/")[1] if path.startswith("files/") and path.count("/") >= 2 else ""
        with self._cond:
            stored = self._files.get(file_id)
        if stored is None or not _TOKEN_RE.match(token):
            return Response.text(404, "Not Found")
        return Response(200, stored.content, stored.content_type, {}, None)

    def _edit_message_text(self, request: Request, params: dict[str, Any]) -> dict[str, Any] | bool:
        text, entities = self._formatted(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        markup = self._reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        with self._cond:
            stored = self._stored_message(params, "message to edit not found")
            if (
                stored.get("text") == text
                and stored.get("reply_markup") == markup
                and (stored.get("entities", []) == entities)
            ):
                raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
            stored["text"] = text
            stored.pop("entities", None)
            if entities:
                stored["entities"] = entities
            stored.pop("reply_markup", None)
            if markup is not None:
                stored["reply_markup"] = markup
            stored["edit_date"] = int(time.time())
            return dict(stored)

    def _edit_message_reply_markup(
        self, request: Request, params: dict[str, Any]
    ) -> dict[str, Any] | bool:
        markup = self._reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        with self._cond:
            stored = self._stored_message(params, "message to edit not found")
            if stored.get("reply_markup") == markup:
                raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
            stored.pop("reply_markup", None)
            if markup is not None:
                stored["reply_markup"] = markup
            stored["edit_date"] = int(time.time())
            return dict(stored)

    def _delete_message(self, request: Request, params: dict[str, Any]) -> bool:
        with self._cond:
            stored = self._stored_message(params, "message to delete not found")
            del self._messages[(chat_key(stored["chat"]["id"]), stored["message_id"])]
        return True

    def _answer_callback_query(self, request: Request, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        with self._cond:
            if query_id not in self._open_callbacks:
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            self._open_callbacks.discard(query_id)
        return True

    def _send_chat_action(self, request: Request, params: dict[str, Any]) -> bool:
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        with self._cond:
            self._chat(chat_key(params.get("chat_id", "")))
        return True

    def _get_chat(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            chat = self._chat(chat_key(params.get("chat_id", "")))
            info = chat.to_api()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return info

    def _status_of(self, chat: FakeChat, user_id: int) -> str:
        if chat.creator == user_id:
            return "creator"
        return "administrator" if user_id in chat.admins else "member"

    def _get_chat_member(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise _bad("user_id is empty" if user_id is None else "invalid user_id specified")
        with self._cond:
            chat = self._chat(chat_key(params.get("chat_id", "")))
            return self._member(user_id, self._status_of(chat, user_id))

    def _get_chat_administrators(
        self, request: Request, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        with self._cond:
            chat = self._chat(chat_key(params.get("chat_id", "")))
            if chat.type == "private":
                raise _bad("there are no administrators in the private chat")
            ids = ([chat.creator] if chat.creator is not None else []) + [
                user_id for user_id in chat.admins if user_id != chat.creator
            ]
            return [self._member(user_id, self._status_of(chat, user_id)) for user_id in ids]


__all__ = [
    "CAPTION_LIMIT",
    "MESSAGE_LIMIT",
    "Call",
    "FakeChat",
    "FakeTelegram",
    "MessageEntity",
    "chat_key",
]
