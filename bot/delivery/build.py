"""Alerts built from stored rows: the story, its cluster's outlets, the chat's settings.

This is the storage-reading half of alerts; the :class:`~bot.alerts.Alert` type itself stays a
plain value in :mod:`bot.alerts`, which every transport renders without touching storage.
"""

from __future__ import annotations

from bot.alerts import DEFAULT_SUMMARY_CHARS, Alert
from bot.models import Button, Delivery, Story
from bot.pipeline.headline import without_repeated_title
from bot.pipeline.summarize import summarize
from storage import stories as story_store
from storage import subscriptions as sub_store
from storage.engine import Store


def cluster_sources(members: list[Story]) -> tuple[tuple[str, str | None], ...]:
    seen: dict[str, str | None] = {}
    for member in members:
        name = member.source_name or "unknown source"
        if name not in seen:
            seen[name] = member.url
    return tuple(seen.items())


def alert_buttons(story: Story, subscription_id: int | None) -> tuple[tuple[Button, ...], ...]:
    first_row: list[Button] = []
    if story.url:
        first_row.append(Button("Full story", url=story.url))
    first_row.append(Button("Details", action=f"story:{story.id}"))
    second_row = [
        Button("More like this", action=f"more:{story.id}"),
        Button("Less like this", action=f"less:{story.id}"),
    ]
    third_row: list[Button] = []
    if story.topics:
        third_row.append(Button(f"Mute {story.topics[0]}", action=f"mute:{story.topics[0]}"))
    if subscription_id is not None:
        third_row.append(Button("Unsubscribe", action=f"unsub:{subscription_id}"))
    return tuple(row for row in (tuple(first_row), tuple(second_row), tuple(third_row)) if row)


def build_alert(
    db: Store, delivery: Delivery, summary_chars: int | None = None, images: bool = True
) -> Alert:
    """The alert for an outbox row; ``summary_chars`` is the chat's summary length setting
    (the stored summary is made at the default length; another length is summarized anew);
    ``images`` is the chat's choice to see the story's lead image."""
    story = story_store.get_story(db, delivery.story_id)
    members = story_store.cluster_members(db, story.cluster_id or story.id)
    sub_id = None
    for candidate in delivery.subscription_ids:
        try:
            sub = sub_store.get_subscription(db, candidate)
        except LookupError:
            continue
        if sub.kind == "query" and not sub.canonical.startswith("topic:"):
            sub_id = sub.id
            break
    return Alert(
        delivery_id=delivery.id,
        story_id=story.id,
        cluster_id=delivery.cluster_id,
        headline=story.title,
        summary=without_repeated_title(
            story.title,
            summarize(story.title, story.text, max_chars=summary_chars).text
            if summary_chars and summary_chars != DEFAULT_SUMMARY_CHARS and story.text
            else story.summary,
        ),
        url=story.url,
        sources=cluster_sources([story, *[m for m in members if m.id != story.id]]),
        topics=story.topics,
        reasons=delivery.reasons,
        buttons=alert_buttons(story, sub_id),
        thread_id=delivery.thread_id,
        image_url=story.image_url if images else None,
    )
