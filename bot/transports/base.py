"""The seam between the platform-neutral core and a chat platform.

A transport adapts incoming messages to :class:`handlers.router.Request` objects, renders
:class:`~bot.models.Reply`, :class:`~bot.alerts.Alert` and digests in its platform's format, and
reports each send's outcome as a :class:`SendResult` so that the delivery worker
(:mod:`bot.delivery.worker`), which knows nothing of Telegram or Slack, can decide: done, wait,
retry, give up, or put the chat to sleep.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from bot.alerts import Alert
from bot.models import Chat, Reply


@dataclass(frozen=True)
class SendResult:
    """Outcome of one send. Exactly one of the failure fields is set when ``ok`` is False."""

    ok: bool
    message_ref: str | None = None
    retry_after: float | None = None  # platform asked us to wait: not a failed attempt
    transient_error: str | None = None  # retry with backoff
    permanent_error: str | None = None  # dead letter
    chat_gone: str | None = None  # bot blocked / kicked / channel archived: chat goes dormant
    migrated_to: str | None = None  # the chat has a new id: follow it
    duplicate_possible: bool = False  # a timed-out send that was retried
    image_refused: bool = False  # the platform refused the image; the alert went without it

    def without_image(self) -> SendResult:
        """This outcome, marked as reached after the platform refused the alert's image."""
        return dataclasses.replace(self, image_refused=True)

    @classmethod
    def sent(cls, message_ref: str | None = None) -> SendResult:
        return cls(ok=True, message_ref=message_ref)


class PlatformRunner(Protocol):
    """A chat platform's runtime (Telegram ``Application``, Slack ``AsyncApp``) as the
    composition root drives it: started after the HTTP server, stopped before it. A runner that
    serves HTTP routes (webhooks) also has ``attach_web(web_server)``."""

    @property
    def transport(self) -> Transport: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Transport(Protocol):
    """What the delivery worker and the command runner need from a chat platform."""

    platform: str

    async def send_alert(self, chat: Chat, alert: Alert) -> SendResult: ...

    async def send_update(self, chat: Chat, alert: Alert, message_ref: str) -> SendResult: ...

    async def send_reply(
        self, chat: Chat, reply: Reply, thread_id: str | None = None
    ) -> SendResult: ...
