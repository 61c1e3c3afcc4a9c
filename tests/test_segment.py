"""Dump segmentation and derived titles, on dumps written for the tests."""

from __future__ import annotations

import re

import numpy as np

from bot.pipeline import segment as segmenter
from bot.pipeline.segment import Segment, derive_title, split_dump, split_dump_spans
from bot.pipeline.text import is_boilerplate_line

# Three invented stories, one paragraph per line, no separators between them.
FLOOD = [
    "Floods sweep through northern valley towns",
    "Heavy rain caused the Lowe river to burst its banks on Monday, forcing thousands of "
    "residents of Lowbridge and Eastmere to leave their homes.",
    "Rescue teams in Lowbridge said the river was still rising on Monday night. Flood "
    "barriers in Eastmere held, but several homes near the river were flooded.",
]
TELECOM = [
    "Brightwave Telecom shares slump after profit warning",
    "Shares in Brightwave Telecom fell 12% on Tuesday after the mobile operator warned "
    "that profits would miss forecasts because of weak handset demand.",
    "Brightwave said handset sales in the quarter were well below its own forecasts, and "
    "analysts cut their profit forecasts for the operator.",
]
ORCHESTRA = [
    "The Northport Symphony Orchestra will tour Japan and Korea next spring, playing twelve "
    "concerts in six cities.",
    "The orchestra's conductor, Mira Castell, said the tour of Japan and Korea was the "
    "largest in the orchestra's history.",
]


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def test_headline_stories_run_together_are_split_with_titles() -> None:
    segments = split_dump("\n".join(FLOOD + TELECOM + ORCHESTRA))
    assert [s.title for s in segments[:2]] == [FLOOD[0], TELECOM[0]]
    assert not segments[0].title_derived and not segments[1].title_derived
    assert segments[0].text == "\n\n".join(FLOOD[1:])
    assert segments[1].text == "\n\n".join(TELECOM[1:])
    assert len(segments) == 3
    assert segments[2].title_derived
    assert segments[2].title == "Northport Symphony Orchestra will tour Japan and Korea next spring"


def test_spans_give_the_line_where_each_story_starts() -> None:
    lines = [*FLOOD, "Photo: Ana Ruiz/Reuters", *TELECOM]
    starts = [start for start, _ in split_dump_spans("\n".join(lines))]
    assert starts == [0, 4]


def test_kicker_label_is_in_neither_title_nor_body() -> None:
    dump = "\n".join([f"DISASTER: {FLOOD[0]}", *FLOOD[1:], f"BUSINESS: {TELECOM[1]}"])
    segments = split_dump(dump)
    assert len(segments) == 2
    assert segments[0].title == FLOOD[0]
    assert segments[1].text == TELECOM[1]
    for segment in segments:
        assert "DISASTER" not in segment.title + segment.text
        assert "BUSINESS" not in segment.title + segment.text


def test_story_cut_mid_sentence_ends_there() -> None:
    cut = "Rescue teams in Lowbridge said the river was still rising and that"
    dump = "\n".join([FLOOD[1], cut, *ORCHESTRA])
    segments = split_dump(dump)
    assert len(segments) == 2
    assert segments[0].text.endswith(cut)
    assert segments[1].text.startswith(ORCHESTRA[0])


def test_photo_credits_are_dropped_from_story_text() -> None:
    dump = "\n".join(
        ["(AP Photo/Tom Hale)", *FLOOD[:2], "Image copyright Getty Images", FLOOD[2], *TELECOM]
    )
    segments = split_dump(dump)
    assert [s.title for s in segments] == [FLOOD[0], TELECOM[0]]
    joined = " ".join(s.title + " " + s.text for s in segments)
    assert "Getty" not in joined and "AP Photo" not in joined


def test_blank_lines_between_stories_are_separators() -> None:
    dump = "\n".join(FLOOD[1:]) + "\n\n" + "\n".join(ORCHESTRA)
    segments = split_dump(dump)
    assert len(segments) == 2
    assert segments[1].text.startswith(ORCHESTRA[0])


def test_rule_lines_separate_stories() -> None:
    dump = f"{FLOOD[1]}\n---\n{FLOOD[2]}"
    assert len(split_dump(dump)) == 2


def test_no_text_but_boilerplate_is_lost() -> None:
    lines = [*FLOOD, "Read more", *TELECOM, "By Jane Doe", *ORCHESTRA, "Advertisement"]
    segments = split_dump("\n".join(lines))
    kept = set().union(*(_words(s.title + " " + s.text) for s in segments))
    for line in lines:
        if not is_boilerplate_line(line):
            assert _words(line) <= kept, line


def test_unicode_text_survives() -> None:
    dump = "Öffentlicher Dienst streikt in München\nDie Gewerkschaft rief am Montag zum Streik auf."
    assert split_dump(dump) == [
        Segment(
            "Öffentlicher Dienst streikt in München",
            "Die Gewerkschaft rief am Montag zum Streik auf.",
            False,
        )
    ]


def test_empty_and_boilerplate_only_dumps_give_no_story() -> None:
    assert split_dump("") == []
    assert split_dump("\n\nRead more\nAdvertisement\n") == []


def test_long_first_sentence_gives_a_compressed_title_that_keeps_subject_and_event() -> None:
    sentence = (
        "Shares in Brightwave Telecom, the mobile operator based in Northport which has "
        "spent most of the past decade buying smaller rivals, fell sharply on Tuesday after "
        "the company warned that profits would miss forecasts."
    )
    title = derive_title(sentence)
    assert title == "Shares in Brightwave Telecom fell sharply"


def test_title_is_never_cut_mid_word_or_on_a_function_word() -> None:
    sentence = (
        "Northport council leader Ana Ruiz announced a plan to rebuild the whole of the old "
        "harbour district and the railway station of the city within the next ten years."
    )
    title = derive_title(sentence)
    assert title.startswith("Northport council leader Ana Ruiz announced plan to rebuild")
    assert len(title) <= 90 and not title.endswith("…")
    last = title.split()[-1].lower()
    assert last not in {"the", "of", "and", "to", "a", "within"}
    assert set(title.split()) <= set(sentence.split())


def test_dateline_is_not_part_of_a_derived_title() -> None:
    assert derive_title("LONDON (Reuters) - The Bank of Northport held rates.") == (
        "Bank of Northport held rates"
    )


def test_headline_run_into_the_lede_becomes_the_title() -> None:
    line = (
        "Ruiz jailed for 12 years over Northport harbour fraud Former Northport council "
        "leader Ana Ruiz was jailed for 12 years on Monday for defrauding the harbour fund. "
        "The court heard that Ruiz moved the money to accounts abroad."
    )
    dump = "\n".join([line, ORCHESTRA[0]])
    segments = split_dump(dump)
    assert segments[0].title == "Ruiz jailed for 12 years over Northport harbour fraud"
    assert not segments[0].title_derived
    assert segments[0].text.startswith("Former Northport council leader Ana Ruiz was jailed")


def test_derived_title_names_the_subject_not_a_descriptor() -> None:
    text = (
        "The former council leader was jailed for 12 years for defrauding the harbour fund. "
        "Ana Ruiz moved the money abroad, the court heard. Ruiz plans to appeal."
    )
    title = split_dump(text)[0].title
    assert "Ruiz" in title and "jailed for 12 years" in title
    assert not title.startswith("Former council leader")


# Wire-style stories, one short paragraph per line: continuation lines share few words with
# the lead, so cues (kickers, indefinite leads, pronouns, stems shared with the whole story)
# have to decide.
WIRE_DUMP = """\
STORM: A powerful storm brought winds of up to 140 km/h to the southern coast on Thursday, \
toppling trees and leaving 60,000 homes without electricity.
Rail services between the three largest coastal cities were suspended while crews cleared \
fallen branches from the lines.
Photo: Demo Wire / Staff Photographer
The weather service said the storm would weaken as it moved inland overnight, but warned of \
flooding in valleys where rivers were already high.
ENERGY: Grid operators said a power outage that hit the capital for two hours on Wednesday \
evening was caused by a fault at a substation, not by a cyber attack.
Traffic lights and the metro stopped during the evening rush hour, and hospitals switched to \
backup generators.
The operator said it would publish a full report within a month and compensate businesses \
that lost refrigerated stock.
Union leaders and the transport ministry reached a deal that ends a week of strikes on \
regional buses, with drivers getting a 6 percent pay rise over two years.
Services will return to the normal timetable from Monday.
The minister said the agreement also funds 400 new drivers to cut overtime.
Photo credit: Demo Wire
A new public library opened in the old customs house on the river front, with space for \
200,000 books and a workshop where visitors can repair electronics.
"""


def test_wire_style_dump_keeps_short_continuations_with_their_story() -> None:
    spans = split_dump_spans(WIRE_DUMP)
    assert [start for start, _ in spans] == [0, 4, 7, 11]
    segments = [segment for _, segment in spans]
    assert segments[0].title == (
        "Powerful storm brought winds of up to 140 km/h to southern coast, toppling trees"
    )
    assert segments[0].text.count("\n\n") == 2  # Three paragraphs, the credit line dropped.
    assert "Photo" not in " ".join(segment.text for segment in segments)
    assert segments[3].text.startswith("A new public library")


def test_credit_inside_a_story_does_not_open_a_new_one() -> None:
    dump = (
        "WILDFIRE: A wildfire spread across the dry hills above Marrow on Thursday, forcing the "
        "evacuation of two villages as strong winds pushed the flames toward the coast road.\n"
        "Photo: Staff Photographer\n"
        "Firefighters said they hoped cooler weather overnight would help them contain the "
        "blaze.\n\n"
        "The central bank kept interest rates unchanged on Thursday, saying inflation was "
        "falling but remained above its target, and signalled that cuts could come next year.\n"
    )
    spans = split_dump_spans(dump)
    assert [start for start, _ in spans] == [0, 4]
    assert spans[0][1].text.endswith("contain the blaze.")


def test_boundary_model_quadratic_form_matches_its_terms() -> None:
    # The model is stored as (i, j, weight) terms and evaluated as a quadratic form; both
    # readings must give the same log-odds, or a refitted model would silently change.
    rows = np.random.default_rng(3).normal(size=(40, len(segmenter._FEATURE_MEAN)))
    standard = (rows - segmenter._FEATURE_MEAN) / segmenter._FEATURE_SCALE
    expected = np.full(len(rows), segmenter._BIAS + segmenter._DECODE_OFFSET)
    for first, second, weight in segmenter._TERMS:
        product = standard[:, first] * (standard[:, second] if second >= 0 else 1.0)
        expected += weight * product
    assert np.allclose(segmenter._new_story_logits(rows.tolist()), expected)
