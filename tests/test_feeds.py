"""Feed parsing on small documents written for these tests."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from bot.pipeline.feeds import (
    TEASER_MAX_CHARS,
    extract_article,
    find_feed_links,
    html_to_text,
    is_teaser,
    looks_like_feed,
    parse_feed,
)

LONG = " ".join(["The committee published its full findings on the regional water supply."] * 6)

RSS2 = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Town &amp; Country Bulletin</title>
  <link>https://bulletin.example/</link>
  <ttl>45</ttl>
  <item>
    <title>Bridge reopens after &lt;b&gt;repairs&lt;/b&gt;</title>
    <link>/news/bridge-reopens?utm_source=rss</link>
    <guid isPermaLink="false">bridge-42</guid>
    <pubDate>Tue, 02 Jan 2024 09:30:00 +0100</pubDate>
    <dc:creator>Sam Writer</dc:creator>
    <description>&lt;p&gt;Traffic resumes &amp;amp; buses return.&lt;/p&gt;&lt;p&gt;More
      soon&amp;hellip;&lt;/p&gt;</description>
    <content:encoded><![CDATA[<p>{LONG}</p><script>alert(1)</script><p>Second paragraph.</p>]]>
    </content:encoded>
  </item>
  <item>
    <title>Short note</title>
    <link>https://bulletin.example/note</link>
    <description>Only a line. Read more</description>
  </item>
</channel>
</rss>
""".encode()

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example/blog/">
  <title type="html">Lab &lt;i&gt;Notes&lt;/i&gt;</title>
  <link rel="alternate" href="https://atom.example/"/>
  <id>urn:uuid:feed-1</id>
  <updated>2024-03-01T12:00:00Z</updated>
  <entry>
    <title>Results are in</title>
    <link rel="alternate" href="posts/results"/>
    <id>urn:uuid:entry-1</id>
    <updated>2024-03-01T11:00:00-05:00</updated>
    <author><name>Dr. Quinn</name></author>
    <summary type="html">&lt;p&gt;The   experiment worked.&lt;/p&gt;</summary>
  </entry>
</feed>
"""

RSS1 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
         xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
  <channel rdf:about="https://rdf.example/">
    <title>RDF Weekly</title>
    <link>https://rdf.example/</link>
    <sy:updatePeriod>hourly</sy:updatePeriod>
    <sy:updateFrequency>2</sy:updateFrequency>
  </channel>
  <item rdf:about="https://rdf.example/1">
    <title>First issue</title>
    <link>https://rdf.example/1</link>
    <dc:date>2024-05-06T07:08:09Z</dc:date>
    <description>Welcome.</description>
  </item>
</rdf:RDF>
"""

JSON_FEED = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Micro Desk",
        "home_page_url": "https://micro.example/",
        "feed_url": "https://micro.example/feed.json",
        "authors": [{"name": "Desk Team"}],
        "items": [
            {
                "id": "m1",
                "url": "/posts/m1",
                "title": "Launch day",
                "content_html": f"<p>{LONG}</p>",
                "date_published": "2024-02-03T04:05:06+02:00",
                "authors": [{"name": "Ana"}, {"name": "Ben"}],
            },
            {"id": "m2", "content_text": "An untitled short post about the harbour ferry."},
            {"id": "m3"},
        ],
    }
).encode()

RSS_IN_JSON = json.dumps(
    {
        "rss": {
            "version": "2.0",
            "channel": {
                "title": "Plain Log",
                "link": "https://log.example/",
                "item": [
                    {
                        "description": "<b>Hello</b> world",
                        "link": "https://log.example/1",
                        "pubDate": "Mon, 26 Jun 2017 12:20:05 GMT",
                        "guid": "https://log.example/1",
                    }
                ],
            },
        }
    }
).encode()

HTML_PAGE = b"""<!DOCTYPE html>
<html><head><title>Site</title>
<base href="https://site.example/sub/">
<link rel="alternate" type="application/rss+xml" title="RSS" href="feed.rss">
<link rel="Alternate Home" type="application/atom+xml" href="https://cdn.example/atom.xml">
<link rel="alternate" type="application/rss+xml" href="feed.rss">
<link rel="stylesheet" type="text/css" href="style.css">
<link rel="alternate" hreflang="fr" href="/fr/">
</head><body><p>Hello</p></body></html>
"""


def test_rss2_items_are_plain_text_with_resolved_links() -> None:
    feed = parse_feed(RSS2, url="https://bulletin.example/feed.xml")
    assert feed.error is None
    assert feed.title == "Town & Country Bulletin"
    assert feed.link == "https://bulletin.example/"
    assert feed.ttl_minutes == 45
    first, second = feed.items
    assert first.title == "Bridge reopens after repairs"
    assert first.url == "https://bulletin.example/news/bridge-reopens?utm_source=rss"
    assert first.guid == "bridge-42"
    assert first.author == "Sam Writer"
    assert first.published == datetime(2024, 1, 2, 8, 30, tzinfo=UTC)
    # The full content wins over the shorter description; scripts and tags are gone.
    assert first.text.startswith("The committee published")
    assert first.text.endswith("Second paragraph.")
    assert "alert" not in first.text and "<" not in first.text
    assert not first.is_teaser
    assert second.is_teaser  # short and ends with "Read more"


def test_atom_with_xml_base() -> None:
    feed = parse_feed(ATOM, url="https://elsewhere.example/feed.atom")
    assert feed.error is None
    assert feed.title == "Lab Notes"
    (item,) = feed.items
    assert item.url == "https://atom.example/blog/posts/results"
    assert item.text == "The experiment worked."
    assert item.author == "Dr. Quinn"
    assert item.guid == "urn:uuid:entry-1"
    assert item.published == datetime(2024, 3, 1, 16, 0, tzinfo=UTC)
    assert item.published.tzinfo is not None


def test_rss1_and_syndication_period() -> None:
    feed = parse_feed(RSS1)
    assert feed.title == "RDF Weekly"
    assert feed.ttl_minutes == 30  # hourly, twice
    (item,) = feed.items
    assert (item.title, item.url, item.text) == ("First issue", "https://rdf.example/1", "Welcome.")
    assert item.published == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_json_feed() -> None:
    feed = parse_feed(JSON_FEED, content_type="application/feed+json")
    assert feed.error is None
    assert (feed.title, feed.link) == ("Micro Desk", "https://micro.example/")
    assert len(feed.items) == 2  # the item with nothing in it is skipped
    first, second = feed.items
    assert first.url == "https://micro.example/posts/m1"
    assert first.author == "Ana, Ben"
    assert first.published == datetime(2024, 2, 3, 2, 5, 6, tzinfo=UTC)
    assert not first.is_teaser
    assert second.title == "An untitled short post about the harbour ferry."
    assert second.author == "Desk Team"
    assert second.url is None


def test_truncated_json_feed_keeps_complete_items() -> None:
    cut = JSON_FEED[: JSON_FEED.index(b'"m2"') + 10]
    feed = parse_feed(cut)
    assert [item.guid for item in feed.items] == ["m1"]
    assert feed.error is None
    assert feed.warning is not None and "truncated JSON" in feed.warning


def test_rss_in_json() -> None:
    feed = parse_feed(RSS_IN_JSON)
    assert feed.title == "Plain Log"
    (item,) = feed.items
    assert item.text == "Hello world"
    assert item.title == "Hello world"
    assert item.url == "https://log.example/1"
    assert item.published == datetime(2017, 6, 26, 12, 20, 5, tzinfo=UTC)


def test_gzip_bytes_are_inflated() -> None:
    feed = parse_feed(gzip.compress(RSS2), url="https://bulletin.example/feed.xml")
    assert len(feed.items) == 2


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(bytes(2_000_000))
    feed = parse_feed(bomb, max_decompressed_bytes=100_000)
    assert feed.items == []
    assert feed.error == "not a feed: gzip content larger than 100,000 bytes when decompressed"


def test_html_page_is_not_a_feed_and_its_feed_links_are_reported() -> None:
    feed = parse_feed(HTML_PAGE, url="https://site.example/", content_type="text/html")
    assert feed.items == []
    assert feed.error is not None and feed.error.startswith("not a feed: looks like an HTML page")
    assert feed.feed_links == ["https://site.example/sub/feed.rss", "https://cdn.example/atom.xml"]


def test_find_feed_links_without_base() -> None:
    page = '<html><head><link rel="alternate" type="application/feed+json" href="/f.json">'
    assert find_feed_links(page, "https://x.example/a/b") == ["https://x.example/f.json"]
    assert find_feed_links("", "https://x.example/") == []


def test_broken_xml_that_still_has_items_is_kept_with_a_warning() -> None:
    broken = RSS2.replace(b"<ttl>45</ttl>", b"<ttl>45</ttl><oops>")
    feed = parse_feed(broken)
    assert len(feed.items) == 2
    assert feed.error is None
    assert feed.warning is not None and feed.warning.startswith("malformed feed")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "not a feed: empty document"),
        (b"   \n", "not a feed: empty document"),
        (b"\x1f\x8b\x08\x00garbage", "not a feed: corrupt gzip data"),
        (b"{not json", "not a feed: invalid JSON"),
        (b"[1, 2]", "not a feed: JSON that is not an object"),
        (b'{"title": "x"}', "not a feed: JSON without an 'items' list"),
        (b"just some words", "not a feed:"),
        (b"<?xml version='1.0'?><rss><channel><item>", "no usable items"),
    ],
)
def test_garbage_gives_a_clear_error(content: bytes, expected: str) -> None:
    feed = parse_feed(content)
    assert feed.items == []
    assert feed.error is not None and feed.error.startswith(expected)


def test_empty_but_valid_feed_is_not_an_error() -> None:
    feed = parse_feed(b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>')
    assert (feed.title, feed.items, feed.error) == ("Quiet", [], None)


def test_wrong_content_type_does_not_matter() -> None:
    assert len(parse_feed(RSS2, content_type="text/html").items) == 2
    assert len(parse_feed(JSON_FEED, content_type="text/plain").items) == 2


def test_utf16_feed_with_bom() -> None:
    document = RSS2.decode().replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    assert looks_like_feed(document)
    assert parse_feed(document).items[0].title == "Bridge reopens after repairs"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (RSS2, True),
        (ATOM, True),
        (RSS1, True),
        (JSON_FEED, True),
        (RSS_IN_JSON, True),
        (gzip.compress(ATOM), True),
        (b"<!-- a comment -->\n<!DOCTYPE rss>\n<rss version='0.91'>", True),
        (b"<CHANNEL HREF='x'>", True),  # CDF
        (HTML_PAGE, False),
        (b'{"name": "not a feed"}', False),
        (b"", False),
        (b"plain text", False),
    ],
)
def test_looks_like_feed(content: bytes, expected: bool) -> None:
    assert looks_like_feed(content) is expected


def test_html_to_text() -> None:
    assert html_to_text("<p>One&nbsp;two</p><p>three &amp; four</p>") == "One two\nthree & four"
    assert html_to_text("a<br>b<style>p{}</style>", single_line=True) == "a b"
    assert html_to_text("x < y and 1 &lt; 2") == "x < y and 1 < 2"
    assert html_to_text("") == ""


def test_plain_title_with_angle_brackets_survives() -> None:
    rss = b"<rss version='2.0'><channel><item><title>a &lt;&lt;&lt; b</title></item></channel>"
    (item,) = parse_feed(rss).items
    assert "<<<" in item.title


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x" * (TEASER_MAX_CHARS - 1), True),
        ("word " * 100, False),
        ("word " * 100 + "and then [\u2026]", True),
        ("word " * 100 + "it went on...", True),
        ("word " * 100 + "Continue reading »", True),
    ],
)
def test_is_teaser(text: str, expected: bool) -> None:
    assert is_teaser(text) is expected


def test_wordpress_footer_is_removed() -> None:
    rss = (
        b"<rss version='2.0'><channel><item><title>T</title><description>"
        b"&lt;p&gt;An excerpt [&amp;#8230;]&lt;/p&gt;&lt;p&gt;The post T appeared first on "
        b"Some Blog.&lt;/p&gt;</description></item></channel></rss>"
    )
    (item,) = parse_feed(rss).items
    assert item.text == "An excerpt [\u2026]"
    assert item.is_teaser


def test_extract_article() -> None:
    body = " ".join(
        f"Paragraph {number} explains how the new tram line changes daily commutes in town."
        for number in range(12)
    )
    page = (
        "<html><head><title>Tram line opens | City Paper</title></head><body>"
        "<nav><a href='/'>Home</a><a href='/sport'>Sport</a></nav>"
        f"<article><h1>Tram line opens</h1><p>{body}</p></article>"
        "<footer>Copyright City Paper</footer></body></html>"
    )
    result = extract_article(page, "https://paper.example/tram")
    assert result is not None
    title, text = result
    assert "Tram line opens" in title
    assert "Paragraph 11 explains" in text
    assert "Copyright" not in text


def test_extract_article_without_content() -> None:
    assert (
        extract_article("<html><body><nav>Home</nav></body></html>", "https://x.example/") is None
    )
    assert extract_article(b"", "https://x.example/") is None


def test_localized_rfc822_dates() -> None:
    rss = (
        "<rss version='2.0'><channel><item><title>Notícia</title>"
        "<pubDate>Seg, 24 Set 2018 19:42:40 -0300</pubDate></item>"
        "<item><title>Nachricht</title><pubDate>Mi, 05 Mär 2025 10:00:00 +0100</pubDate></item>"
        "<item><title>Unknown</title><pubDate>someday soon</pubDate></item></channel></rss>"
    ).encode()
    published = [item.published for item in parse_feed(rss).items]
    assert published == [
        datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC),
        datetime(2025, 3, 5, 9, 0, tzinfo=UTC),
        None,
    ]


def test_looks_like_feed_skips_a_doctype_with_an_internal_subset() -> None:
    document = b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY who "<b>x</b>">\n]>\n<rss>'
    assert looks_like_feed(document)
