"""``newsbot chat`` and ``newsbot admin``: the command router over the console transport.

No scheduler runs here: it is a conversation with the same commands Telegram and Slack users
get, against the same database a running bot uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot.app import Core, build_core
from bot.delivery.worker import DeliveryWorker
from bot.models import Chat, Reply
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


async def run_single_command(
    settings: Settings, command: str, args: str, *, out: Path | None = None
) -> int:
    """One command's reply on the terminal; ``out`` receives its file (a chart, an OPML).
    The exit code: 0, 2 for a usage answer, 1 for an error answer or a file not written."""
    core, transport, router = await _session(settings)
    try:
        reply = await router.handle(
            Request("console", CONSOLE_CHAT_ID, CONSOLE_USER_ID, command, args)
        )
        if reply is None:
            return 0
        code = 0
        if out is not None:
            if not reply.attachments:
                print(f"error: this command makes no file to write to {out}", file=sys.stderr)
                code = 1
            else:
                try:
                    written = save_attachments(reply, out)
                except OSError as exc:
                    print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
                    code = 1
                else:
                    transport.saved.update(written)
        chat = await core.db.call(chat_store.ensure_chat, "console", CONSOLE_CHAT_ID)
        await transport.send_reply(chat, reply)
        first = reply.text.lstrip().lower()
        if first.startswith("usage:"):
            return 2
        if first.startswith(("error", "could not", "sorry")):
            return 1
        return code
    finally:
        await core.close()


def save_attachments(reply: Reply, out: Path) -> dict[str, Path]:
    """The reply's first file goes to ``out``; any others beside it, under their own names."""
    written: dict[str, Path] = {}
    for index, attachment in enumerate(reply.attachments):
        target = out if index == 0 else out.with_name(attachment.filename)
        target.write_bytes(attachment.content)
        written[attachment.filename] = target
    return written
