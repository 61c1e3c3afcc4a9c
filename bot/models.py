"""Plain dataclasses passed between storage, the pipeline, handlers and transports.

No framework types live here: a transport turns these into Telegram or Slack objects at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RawStory:
    """A story as it arrives, before understanding: from a feed item, a dump, a push or a page."""

    title: str
    text: str
    url: str | None = None
    published: datetime | None = None
    guid: str | None = None
    source_name: str = ""
    image_url: str | None = None  # the story's lead image (https, public host), never fetched


@dataclass(frozen=True)
class Source:
    id: int
    url: str
    name: str
    kind: str
    interval_minutes: int
    state: str
    etag: str | None = None
    last_modified: str | None = None
    consecutive_errors: int = 0
    last_error: str | None = None
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    next_check_at: datetime | None = None
    state_reason: str | None = None
    fetch_full_text: bool = False


@dataclass(frozen=True)
class Story:
    id: int
    title: str
    text: str
    source_name: str
    url: str | None
    published_at: datetime | None
    fetched_at: datetime
    language: str | None
    summary: str
    topics: tuple[str, ...]
    cluster_id: int | None
    duplicate_of: int | None = None
    source_id: int | None = None
    topic_scores: dict[str, float] = field(default_factory=dict)
    key_terms: tuple[str, ...] = ()
    image_url: str | None = None


@dataclass(frozen=True)
class Chat:
    id: int
    platform: str
    external_id: str
    title: str
    kind: str
    state: str
    mode: str = "instant"
    digest_schedule: str = "daily 08:00"
    timezone: str = "UTC"
    quiet_hours: str | None = None
    hourly_cap: int = 20
    summary_chars: int = 400
    # Story languages this chat wants alerts in, comma-separated ISO codes ("en,de"); None: any.
    language: str | None = None
    state_reason: str | None = None
    images: bool = True  # show a story's lead image in its alert
    # The interface language (bot.i18n.LANGUAGES); None until the chat or its user gives one.
    locale: str | None = None


@dataclass(frozen=True)
class Subscription:
    id: int
    chat_id: int
    kind: str  # query | mute
    query: str
    canonical: str
    thread_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    id: int
    chat_id: int
    story_id: int
    cluster_id: int
    platform: str
    status: str
    reasons: tuple[str, ...]
    attempts: int
    kind: str = "alert"
    message_ref: str | None = None
    thread_id: str | None = None
    sources_count: int = 1
    updated_sources_count: int = 1
    last_error: str | None = None
    subscription_ids: tuple[int, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True)
class Button:
    """An action under a reply; ``action`` is short callback data, ``url`` a link button."""

    label: str
    action: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file sent with a reply (a stats chart, an OPML export)."""

    filename: str
    content: bytes
    mime_type: str
    caption: str = ""


@dataclass(frozen=True)
class Reply:
    """What a command returns; transports render it (HTML on Telegram, Block Kit on Slack).

    ``text`` is plain text: transports escape it. ``sections`` are optional titled paragraphs
    that transports may render with emphasis; ``plain`` asks for no formatting at all.
    """

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    title: str = ""
    ephemeral: bool = False
    followups: tuple[Reply, ...] = ()
