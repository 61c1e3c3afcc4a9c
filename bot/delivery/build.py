"""Alerts built from stored rows: the story, its cluster's outlets, the chat's settings.

This is the storage-reading half of alerts; the :class:`~bot.alerts.Alert` type itself stays a
plain value in :mod:`bot.alerts`, which every transport renders without touching storage.
"""

from __future__ import annotations

from bot.alerts import DEFAULT_SUMMARY_CHARS, Alert
from bot.i18n import Translator, translator
from bot.models import Button, Delivery, Story
from bot.pipeline.headline import without_repeated_title
from bot.pipeline.summarize import summarize
from storage import stories as story_store
from storage import subscriptions as sub_store
from storage.engine import Store


def cluster_sources(
    members: list[Story], t: Translator | None = None
) -> tuple[tuple[str, str | None], ...]:
    t = t or translator(None)
    seen: dict[str, str | None] = {}
    for member in members:
        name = member.source_name or t._("unknown source")
        if name not in seen:
            seen[name] = member.url
    return tuple(seen.items())


def alert_buttons(
    story: Story, subscription_id: int | None, t: Translator | None = None
) -> tuple[tuple[Button, ...], ...]:
    t = t or translator(None)
    first_row: list[Button] = []
    if story.url:
        first_row.append(Button(t._("Full story"), url=story.url))
    first_row.append(Button(t._("Details"), action=f"story:{story.id}"))
    second_row = [
        Button(t._("More like this"), action=f"more:{story.id}"),
        Button(t._("Less like this"), action=f"less:{story.id}"),
    ]
    third_row: list[Button] = []
    if story.topics:
        topic = story.topics[0]
        third_row.append(Button(t._("Mute {topic}", topic=t.topic(topic)), action=f"mute:{topic}"))
    if subscription_id is not None:
        third_row.append(Button(t._("Unsubscribe"), action=f"unsub:{subscription_id}"))
    return tuple(row for row in (tuple(first_row), tuple(second_row), tuple(third_row)) if row)


def build_alert(
    db: Store,
    delivery: Delivery,
    summary_chars: int | None = None,
    images: bool = True,
    locale: str | None = None,
) -> Alert:
    """The alert for an outbox row; ``summary_chars`` is the chat's summary length setting
    (the stored summary is made at the default length; another length is summarized anew);
    ``images`` is the chat's choice to see the story's lead image; ``locale`` its interface
    language (buttons and the renderers' words; the story itself stays as written)."""
    t = translator(locale)
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
            summarize(
                story.title, story.text, max_chars=summary_chars, language=story.language
            ).text
            if summary_chars and summary_chars != DEFAULT_SUMMARY_CHARS and story.text
            else story.summary,
        ),
        url=story.url,
        sources=cluster_sources([story, *[m for m in members if m.id != story.id]], t),
        topics=story.topics,
        reasons=delivery.reasons,
        buttons=alert_buttons(story, sub_id, t),
        thread_id=delivery.thread_id,
        image_url=story.image_url if images else None,
        locale=t.locale,
    )
