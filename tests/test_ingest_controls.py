"""Control characters never survive ingest: terminal escapes, C0/C1 controls, bidi overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import build_core
from bot.pipeline.text import strip_control_characters
from storage import stories as story_store
from tests.helpers import make_settings

BAD = "\x1b[31m\u202e\u2066\x07\x00\x9b1m\x7f\u202a\u2069"
FORBIDDEN = set("\x1b\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\x07\x00\x9b\x7f")


def _clean(value: str | None) -> bool:
    return value is None or not (set(value) & FORBIDDEN)


def test_strip_control_characters() -> None:
    assert strip_control_characters("a\x1b[31mred\x1b[0m b") == "ared b"
    assert strip_control_characters("left \u202eright\u202c x\u2067y\u2069") == "left right xy"
    assert (
        strip_control_characters("tab\tand\nline\r\nkept\x0c\x1f\x85") == "tab\tand\nline\r\nkept"
    )
    assert strip_control_characters(" u\tr\nl ", one_line=True) == "u r l"
    assert strip_control_characters("Zürich – 東京 مرحبا") == "Zürich – 東京 مرحبا"


@pytest.fixture
async def core(tmp_path: Path):  # type: ignore[no-untyped-def]
    core = await build_core(make_settings(tmp_path))
    yield core
    await core.close()


async def _stored(core) -> list:  # type: ignore[no-untyped-def,type-arg]
    return await core.db.call(story_store.latest_stories, limit=50)


async def test_a_dump_file_is_stored_without_controls(core, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dump = tmp_path / "wire.txt"
    dump.write_text(
        f"Harbour {BAD}reopens after storm\n\nThe harbour of Tessel reopened on Monday after "
        f"the storm.{BAD} Ferries resumed their\tcrossings to the islands at noon.\n",
        encoding="utf-8",
    )
    outcome = await core.services.ingest_file(dump, source_name=f"inbox/{BAD}wire.txt")
    assert outcome.error is None and len(outcome.report.new) == 1
    [story] = await _stored(core)
    assert story.title == "Harbour reopens after storm"
    assert "storm. Ferries" in story.text and "their crossings" in story.text
    for value in (story.title, story.text, story.summary, story.source_name):
        assert _clean(value), repr(value)


async def test_a_pushed_story_is_stored_without_controls(core) -> None:  # type: ignore[no-untyped-def]
    report, errors = await core.services.ingest_payload(
        {
            "title": f"\u202eBudget passes{BAD}",
            "text": f"Parliament passed the budget{BAD} on Friday.",
            "url": f"https://news.example/budget{BAD}",
            "id": f"guid-{BAD}1",
            "source": f"Wire{BAD}",
        }
    )
    assert not errors and len(report.new) == 1
    [story] = await _stored(core)
    assert story.title == "Budget passes"
    assert story.text == "Parliament passed the budget on Friday."
    guid = await core.db.call(
        lambda db: db.execute("SELECT guid FROM stories WHERE id = ?", [story.id]).fetchone()[0]
    )
    for value in (story.title, story.text, story.url, guid, story.source_name):
        assert _clean(value), repr(value)
