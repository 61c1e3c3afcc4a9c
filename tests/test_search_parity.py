"""``/search`` gives the same stories, in the same order, with the same snippets on SQLite
(FTS5, bm25) and PostgreSQL (weighted tsvector, ts_rank_cd, FTS5's snippet rule in Python).

The corpus is the bundled demo (a feed and a text dump we wrote), stored identically in both
engines; the queries are every distinct word of the titles plus a few multi-word, accented,
ß/ss and Cyrillic searches.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.demo import demo_paths
from bot.pipeline.ingest import parse_feed_document, stories_from_dump
from storage import stories
from storage.db import open_store
from storage.engine import Store
from storage.snippet import snippet
from tests.helpers import new_story

EXTRA = (
    "Café Zürich",
    "strasse",
    "Straße",
    "Москва",
    "Москве пожар",
    "storm power",
    "the",
)


def _fill(db: Store) -> list[str]:
    feed, dump = demo_paths()
    raws = parse_feed_document(feed.read_bytes(), source_name="Demo").stories
    raws += stories_from_dump(dump.read_text(encoding="utf-8"), source_name="Dump")
    titles = []
    for number, raw in enumerate(raws):
        summary = raw.text.split(". ")[0][:200]
        stories.insert_story(
            db, new_story(raw.title, raw.text, summary=summary, content_hash=str(number))
        )
        titles.append(raw.title)
    for number, (title, text) in enumerate(
        (
            ("Café owners in Zürich protest", "Cafés across Zürich closed: a protest."),
            ("Пожар в Москве", "В Москве ночью произошёл пожар на складе. Пострадавших нет."),
            (
                "Storm floods the Hauptstraße",
                "The Große Straße and the strasse by the harbour flooded.",
            ),
        )
    ):
        stories.insert_story(db, new_story(title, text, content_hash=f"x{number}"))
    return titles


def test_search_results_and_snippets_match_across_engines(
    tmp_path: Path, postgres_url: str
) -> None:
    sqlite, postgres = open_store(tmp_path / "n.db"), open_store(postgres_url)
    titles = _fill(sqlite)
    assert _fill(postgres) == titles and len(titles) >= 8
    words = sorted({w.lower() for t in titles for w in re.findall(r"[^\W_]{3,}", t)})
    queries = [*words, *EXTRA, *(f"{x} {y}" for x, y in zip(words[::3], words[1::3], strict=False))]
    ranked = same_order = 0
    for query in queries:
        on_sqlite = {h.story.id: h.snippet for h in stories.search_stories(sqlite, query, limit=50)}
        on_postgres = {
            h.story.id: h.snippet for h in stories.search_stories(postgres, query, limit=50)
        }
        assert on_sqlite == on_postgres, query  # the same stories, each with the same snippet
        if len(on_sqlite) > 1:
            ranked += 1
            same_order += list(on_sqlite) == list(on_postgres)
    # bm25 and ts_rank_cd are different formulas: the order agrees for most searches (22 of
    # 25 when this was written), and always where the fields decide (tests/test_storage.py).
    assert ranked >= 20 and same_order >= 0.8 * ranked, (same_order, ranked)
    sqlite.close()
    postgres.close()


def test_snippet_windows_follow_fts5() -> None:
    """The window rule on its own: centred on the matches, sentence starts preferred, the
    first column wins a tie, ellipses where the text was cut."""
    term = str.casefold
    words = " ".join(f"w{n}" for n in range(30))
    assert snippet([None, f"\x02Alpha\x03 {words}.", None], term) == (
        "[Alpha] w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10…"
    )
    middle = f"{words} \x02beta\x03 {words}"
    assert snippet(["Title", middle, ""], term) == "…w25 w26 w27 w28 w29 [beta] w0 w1 w2 w3 w4 w5…"
    sentence = f"{words}. Then \x02beta\x03 came. {words}"
    assert snippet(["", sentence, ""], term) == "…Then [beta] came. w0 w1 w2 w3 w4 w5 w6 w7 w8…"
    assert snippet(["\x02Gamma\x03 rises", "\x02Gamma\x03 too", ""], term) == "[Gamma] rises"
    assert snippet(["Nothing marked", "", ""], term) == "Nothing marked"
