"""Routing a platform-neutral request to its one command implementation.

Transports build a :class:`Request` from whatever their platform sent (a Telegram message, a
Slack slash command, a console line) and render the :class:`~bot.models.Reply` they get back.
Everything every command needs is done once here: the chat is registered on its first message,
banned chats are ignored, arguments are length-capped, each chat is rate limited, admin
commands are checked against the platform's admin list and audited.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from bot.i18n import normalize_locale
from bot.models import Chat, Reply
from handlers.context import CommandContext
from storage import audit
from storage import chats as chat_store

log = logging.getLogger(__name__)

MAX_ARGUMENT_CHARS = 1000
COMMANDS_PER_MINUTE = 30


@dataclass(frozen=True)
class Request:
    """One command from one user in one chat, whatever the platform."""

    platform: str
    chat_id: str
    user_id: str
    command: str
    args: str = ""
    chat_title: str = ""
    chat_kind: str = "private"
    thread_id: str | None = None
    attachment: tuple[str, bytes] | None = None  # (filename, content), e.g. an OPML import
    # The user's language as the platform reports it (Telegram's language_code, Slack's
    # locale): a chat with no interface language chosen yet starts in it.
    user_locale: str | None = None


Handler = Callable[[CommandContext, Request, Chat], Awaitable[Reply]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    handler: Handler
    summary: str  # an English message id (marked with N_), translated when shown
    usage: str  # likewise
    examples: tuple[str, ...] = ()
    admin: bool = False


@dataclass
class _Bucket:
    tokens: float
    updated: float


_COMMAND_RE = re.compile(
    r"^/?(?P<cmd>[A-Za-z_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]+))?(?:\s+(?P<args>.*))?$", re.S
)


def parse_command_text(text: str, *, bot_username: str | None = None) -> tuple[str, str] | None:
    """Split ``/cmd@botname args`` into (cmd, args). None when the text is not a command or is
    addressed to another bot in a group."""
    match = _COMMAND_RE.match(text.strip())
    if not match or not text.strip().startswith("/"):
        return None
    addressed = match.group("bot")
    if addressed and bot_username and addressed.lower() != bot_username.lower():
        return None
    return match.group("cmd").lower(), (match.group("args") or "").strip()


@dataclass
class Router:
    context: CommandContext
    commands: dict[str, CommandSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)

    def register(self, spec: CommandSpec, *aliases: str) -> None:
        self.commands[spec.name] = spec
        for alias in aliases:
            self.aliases[alias] = spec.name

    def resolve(self, name: str) -> CommandSpec | None:
        name = name.lower().lstrip("/")
        return self.commands.get(self.aliases.get(name, name))

    def is_admin(self, request: Request) -> bool:
        return request.user_id in self.context.settings.admin_ids(request.platform)

    def _allow(self, request: Request) -> bool:
        """Token bucket per chat: COMMANDS_PER_MINUTE, refilled continuously."""
        key = (request.platform, request.chat_id)
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(COMMANDS_PER_MINUTE, now)
        bucket.tokens = min(
            COMMANDS_PER_MINUTE, bucket.tokens + (now - bucket.updated) * COMMANDS_PER_MINUTE / 60
        )
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    async def handle(self, request: Request) -> Reply | None:
        """Run one command; None means "say nothing" (a banned chat)."""
        db = self.context.services.db
        chat = await db.call(
            chat_store.ensure_chat,
            request.platform,
            request.chat_id,
            title=request.chat_title,
            kind=request.chat_kind,
        )
        if chat.state == "banned":
            log.info("event=banned_chat_ignored chat=%s", chat.id)
            return None
        if chat.locale is None and normalize_locale(request.user_locale):
            chat = await db.call(
                chat_store.set_chat_locale, chat.id, normalize_locale(request.user_locale)
            )
        context = replace(self.context, locale=chat.locale or self.context.locale)
        t = context.t
        if not self._allow(request):
            return Reply(
                t._("You are sending commands too fast. Please wait a minute and try again.")
            )
        if len(request.args) > MAX_ARGUMENT_CHARS:
            return Reply(
                t._(
                    "That is too long ({length} characters); the limit is {limit}. "
                    "Example: /subscribe earthquake AND japan",
                    length=len(request.args),
                    limit=MAX_ARGUMENT_CHARS,
                )
            )
        spec = self.resolve(request.command)
        if spec is None:
            return Reply(
                t._(
                    "I don't know the command /{command}. Send /help to see what I can do.",
                    command=request.command[:32],
                )
            )
        if spec.admin and not self.is_admin(request):
            await db.call(
                audit.record,
                platform=request.platform,
                user_id=request.user_id,
                chat_id=request.chat_id,
                action=spec.name,
                arguments=request.args,
                result="refused: not an admin",
            )
            return Reply(t._("Sorry, that command is for the bot's admins only."))
        try:
            reply = await spec.handler(context, request, chat)
        except Exception:
            log.exception("event=command_failed command=%s chat=%s", spec.name, chat.id)
            reply = Reply(
                t._("Something went wrong on our side; it has been logged. Please try again.")
            )
        if spec.admin:
            await db.call(
                audit.record,
                platform=request.platform,
                user_id=request.user_id,
                chat_id=request.chat_id,
                action=spec.name,
                arguments=request.args,
                result=reply.text.splitlines()[0] if reply.text else "",
            )
        return reply

    async def locale_of(self, request: Request) -> str:
        """The interface language of the request's chat, for answers given outside a command
        (an expired button, a file too large): the chat's, else the user's, else English."""
        chat = await self.context.services.db.call(
            chat_store.find_chat, request.platform, request.chat_id
        )
        return (
            (chat.locale if chat is not None else None)
            or normalize_locale(request.user_locale)
            or self.context.locale
        )

    def help_entries(self, *, admin: bool = False) -> list[CommandSpec]:
        return [spec for spec in self.commands.values() if spec.admin == admin]
