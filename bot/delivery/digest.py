"""Digests: held alerts grouped by topic, most important first, with counts.

Importance of a story = outlets in its cluster (the strongest signal that a story matters),
plus recency (decays over a day), plus a small weight for hard-news topics. Groups are ordered
by their most important story. Only the top stories are listed; the rest are counted, so a
digest stays within a readable message whatever was held.
"""

from __future__ import annotations

from datetime import datetime

from bot.alerts import TOPIC_LABELS
from bot.models import Button, Delivery, Reply, Story
from storage import stories as story_store
from storage.engine import Store

TOPIC_WEIGHT = {"disaster": 1.0, "conflict": 0.8, "world": 0.6, "politics": 0.5, "crime": 0.4}
MAX_LISTED = 25


def importance(story: Story, sources: int, now: datetime) -> float:
    age_hours = max(0.0, (now - (story.published_at or story.fetched_at)).total_seconds() / 3600)
    recency = max(0.0, 1.0 - age_hours / 24)
    topic = story.topics[0] if story.topics else ""
    return sources * 1.5 + recency + TOPIC_WEIGHT.get(topic, 0.0)


def build_digest(db: Store, held: list[Delivery], now: datetime) -> Reply:
    scored: list[tuple[float, Story, int]] = []
    for delivery in held:
        try:
            story = story_store.get_story(db, delivery.story_id)
        except LookupError:
            continue  # pruned by retention since it was held
        sources = story_store.cluster_source_count(db, story.cluster_id or story.id)
        scored.append((importance(story, sources, now), story, sources))
    scored.sort(key=lambda item: -item[0])
    groups: dict[str, list[tuple[float, Story, int]]] = {}
    for item in scored:
        topic = item[1].topics[0] if item[1].topics else "other"
        groups.setdefault(topic, []).append(item)
    lines = [f"Your digest: {len(scored)} {'story' if len(scored) == 1 else 'stories'}"]
    listed = 0
    for topic, items in groups.items():
        label = TOPIC_LABELS.get(topic, topic.title())
        lines.append("")
        lines.append(f"{label} ({len(items)})")
        for _score, story, sources in items:
            if listed >= MAX_LISTED:
                break
            extra = f" (+{sources - 1} more sources)" if sources > 1 else ""
            lines.append(f"• {story.title}{extra} [/story {story.id}]")
            listed += 1
    if listed < len(scored):
        lines.append("")
        lines.append(f"…and {len(scored) - listed} more. Use /latest to browse.")
    buttons = tuple(
        (Button(f"#{s.id} {s.title[:40]}", action=f"story:{s.id}"),) for _i, s, _n in scored[:3]
    )
    return Reply("\n".join(lines), buttons=buttons, title="Digest")
