"""The console transport: alerts and replies in the terminal, colored with rich.

It is what a newcomer sees with no tokens configured, and what ``newsbot chat`` talks through.
Untrusted text goes into ``rich.text.Text`` objects, never through rich's markup parser, so a
headline like ``[bold red]`` prints literally.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.alerts import TOPIC_LABELS, Alert
from bot.i18n import translator
from bot.models import Button, Chat, Reply
from bot.transports.base import SendResult
from handlers.router import Request, parse_command_text

CONSOLE_CHAT_ID = "console"
CONSOLE_USER_ID = "console"


def _buttons_text(rows: tuple[tuple[Button, ...], ...]) -> Text:
    text = Text()
    for button in itertools.chain.from_iterable(rows):
        label = f"[{button.label}"
        if button.url:
            label += f": {button.url}"
        elif button.action:
            label += f" → {button.action}"
        text.append(label + "] ", style="cyan")
    return text


class ConsoleTransport:
    platform = "console"

    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None) -> None:
        self.console = Console(
            file=stream or sys.stdout,
            highlight=False,
            soft_wrap=False,
            force_terminal=color,
            no_color=color is False,
        )
        self._counter = itertools.count(1)
        #: Attachments written to a file (``newsbot admin stats --out PATH``): name -> where.
        self.saved: dict[str, Path] = {}

    def render_alert(self, alert: Alert) -> Panel:
        t = translator(alert.locale)
        body = Text()
        body.append(alert.headline, style="bold")
        body.append("\n\n")
        body.append(alert.summary or t._("(no summary)"))
        body.append("\n\n")
        names = ", ".join(name for name, _url in alert.sources[:4])
        body.append(t._("Source: "), style="dim")
        body.append(names)
        if alert.more_sources:
            more = t.ngettext(" (+{n} more source)", " (+{n} more sources)", alert.more_sources)
            body.append(more, style="dim")
        if alert.url:
            body.append("\n")
            body.append(alert.url, style="underline blue")
        if alert.image_url:  # a terminal shows no picture: the address, on its own line
            body.append("\n")
            body.append(alert.image_url, style="blue")
        if alert.topics:
            body.append("\n")
            body.append(" ".join(f"#{t}" for t in alert.topics), style="magenta")
        if alert.reasons:
            body.append("\n" + t._("matched: "), style="dim")
            body.append(", ".join(alert.reasons), style="green")
        body.append("\n")
        body.append_text(_buttons_text(alert.buttons))
        topic = (
            t.topic(alert.topics[0], TOPIC_LABELS.get(alert.topics[0], "")) if alert.topics else ""
        )
        title = t._("news #{id} {topic}", id=alert.story_id, topic=topic).strip()
        return Panel(body, title=Text(title), border_style="yellow")

    async def send_alert(self, chat: Chat, alert: Alert) -> SendResult:
        self.console.print(self.render_alert(alert))
        return SendResult.sent(f"console-{next(self._counter)}")

    async def send_update(self, chat: Chat, alert: Alert, message_ref: str) -> SendResult:
        t = translator(alert.locale)
        text = Text()
        text.append(t._("Update to news #{id}: ", id=alert.story_id), style="yellow")
        text.append(alert.headline, style="bold")
        text.append(
            t.ngettext(" now has {n} source: ", " now has {n} sources: ", len(alert.sources))
        )
        text.append(", ".join(name for name, _ in alert.sources))
        self.console.print(text)
        return SendResult.sent(message_ref)

    def render_reply(self, reply: Reply) -> Text:
        text = Text()
        if reply.title:
            text.append(reply.title + "\n", style="bold")
        text.append(reply.text)
        if reply.buttons:
            text.append("\n")
            text.append_text(_buttons_text(reply.buttons))
        for attachment in reply.attachments:
            size = len(attachment.content)
            where = self.saved.get(attachment.filename)
            if where is not None:
                note = f"\n({attachment.filename}, {size:,} bytes, written to {where})"
            else:
                note = (
                    f"\n(file {attachment.filename}, {size:,} bytes, not saved: a terminal "
                    "cannot show it; `newsbot admin ... --out PATH` writes it)"
                )
            text.append(note, style="dim")
        return text

    async def send_reply(
        self, chat: Chat, reply: Reply, thread_id: str | None = None
    ) -> SendResult:
        self.console.print(self.render_reply(reply))
        for followup in reply.followups:
            self.console.print(self.render_reply(followup))
        return SendResult.sent(f"console-{next(self._counter)}")


def console_request(line: str) -> Request | None:
    """A typed line as a command request; plain words are taken as a search, like a chat box."""
    stripped = line.strip()
    if not stripped:
        return None
    parsed = parse_command_text(stripped)
    if parsed is None:
        if stripped.startswith("/"):
            return Request("console", CONSOLE_CHAT_ID, CONSOLE_USER_ID, stripped[1:33], "")
        return Request("console", CONSOLE_CHAT_ID, CONSOLE_USER_ID, "search", stripped)
    command, args = parsed
    return Request("console", CONSOLE_CHAT_ID, CONSOLE_USER_ID, command, args)


async def read_commands(
    stream: TextIO,
    handle: Callable[[Request], Awaitable[Reply | None]],
    transport: ConsoleTransport,
    chat_for: Callable[[], Awaitable[Chat]],
    *,
    prompt: bool = False,
    echo: bool = False,
) -> int:
    """Read command lines until the stream closes or ``/quit``; each reply goes through the
    transport. ``echo`` prints each command before its reply (input piped in, where the
    terminal did not show it). Returns the number of commands read.

    The lines are read on a daemon thread: a read blocked on a terminal or a pipe that never
    closes must not keep the process alive once the bot has stopped."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def deliver(line: str) -> bool:
        try:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        except RuntimeError:  # the loop has closed: nobody is reading any more
            return False
        return True

    def pump() -> None:
        try:
            for line in iter(stream.readline, ""):
                if not deliver(line):
                    return
        except (OSError, ValueError):  # the stream was closed under us
            pass
        deliver("")

    threading.Thread(target=pump, name="newsbot-stdin", daemon=True).start()
    count = 0
    while True:
        if prompt:
            transport.console.print(Text("> ", style="bold cyan"), end="")
        line = await lines.get()
        if line == "":
            return count
        if line.strip().lower() in ("/quit", "/exit", "quit", "exit"):
            return count
        request = console_request(line)
        if request is None:
            continue
        count += 1
        if echo:
            transport.console.print(Text(f"> {line.strip()}", style="bold cyan"))
        reply = await handle(request)
        if reply is not None:
            await transport.send_reply(await chat_for(), reply)
