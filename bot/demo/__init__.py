"""Bundled demo sources for console mode: a small feed and a text dump we wrote ourselves.

With no chat platform configured, ``newsbot run`` ingests these and alerts the console chat
through a demo subscription, so a newcomer sees the whole pipeline work at once. With a platform
configured none of this is loaded, and :func:`remove_demo_data` clears any demo stories an
earlier console run left, so real chats never receive them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bot.pipeline.query import parse_query
from storage import chats as chat_store
from storage import sources as source_store
from storage import subscriptions as sub_store
from storage.engine import Store

DEMO_FILES = {"demo_feed.xml": "Newsbot Demo Wire", "wire_dump.txt": "Newsbot Demo Dump"}
DEMO_SOURCE_PREFIX = "newsbot-demo:"
DEMO_QUERIES = (
    'earthquake OR flood OR wildfire OR storm OR "power outage"',
    "topic:technology",
    "election OR parliament OR minister",
)


def demo_paths() -> list[Path]:
    root = resources.files("bot.demo")
    return [Path(str(root.joinpath(filename))) for filename in DEMO_FILES]


def register_demo(db: Store, chat_platform: str, chat_id: str) -> None:
    """Demo sources (listed in `sources list`) and the console chat's demo subscriptions."""
    for filename, name in DEMO_FILES.items():
        source_store.add_source(db, DEMO_SOURCE_PREFIX + filename, name=name, kind="file")
    chat = chat_store.ensure_chat(db, chat_platform, chat_id, title="console")
    for query in DEMO_QUERIES:
        sub_store.add_subscription(
            db, chat.id, kind="query", query=query, canonical=parse_query(query).canonical()
        )


def remove_demo_data(db: Store) -> int:
    """Delete demo sources and their stories; returns the number of stories removed."""
    with db.atomic():
        names = list(DEMO_FILES.values())
        marks = ",".join("?" for _ in names)
        cursor = db.execute(f"DELETE FROM stories WHERE source_name IN ({marks})", names)
        db.execute("DELETE FROM sources WHERE url LIKE ?", [DEMO_SOURCE_PREFIX + "%"])
    return int(cursor.rowcount)
