"""Named queries over ``stories`` and its FTS5 index."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.models import Story
from bot.pipeline.query import cyrillic_stem
from storage.db import from_iso, to_iso
from storage.engine import Store
from storage.snippet import CLOSE_MARK, OPEN_MARK, fold, snippet


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


def _story_record(story: NewStory) -> dict[str, Any]:
    """The ``stories`` columns of a new story (its ``id`` and own cluster aside)."""
    return {
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


def insert_story(db: Store, story: NewStory) -> int:
    """Insert and return the id; a story with no cluster starts its own (cluster = own id)."""
    story_id = db.insert("stories", _story_record(story))
    if story.cluster_id is None:
        db.execute("UPDATE stories SET cluster_id = ? WHERE id = ?", [story_id, story_id])
    return story_id


def reserve_story_ids(db: Store, count: int) -> list[int]:
    """``count`` ids for stories about to be stored with :func:`insert_stories`, ascending.

    Knowing the ids first lets a batch be written whole, with each story's cluster already
    decided, instead of a round trip (and, on PostgreSQL, a rewritten row with its search
    vector worked out again) per story. PostgreSQL takes them from the table's identity
    sequence; SQLite gives the ids it would give itself (one above the largest), so call this
    inside the write transaction that inserts them.
    """
    if count <= 0:
        return []
    if db.dialect == "postgresql":
        rows = db.execute(
            "SELECT nextval(pg_get_serial_sequence('stories', 'id')) FROM generate_series(1, ?)",
            [count],
        ).fetchall()
        return sorted(int(row[0]) for row in rows)
    top = int(db.execute("SELECT coalesce(max(id), 0) FROM stories").fetchone()[0])
    return list(range(top + 1, top + 1 + count))


def insert_stories(db: Store, stories: Sequence[tuple[int, NewStory]]) -> None:
    """Store ``(id, story)`` pairs (ids from :func:`reserve_story_ids`) in one statement per
    engine: the same rows :func:`insert_story` stores, a story with no cluster its own."""
    if not stories:
        return
    records = [
        {"id": story_id, **_story_record(story), "cluster_id": story.cluster_id or story_id}
        for story_id, story in stories
    ]
    db.insert_many("stories", records)


def find_exact_duplicate(db: Store, content_hash: str, canonical_url: str | None) -> int | None:
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


def stored_identities(
    db: Store, content_hashes: Sequence[str], canonical_urls: Sequence[str]
) -> tuple[set[str], set[str]]:
    """Which of these content hashes and canonical URLs stored stories already have: the
    question :func:`find_exact_duplicate` answers for one story, asked for a batch in one
    query (a re-polled feed is mostly stories stored before)."""
    hashes, urls = sorted(set(content_hashes)), sorted({u for u in canonical_urls if u})
    if not hashes and not urls:
        return set(), set()
    rows = db.execute(
        "SELECT content_hash, canonical_url FROM stories "
        f"WHERE {_in_list(db, 'content_hash')} OR {_in_list(db, 'canonical_url')}",
        [_list_param(db, hashes), _list_param(db, urls)],
    ).fetchall()
    wanted_hashes, wanted_urls = set(hashes), set(urls)
    return (
        {row[0] for row in rows if row[0] in wanted_hashes},
        {row[1] for row in rows if row[1] in wanted_urls},
    )


def cluster_source_keys(db: Store, cluster_ids: Sequence[int]) -> dict[int, set[str]]:
    """For each cluster, the distinct sources of its stored stories as
    :func:`cluster_source_count` counts them (a story without a source name counts alone), so
    a batch can count the sources of clusters it grows without a query per story."""
    ids = sorted(set(cluster_ids))
    keys: dict[int, set[str]] = {cluster: set() for cluster in ids}
    if not ids:
        return keys
    rows = db.execute(
        "SELECT DISTINCT cluster_id, coalesce(nullif(source_name, ''), CAST(id AS TEXT)) "
        f"FROM stories WHERE {_in_list(db, 'cluster_id', 'bigint')}",
        [_list_param(db, ids)],
    ).fetchall()
    for cluster, key in rows:
        keys[int(cluster)].add(str(key))
    return keys


def source_key(story_id: int, source_name: str | None) -> str:
    """What :func:`cluster_source_count` counts a story as: its source, or itself alone."""
    return source_name or str(story_id)


def _in_list(db: Store, column: str, kind: str = "text") -> str:
    """SQL true when ``column`` is one of the values in the next ``?`` parameter (given by
    :func:`_list_param`): an index lookup per value on both engines."""
    if db.dialect == "postgresql":
        return f"{column} = ANY(?::{kind}[])"
    return f"{column} IN (SELECT value FROM json_each(?))"


def _list_param(db: Store, values: Sequence[Any]) -> Any:
    """A list as one parameter: an array on PostgreSQL, JSON text for SQLite's ``json_each``."""
    return list(values) if db.dialect == "postgresql" else json.dumps(list(values))


def get_story(db: Store, story_id: int) -> Story:
    rows = list(db.query("SELECT * FROM stories WHERE id = ?", [story_id]))
    if not rows:
        raise StoryNotFound(f"no story with id {story_id}")
    return _row_to_story(rows[0])


def stories_after(db: Store, after_id: int, *, since: datetime | None = None) -> list[Story]:
    """Stories stored after ``after_id`` (by any process), oldest first."""
    where = "id > ?"
    params: list[Any] = [after_id]
    if since is not None:
        where += " AND coalesce(published_at, fetched_at) >= ?"
        params.append(to_iso(since))
    rows = db.query(f"SELECT * FROM stories WHERE {where} ORDER BY id", params)
    return [_row_to_story(r) for r in rows]


def max_story_id(db: Store) -> int:
    row = db.execute("SELECT coalesce(max(id), 0) FROM stories").fetchone()
    return int(row[0])


def cluster_members(db: Store, cluster_id: int) -> list[Story]:
    rows = db.query("SELECT * FROM stories WHERE cluster_id = ? ORDER BY id", [cluster_id])
    return [_row_to_story(r) for r in rows]


def cluster_source_count(db: Store, cluster_id: int) -> int:
    row = db.execute(
        "SELECT count(DISTINCT coalesce(nullif(source_name, ''), CAST(id AS TEXT))) FROM stories "
        "WHERE cluster_id = ?",
        [cluster_id],
    ).fetchone()
    return int(row[0])


def latest_stories(
    db: Store, *, limit: int = 10, offset: int = 0, topic: str | None = None
) -> list[Story]:
    """Newest cluster leaders first (reprints never listed twice)."""
    where = "duplicate_of IS NULL AND cluster_id = id"
    params: list[Any] = []
    if topic:
        where += f" AND {_json_list_contains(db, 'stories.topics')}"
        params.append(topic)
    rows = db.query(
        f"SELECT * FROM stories WHERE {where} "
        "ORDER BY coalesce(published_at, fetched_at) DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [_row_to_story(r) for r in rows]


def _json_list_contains(db: Store, column: str) -> str:
    """SQL true when the JSON list (text) in ``column`` holds the next ``?`` parameter."""
    if db.dialect == "postgresql":
        return f"EXISTS (SELECT 1 FROM jsonb_array_elements_text(({column})::jsonb) AS e(value) WHERE e.value = ?)"
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)"


@dataclass(frozen=True)
class SearchHit:
    story: Story
    snippet: str


def _query_words(text: str) -> list[str]:
    """The words of a search, letters and digits only (no search syntax can leak in)."""
    return [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w][:20]


def fts_query(text: str) -> str:
    """Turn user words into a safe FTS5 query: each word quoted, so no FTS syntax can leak in.

    The index (unicode61, ``remove_diacritics 2``) already ignores case and accents; two
    foldings of subscription matching are added here so that ``/search`` agrees with it: a
    word with ß also finds its ss spelling (and the other way round), and a Cyrillic word
    is searched by the stem its case forms share (``Москва`` finds *Москве*, *Москвы*).
    """
    # An explicit AND: FTS5 takes a bare space between phrases as AND, but not next to a
    # parenthesised group ('"a" ("b" OR "c")' is a syntax error).
    return " AND ".join(_fts_word(w) for w in _query_words(text))


def _fts_word(word: str) -> str:
    """One user word as an FTS5 expression (``word`` holds only letters and digits)."""
    stem = cyrillic_stem(word)
    if stem is not None:
        return f'("{word}" OR "{stem}"*)'
    lower = word.casefold()  # casefold spells ß as ss
    if "ss" in lower:
        return f'("{lower}" OR "{lower.replace("ss", "ß")}")'
    return f'"{word}"'


def ts_query(text: str) -> str:
    """The same parsed query as :func:`fts_query`, as PostgreSQL ``to_tsquery`` text: every
    word a quoted lexeme, the same ß/ss and Cyrillic-stem alternatives (``:*`` is a prefix)."""
    return " & ".join(_ts_word(w) for w in _query_words(text))


def _ts_word(word: str) -> str:
    stem = cyrillic_stem(word)
    if stem is not None:
        return f"('{word}' | '{stem}':*)"
    lower = word.casefold()
    if "ss" in lower:
        return f"('{lower}' | '{lower.replace('ss', 'ß')}')"
    return f"'{word}'"


# FTS5's snippet(): up to 12 tokens around the matches, '…' where the text was cut.
SNIPPET_TOKENS = 12
_PG_RANK_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"  # D, C (text), B (summary), A (title): 1 : 2 : 5
_PG_HEADLINE = f"StartSel={OPEN_MARK}, StopSel={CLOSE_MARK}, HighlightAll=true"
_SNIPPET_COLUMNS = ("title", "text", "summary")  # the FTS5 index's column order


def search_stories(db: Store, text: str, *, limit: int = 5, offset: int = 0) -> list[SearchHit]:
    """Ranked full-text search with highlighted snippets; ``[`` and ``]`` mark matches.

    SQLite: FTS5, bm25 with weights title 5, text 1, summary 2. PostgreSQL: the weighted
    ``tsvector`` (A title, B summary, C text) ranked by ``ts_rank_cd`` in the same 5 : 2 : 1
    proportion; ties go to the newest story on both.
    """
    if db.dialect == "postgresql":
        return _search_postgres(db, text, limit=limit, offset=offset)
    query = fts_query(text)
    if not query:
        return []
    rows = db.query(
        f"""
        SELECT stories.*, snippet(stories_fts, -1, '[', ']', '…', {SNIPPET_TOKENS}) AS snip
        FROM stories_fts JOIN stories ON stories.rowid = stories_fts.rowid
        WHERE stories_fts MATCH ? AND stories.duplicate_of IS NULL
        ORDER BY bm25(stories_fts, 5.0, 1.0, 2.0), stories.id DESC
        LIMIT ? OFFSET ?
        """,
        [query, limit, offset],
    )
    return [SearchHit(_row_to_story(row), row["snip"]) for row in rows]


def _search_postgres(db: Store, text: str, *, limit: int, offset: int) -> list[SearchHit]:
    from storage.migrations import PG_FTS_CONFIG

    query = ts_query(text)
    if not query:
        return []
    # Normalisation 2 divides the rank by the story's length, as bm25 does: it gives the
    # order SQLite gives for 22 of the 25 multi-result demo searches (tests/test_search_parity).
    # Ranked and cut in the inner query, so only the page's rows are marked up. ts_headline
    # marks every word PostgreSQL matched; the snippet is then cut as FTS5 cuts it.
    headlines = ", ".join(
        f"ts_headline('{PG_FTS_CONFIG}', coalesce(hit.{column}, ''), hit.q, ?) AS marked_{column}"
        for column in _SNIPPET_COLUMNS
    )
    rows = db.query(
        f"""
        SELECT hit.*, {headlines}
        FROM (
            SELECT stories.*, q,
                ts_rank_cd('{_PG_RANK_WEIGHTS}', stories.search_vector, q, 2) AS search_rank
            FROM stories, to_tsquery('{PG_FTS_CONFIG}', ?) AS q
            WHERE stories.search_vector @@ q AND stories.duplicate_of IS NULL
            ORDER BY search_rank DESC, stories.id DESC
            LIMIT ? OFFSET ?
        ) AS hit
        ORDER BY hit.search_rank DESC, hit.id DESC
        """,
        [*([_PG_HEADLINE] * len(_SNIPPET_COLUMNS)), query, limit, offset],
    )
    term_of = _term_finder(_query_words(text))
    return [
        SearchHit(
            _row_to_story(row),
            snippet([row[f"marked_{c}"] for c in _SNIPPET_COLUMNS], term_of, tokens=SNIPPET_TOKENS),
        )
        for row in rows
    ]


def _term_finder(words: list[str]) -> Callable[[str], str]:
    """Which query word a matched token stands for (FTS5 scores distinct query terms)."""
    forms = []
    for word in words:
        stem = cyrillic_stem(word)
        forms.append((fold(word), fold(stem) if stem else None))

    def term_of(token: str) -> str:
        folded = fold(token)
        for number, (whole, stem) in enumerate(forms):
            if folded == whole or (stem is not None and folded.startswith(stem)):
                return f"#{number}"
        return folded

    return term_of


def count_stories(db: Store) -> int:
    return int(db.execute("SELECT count(*) FROM stories").fetchone()[0])


def prune_stories(db: Store, older_than: datetime) -> int:
    """Delete stories fetched before ``older_than``; FTS follows through its triggers."""
    with db.atomic():
        cursor = db.execute("DELETE FROM stories WHERE fetched_at < ?", [to_iso(older_than)])
    return int(cursor.rowcount)


def stories_per_day_by_topic(db: Store, now: datetime, days: int = 7) -> dict[str, dict[str, int]]:
    """{day: {topic: count}} for the last ``days`` days (first topic of each story)."""
    since = to_iso(now - timedelta(days=days))
    rows = db.execute(
        f"""
        SELECT substr(fetched_at, 1, 10) AS day, coalesce({_first_topic(db)}, 'other'), count(*)
        FROM stories WHERE fetched_at >= ? AND duplicate_of IS NULL GROUP BY 1, 2 ORDER BY 1
        """,
        [since],
    ).fetchall()
    result: dict[str, dict[str, int]] = {}
    for day, topic, count in rows:
        result.setdefault(day, {})[topic] = count
    return result


def _first_topic(db: Store) -> str:
    """SQL for a story's first topic (its JSON list is text in both engines)."""
    if db.dialect == "postgresql":
        return "(topics::jsonb ->> 0)"
    return "json_extract(topics, '$[0]')"
