"""``newsbot chat`` and ``newsbot admin``: the command router over the console transport.

No scheduler runs here: it is a conversation with the same commands Telegram and Slack users
get, against the same database a running bot uses.
"""

from __future__ import annotations

import sys

from bot.app import Core, build_core
from bot.models import Chat
from bot.pipeline.deliver import DeliveryWorker
from bot.settings import Settings
from bot.transports.console import CONSOLE_CHAT_ID, CONSOLE_USER_ID, ConsoleTransport, read_commands
from handlers.context import CommandContext
from handlers.registry import build_router
from handlers.router import Request, Router
from storage import chats as chat_store


async def _session(settings: Settings) -> tuple[Core, ConsoleTransport, Router]:
    core = await build_core(settings)
    transport = ConsoleTransport()
    worker = DeliveryWorker(core.db, {"console": transport})
    context = CommandContext(core.services, settings)

    async def send_digest(chat: Chat) -> int:
        return await worker.send_digest(chat, transport)

    context.send_digest = send_digest
    return core, transport, build_router(context)


async def run_chat(settings: Settings) -> int:
    core, transport, router = await _session(settings)
    try:
        transport.console.print(
            "newsbot chat: type a command such as /help, /subscribe earthquake or /latest; "
            "plain words search the stored stories. /quit or Ctrl-D ends."
        )

        async def chat_for() -> Chat:
            return await core.db.call(chat_store.ensure_chat, "console", CONSOLE_CHAT_ID)

        await read_commands(
            sys.stdin, router.handle, transport, chat_for, prompt=sys.stdin.isatty()
        )
    finally:
        await core.close()
    return 0


async def run_single_command(settings: Settings, command: str, args: str) -> int:
    core, transport, router = await _session(settings)
    try:
        reply = await router.handle(
            Request("console", CONSOLE_CHAT_ID, CONSOLE_USER_ID, command, args)
        )
        if reply is not None:
            chat = await core.db.call(chat_store.ensure_chat, "console", CONSOLE_CHAT_ID)
            await transport.send_reply(chat, reply)
    finally:
        await core.close()
    return 0
