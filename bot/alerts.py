"""Alerts as platform-neutral values: what a chat is told about a story, and why.

Only the types and the plain data every transport renders with live here, so a transport never
imports storage: the outbox drain builds alerts from stored rows
(:func:`bot.delivery.build.build_alert`), and each transport renders them in its own format.
The buttons' callback data use the short, validated actions of :mod:`handlers.callbacks`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import Button
from bot.pipeline.classify import TOPIC_NAMES

DEFAULT_SUMMARY_CHARS = 400  # the length stored summaries are made at
TOPIC_LABELS = TOPIC_NAMES  # display names of the topic ids, from the taxonomy itself


@dataclass(frozen=True)
class Alert:
    delivery_id: int
    story_id: int
    cluster_id: int
    headline: str
    summary: str
    url: str | None
    sources: tuple[tuple[str, str | None], ...]  # (name, url) of every outlet in the cluster
    topics: tuple[str, ...]
    reasons: tuple[str, ...]
    buttons: tuple[tuple[Button, ...], ...]
    thread_id: str | None = None
    image_url: str | None = None  # shown large with the alert; None when the chat turned it off
    locale: str = "en"  # the chat's interface language: the renderers' own words are in it

    @property
    def more_sources(self) -> int:
        return max(0, len(self.sources) - 1)
