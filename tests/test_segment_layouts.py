"""Dump segmentation in each layout real copy arrives in, on small dumps written for the tests.

Every story here is invented. Each test lays the same kind of copy out one way and checks
that every story comes out whole and alone (the benchmark's "exactly right").
"""

from __future__ import annotations

import itertools
import re

import pytest

from benchmarks.segmentation import EMAIL_HEADER
from bot.pipeline import segment as segmenter
from bot.pipeline.segment import split_dump, split_dump_spans
from bot.pipeline.text import split_sentences

# Four invented stories on unrelated subjects, each as a headline and paragraphs.
QUAKE = (
    "Earthquake kills dozens in mountain province",
    [
        "A magnitude 6.8 earthquake struck the mountain province of Veldra early on Tuesday, "
        "killing at least 41 people and bringing down hundreds of homes in villages near the "
        "epicentre.",
        "Rescue teams were still digging through rubble in the town of Ostrava Nova by "
        "nightfall, and the regional governor said the death toll was likely to rise.",
        "Aftershocks of up to magnitude 5.1 shook the valley through the day, and roads into "
        "the worst-hit villages were blocked by landslides.",
        "The national seismic institute said it was the strongest quake to hit the region in "
        "more than thirty years.",
    ],
)
TRIAL = (
    "Former mayor jailed for bribery scheme",
    [
        "A court in Harlow Bay sentenced former mayor Ellis Varga to nine years in prison on "
        "Wednesday for taking bribes from construction firms in exchange for city contracts.",
        "Judges found that Varga had accepted more than two million crowns over six years, "
        "hidden in the accounts of relatives and a sailing club he controlled.",
        "His lawyers said they would appeal the verdict, calling the sentence "
        "disproportionate for a first offence.",
        "Three business owners who paid the bribes received suspended sentences after they "
        "testified for the prosecution.",
    ],
)
TRANSFER = (
    "Rovers sign striker Adeyemi in record deal",
    [
        "Northfield Rovers have signed striker Tobi Adeyemi from Castello for a club record "
        "fee of 38 million euros, the football club announced on Friday.",
        "The 24-year-old scored 27 league goals last season and had been chased by several of "
        "the continent's biggest teams.",
        "Rovers manager Ines Holt said the forward would make his debut in the cup tie "
        "against Wexley next weekend.",
        "Castello will also receive a share of any future sale, according to people familiar "
        "with the terms.",
    ],
)
CHIPS = (
    "Chipmaker Lumen denies report of factory closure",
    [
        "Semiconductor maker Lumen Systems denied on Thursday a newspaper report that it "
        "planned to close its wafer plant in Grenmark and move production overseas.",
        "Shares in the company fell 6 percent in early trading after the report, before "
        "recovering most of the loss once the denial was published.",
        "Lumen said the Grenmark plant was running at full capacity and that it had just "
        "signed a new ten-year lease for the site.",
        "The company's chief executive, Mara Quist, called the report baseless and said Lumen "
        "would ask the newspaper to correct it.",
    ],
)
STORIES = [QUAKE, TRIAL, TRANSFER, CHIPS]


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def _assert_whole(segments_text: list[str], stories: list[list[str]]) -> None:
    """Each story's lines are all in one segment, and that segment holds no other story."""
    assert len(segments_text) == len(stories), segments_text
    for text, story in zip(segments_text, stories, strict=True):
        for line in story:
            assert _words(line) <= _words(text), (line, text)


def _one_line(story: tuple[str, list[str]], headline: bool = False) -> str:
    body = " ".join(story[1])
    return f"{story[0]} {body}" if headline else body


def test_paragraph_per_line_without_separators() -> None:
    lines = [line for title, body in STORIES for line in [title, *body]]
    segments = split_dump("\n".join(lines))
    _assert_whole([s.title + " " + s.text for s in segments], [[t, *b] for t, b in STORIES])


def test_paragraph_opening_in_mid_sentence_continues_its_story() -> None:
    # A linked name lost in copying leaves a paragraph opening with a lower-case verb; it
    # shares few words with its story and names a day, but a story never opens mid-sentence.
    for lost in (
        "scored twice in the second half on Saturday as Wexley beat Harrow Town 3-1 to reach "
        "the quarter-finals for the first time in a decade.",
        "clocked 10.02 seconds at a meeting in Oslo on Sunday. The 22-year-old sprinter has "
        "not lost a race over 100m since March.",
    ):
        body = [TRANSFER[1][0], lost, *TRANSFER[1][1:]]
        lines = [QUAKE[0], *QUAKE[1], TRANSFER[0], *body, CHIPS[0], *CHIPS[1]]
        assert [start for start, _ in split_dump_spans("\n".join(lines))] == [0, 5, 11]


def test_paragraph_broken_mid_sentence_is_no_teaser_end() -> None:
    # A line that stops short before one carrying on its sentence (". Holt said ...", where
    # a name was lost) is a paragraph broken in copying, not a teaser cut off at its end.
    cut = (
        "The 24-year-old scored 27 league goals last season and will now play alongside the "
        "club's captain and record scorer"
    )
    rest = ". Holt said the pair would start together in the cup tie against Wexley next weekend."
    body = [TRANSFER[1][0], cut, rest, *TRANSFER[1][2:]]
    lines = [QUAKE[0], *QUAKE[1], TRANSFER[0], *body, CHIPS[0], *CHIPS[1]]
    assert [start for start, _ in split_dump_spans("\n".join(lines))] == [0, 5, 11]


def test_whole_story_per_line() -> None:
    dump = "\n".join(_one_line(story) for story in STORIES)
    segments = split_dump(dump)
    _assert_whole([s.text for s in segments], [[_one_line(story)] for story in STORIES])


def test_headline_run_into_the_lede_one_story_per_line() -> None:
    dump = "\n".join(_one_line(story, headline=True) for story in STORIES)
    starts = [start for start, _ in split_dump_spans(dump)]
    assert starts == [0, 1, 2, 3]


def test_real_dump_mix_first_story_in_paragraphs_then_one_story_per_line() -> None:
    # The first story a paragraph per line, a photo credit; then stories one per line, one
    # with a kicker, one a teaser cut off mid-sentence.
    teaser = _one_line(TRANSFER, headline=True)[:480].rsplit(" ", 1)[0]
    lines = [
        f"{QUAKE[0]} {QUAKE[1][0]}",
        *QUAKE[1][1:],
        "Photo: Ana Ruiz/Reuters",
        f"CHARGES: {_one_line(TRIAL, headline=True)}",
        teaser,
        _one_line(CHIPS, headline=True),
    ]
    spans = split_dump_spans("\n".join(lines))
    assert [start for start, _ in spans] == [0, 5, 6, 7]
    assert "Photo" not in spans[0][1].text
    assert "CHARGES" not in spans[1][1].title + spans[1][1].text


# A first story laid out in long paragraphs, one of them short and one on another side of
# the story: they share few words with the paragraph before, but the story's names.
INQUIRY = (
    "Dam inquiry blames engineers for Kessel flood",
    [
        "An official inquiry into last spring's flood in the Kessel valley has found that "
        "engineers at the Brannock dam ignored warnings about cracks in the spillway for "
        "almost two years. The report, published on Monday, said the failure of the "
        "spillway released a wall of water that swept through four villages. Eleven people "
        "died and more than two thousand lost their homes. Inquiry chair Hester Lund said "
        "the disaster could have been prevented.",
        "Relatives of those who died in the Kessel flood welcomed the report but said the "
        "engineers should face criminal charges.",
        "The panel led by Hester Lund heard ninety witnesses over eight months, including the dam's "
        "former chief engineer, Pavel Brannock-Ives, who told the hearings that budget cuts "
        "had left his team unable to inspect the spillway. The Kessel valley water board, "
        "which owns the dam, said it accepted every recommendation. It has promised to "
        "publish monthly inspection reports. Repairs to the Brannock spillway are expected "
        "to take three more years, and the reservoir will stay half empty until then.",
    ],
)


def test_real_dump_mix_first_story_of_long_paragraphs_stays_whole() -> None:
    # Most lines hold several sentences, as stories pasted one per line do; the first
    # story's paragraphs are still one story, and each line after them is one.
    lines = [
        f"{INQUIRY[0]} {INQUIRY[1][0]}",
        *INQUIRY[1][1:],
        *(_one_line(story, headline=True) for story in STORIES),
    ]
    starts = [start for start, _ in split_dump_spans("\n".join(lines))]
    assert starts == [0, 3, 4, 5, 6]


def test_real_dump_mix_story_line_of_three_long_sentences_keeps_the_run() -> None:
    # After a first story in short paragraphs, stories one per line; one of them holds three
    # long sentences rather than four or more, and is a story line all the same.
    three = (
        "Harbour workers in Port Selwyn walked out on Monday in a dispute over night shifts "
        "that the dockers' union says have doubled in two years without any rise in pay, "
        "leaving dozens of container ships waiting at anchor off the breakwater. "
        "The port authority said it had offered a new rota and a one-off payment to every "
        "crane operator, but union leader Odile Brandt called the offer an insult to "
        "members who had kept the terminal open through last winter's storms. "
        "Exporters of timber and dairy goods warned that a strike lasting more than a week "
        "would cost them their contracts with buyers overseas."
    )
    lines = [
        f"{QUAKE[0]} {QUAKE[1][0]}",
        *QUAKE[1][1:],
        f"CHARGES: {_one_line(TRIAL, headline=True)}",
        three,
        _one_line(CHIPS, headline=True),
    ]
    assert len(three) > 550 and len(split_sentences(three)) == 3
    starts = [start for start, _ in split_dump_spans("\n".join(lines))]
    assert starts == [0, 4, 5, 6]
    # The layout alone says so: each line of the run opens a story, whatever the model says.
    read = segmenter._read_lines("\n".join(lines))
    assert segmenter._forced_starts(read, segmenter._line_cues(read), blocks=False) == {4, 5, 6}


def test_blank_line_after_every_paragraph() -> None:
    dump = "\n\n".join(line for title, body in STORIES for line in [title, *body])
    segments = split_dump(dump)
    assert [s.title for s in segments] == [title for title, _ in STORIES]


def test_headline_and_paragraphs_with_blank_lines_between_stories() -> None:
    dump = "\n\n".join("\n".join([title, *body]) for title, body in STORIES)
    segments = split_dump(dump)
    assert [s.title for s in segments] == [title for title, _ in STORIES]
    assert segments[1].text == "\n\n".join(TRIAL[1])


def test_newsletter_teasers_one_per_line_cut_mid_sentence() -> None:
    teasers = [
        "A magnitude 6.8 earthquake struck the mountain province of Veldra early on Tuesday, "
        "killing at least 41 people and bringing down hundreds of",
        "A court in Harlow Bay sentenced former mayor Ellis Varga to nine years in prison on "
        "Wednesday for taking bribes from construction firms in exchange",
        "Northfield Rovers have signed striker Tobi Adeyemi from Castello for a club record "
        "fee of 38 million euros. The 24-year-old scored 27 league goals and had been",
        "Semiconductor maker Lumen Systems denied on Thursday a newspaper report that it "
        "planned to close its wafer plant in Grenmark and move",
    ]
    assert [start for start, _ in split_dump_spans("\n".join(teasers))] == [0, 1, 2, 3]


def test_numbered_items() -> None:
    lines: list[str] = []
    for number, (title, body) in enumerate(STORIES, start=1):
        lines += [f"{number}. {title}", *body[:2], ""]
    segments = split_dump("\n".join(lines))
    assert [s.title for s in segments] == [title for title, _ in STORIES]


def test_bulleted_items() -> None:
    dump = "\n".join(f"• {' '.join(body[:2])}" for _, body in STORIES)
    segments = split_dump(dump)
    assert len(segments) == 4
    assert all(not s.text.startswith("•") for s in segments)
    assert segments[2].text.startswith("Northfield Rovers")


def test_bullet_list_inside_a_story_stays_in_it() -> None:
    lines = [
        TRIAL[0],
        TRIAL[1][0],
        "The court also ordered:",
        "- a fine of 400,000 crowns",
        "- a ban from public office for ten years",
        "- the sale of the sailing club's boats",
        TRANSFER[0],
        *TRANSFER[1][:2],
    ]
    starts = [start for start, _ in split_dump_spans("\n".join(lines))]
    assert [start for start in starts if start <= 6] == [0, 6]


def test_wire_slug_lines_with_the_body_after_a_blank_line() -> None:
    lines: list[str] = []
    for number, (title, body) in enumerate(STORIES, start=12):
        lines += [f"WIRE{number}: {title}", "", *[f"{p}\n" for p in body[:2]]]
    segments = split_dump("\n".join(lines))
    assert [s.title for s in segments] == [title for title, _ in STORIES]


def test_many_wire_slug_stories_are_each_a_story() -> None:
    # A long dump of that shape, two paragraphs a story and no blank line before the next
    # slug, must come out as one story per slug, neither merged nor split.
    lines: list[str] = []
    for number in range(1500):
        title, body = STORIES[number % 4]
        lines += [f"WIRE{number}: {title} ({number})", "", body[number % 3], body[3]]
    segments = split_dump("\n".join(lines))
    assert len(segments) == 1500
    assert all(segment.text.count("\n\n") == 1 for segment in segments)


def test_read_more_links_between_items() -> None:
    lines: list[str] = []
    for title, body in STORIES:
        lines += [title, body[0], "Read more »"]
    segments = split_dump("\n".join(lines))
    assert [s.text for s in segments] == [body[0] for _, body in STORIES]


def test_agency_datelines_open_stories() -> None:
    lines = [
        f"VELDRA (Reuters) - {QUAKE[1][0]}",
        *QUAKE[1][1:3],
        TRIAL[0],
        f"HARLOW BAY (AP) - {TRIAL[1][0]}",
        *TRIAL[1][1:3],
        f"LONDON (Reuters) - {CHIPS[1][0]}",
        CHIPS[1][1],
    ]
    starts = [start for start, _ in split_dump_spans("\n".join(lines))]
    assert starts == [0, 3, 7]


def test_line_introducing_a_quote_before_a_dateline_is_no_headline() -> None:
    # A story's last line may introduce what follows ("... reported:"); a dateline after it
    # opens the next story there, not one line earlier as after a headline.
    lines = [
        f"VELDRA (Reuters) - {QUAKE[1][0]}",
        *QUAKE[1][1:3],
        "The regional radio station reported:",
        f"LONDON (Reuters) - {CHIPS[1][0]}",
        CHIPS[1][1],
    ]
    starts = [start for start, _ in split_dump_spans("\n".join(lines))]
    assert starts == [0, 4]


def test_email_newsletter_pasted_as_text() -> None:
    lines = [*EMAIL_HEADER, ""]
    for title, body in STORIES:
        lines += [title, *body[:2], "", "———", ""]
    lines += ["Unsubscribe | Manage preferences", "© 2025 The Morning Brief"]
    segments = split_dump("\n".join(lines))
    assert [s.title for s in segments] == [title for title, _ in STORIES]
    assert "From" not in " ".join(s.text for s in segments)


def test_web_page_pasted_as_text() -> None:
    lines = ["Skip to content", "Home", "News", "World", "Business", "Sport", ""]
    for title, body in STORIES:
        lines += [title, "2 hours ago", body[0], "Share", ""]
    lines += ["Privacy policy", "Terms of use"]
    segments = split_dump("\n".join(lines))
    assert [s.title for s in segments] == [title for title, _ in STORIES]


def test_digest_of_briefs_one_per_line() -> None:
    briefs = [
        "A magnitude 6.8 earthquake in Veldra province kills at least 41 people.",
        "Former Harlow Bay mayor Ellis Varga is sentenced to nine years in prison for bribery.",
        "Northfield Rovers sign striker Tobi Adeyemi from Castello for a club record fee.",
        "Lumen Systems denies a report that it will close its wafer plant in Grenmark.",
        "Voters in Estmark approve a new constitution in a referendum, official results show.",
    ]
    assert [start for start, _ in split_dump_spans("\n".join(briefs))] == [0, 1, 2, 3, 4]


def test_hard_wrapped_wire_copy_with_sign_offs_and_a_table() -> None:
    # A blank line ends each story, but the second story's table holds one too; the
    # sign-off line shows where stories end.
    dump = (
        "LUMEN SYSTEMS DENIES PLANT CLOSURE REPORT\n"
        "GRENMARK, March 3 - Lumen Systems said it had no plans to\n"
        "close its wafer plant in Grenmark.\n"
        "    The company said the plant was running at full capacity.\n"
        " Reuter\n\n"
        "GRAIN REGISTRATIONS TO MARCH 1\n"
        "ESTMARK, March 3 - The grain board gave registrations in\n"
        "thousands of tonnes:\n"
        "    Wheat 1,655.8\n\n"
        "    Maize 48.0\n"
        " Reuter\n\n"
        "ROVERS SIGN ADEYEMI\n"
        "NORTHFIELD, March 3 - Northfield Rovers signed striker Tobi\n"
        "Adeyemi for a record fee.\n"
        " Reuter\n"
    )
    starts = [start for start, _ in split_dump_spans(dump)]
    assert starts == [0, 6, 14]


def test_large_dump_read_in_windows_splits_as_a_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows cut the dump into parts a fraction of its length; the stories must be the same.
    dump = "\n\n".join(
        "\n".join([f"{title} ({number})", *body[: 1 + number % 4]])
        for number in range(60)
        for title, body in [STORIES[number % 4]]
    )
    whole = split_dump_spans(dump)
    monkeypatch.setattr(segmenter, "_WINDOW_LINES", 40)
    monkeypatch.setattr(segmenter, "_WINDOW_MARGIN", 10)
    windowed = split_dump_spans(dump)
    assert len(whole) == 60
    assert windowed == whole


def test_one_story_of_short_paragraphs_one_per_line_is_not_a_digest() -> None:
    """A single article pasted one short paragraph per line, no headline: most of its lines go
    on about the subject without naming anything, unlike the items of a digest."""
    dump = (
        "Flood waters swept through the town of Marren on Sunday after days of heavy rain.\n"
        "At least 12 people were killed and dozens are missing, according to local officials.\n"
        "The river Aldt burst its banks shortly after midnight, flooding hundreds of homes.\n"
        "Emergency crews used boats to rescue residents trapped on rooftops.\n"
        "The regional governor declared a state of emergency and asked the army for help.\n"
        "Forecasters warned that more rain was expected in the coming days.\n"
        "Schools across the region will stay closed until Wednesday.\n"
    )
    [story] = split_dump(dump)
    assert story.text.startswith("Flood waters") and story.text.endswith("until Wednesday.")


def test_cohesion_dips_where_stories_meet() -> None:
    # Six headline-less stories, one paragraph per line: the lines either side of a story's
    # first line share no terms, while a story's own paragraphs keep its names and words.
    order = [QUAKE, TRIAL, TRANSFER, CHIPS, QUAKE, TRIAL]
    lines = [paragraph for _, body in order for paragraph in body]
    read = segmenter._read_lines("\n".join(lines))
    nudges = segmenter._cohesion_depths(segmenter._line_cues(read))
    boundaries = {4, 8, 12, 16, 20}
    assert all(nudges[position] > 0 for position in boundaries), nudges
    inside = [nudges[position] for position in range(1, len(lines)) if position not in boundaries]
    assert sum(nudge < 0 for nudge in inside) >= 0.75 * len(inside), nudges
    # A dump of a few lines is too short to read dips in: no nudge either way.
    short = segmenter._read_lines("\n".join(lines[:12]))
    assert segmenter._cohesion_depths(segmenter._line_cues(short)) == {}


def _long_article() -> tuple[str, list[str]]:
    """An invented article of seven paragraphs on one subject, for the mixed-layout tests."""
    return (
        "Harbour city opens its new flood barrier",
        [
            "The port city of Kessel opened its new flood barrier on Monday, a steel gate "
            "across the harbour mouth that took six years and 900 million crowns to build.",
            "The barrier's two arms swing shut across the harbour when the sea rises more "
            "than two metres above its usual level, sealing Kessel off from storm surges.",
            "Kessel's mayor, Petra Lind, said the barrier would protect forty thousand homes "
            "in the old harbour quarter that flooded three times in the past decade.",
            "Engineers tested the gate last month, closing both arms across the harbour in "
            "eleven minutes, well inside the twenty minutes the design allows.",
            "Shipping lines had feared delays, but the harbour authority said the barrier "
            "would close only a few times a year and ships would be warned days ahead.",
            "Critics said the money would have been better spent raising the harbour walls, "
            "which the barrier does not protect from rain running off the hills above Kessel.",
            "Lind said the city would now turn to those walls, with work on the harbour's "
            "eastern quay due to start next spring.",
        ],
    )


def test_article_in_blank_separated_paragraphs_among_stories_without_blank_lines() -> None:
    # One story sets its paragraphs apart by blank lines; the others run headline and
    # paragraphs with none. The blank lines are that article's paragraph breaks.
    article = _long_article()
    parts = ["\n".join([title, *body]) for title, body in STORIES[:2]]
    parts.append("\n\n".join([article[0], *article[1]]))
    parts += ["\n".join([title, *body]) for title, body in STORIES[2:]]
    segments = split_dump("\n".join(parts[:2]) + "\n\n" + parts[2] + "\n\n" + "\n".join(parts[3:]))
    # The article comes out as one story, with no line of its neighbours.
    [whole] = [s for s in segments if s.title == article[0]]
    assert whole.text == "\n\n".join(article[1])
    for title, _ in STORIES:
        assert any(s.title == title for s in segments)


def test_blank_separated_one_line_briefs_after_a_long_story_stay_apart() -> None:
    # A first story in paragraphs, then briefs set apart by blank lines: the briefs share no
    # subject, so their blank lines still separate stories.
    briefs = [_one_line(story) for story in STORIES[1:]]
    dump = "\n".join([QUAKE[0], *QUAKE[1], *TRIAL[1][:2]]) + "\n\n" + "\n\n".join(briefs)
    assert len(split_dump(dump)) >= len(briefs) + 1


def test_blank_lines_that_each_continue_the_subject_are_paragraph_breaks() -> None:
    article = _long_article()
    [story] = split_dump("\n\n".join(article[1]))
    assert story.text.startswith("The port city") and story.text.endswith("next spring.")


@pytest.mark.parametrize("joiner", [" ", " | ", " • ", "   "])
def test_stories_on_one_very_long_line_are_split(joiner: str) -> None:
    # A paste that lost its line breaks: headline, then lede, for story after story.
    stories = [*STORIES, _long_article(), *STORIES, _long_article(), *STORIES]
    items = [f"{title}. {' '.join(body)}" for title, body in stories]
    dump = joiner.join(items)
    assert "\n" not in dump and len(dump) > segmenter._RUN_ON_LINE_CHARS
    segments = split_dump(dump)
    _assert_whole([s.title + " " + s.text for s in segments], [[t, *b] for t, b in stories])


def test_a_long_line_of_one_story_is_not_cut() -> None:
    # One article that lost its line breaks: its sentences stay on one subject.
    line = " ".join(_long_article()[1] * 4)
    assert len(line) > segmenter._RUN_ON_LINE_CHARS
    [story] = split_dump(line)
    assert story.text.startswith("The port city") and story.text.endswith("next spring.")


def test_headline_less_articles_one_after_another() -> None:
    # Whole articles, a paragraph per line, no headlines and no blank lines: each lead names
    # its own people and places, none of which the article before it has met. In every
    # order of five articles, at least three dumps in four come out exactly right.
    pool = [QUAKE, TRIAL, TRANSFER, CHIPS, _long_article()]
    right = total = 0
    for order in itertools.permutations(pool):
        lines = [paragraph for _, body in order for paragraph in body]
        expected = [0]
        for _, body in order[:-1]:
            expected.append(expected[-1] + len(body))
        right += [start for start, _ in split_dump_spans("\n".join(lines))] == expected
        total += 1
    assert right >= 0.75 * total, (right, total)
