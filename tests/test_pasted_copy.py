"""Copy as people paste it: pages saved as text, newsletters, headlines run into ledes.

Each test reproduces a layout or a wording met in real copy (the text here is invented) that
once came out wrong: a headline split from its own story, a site's menu or greeting stored as
a story, a headline run into a lede that opens with a name, a possessive day cut to "'s".
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from bot.pipeline.feeds import FeedItem
from bot.pipeline.headline import fit_title, split_run_on_headline, write_headline
from bot.pipeline.ingest import looks_like_html, parse_document, stories_from_feed_items
from bot.pipeline.segment import _paragraphs, split_dump
from bot.pipeline.summarize import summarize
from bot.pipeline.text import is_boilerplate_line, strip_markdown
from tests.helpers import make_settings, running_newsbot

PAGE = """Home | World | Business | Sport | Tech
Skip to content
Sign in

Quake kills 41 in Veldra
By Staff Reporter
Published 3 March 2025

A magnitude 6.8 earthquake struck the hill town of Veldra on Monday, killing at least 41 people.
Rescue teams worked through the night to reach villages cut off by landslides.
Share this article

Former mayor Varga jailed for nine years
By Staff Reporter
Published 3 March 2025

A court in Harlow Bay jailed former mayor Jon Varga for nine years for taking bribes.
Varga, who denied the charges, plans to appeal, his lawyer said.

Cookie settings
Privacy policy | Terms of use
"""


def test_page_saved_as_text_keeps_each_headline_with_its_story() -> None:
    """Headline, byline and date, a blank line, then paragraphs without blank lines."""
    segments = split_dump(PAGE)
    assert [segment.title for segment in segments] == [
        "Quake kills 41 in Veldra",
        "Former mayor Varga jailed for nine years",
    ]
    assert segments[0].text.startswith("A magnitude 6.8 earthquake")
    assert "Rescue teams" in segments[0].text
    assert segments[1].text.startswith("A court in Harlow Bay")


def test_headline_set_off_by_a_blank_line_without_byline() -> None:
    text = (
        "Quake kills 41 in Veldra\n\n"
        "A magnitude 6.8 earthquake struck Veldra on Monday, killing at least 41 people.\n"
        "Rescue teams worked through the night.\n\n"
        "Ferry strike halts crossings to Harlow Bay\n\n"
        "Crews on the Harlow Bay ferry walked out on Tuesday over pay, halting every crossing.\n"
        "The operator said talks would resume on Friday.\n"
    )
    assert [segment.title for segment in split_dump(text)] == [
        "Quake kills 41 in Veldra",
        "Ferry strike halts crossings to Harlow Bay",
    ]


def test_teasers_cut_mid_sentence_are_not_joined() -> None:
    """A line cut off that shares no words with the next is a teaser, not a headline."""
    text = (
        "Lumen Systems denied on Thursday a report that it planned to close its plant\n\n"
        "A magnitude 6.8 earthquake struck Veldra on Monday, killing at least 41 people.\n"
        "Rescue teams worked through the night.\n\n"
        "Harlow Bay ferry crews walked out on Tuesday over pay, halting every crossing to the\n\n"
        "The operator said talks would resume on Friday.\n"
    )
    assert len(split_dump(text)) == 4


def test_site_furniture_lines_are_boilerplate() -> None:
    for line in (
        "Home | World | Business | Sport | Tech",
        "News • Sport • Weather",
        "Cookie settings",
        "Sign in",
        "Log out",
        "Good morning. Here is what you need to know today.",
    ):
        assert is_boilerplate_line(line), line
    for line in (
        "Shares rose 3 per cent | Bonds fell | Oil steady",
        "Good Morning Britain presenter quits after on-air row",
        "Google to phase out third-party cookies in Chrome",
        "Search for missing climbers called off",
    ):
        assert not is_boilerplate_line(line), line


def test_newsletter_greeting_is_no_story() -> None:
    text = (
        "Good morning. Here is what you need to know today.\n\n"
        "Quake kills 41 in Veldra\n"
        "A magnitude 6.8 earthquake struck Veldra on Monday, killing at least 41 people.\n"
        "Read more »\n\n"
        "Ferry strike halts crossings\n"
        "Crews on the Harlow Bay ferry walked out on Tuesday over pay.\n"
        "Read more »\n"
    )
    titles = [segment.title for segment in split_dump(text)]
    assert titles == ["Quake kills 41 in Veldra", "Ferry strike halts crossings"]


def test_run_on_headline_before_a_lede_that_opens_with_a_name() -> None:
    """One story per line, the headline run into a lede whose subject restates it."""
    cases = [
        (
            "Okafor targets national comeback Harlow wing Dayo Okafor hopes to use the "
            "return derby with Rovers as a springboard to a recall for the spring series.",
            "Okafor targets national comeback",
        ),
        (
            "Veldran card firm rescued Veldra's largest card firm has averted collapse "
            "after a bail-out by its creditors and its former parent group.",
            "Veldran card firm rescued",
        ),
        (
            "Mensah spices up Rovers encounter City defender Kofi Mensah says Rovers made "
            "a mistake by selling him two years ago to their local rivals.",
            "Mensah spices up Rovers encounter",
        ),
    ]
    for line, headline in cases:
        split = split_run_on_headline(line)
        assert split is not None, line
        assert split[0] == headline


def test_sentence_with_a_named_object_is_not_split() -> None:
    for line in (
        "Rovers signed Adeyemi from City on Friday in a record deal worth 20 million pounds.",
        "Police in Veldra arrested Mayor Jon Varga after Veldra police found cash in his office.",
        "Harlow beat Rovers 2-1 at home as Rovers fans left early in the rain on Saturday.",
        "The company told Reuters its chief executive would step down at the end of the year.",
    ):
        assert split_run_on_headline(line) is None, line


def test_possessive_day_stays_in_the_headline() -> None:
    title = write_headline(
        "Harlow wing Dayo Okafor hopes to use Sunday's return derby with Rovers as a "
        "springboard to a recall for the spring series."
    )
    assert "'s" not in title.replace("Sunday's", "")
    assert " 's" not in title


def test_aside_between_speaker_and_said_is_dropped() -> None:
    """The headline says who spoke and what, not the speaker's name alone."""
    title = write_headline(
        "Harlow County Sheriff Ben Osei, in western Veldra, said cattle thefts have doubled "
        "this year, costing farmers millions."
    )
    assert title.startswith("Harlow County Sheriff Ben Osei says cattle thefts")
    title = write_headline(
        "Harlow Bay Police Chief Anna Berg, speaking in Veldra, said crime in the city fell "
        "sharply last year, a first in a decade."
    )
    assert title.startswith("Anna Berg says crime in city fell sharply")


def test_dummy_it_is_not_replaced_by_a_name() -> None:
    story = (
        "It was unclear if other coastal towns would take similar action. "
        "Officials in Veldra and Harlow Bay said they had no plans to join the suit."
    )
    title = write_headline(story)
    assert title.startswith("It was unclear"), title


def test_quotation_or_transitive_verb_is_no_run_on_headline() -> None:
    assert (
        split_run_on_headline(
            '"We will not back down on this one," Harlow Bay Mayor Jon Varga said at a news '
            "conference in Veldra on Monday."
        )
        is None
    )
    assert (
        split_run_on_headline(
            "Veldra Gov. Ana Ruiz told The Harlow Post she spoke with officials from both "
            "provinces about their concerns."
        )
        is None
    )


def test_long_headline_line_is_shortened_at_a_clause() -> None:
    """A headline line longer than an alert's title limit is compressed, never cut mid-word."""
    headline = (
        "A powerful magnitude 6.1 earthquake struck the remote northern province of Veldra "
        "with no tsunami warning issued"
    )
    text = (
        f"{headline}\n"
        "A strong earthquake struck the northern province of Veldra on Tuesday, the "
        "geological survey said, sending people running into the streets in panic.\n"
    )
    (segment,) = split_dump(text)
    assert len(segment.title) <= 90
    assert segment.title.startswith("Powerful magnitude 6.1 earthquake struck")
    assert segment.title.split()[-1] in headline.split()  # Ends on a whole word of it.


WIRE = """QUAKE KILLS 41 IN VELDRA
VELDRA, March 3 - A magnitude 6.8 earthquake struck the hill
town of Veldra on Monday, killing at least 41 people and
injuring hundreds more, provincial officials said.
    Rescue teams worked through the night to reach villages cut
off by landslides, the civil defence agency said in a statement.
 Reuter

FERRY CREWS STRIKE OVER PAY
HARLOW BAY, March 3 - Crews on the Harlow Bay ferry walked out
on Tuesday over pay, halting every crossing to the islands.
 Reuter
"""


def test_hard_wrapped_wire_lines_are_joined_into_sentences() -> None:
    """Wire copy wraps every 60 characters: the story's text reads as whole sentences."""
    first = split_dump(WIRE)[0]
    assert first.title == "QUAKE KILLS 41 IN VELDRA"
    assert (
        "struck the hill town of Veldra on Monday, killing at least 41 people and injuring "
        "hundreds more, provincial officials said." in first.text
    )
    summary = summarize(first.title, first.text)
    assert all(sentence[:1].isupper() for sentence in summary.sentences), summary.sentences


def test_short_lines_and_finished_lines_stay_paragraphs() -> None:
    lines = [
        "A magnitude 6.8 earthquake struck Veldra on Monday, killing at least 41 people.",
        "Rescue efforts",
        "Teams worked through the night to reach villages cut off by landslides",
        "“We will not stop,” the chief of the civil defence agency told reporters.”",
        "Roads reopened on Tuesday.",
    ]
    assert _paragraphs(lines).split("\n\n") == [
        lines[0],
        lines[1],
        f"{lines[2]} {lines[3]}",  # Long and unfinished: wrapped.
        lines[4],
    ]


def test_headline_run_into_an_agency_dateline() -> None:
    line = (
        "Harlow to Allow Night Ferries WASHINGTON (Reuters) - Ferry operators will be able "
        "to run night crossings to the islands from next week, regulators said on Friday."
    )
    assert split_run_on_headline(line) == (
        "Harlow to Allow Night Ferries",
        "WASHINGTON (Reuters) - Ferry operators will be able to run night crossings to the "
        "islands from next week, regulators said on Friday.",
    )
    # A dash inside a sentence after a word in capitals is no dateline.
    assert (
        split_run_on_headline(
            "Rovers beat City 2-1 at home as USA - the visitors - lost again on Saturday in "
            "the league."
        )
        is None
    )


def test_place_and_region_opening_the_lede_leave_the_headline_whole() -> None:
    title = write_headline(
        "In Lake Harlow County, Veldra, a manhunt is under way as police seek three men who "
        "robbed a bank on Monday."
    )
    assert not title.startswith("Veldra,"), title
    assert title.lower().startswith("manhunt")


def test_headline_never_ends_on_a_comma() -> None:
    title = write_headline(
        "Grid operators said a blackout that hit the capital for two hours on Wednesday "
        "evening was caused by a fault at a substation, not by a cyber attack."
    )
    assert title[-1].isalnum(), title


def test_run_on_headline_with_the_acronym_of_the_lede_subject() -> None:
    line = (
        "NR pays $2bn to end ferry contract Northland Rail of Veldra is to pay Harlow "
        "Transit 1.5bn euros to get out of a deal that could have forced it to buy the line."
    )
    # The rest of the story writes the name mid-sentence: it is a name, not an opener.
    rest = "Analysts said Northland Rail had paid too much. The deal left Northland Rail short."
    split = split_run_on_headline(line, rest)
    assert split is not None and split[0] == "NR pays $2bn to end ferry contract"


def test_summary_never_opens_with_the_tail_of_a_sentence_the_title_was_cut_from() -> None:
    """A title written from the first sentence matches its start; cutting it off the
    summary would leave "Harlow Transit 1.5bn euros to get out of ..." as a sentence."""
    text = (
        "Northland Rail of Veldra is to pay Harlow Transit 1.5bn euros to get out of a deal "
        "that could have forced it to buy the line outright. Harlow Transit had sold "
        "Northland Rail a stake in 2019. Analysts said Harlow Transit had done well."
    )
    title = "Northland Rail of Veldra is to pay"
    summary = summarize(title, text)
    assert not summary.text.startswith("Harlow Transit 1.5bn"), summary.text
    assert split_run_on_headline(text) is None


async def test_ingest_accepts_json_with_a_byte_order_mark(tmp_path: Path) -> None:
    """Windows tools write UTF-8 JSON with a BOM; the push is stored, not refused."""
    settings = make_settings(tmp_path, ingest_token="token-123")
    body = "\ufeff" + json.dumps(
        {"title": "Ferry strike halts crossings", "text": "Crews walked out on Tuesday."}
    )
    async with running_newsbot(settings) as newsbot:
        assert newsbot.web is not None and newsbot.web.port is not None
        url = f"http://127.0.0.1:{newsbot.web.port}/ingest"
        headers = {"Authorization": "Bearer token-123", "Content-Type": "application/json"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body.encode(), headers=headers) as response,
        ):
            answer = await response.json()
    assert response.status == 201, answer
    assert answer["stories"][0]["title"] == "Ferry strike halts crossings"


def test_feed_standfirst_lines_are_not_run_into_the_lede() -> None:
    """A feed's standfirst lines have no full stop; the paragraph after them is long."""
    text = (
        "One person who was not aboard the ferry was killed\n"
        "Two crew members were taken to hospital with minor injuries\n"
        "A chartered ferry carrying dozens of councillors to a retreat on Harlow Island struck "
        "a fishing boat south of Veldra on Wednesday, the operator said.\n"
        "The fishing boat sank within minutes, and its crew of three was rescued."
    )
    summary = summarize("Ferry carrying councillors hits fishing boat", text)
    assert summary.sentences[0].startswith("A chartered ferry"), summary.sentences
    assert "injuries A" not in summary.text


def test_publisher_headlines_fit_an_alert_title() -> None:
    assert (
        fit_title("Harbour towns must share the cost of sea walls | Ana Ruiz and Tom Becker")
        == "Harbour towns must share the cost of sea walls"
    )
    assert fit_title("Quake kills 41 | Live updates") == "Quake kills 41 | Live updates"
    long = (
        "Rovers sign Adeyemi; Okafor, Mensah and Varga deals go through as the window shuts: "
        "transfer deadline day – live!"
    )
    fitted = fit_title(long)
    assert len(fitted) <= 90 and long.startswith(fitted.rstrip(".")), fitted


def test_feed_items_get_fitted_titles_and_untitled_items_a_written_one() -> None:
    items = [
        FeedItem(
            title="Harbour towns must share the cost of sea walls | Ana Ruiz",
            text="Ministers said on Monday that harbour towns would pay a third of the cost.",
            url="https://example.org/a",
            published=None,
            guid="a",
            author=None,
            is_teaser=False,
        ),
        FeedItem(
            title="",
            text="A magnitude 6.8 earthquake struck the hill town of Veldra on Monday, "
            "killing at least 41 people and injuring hundreds more, officials said.",
            url="https://example.org/b",
            published=None,
            guid="b",
            author=None,
            is_teaser=False,
        ),
    ]
    first, second = stories_from_feed_items(items, source_name="Example")
    assert first.title == "Harbour towns must share the cost of sea walls"
    assert len(second.title) <= 90 and second.title.startswith("Magnitude 6.8 earthquake")


def test_comma_of_a_number_closes_no_aside() -> None:
    title = write_headline(
        "On Friday, the aide, Ana Ruiz, 31, who has more than 14,000 followers online, wrote "
        "an open letter to the mayor of Veldra on her own website."
    )
    assert "000" not in title or "14,000" in title, title
    assert "Ruiz000" not in title and "wrote open letter" in title, title


def test_run_on_headline_whose_lede_repeats_its_word_capitalised() -> None:
    line = (
        "Video phone help for deaf viewers Deaf viewers who prefer to use sign language are "
        "being given a new video phone service by the Harlow broadcaster."
    )
    # The story names a charity "for Deaf Viewers" twice: "Deaf" is also a name's word.
    rest = (
        "The Harlow Society for Deaf Viewers welcomed it. A spokesman for the Society for "
        "Deaf Viewers said more was needed."
    )
    split = split_run_on_headline(line, rest)
    assert split is not None and split[0] == "Video phone help for deaf viewers"


PAGE_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Harlow News</title>
<style>body { font: 14px sans-serif }</style><script>var tracking = 1;</script></head>
<body><nav><a href="/">Home</a> | <a href="/world">World</a></nav>
<article><h2>Quake kills 41 in Veldra</h2>
<p>A magnitude 6.8 earthquake struck the hill town of Veldra on Monday, killing at least 41
people, officials said.</p><p>Rescue teams worked through the night &amp; into Tuesday.</p>
<a href="/quake">Read more</a></article>
<article><h2>Ferry strike halts crossings</h2>
<p>Crews on the Harlow Bay ferry walked out on Tuesday over pay, halting every crossing.</p>
<a href="/ferry">Read more</a></article>
<footer>&copy; 2025 Harlow News | Privacy policy</footer></body></html>
"""


def test_web_page_markup_is_read_as_its_text() -> None:
    """A page saved as HTML (or as .txt with its markup) gives its stories, not its tags."""
    for name in ("page.html", "page.txt", "page"):
        parsed = parse_document(PAGE_HTML.encode(), name=name)
        assert [story.title for story in parsed.stories] == [
            "Quake kills 41 in Veldra",
            "Ferry strike halts crossings",
        ], name
        for story in parsed.stories:
            assert "<" not in story.text and "&amp;" not in story.text, story.text
        assert "into Tuesday" in parsed.stories[0].text


def test_wire_tickers_in_angle_brackets_are_no_markup() -> None:
    text = (
        "STANDARD OIL <SRD> TO FORM UNIT\n"
        "CLEVELAND, Feb 26 - Standard Oil <SRD> said it will form a unit.\n"
    )
    assert not looks_like_html(text)
    (story,) = parse_document(text.encode(), name="wire.txt").stories
    assert "<SRD>" in story.title


BRIEFING_MD = """# Morning briefing

## Quake kills 41 in Veldra

**A magnitude 6.8 earthquake struck the hill town of Veldra on Monday, killing at least 41.**

Rescue teams worked through the night to reach villages cut off by landslides.

[Read more](https://example.org/quake)

## Ferry strike halts crossings

**Crews on the Harlow Bay ferry walked out on Tuesday over pay, halting every crossing.**

The operator said talks would resume on Friday.

[Read more](https://example.org/ferry)
"""


def test_markdown_briefing_reads_as_plain_text() -> None:
    stories = parse_document(BRIEFING_MD.encode(), name="brief.md").stories
    assert [story.title for story in stories] == [
        "Quake kills 41 in Veldra",
        "Ferry strike halts crossings",
    ]
    for story in stories:
        assert "**" not in story.text and "](" not in story.text and "#" not in story.text
    assert stories[0].text.startswith("A magnitude 6.8 earthquake")


def test_markdown_marks_only() -> None:
    assert strip_markdown("#MeToo is trending again") == "#MeToo is trending again"
    assert strip_markdown("> **Rovers** sign [Adeyemi](https://x.org/a)") == "Rovers sign Adeyemi"


def test_briefing_item_with_its_headline_set_off_by_a_dash() -> None:
    text = (
        "1) Quake kills 41 in Veldra — A magnitude 6.8 earthquake struck the hill town of "
        "Veldra on Monday, officials said.\n"
        "2) Ferry strike halts crossings — Crews on the Harlow Bay ferry walked out on "
        "Tuesday over pay, halting every crossing.\n"
    )
    segments = split_dump(text)
    assert [segment.title for segment in segments] == [
        "Quake kills 41 in Veldra",
        "Ferry strike halts crossings",
    ]
    assert segments[0].text.startswith("A magnitude 6.8")
    # A dash aside inside a sentence sets off no headline.
    assert (
        split_run_on_headline(
            "Rovers beat City 2-1 - Harlow finally won a derby at home - on Saturday in "
            "front of a full house."
        )
        is None
    )


def test_agency_credit_after_a_headline_is_dropped() -> None:
    line = (
        "New Harlow Athletic Director Sounds Off (AP) AP - One day on the job, and the Harlow "
        "University athletic director wasted little time saying what she thought."
    )
    split = split_run_on_headline(line)
    assert split is not None and split[0] == "New Harlow Athletic Director Sounds Off"
    assert fit_title("Veldra recovery stalls as exports fall: OECD (AFP)") == (
        "Veldra recovery stalls as exports fall: OECD"
    )


def test_run_on_headline_whose_lede_names_the_place_as_an_adjective() -> None:
    line = (
        "16 killed in Veldria rebel attack Suspected Veldrian militants killed 16 people in "
        "the first attack on civilians this year, officials said on Saturday."
    )
    rest = "Veldrian officials said. The Suspected Veldrian group denied it."
    split = split_run_on_headline(line, rest)
    assert split is not None and split[0] == "16 killed in Veldria rebel attack"
