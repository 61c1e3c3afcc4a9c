"""Every feed document of the shared evaluation corpus through :func:`parse_feed`.

The corpus (``feeds/`` in the shared data) holds real news feeds and the test suites of four feed
parsers: odd encodings, broken markup, relative links, HTML that is not a feed. The contract is
that nothing raises and every document yields items, a clear error, or is a well-formed empty
feed; the floors sit a little below the counts measured when this test was written.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from benchmarks.common import parsed_feed_corpus
from bot.pipeline.feeds import ParsedFeed

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

# Measured: 657 of 2,217 documents yield items (3,233 items); 905 are well-formed feeds with
# no entries (feed-level parser tests), 655 give an error (mostly entry-level parser tests
# whose single entry has no title, text or link).
MIN_DOCUMENTS_WITH_ITEMS = 640
MIN_ITEMS = 3_150

# The real news-outlet feeds the data README names, plus the gzipped and RSS-in-JSON samples:
# each must yield items with links and dates.
REAL_FEEDS = [
    "rss_parser_inputs/guardian.rss",
    "rss_parser_inputs/heise.atom",
    "rss_parser_inputs/uolNoticias.rss",
    "rss_parser_inputs/encoding-gb2312.xml",
    "rss_parser_inputs/phys_org_daily_scitech_news.rss",
    "rss_parser_inputs/rss-1.rss",
    "rss_parser_inputs/nhs-feed.rss",
    "rsparser_resources/livemint.xml",
    "rsparser_resources/aktuality.rss",
    "rsparser_resources/lanacion.xml",
    "rsparser_resources/macworld.rss",
    "rsparser_resources/ScriptingNews.json",
    "rsparser_resources/DaringFireball.json",
    "node_feedparser/tpm.atom",
    "node_feedparser/tpm-with-empty-base.atom",
    "node_feedparser/tpm-with-fragment-base.atom",
    "node_feedparser/wapowellness.xml",
    "node_feedparser/compressed.xml",
    "node_feedparser/invalid-characters-gzipped.xml",
]


def _check_items(path: str, parsed: ParsedFeed) -> None:
    for item in parsed.items:
        assert item.title or item.text or item.url, path
        assert "\x00" not in item.title + item.text, path
        assert item.url is None or item.url.startswith(("http://", "https://")), path
        if item.published is not None:
            assert item.published.utcoffset() == timedelta(0), path


@pytest.fixture(scope="module")
def parsed_corpus(shared_data: Path) -> tuple[list[tuple[dict, ParsedFeed]], float]:
    """Every document parsed once (the three tests share the ~5 s of CPU it costs)."""
    feeds_dir = shared_data / "feeds"
    started = time.monotonic()
    results = list(parsed_feed_corpus(feeds_dir))
    return results, time.monotonic() - started


def test_every_document_yields_items_or_a_clear_error(
    parsed_corpus: tuple[list[tuple[dict, ParsedFeed]], float],
    record_property: Callable[[str, object], None],
) -> None:
    results, elapsed = parsed_corpus  # parse_feed never raises: an exception fails the fixture
    outcomes: Counter[str] = Counter()
    items = 0
    for row, parsed in results:
        _check_items(row["path"], parsed)
        if parsed.items:
            outcomes["with items"] += 1
            items += len(parsed.items)
            assert parsed.error is None, row["path"]
        elif parsed.error is not None:
            outcomes["error"] += 1
            assert parsed.error.strip() and len(parsed.error) <= 300, row["path"]
        else:
            outcomes["empty feed"] += 1
    summary = (
        f"{len(results)} documents: {outcomes['with items']} with items ({items} items), "
        f"{outcomes['empty feed']} empty feeds, {outcomes['error']} errors, {elapsed:.1f} s"
    )
    print(summary)
    record_property("feeds_corpus", summary)
    assert outcomes["with items"] >= MIN_DOCUMENTS_WITH_ITEMS, summary
    assert items >= MIN_ITEMS, summary


def test_real_news_feeds_yield_dated_linked_items(
    parsed_corpus: tuple[list[tuple[dict, ParsedFeed]], float],
) -> None:
    by_path = {row["path"]: parsed for row, parsed in parsed_corpus[0]}
    for path in REAL_FEEDS:
        parsed = by_path[path]
        assert parsed.items, f"{path}: {parsed.error}"
        assert all(item.url for item in parsed.items), path
        assert all(item.published for item in parsed.items), path
        assert all(item.title for item in parsed.items), path


def test_non_feeds_are_reported_with_their_reason(
    parsed_corpus: tuple[list[tuple[dict, ParsedFeed]], float],
) -> None:
    html_documents = [parsed for row, parsed in parsed_corpus[0] if row["format"] == "html"]
    assert html_documents
    for parsed in html_documents:
        assert parsed.items == []
        assert parsed.error is not None
        assert parsed.error.startswith("not a feed: looks like an HTML page"), parsed.error
