"""Named queries over ``stories`` and its FTS5 index."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from bot.models import Story
from bot.pipeline.query import cyrillic_stem
from storage.db import from_iso, to_iso


class StoryNotFound(LookupError):
    pass


@dataclass(frozen=True)
class NewStory:
    """Everything the pipeline knows about a story when it stores it."""

    title: str
    text: str
    source_id: int | None
    source_name: str
    url: str | None
    canonical_url: str | None
    guid: str | None
    published_at: datetime | None
    fetched_at: datetime
    content_hash: str
    language: str
    summary: str
    topics: list[str]
    topic_scores: dict[str, float]
    key_terms: list[str]
    duplicate_of: int | None = None
    cluster_id: int | None = None
    image_url: str | None = None


def _row_to_story(row: dict[str, Any]) -> Story:
    return Story(
        id=row["id"],
        title=row["title"],
        text=row["text"],
        source_name=row["source_name"],
        url=row["url"],
        published_at=from_iso(row["published_at"]),
        fetched_at=from_iso(row["fetched_at"]) or datetime.min,
        language=row["language"],
        summary=row["summary"],
        topics=tuple(json.loads(row["topics"] or "[]")),
        cluster_id=row["cluster_id"],
        duplicate_of=row["duplicate_of"],
        source_id=row["source_id"],
        topic_scores=json.loads(row.get("topic_scores") or "{}"),
        key_terms=tuple(json.loads(row.get("key_terms") or "[]")),
        image_url=row.get("image_url"),
    )


def insert_story(db: Database, story: NewStory) -> int:
    """Insert and return the id; a story with no cluster starts its own (cluster = own id)."""
    table = db.table("stories")
    table.insert(
        {
            "source_id": story.source_id,
            "source_name": story.source_name,
            "url": story.url,
            "canonical_url": story.canonical_url,
            "guid": story.guid,
            "title": story.title,
            "text": story.text,
            "published_at": to_iso(story.published_at),
            "fetched_at": to_iso(story.fetched_at),
            "language": story.language,
            "content_hash": story.content_hash,
            "summary": story.summary,
            "topics": json.dumps(story.topics),
            "topic_scores": json.dumps(story.topic_scores),
            "key_terms": json.dumps(story.key_terms),
            "cluster_id": story.cluster_id,
            "duplicate_of": story.duplicate_of,
            "image_url": story.image_url,
        }
    )
    story_id = int(table.last_pk)  # type: ignore[arg-type]
    if story.cluster_id is None:
        db.execute("UPDATE stories SET cluster_id = ? WHERE id = ?", [story_id, story_id])
    return story_id


def find_exact_duplicate(db: Database, content_hash: str, canonical_url: str | None) -> int | None:
    """The id of a stored story with the same normalized text or the same canonical URL."""
    row = db.execute("SELECT id FROM stories WHERE content_hash = ?", [content_hash]).fetchone()
    if row:
        return int(row[0])
    if canonical_url:
        row = db.execute(
            "SELECT id FROM stories WHERE canonical_url = ? LIMIT 1", [canonical_url]
        ).fetchone()
        if row:
            return int(row[0])
    return None


def get_story(db: Database, story_id: int) -> Story:
    rows = list(db.table("stories").rows_where("id = ?", [story_id], limit=1))
    if not rows:
        raise StoryNotFound(f"no story with id {story_id}")
    return _row_to_story(rows[0])


def stories_after(db: Database, after_id: int, *, since: datetime | None = None) -> list[Story]:
    """Stories stored after ``after_id`` (by any process), oldest first."""
    where = "id > ?"
    params: list[Any] = [after_id]
    if since is not None:
        where += " AND coalesce(published_at, fetched_at) >= ?"
        params.append(to_iso(since))
    return [_row_to_story(r) for r in db.table("stories").rows_where(where, params, order_by="id")]


def max_story_id(db: Database) -> int:
    row = db.execute("SELECT coalesce(max(id), 0) FROM stories").fetchone()
    return int(row[0])


def cluster_members(db: Database, cluster_id: int) -> list[Story]:
    rows = db.table("stories").rows_where("cluster_id = ?", [cluster_id], order_by="id")
    return [_row_to_story(r) for r in rows]


def cluster_source_count(db: Database, cluster_id: int) -> int:
    row = db.execute(
        "SELECT count(DISTINCT coalesce(nullif(source_name, ''), id)) FROM stories WHERE cluster_id = ?",
        [cluster_id],
    ).fetchone()
    return int(row[0])


def latest_stories(
    db: Database, *, limit: int = 10, offset: int = 0, topic: str | None = None
) -> list[Story]:
    """Newest cluster leaders first (reprints never listed twice)."""
    where = "duplicate_of IS NULL AND cluster_id = id"
    params: list[Any] = []
    if topic:
        where += " AND EXISTS (SELECT 1 FROM json_each(stories.topics) WHERE value = ?)"
        params.append(topic)
    rows = db.table("stories").rows_where(
        where,
        params,
        order_by="coalesce(published_at, fetched_at) DESC, id DESC",
        limit=limit,
        offset=offset,
    )
    return [_row_to_story(r) for r in rows]


@dataclass(frozen=True)
class SearchHit:
    story: Story
    snippet: str


def fts_query(text: str) -> str:
    """Turn user words into a safe FTS5 query: each word quoted, so no FTS syntax can leak in.

    The index (unicode61, ``remove_diacritics 2``) already ignores case and accents; two
    foldings of subscription matching are added here so that ``/search`` agrees with it: a
    word with ß also finds its ss spelling (and the other way round), and a Cyrillic word
    is searched by the stem its case forms share (``Москва`` finds *Москве*, *Москвы*).
    """
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    # An explicit AND: FTS5 takes a bare space between phrases as AND, but not next to a
    # parenthesised group ('"a" ("b" OR "c")' is a syntax error).
    return " AND ".join(_fts_word(w) for w in words[:20])


def _fts_word(word: str) -> str:
    """One user word as an FTS5 expression (``word`` holds only letters and digits)."""
    stem = cyrillic_stem(word)
    if stem is not None:
        return f'("{word}" OR "{stem}"*)'
    lower = word.casefold()  # casefold spells ß as ss
    if "ss" in lower:
        return f'("{lower}" OR "{lower.replace("ss", "ß")}")'
    return f'"{word}"'


def search_stories(db: Database, text: str, *, limit: int = 5, offset: int = 0) -> list[SearchHit]:
    """Ranked full-text search (bm25) with highlighted snippets; ``[`` and ``]`` mark matches."""
    query = fts_query(text)
    if not query:
        return []
    rows = db.execute(
        """
        SELECT stories.*, snippet(stories_fts, -1, '[', ']', '…', 12) AS snip
        FROM stories_fts JOIN stories ON stories.rowid = stories_fts.rowid
        WHERE stories_fts MATCH ? AND stories.duplicate_of IS NULL
        ORDER BY bm25(stories_fts, 5.0, 1.0, 2.0), stories.id DESC
        LIMIT ? OFFSET ?
        """,
        [query, limit, offset],
    )
    columns = [d[0] for d in rows.description]
    hits = []
    for values in rows.fetchall():
        row = dict(zip(columns, values, strict=True))
        hits.append(SearchHit(_row_to_story(row), row["snip"]))
    return hits


def count_stories(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM stories").fetchone()[0])


def prune_stories(db: Database, older_than: datetime) -> int:
    """Delete stories fetched before ``older_than``; FTS follows through its triggers."""
    with db.atomic():
        cursor = db.execute("DELETE FROM stories WHERE fetched_at < ?", [to_iso(older_than)])
    return int(cursor.rowcount)


def stories_per_day_by_topic(
    db: Database, now: datetime, days: int = 7
) -> dict[str, dict[str, int]]:
    """{day: {topic: count}} for the last ``days`` days (first topic of each story)."""
    since = to_iso(now - timedelta(days=days))
    rows = db.execute(
        """
        SELECT substr(fetched_at, 1, 10) AS day, coalesce(json_extract(topics, '$[0]'), 'other'), count(*)
        FROM stories WHERE fetched_at >= ? AND duplicate_of IS NULL GROUP BY 1, 2 ORDER BY 1
        """,
        [since],
    ).fetchall()
    result: dict[str, dict[str, int]] = {}
    for day, topic, count in rows:
        result.setdefault(day, {})[topic] = count
    return result
