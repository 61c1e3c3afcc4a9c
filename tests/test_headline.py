"""Headlines run into the lede, headlines written from the lede, and summaries of messy copy.

Every input here is written for the tests (invented places and people).
"""

from __future__ import annotations

from pathlib import Path

from bot.delivery.build import build_alert
from bot.models import Delivery
from bot.pipeline.headline import (
    main_subject,
    repeats_title,
    split_run_on_headline,
    without_repeated_title,
    write_headline,
)
from bot.pipeline.segment import split_dump
from bot.pipeline.summarize import summarize
from bot.pipeline.text import split_sentences
from storage.db import open_database
from storage.stories import insert_story
from tests.helpers import new_story

DECK = (
    "Ruiz jailed for 12 years over a harbour fraud, as well as a plot to bribe a judge "
    "Former Northport council leader Ana Ruiz was jailed for 12 years on Monday for "
    "defrauding the harbour fund and plotting to bribe the judge in her first trial."
)
REST = (
    "The court heard that Ruiz moved the money to accounts abroad. Ruiz plans to appeal, "
    "her lawyer said."
)


def test_deck_run_into_the_lede_is_found() -> None:
    assert split_run_on_headline(DECK, REST) == (
        "Ruiz jailed for 12 years over a harbour fraud, as well as a plot to bribe a judge",
        DECK.split("judge ", 1)[1],
    )


def test_title_case_headline_run_into_the_lede_is_found() -> None:
    line = (
        "Flood Kills 12 In Northern Valley Towns The Lowe river burst its banks on Monday "
        "after two days of heavy rain, and rescuers searched flooded homes in Lowbridge."
    )
    head, lede = split_run_on_headline(line) or ("", "")
    assert head == "Flood Kills 12 In Northern Valley Towns"
    assert lede.startswith("The Lowe river burst its banks")


def test_an_ordinary_lede_is_not_split() -> None:
    for line in (
        "Former Northport council leader Ana Ruiz was jailed for 12 years on Monday for "
        "defrauding the harbour fund of the city.",
        "Shares in Brightwave Telecom fell 12% on Tuesday after the mobile operator warned "
        "that profits would miss forecasts.",
        "Voters in Eastmere elected the Green Harbour Party to run the city council for the "
        "first time since the party was founded.",
    ):
        assert split_run_on_headline(line, REST) is None, line


def test_written_headline_names_subject_and_event_and_drops_asides() -> None:
    text = (
        "At least 12 people were killed in northern Valdoria on Sunday when the Lowe and "
        "Marr rivers burst their banks after days of heavy rain, police said. "
        "Rescuers in Valdoria searched for survivors. Valdoria's president declared a state "
        "of emergency."
    )
    title = write_headline(text)
    assert title == "At least 12 people killed in northern Valdoria"
    assert len(title) <= 90


def test_written_headline_puts_the_name_for_a_descriptor() -> None:
    text = (
        "The former president was sentenced to 27 years and three months in prison for a "
        "failed coup bid. Jair Castell denied the charges. Castell's lawyers said they "
        "would appeal, and supporters of Castell gathered outside the court."
    )
    assert main_subject(text) == "Castell"
    title = write_headline(text)
    assert title.startswith("Castell sentenced to 27 years")


def test_written_headline_is_never_cut_inside_a_word_or_clause() -> None:
    sentence = (
        "Northport's harbour authority approved an expansion of the container terminal "
        "that will double its capacity and create hundreds of jobs for dock workers in the "
        "region, according to a statement released by the authority."
    )
    title = write_headline(sentence)
    assert len(title) <= 90
    assert "according" not in title
    words = sentence.replace(",", "").split()
    assert all(word in words for word in title.replace(",", "").split()[1:])
    assert title.split()[-1] not in {"the", "of", "and", "to", "for", "in"}


def test_summary_never_holds_the_run_on_headline() -> None:
    summary = summarize("", f"{DECK}\n\n{REST}")
    assert summary.sentences
    assert not any("bribe a judge Former" in sentence for sentence in summary.sentences)
    assert summary.sentences[0].startswith("Former Northport council leader")
    # With the title known, the same.
    titled = summarize("Ruiz jailed over harbour fraud", f"{DECK}\n\n{REST}")
    assert titled.sentences[0].startswith("Former Northport council leader")


def test_summary_leaves_out_fragments_and_a_teaser_cut_mid_sentence() -> None:
    text = (
        "A fire destroyed a warehouse in the Northport docks on Friday night.\n\n"
        "At least five people,\n\n"
        "Firefighters from three towns fought the blaze for six hours before it was under "
        "control. The warehouse stored paper and paint, the fire service said. Investigators "
        "said the fire started in an office on the ground floor and that"
    )
    summary = summarize("Warehouse fire in Northport docks", text, max_chars=1000)
    assert summary.sentences
    assert "At least five people," not in summary.sentences
    assert all(sentence.endswith(".") for sentence in summary.sentences)


def test_summary_leaves_out_a_trailing_paragraph_of_another_story() -> None:
    text = (
        "The Northport harbour bridge reopened to traffic on Friday after six months of "
        "repairs to its steel supports.\n\n"
        "Engineers replaced two supports of the harbour bridge and the city inspected every "
        "cable of the bridge before it reopened.\n\n"
        "Drivers said the bridge had cut their journey to work by half an hour.\n\n"
        "Orchestral musicians in Eastmere voted to strike over pay cuts announced by the "
        "symphony's management."
    )
    summary = summarize("Northport bridge reopens", text, max_sentences=4, max_chars=1000)
    assert summary.sentences
    assert not any("Orchestral" in sentence for sentence in summary.sentences)


def test_title_and_summary_never_show_the_same_sentence() -> None:
    lede = "Heavy rain caused the Lowe river to burst its banks in Lowbridge."
    text = f"{lede} Rescue teams said the river was still rising on Monday night."
    title = "Heavy rain caused Lowe river to burst its banks in Lowbridge"
    assert repeats_title(title, lede)
    summary = summarize(title, text)
    assert summary.sentences and lede not in summary.sentences
    assert (
        without_repeated_title(title, f"{lede} Rescue teams were out.") == "Rescue teams were out."
    )
    assert without_repeated_title("Bridge reopens", lede) == lede


def test_alert_does_not_repeat_its_headline_in_the_summary(tmp_path: Path) -> None:
    # A summary stored before the title was settled repeats it; the alert shows it once.
    db = open_database(tmp_path / "news.db")
    lede = "Heavy rain caused the Lowe river to burst its banks in Lowbridge."
    story_id = insert_story(
        db,
        new_story(
            "Heavy rain caused Lowe river to burst its banks in Lowbridge",
            f"{lede} Rescue teams were out all night.",
            content_hash="h1",
            topics=["disaster"],
            topic_scores={"disaster": 0.9},
        ),
    )
    delivery = Delivery(
        id=1,
        chat_id=1,
        story_id=story_id,
        cluster_id=story_id,
        platform="telegram",
        status="pending",
        reasons=(),
        attempts=0,
    )
    alert = build_alert(db, delivery)
    assert alert.summary == "Rescue teams were out all night."
    assert not set(split_sentences(alert.summary)) & {lede}


def test_dump_of_whole_stories_per_line_gets_headlines_and_clean_summaries() -> None:
    dump = "\n".join(
        [
            DECK + " " + REST,
            "Quake Hits Coastal Marrow The earthquake of magnitude 6.1 struck the coastal town "
            "of Marrow on Tuesday, destroying dozens of homes, and rescuers pulled survivors "
            "from the rubble. The Marrow earthquake was felt across the region.",
        ]
    )
    segments = split_dump(dump)
    assert [s.title for s in segments] == [
        "Ruiz jailed for 12 years over a harbour fraud, as well as a plot to bribe a judge",
        "Quake Hits Coastal Marrow",
    ]
    for segment in segments:
        summary = summarize(segment.title, segment.text)
        assert segment.title not in summary.text


def test_earthquake_title_says_earthquake() -> None:
    text = (
        "At least 800 people were killed and more than 2,500 injured after a magnitude 6.0 "
        "earthquake struck eastern Valdoria late on Sunday, the government said. The quake "
        "hit Kunar province. Aid agencies said the toll from the Valdoria earthquake would rise."
    )
    title = write_headline(text)
    assert "earthquake" in title and "800" in title and len(title) <= 90


def test_a_title_that_starts_the_lede_is_not_cut_from_the_summary() -> None:
    title = "Flooding killed 12 people in northern Valdoria"
    text = (
        f"{title} on Tuesday as heavy rain caused two rivers to burst their banks, the civil "
        "protection agency said. Hundreds of residents were evacuated."
    )
    assert summarize(title, text).sentences[0].startswith(f"{title} on Tuesday")


def test_a_teaser_cut_in_its_only_sentence_is_marked_as_cut() -> None:
    text = "Rescue teams in Lowbridge said the river was still rising and that the barriers"
    summary = summarize("River still rising in Lowbridge", text)
    assert summary.text == f"{text}…"


def test_a_lede_opening_with_a_place_keeps_its_event() -> None:
    # Commas around "a manhunt ... Department" look like an appositive; dropping it would
    # leave only names ("Vardo Sergeant Mila Ostrander"), so the step is undone.
    title = write_headline(
        "In Harlow County, Vardo, a manhunt is under way as police seek two men who shot a "
        "ranger from the Northfield Park Service, Sergeant Mila Ostrander."
    )
    assert "manhunt" in title.lower() and len(title) <= 90
    assert not title.startswith("Vardo,")  # The place goes with its region, not half of it.


def test_a_name_the_story_also_writes_as_an_acronym_is_shortened_to_it() -> None:
    title = write_headline(
        "The Northland Rail Authority is to close three rural stations next year to save money. "
        "The NRA said passenger numbers had halved since 2010, and the NRA board will vote on "
        "the plan in March."
    )
    assert title.startswith("NRA ") and "Northland Rail Authority" not in title


def test_no_acronym_is_invented_when_the_story_never_uses_one() -> None:
    title = write_headline(
        "The Northland Rail Authority is to close three rural stations next year to save money. "
        "Passenger numbers have halved since 2010, the authority said."
    )
    assert title.startswith("Northland Rail Authority")


def test_a_bracketed_acronym_replaces_only_the_name_it_spells() -> None:
    # "Shares of" is no part of the name; "(Haso)" written as a word still spells its name.
    shares = write_headline(
        "Shares of Tarrow Mining Group (TMG) jumped on Monday after the firm found copper "
        "near Lowbridge."
    )
    assert shares.startswith("Shares of TMG jumped")
    office = write_headline(
        "The Harbour Anti-Smuggling Office (Haso) will appeal against the acquittal of two "
        "Northport dock workers, its director said."
    )
    assert office.startswith("Haso will appeal")


def test_title_case_copy_keeps_its_words() -> None:
    # Capitals do not tell names in Title Case, so "Aceh Province" is not turned into "AP".
    title = write_headline(
        "Earthquake Of Magnitude 6.1 Strikes Veldra's Aceh Province Killing One. AP reported "
        "the quake. AP said more were hurt. AP photographers saw damage."
    )
    assert "Aceh Province" in title


def test_a_named_source_goes_first_even_when_the_lede_is_long() -> None:
    title = write_headline(
        "Plans to build more than 40,000 homes on the edge of Northport will cause irreversible "
        "damage to the river valley and the wildlife that depends on it, the Greens have warned. "
        "The Greens want the plan withdrawn."
    )
    assert title.startswith("Greens warn plans to build")
    assert len(title) <= 90 and title[-1].isalnum()


def test_a_cut_never_leaves_a_count_waiting_for_its_noun() -> None:
    title = write_headline(
        "Shares in Lumen Systems rose sharply on Wednesday after two of the largest chip makers "
        "in the region said that their planned merger had collapsed in a dispute over jobs."
    )
    assert title.split()[-1].lower() not in {"two", "of"}
    assert len(title) <= 90


def test_a_wire_dateline_with_its_date_goes() -> None:
    title = write_headline(
        "VELDRA, March 3 - Northport Mills Inc said it plans to close its oldest paper mill "
        "next year. The mill employs 240 people."
    )
    assert title.startswith("Northport Mills Inc")


def test_an_acronym_given_after_its_name_is_not_said_twice() -> None:
    title = write_headline(
        "WASHINGTON - The Grain Export Board, GEB, accepted an offer to cover the sale of "
        "30,000 tonnes of wheat. The GEB said the wheat would ship in May."
    )
    assert "GEB, GEB" not in title and title.startswith("GEB accepted")


def test_a_stock_ticker_is_no_acronym() -> None:
    title = write_headline(
        "Landover Brick Company <LBC> said it expects its stock to begin trading on the "
        "exchange next week. Landover Brick has 1,200 workers."
    )
    assert title.startswith("Landover Brick Company")
