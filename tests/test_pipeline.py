"""The joined pipeline over a real database: stored once, clustered, matched, queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models import RawStory
from bot.pipeline.classify import TopicModel
from bot.pipeline.query import parse_query
from bot.pipeline.run import Pipeline
from storage import chats, subscriptions
from storage.db import open_database

QUAKE = RawStory(
    title="Earthquake hits the coast of Nordland",
    text=(
        "A magnitude 6.1 earthquake struck the coast of Nordland on Monday morning, damaging "
        "the harbour of Tessel and cutting power to thousands of homes. The regional seismic "
        "office said the quake was centred 15 km offshore. Rescue teams searched two damaged "
        "apartment blocks and the governor said schools would stay closed for inspections. "
        "Residents described shelves falling and windows breaking for nearly a minute."
    ),
    url="https://news.example/quake?utm_source=feed",
    source_name="Example News",
)


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return TopicModel.load(None)


def _subscribe(db, chat_external: str, query: str, kind: str = "query") -> int:  # type: ignore[no-untyped-def]
    chat = chats.ensure_chat(db, "console", chat_external)
    subscriptions.add_subscription(
        db, chat.id, kind=kind, query=query, canonical=parse_query(query).canonical()
    )
    return chat.id


def test_story_is_understood_stored_matched_and_queued(tmp_path: Path, model: TopicModel) -> None:
    db = open_database(tmp_path / "n.db")
    chat_id = _subscribe(db, "c1", "earthquake")
    _subscribe(db, "c2", "football")
    report = Pipeline(model).process(db, [QUAKE])
    assert len(report.new) == 1 and report.deliveries == 1
    stored = db["stories"].get(report.new[0].id)
    assert stored["canonical_url"] == "https://news.example/quake"
    assert stored["language"] == "en"
    assert stored["summary"] and len(stored["summary"]) <= 400
    assert "disaster" in stored["topics"]
    row = next(db["deliveries"].rows)
    assert row["chat_id"] == chat_id
    assert "earthquake" in row["reasons"].lower()


def test_exact_duplicates_and_reprints_never_alert_twice(tmp_path: Path, model: TopicModel) -> None:
    db = open_database(tmp_path / "n.db")
    _subscribe(db, "c1", "earthquake")
    pipeline = Pipeline(model)
    pipeline.process(db, [QUAKE])
    again = pipeline.process(db, [QUAKE])
    assert (len(again.new), again.duplicates) == (0, 1)
    reprint = RawStory(
        title="Quake damages Tessel harbour",
        text="Read more at our site.\n\n"
        + QUAKE.text.replace("Monday", "Monday,")
        + "\n\nThe agency contributed to this report from the regional capital."
        + "\n\nPhoto: Agency",
        url="https://other.example/story/123",
        source_name="Other Paper",
    )
    report = pipeline.process(db, [reprint])
    assert report.reprints == 1 and report.deliveries == 0
    assert db["deliveries"].count == 1
    # The sent alert's cluster gained a source: it is due for an update.
    assert next(db["deliveries"].rows)["updated_sources_count"] == 2


def test_mutes_override_matches(tmp_path: Path, model: TopicModel) -> None:
    db = open_database(tmp_path / "n.db")
    _subscribe(db, "c1", "earthquake")
    _subscribe(db, "c1", "Tessel", kind="mute")
    assert Pipeline(model).process(db, [QUAKE]).deliveries == 0


def test_two_processes_share_one_database(tmp_path: Path, model: TopicModel) -> None:
    """A second pipeline (another process in production) sees what the first stored."""
    path = tmp_path / "n.db"
    first_db, second_db = open_database(path), open_database(path)
    first, second = Pipeline(model), Pipeline(model)
    _subscribe(first_db, "c1", "earthquake")
    assert first.process(first_db, [QUAKE]).deliveries == 1
    reprint = RawStory(
        title="Another headline", text=QUAKE.text + " Read more.", source_name="Copy"
    )
    report = second.process(second_db, [reprint])
    assert report.reprints == 1 and report.deliveries == 0
    # A subscription added by the other process is matched without a restart.
    _subscribe(second_db, "c2", "harbour")
    fresh = RawStory(
        title="Harbour reopens after repairs",
        text="The harbour of Tessel reopened to fishing boats on Friday after weeks of repairs "
        "to its outer wall, the port authority said, with ferries returning next week.",
        source_name="Port Gazette",
    )
    assert first.process(first_db, [fresh]).deliveries == 1
