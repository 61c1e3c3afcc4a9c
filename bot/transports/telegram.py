"""The Telegram transport: python-telegram-bot's ``Application`` in the bot's own asyncio loop.

:class:`TelegramRunner` receives updates (long polling, or a webhook route on the bot's HTTP
server) and adapts them to :class:`handlers.router.Request`; every command is implemented once
in ``handlers/``. :class:`TelegramTransport` sends alerts, edits and replies, paces them with
:class:`bot.transports.pacing.Pacer` and maps every Bot API failure to a
:class:`~bot.transports.base.SendResult` the delivery worker acts on.

python-telegram-bot's ``AIORateLimiter`` is deliberately not used: it has no per-private-chat
limit and one 429 halts every chat, while the Pacer pauses only the chat that was told to wait.
Nothing here assumes api.telegram.org: ``TELEGRAM_API_URL`` may point at any Bot API server.
"""

from __future__ import annotations

import logging
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from bot.alerts import Alert
from bot.i18n import DEFAULT_LOCALE, LANGUAGES, translator
from bot.models import Attachment, Chat, Reply
from bot.settings import Settings
from bot.startup import StartupError, Unreachable, keep_trying
from bot.transports.base import SendResult
from bot.transports.pacing import Pacer, Rate
from bot.transports.render_telegram import (
    RenderedMessage,
    inline_keyboard,
    link_preview,
    render_alert,
    render_caption,
    render_reply,
    render_update_notice,
)
from bot.web import BadBody, read_json_body, secret_header_ok
from handlers.callbacks import handle_callback
from handlers.router import Request, Router, parse_command_text
from storage import chats as chat_store

log = logging.getLogger(__name__)

PLATFORM = "telegram"
# Telegram's published limits: about 30 messages a second overall, about one a second per
# private chat (short bursts tolerated) and 20 a minute per group, supergroup or channel.
GLOBAL_RATE = Rate(29.5)
# The hard cap behind the spacing: never more than 30 sends in any second as Telegram counts
# them (see Pacer.sending), whatever jitter does to the spaced slots.
GLOBAL_WINDOW_LIMIT = 30
PRIVATE_RATE = Rate(1.0, burst=3)
GROUP_RATE = Rate.per_minute(20)
MAX_UPLOAD_BYTES = 1_000_000
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
# Commands that may name a channel first (``/subscribe @channel QUERY``) to manage that
# channel's subscriptions from a private chat with the bot.
CHANNEL_COMMANDS = frozenset(
    {
        "subscribe",
        "unsubscribe",
        "list",
        "follow",
        "unfollow",
        "mute",
        "unmute",
        "settings",
        "pause",
        "resume",
        "digest",
    }
)
# When this many different chats are told to wait within GLOBAL_FLOOD_WINDOW seconds, the limit
# hit is the bot's overall one, and everything pauses.
GLOBAL_FLOOD_CHATS = 3
GLOBAL_FLOOD_WINDOW = 1.0
_CHAT_KINDS: dict[str, str] = {
    ChatType.PRIVATE: "private",
    ChatType.GROUP: "group",
    ChatType.SUPERGROUP: "supergroup",
    ChatType.CHANNEL: "channel",
    ChatType.SENDER: "private",
}
_GONE_STATUSES = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
_PRESENT_STATUSES = (
    ChatMemberStatus.MEMBER,
    ChatMemberStatus.ADMINISTRATOR,
    ChatMemberStatus.OWNER,
)

Send = Callable[[], Awaitable[Message]]


def telegram_pacer(global_rate: Rate = GLOBAL_RATE) -> Pacer:
    """The pacing Telegram needs: slots spaced at ``global_rate`` plus the 30-a-second cap."""
    return Pacer(global_rate, window_limit=GLOBAL_WINDOW_LIMIT)


def file_url_for(api_url: str) -> str:
    """The Bot API file URL for an API URL: ``.../bot`` -> ``.../file/bot``."""
    base = api_url.rstrip("/")
    if base.endswith("/bot"):
        return base[: -len("/bot")] + "/file/bot"
    return base + "/file/bot"


def parse_message_ref(ref: str) -> tuple[str, int]:
    """``"{chat_id}:{message_id}"`` (chat ids may be negative or ``@name``) -> parts."""
    chat_id, _, message_id = ref.rpartition(":")
    if not chat_id or not message_id.isdigit():
        raise ValueError(f"not a Telegram message reference: {ref!r}")
    return chat_id, int(message_id)


def _chat_target(external_id: str) -> int | str:
    text = external_id.strip()
    return int(text) if text.lstrip("-").isdigit() else text


def _thread(thread_id: str | None) -> int | None:
    return int(thread_id) if thread_id and thread_id.isdigit() else None


def _retry_seconds(exc: RetryAfter) -> float:
    # PTB 22 returns an int or a timedelta depending on an opt-in environment variable and
    # warns about the int form; either way we want seconds.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


#: Bot API errors that mean the image of a link preview was refused, not the message.
_IMAGE_ERRORS = (
    "wrong file identifier/http url specified",
    "failed to get http url content",
    "webpage_media_empty",
    "webpage_curl_failed",
    "wrong type of the web page content",
)


def image_refused(error: str | None) -> bool:
    """True when a Bot API error says the alert's image could not be used."""
    lowered = (error or "").lower()
    return any(marker in lowered for marker in _IMAGE_ERRORS)


@dataclass(frozen=True)
class _Outgoing:
    """One message to send: its rendering and everything that goes with it."""

    rendered: RenderedMessage
    markup: InlineKeyboardMarkup | None = None
    preview: LinkPreviewOptions | None = None
    thread_id: int | None = None
    reply_to: int | None = None


class TelegramTransport:
    """Sends alerts, updates and replies; every outcome becomes a :class:`SendResult`."""

    platform = PLATFORM

    def __init__(self, bot: Bot, pacer: Pacer | None = None) -> None:
        self.bot = bot
        self.pacer = pacer or telegram_pacer()
        # python-telegram-bot itself reads the deprecated int form when it builds a RetryAfter;
        # we handle both forms (see _retry_seconds), so its warning is noise in our logs.
        warnings.filterwarnings("ignore", message=".*retry_after.*", category=PTBDeprecationWarning)
        self._recent_floods: deque[tuple[float, str]] = deque()

    # -- pacing -----------------------------------------------------------------------------

    @staticmethod
    def rate_for(chat_id: int | str) -> Rate:
        """Users have positive ids; groups, supergroups and channels negative ids or names."""
        return PRIVATE_RATE if isinstance(chat_id, int) and chat_id > 0 else GROUP_RATE

    def _note_flood(self, key: str, seconds: float) -> None:
        """Pause the chat; pause everything when several chats were told to wait at once."""
        self.pacer.pause(seconds, key)
        now = self.pacer.clock()
        self._recent_floods.append((now, key))
        while self._recent_floods and self._recent_floods[0][0] < now - GLOBAL_FLOOD_WINDOW:
            self._recent_floods.popleft()
        if len({chat for _, chat in self._recent_floods}) >= GLOBAL_FLOOD_CHATS:
            self.pacer.pause(seconds)
            log.warning("event=telegram_global_flood_wait seconds=%.0f", seconds)

    # -- the one place Bot API errors are interpreted --------------------------------------

    async def _attempt(self, chat_id: int | str, send: Send, plain: Send | None) -> SendResult:
        key = str(chat_id)
        timed_out = False
        for _ in range(3):
            try:
                async with self.pacer.sending(key, self.rate_for(chat_id)):
                    message = await send()
            except RetryAfter as exc:
                seconds = _retry_seconds(exc)
                self._note_flood(key, seconds)
                return SendResult(ok=False, retry_after=seconds)
            except ChatMigrated as exc:
                return SendResult(ok=False, migrated_to=str(exc.new_chat_id))
            except Forbidden as exc:
                if "can't send messages to the user" in exc.message.lower():
                    return SendResult(ok=False, transient_error=exc.message)
                return SendResult(ok=False, chat_gone=exc.message)
            except BadRequest as exc:
                if "can't parse entities" in exc.message.lower() and plain is not None:
                    log.error("event=html_rejected chat=%s error=%r", key, exc.message)
                    send, plain = plain, None
                    continue
                return SendResult(ok=False, permanent_error=exc.message)
            except TimedOut as exc:
                # The message may or may not have been sent: try once more and accept the rare
                # duplicate rather than lose the alert.
                if timed_out:
                    return SendResult(ok=False, transient_error=f"timed out twice: {exc.message}")
                timed_out = True
                continue
            except InvalidToken as exc:
                return SendResult(ok=False, transient_error=f"token refused: {exc.message}")
            except NetworkError as exc:
                return SendResult(ok=False, transient_error=exc.message)
            except TelegramError as exc:
                return SendResult(ok=False, transient_error=exc.message)
            return SendResult(
                ok=True,
                message_ref=f"{message.chat_id}:{message.message_id}",
                duplicate_possible=timed_out,
            )
        return SendResult(ok=False, transient_error="no answer after retrying")

    async def _send_message(self, chat_id: int | str, out: _Outgoing) -> SendResult:
        reply = (
            ReplyParameters(out.reply_to, allow_sending_without_reply=True)
            if out.reply_to is not None
            else None
        )

        def call(text: str, parse_mode: str | None) -> Send:
            return lambda: self.bot.send_message(
                chat_id,
                text,
                parse_mode=parse_mode,
                reply_markup=out.markup,
                link_preview_options=out.preview,
                message_thread_id=out.thread_id,
                reply_parameters=reply,
            )

        result = await self._attempt(
            chat_id, call(out.rendered.html, ParseMode.HTML), call(out.rendered.plain, None)
        )
        if (
            result.permanent_error
            and out.thread_id is not None
            and "thread not found" in result.permanent_error.lower()
        ):
            # The forum topic was deleted: the chat still wants its alerts, in General.
            log.info("event=telegram_topic_gone chat=%s thread=%s", chat_id, out.thread_id)
            return await self._send_message(
                chat_id,
                _Outgoing(out.rendered, out.markup, out.preview, None, out.reply_to),
            )
        return result

    # -- the Transport protocol ------------------------------------------------------------

    async def send_alert(self, chat: Chat, alert: Alert) -> SendResult:
        out = _Outgoing(
            render_alert(alert),
            inline_keyboard(alert.buttons),
            link_preview(alert.url, alert.image_url),
            _thread(alert.thread_id),
        )
        target = _chat_target(chat.external_id)
        result = await self._send_message(target, out)
        if alert.image_url and image_refused(result.permanent_error):
            # The image must not cost the alert: once more, with the article's own preview.
            log.info(
                "event=telegram_image_refused chat=%s error=%r", target, result.permanent_error
            )
            plain = replace(out, preview=link_preview(alert.url))
            return (await self._send_message(target, plain)).without_image()
        return result

    async def send_update(self, chat: Chat, alert: Alert, message_ref: str) -> SendResult:
        """Edit the earlier alert to show its new sources; if it cannot be edited (too old,
        deleted, unchanged), answer it with a short update instead."""
        try:
            ref_chat, message_id = parse_message_ref(message_ref)
        except ValueError as exc:
            return SendResult(ok=False, permanent_error=str(exc))
        target = _chat_target(ref_chat)
        rendered = render_alert(alert)
        markup = inline_keyboard(alert.buttons)

        def edit(text: str, parse_mode: str | None, preview: LinkPreviewOptions) -> Send:
            async def run() -> Message:
                edited = await self.bot.edit_message_text(
                    text,
                    chat_id=target,
                    message_id=message_id,
                    parse_mode=parse_mode,
                    reply_markup=markup,
                    link_preview_options=preview,
                )
                if not isinstance(edited, Message):  # only inline messages answer True
                    raise BadRequest("message to edit not found")
                return edited

            return run

        async def attempt(preview: LinkPreviewOptions) -> SendResult:
            return await self._attempt(
                target,
                edit(rendered.html, ParseMode.HTML, preview),
                edit(rendered.plain, None, preview),
            )

        result = await attempt(link_preview(alert.url, alert.image_url))
        if alert.image_url and image_refused(result.permanent_error):
            log.info(
                "event=telegram_image_refused ref=%s error=%r", message_ref, result.permanent_error
            )
            result = (await attempt(link_preview(alert.url))).without_image()
        if result.ok or not result.permanent_error:
            return result
        log.info("event=telegram_edit_failed ref=%s error=%r", message_ref, result.permanent_error)
        notice = _Outgoing(
            render_update_notice(alert),
            preview=LinkPreviewOptions(is_disabled=True),
            thread_id=_thread(alert.thread_id),
            reply_to=message_id,
        )
        return await self._send_message(target, notice)

    async def send_reply(
        self, chat: Chat, reply: Reply, thread_id: str | None = None
    ) -> SendResult:
        return await self.reply_to(_chat_target(chat.external_id), reply, _thread(thread_id))

    async def reply_to(self, chat_id: int | str, reply: Reply, thread_id: int | None) -> SendResult:
        """Send a reply (split as needed, buttons under its last part), then its attachments
        and follow-ups. The result is that of the first message, or of the first failure."""
        messages = render_reply(reply)
        markup = inline_keyboard(reply.buttons)
        first: SendResult | None = None
        no_preview = LinkPreviewOptions(is_disabled=True)
        for index, rendered in enumerate(messages):
            last = index == len(messages) - 1
            out = _Outgoing(rendered, markup if last else None, no_preview, thread_id)
            result = await self._send_message(chat_id, out)
            if not result.ok:
                return result
            first = first or result
        for attachment in reply.attachments:
            result = await self._send_attachment(chat_id, attachment, thread_id)
            if not result.ok and first is not None:
                # The text has arrived; a refused file is logged, not a failed reply.
                log.warning(
                    "event=telegram_attachment_failed chat=%s file=%r error=%r",
                    chat_id,
                    attachment.filename,
                    result.permanent_error or result.transient_error,
                )
                continue
            if not result.ok:
                return result
            first = first or result
        for followup in reply.followups:
            await self.reply_to(chat_id, followup, thread_id)
        return first or SendResult.sent()

    async def _send_attachment(
        self, chat_id: int | str, attachment: Attachment, thread_id: int | None
    ) -> SendResult:
        caption = render_caption(attachment.caption)

        def media(as_photo: bool, text: str, parse_mode: str | None) -> Send:
            if as_photo:
                return lambda: self.bot.send_photo(
                    chat_id,
                    attachment.content,
                    caption=text or None,
                    parse_mode=parse_mode,
                    message_thread_id=thread_id,
                    filename=attachment.filename,
                )
            return lambda: self.bot.send_document(
                chat_id,
                attachment.content,
                caption=text or None,
                parse_mode=parse_mode,
                message_thread_id=thread_id,
                filename=attachment.filename,
            )

        as_photo = attachment.mime_type.lower() in ("image/png", "image/jpeg")
        result = await self._attempt(
            chat_id,
            media(as_photo, caption.html, ParseMode.HTML),
            media(as_photo, caption.plain, None),
        )
        if as_photo and result.permanent_error:
            # Telegram refuses some images as photos (size, dimensions); a document still works.
            return await self._attempt(
                chat_id,
                media(False, caption.html, ParseMode.HTML),
                media(False, caption.plain, None),
            )
        return result


class TelegramRunner:
    """Builds the ``Application``, adapts updates to requests, starts and stops it."""

    def __init__(self, settings: Settings, router: Router) -> None:
        self.settings = settings
        self.router = router
        self.app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(settings.telegram_bot_token)
            .base_url(settings.telegram_api_url)
            .base_file_url(file_url_for(settings.telegram_api_url))
            .connect_timeout(10)
            .read_timeout(20)
            .write_timeout(20)
            .pool_timeout(30)
            .connection_pool_size(128)
            .get_updates_read_timeout(30)
            .concurrent_updates(64)
            .build()
        )
        self.transport = TelegramTransport(self.app.bot)
        self.bot_username: str | None = None
        self._polling = False
        #: What this process receives (``newsbot run --role``): the webhook is registered by
        #: the processes that serve it, long polling runs in one process only (the leader,
        #: which calls :meth:`start_polling` once elected).
        self.register_webhook = True
        self.poll_updates = True
        self._webhook_path = urlsplit(settings.telegram_webhook_url).path or "/telegram/webhook"
        self.app.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE & (filters.TEXT | filters.CAPTION), self._on_message
            )
        )
        self.app.add_handler(CallbackQueryHandler(self._on_callback))
        self.app.add_handler(
            ChatMemberHandler(self._on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        self.app.add_error_handler(self._on_error)

    # -- lifecycle ---------------------------------------------------------------------------

    def attach_web(self, web_server: Any) -> None:
        """In webhook mode, receive updates on the bot's own HTTP server."""
        if self.settings.telegram_webhook_url:
            if not self.settings.telegram_webhook_secret:
                log.error(
                    "event=telegram_webhook_refusing_all reason=TELEGRAM_WEBHOOK_SECRET empty"
                )
            web_server.add_route("POST", self._webhook_path, self.webhook)

    async def _initialize(self) -> None:
        """getMe, the one call start-up needs. A network failure is worth retrying (a network
        that comes up late); a refused token is not."""
        url = self.settings.telegram_api_url
        try:
            await self.app.initialize()
        except InvalidToken as exc:
            raise StartupError(
                f"Telegram refused TELEGRAM_BOT_TOKEN ({exc.message}); copy the token again "
                f"from @BotFather, and check that TELEGRAM_API_URL ({url}) is a Bot API server"
            ) from None
        except RetryAfter as exc:
            raise Unreachable(f"told to wait {_retry_seconds(exc):.0f} s") from None
        except (NetworkError, TimedOut) as exc:
            raise Unreachable(exc.message) from None
        except TelegramError as exc:
            raise StartupError(
                f"the Bot API at {url} refused getMe ({exc.message}); check TELEGRAM_API_URL "
                "and TELEGRAM_BOT_TOKEN"
            ) from None

    async def start(self) -> None:
        await keep_trying(
            f"the Telegram Bot API at {self.settings.telegram_api_url}",
            self._initialize,
            budget_seconds=self.settings.startup_retry_seconds,
            hint="check the network, a proxy, or TELEGRAM_API_URL",
        )
        self.bot_username = self.app.bot.username
        # The command menu in every interface language: Telegram shows each user the list for
        # their app's language, and the default (English) list to the rest.
        for locale in LANGUAGES:
            t = translator(locale)
            commands = [
                BotCommand(spec.name, t._(spec.summary)[:256])
                for spec in self.router.help_entries()
            ]
            await self._optional(
                "setMyCommands",
                self.app.bot.set_my_commands(
                    commands, language_code=None if locale == DEFAULT_LOCALE else locale
                ),
            )
        await self.app.start()
        if self.settings.telegram_webhook_url:
            if not self.register_webhook:
                log.info("event=telegram_started mode=send-only bot=%s", self.bot_username)
                return
            try:
                await self.app.bot.set_webhook(
                    self.settings.telegram_webhook_url,
                    secret_token=self.settings.telegram_webhook_secret or None,
                    allowed_updates=ALLOWED_UPDATES,
                )
            except TelegramError as exc:
                raise StartupError(
                    f"Telegram refused the webhook {self.settings.telegram_webhook_url} "
                    f"({exc.message}); check TELEGRAM_WEBHOOK_URL (a public https:// URL) and "
                    "TELEGRAM_WEBHOOK_SECRET, or leave TELEGRAM_WEBHOOK_URL empty for polling"
                ) from None
            log.info("event=telegram_started mode=webhook bot=%s", self.bot_username)
            return
        if not self.poll_updates:
            log.info("event=telegram_started mode=send-only bot=%s", self.bot_username)
            return
        await self.start_polling()

    async def start_polling(self) -> None:
        """Long polling (no webhook configured): one consumer per token, so one process."""
        if self.settings.telegram_webhook_url or self._polling:
            return
        assert self.app.updater is not None
        try:
            await self.app.updater.start_polling(
                timeout=10, allowed_updates=ALLOWED_UPDATES, error_callback=self._polling_error
            )
        except InvalidToken as exc:
            raise StartupError(
                f"Telegram refused TELEGRAM_BOT_TOKEN ({exc.message}); copy it again from "
                "@BotFather"
            ) from None
        except TelegramError as exc:
            # python-telegram-bot calls deleteWebhook before polling; a server that refuses it
            # leaves us unable to poll, but sending (alerts, digests) keeps working.
            log.error("event=telegram_polling_not_started error=%r", exc.message)
            return
        self._polling = True
        log.info("event=telegram_started mode=polling bot=%s", self.bot_username)

    async def stop(self) -> None:
        if self.app.updater is not None and self._polling:
            await self.app.updater.stop()
            self._polling = False
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def _optional(self, method: str, call: Awaitable[object]) -> None:
        """A call the bot can live without: a refusal is one log line, never a stop."""
        try:
            await call
        except TelegramError as exc:
            log.warning(
                "event=telegram_optional_call_refused method=%s error=%r", method, exc.message
            )

    def _polling_error(self, exc: TelegramError) -> None:
        log.warning("event=telegram_polling_error error=%r", exc.message)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(error, TelegramError):
            log.warning("event=telegram_update_failed error=%r", error.message)
        else:
            log.error("event=telegram_update_failed", exc_info=error)

    async def webhook(self, request: web.Request) -> web.Response:
        """Telegram's POST of one update, authenticated by the secret token header."""
        expected = self.settings.telegram_webhook_secret
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        if not secret_header_ok(given, expected):
            return web.Response(status=401, text="wrong secret token")
        try:
            data = await read_json_body(request)
        except BadBody as exc:
            return web.Response(status=400, text=str(exc))
        if not isinstance(data, dict):
            return web.Response(status=400, text="body is not an update")
        try:
            update = Update.de_json(data, self.app.bot)
        except Exception as exc:  # untrusted JSON: any shape PTB cannot read is a bad request
            log.warning("event=telegram_webhook_bad_update error=%r", str(exc)[:200])
            return web.Response(status=400, text="body is not a Telegram update")
        await self.app.update_queue.put(update)
        return web.Response(text="ok")

    # -- incoming updates ------------------------------------------------------------------

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.from_user is None:
            return
        text = message.text or message.caption or ""
        parsed = parse_command_text(text, bot_username=self.bot_username)
        if parsed is None:
            return  # not a command, or one addressed to another bot
        command, args = parsed
        chat = message.chat
        thread = message.message_thread_id if message.is_topic_message else None
        reply_chat: int | str = chat.id
        request = Request(
            PLATFORM,
            str(chat.id),
            str(message.from_user.id),
            command,
            args,
            chat_title=chat.title or chat.full_name or chat.username or "",
            chat_kind=_CHAT_KINDS.get(chat.type, "group"),
            thread_id=str(thread) if thread is not None else None,
            user_locale=message.from_user.language_code,
        )
        if chat.type == ChatType.PRIVATE and command in CHANNEL_COMMANDS and args.startswith("@"):
            redirected = await self._for_channel(request)
            if isinstance(redirected, Reply):
                await self.transport.reply_to(reply_chat, redirected, None)
                return
            request = redirected
        if message.document is not None and self._may_read_files(request):
            attachment = await self._download(message, await self.router.locale_of(request))
            if isinstance(attachment, Reply):
                await self.transport.reply_to(reply_chat, attachment, thread)
                return
            request = replace(request, attachment=attachment)
        reply = await self.router.handle(request)
        if reply is not None:
            await self.transport.reply_to(reply_chat, reply, thread)

    async def _for_channel(self, request: Request) -> Request | Reply:
        """``/subscribe @channel QUERY`` from a channel admin in private: the request is made
        for the channel, after checking with Telegram that the user administers it."""
        name, _, rest = request.args.partition(" ")
        t = translator(await self.router.locale_of(request))
        try:
            channel = await self.app.bot.get_chat(name)
            member = await self.app.bot.get_chat_member(channel.id, int(request.user_id))
        except TelegramError as exc:
            log.info("event=telegram_channel_lookup_failed name=%r error=%r", name, exc.message)
            return Reply(
                t._(
                    "I can't find {channel}. Add me to the channel as an administrator, "
                    "then try again.",
                    channel=name,
                )
            )
        if member.status not in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR):
            return Reply(
                t._(
                    "Only an administrator of {channel} can change its subscriptions.",
                    channel=name,
                )
            )
        return Request(
            PLATFORM,
            str(channel.id),
            request.user_id,
            request.command,
            rest.strip(),
            chat_title=channel.title or name,
            chat_kind=_CHAT_KINDS.get(channel.type, "channel"),
            user_locale=request.user_locale,
        )

    def _may_read_files(self, request: Request) -> bool:
        """Only a command that exists, and that this user may run, gets its document downloaded
        (an OPML import is admin-only): the router refuses the rest without the file."""
        spec = self.router.resolve(request.command)
        return spec is not None and (not spec.admin or self.router.is_admin(request))

    async def _download(self, message: Message, locale: str) -> tuple[str, bytes] | Reply:
        document = message.document
        assert document is not None
        t = translator(locale)
        too_large = Reply(
            t._("That file is too large: the limit is {limit} KB.", limit=MAX_UPLOAD_BYTES // 1000)
        )
        if document.file_size is not None and document.file_size > MAX_UPLOAD_BYTES:
            return too_large
        try:
            file = await document.get_file()
            content = bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("event=telegram_download_failed error=%r", exc.message)
            return Reply(t._("I could not download that file. Please send it again."))
        if len(content) > MAX_UPLOAD_BYTES:
            return too_large
        return document.file_name or "upload", content

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        message = query.message
        t = translator(query.from_user.language_code)
        answer = t._("Done")
        try:
            if message is None:
                answer = t._("That button has expired.")
                return
            chat = message.chat
            in_topic = getattr(message, "is_topic_message", False)
            thread = getattr(message, "message_thread_id", None) if in_topic else None
            request = Request(
                PLATFORM,
                str(chat.id),
                str(query.from_user.id),
                "callback",
                query.data or "",
                chat_title=chat.title or chat.full_name or "",
                chat_kind=_CHAT_KINDS.get(chat.type, "group"),
                thread_id=str(thread) if thread is not None else None,
                user_locale=query.from_user.language_code,
            )
            reply = await handle_callback(self.router, request)
            if reply is not None:
                t = translator(await self.router.locale_of(request))
                answer = (reply.text.splitlines() or [""])[0][:180] or t._("Done")
                await self.transport.reply_to(chat.id, reply, thread)
        finally:
            try:
                await query.answer(answer)
            except TelegramError as exc:
                log.info("event=telegram_callback_answer_failed error=%r", exc.message)

    async def _on_my_chat_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot was blocked, kicked or removed: the chat goes dormant; re-added or unblocked:
        active again."""
        change = update.my_chat_member
        if change is None:
            return
        chat = change.chat
        new = change.new_chat_member.status
        old = change.old_chat_member.status
        db = self.router.context.services.db
        external_id = str(chat.id)
        kind = _CHAT_KINDS.get(chat.type, "group")
        if new in _GONE_STATUSES:
            reason = (
                "bot was blocked by the user"
                if chat.type == ChatType.PRIVATE
                else f"bot was removed from the {kind}"
            )
            known = await db.call(chat_store.find_chat, PLATFORM, external_id)
            if known is not None and known.state != "banned":
                await db.call(chat_store.set_chat_state, known.id, "dormant", reason)
                log.info("event=chat_dormant chat=%s reason=%s", known.id, reason)
        elif new in _PRESENT_STATUSES and old in _GONE_STATUSES:
            known = await db.call(
                chat_store.ensure_chat,
                PLATFORM,
                external_id,
                title=chat.title or chat.full_name or "",
                kind=kind,
            )
            if known.state == "dormant":
                await db.call(chat_store.set_chat_state, known.id, "active")
                log.info("event=chat_reactivated chat=%s", known.id)


__all__ = [
    "TelegramRunner",
    "TelegramTransport",
    "file_url_for",
    "parse_message_ref",
    "telegram_pacer",
]
