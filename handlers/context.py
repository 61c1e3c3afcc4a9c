"""What commands may use: the services, and hooks into the running bot set by the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.i18n import DEFAULT_LOCALE, Translator, translator
from bot.models import Chat, Reply
from bot.services import Services
from bot.settings import Settings


@dataclass
class CommandContext:
    services: Services
    settings: Settings
    # Set by the composition root when a delivery worker runs (console, Telegram, Slack):
    send_digest: Callable[[Chat], Awaitable[int]] | None = None
    # Sends a reply to a chat (broadcast); set when transports run.
    send_to_chat: Callable[[Chat, Reply], Awaitable[bool]] | None = None
    # Scheduler jobs (name, next run) and transport status, for /admin jobs and /admin health.
    jobs: Callable[[], list[tuple[str, datetime | None]]] | None = None
    transport_status: Callable[[], dict[str, str]] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # The interface language of the chat a command runs for: the router gives each request
    # its own copy of the context with the chat's locale, so commands translate without globals.
    locale: str = DEFAULT_LOCALE

    @property
    def t(self) -> Translator:
        """Translation into this request's language (``ctx.t._("...")``)."""
        return translator(self.locale)
