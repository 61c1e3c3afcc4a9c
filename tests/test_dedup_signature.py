"""The event signature: two reports of one event told in their own words name the same kind
of event and the same people and places in their leads, and no other year. When they do, a
lower cosine than the event tier's links them (the second route); two similar events, or
two stories about one place, differ on the kind, the names or the year.

The articles are written for these tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.pipeline.dedup import StoryIndex, _anchors, _event_kinds, _signature_agrees

T0 = datetime(2025, 3, 4, 7, 0, tzinfo=UTC)

FIRE_WIRE_TITLE = "Fire destroys Castelbruno market hall"
FIRE_WIRE = (
    "A fire destroyed the covered market hall of Castelbruno overnight, Mayor Elena Orsini "
    "said, after flames spread from a bakery on Via Tamara to the roof of the hall built by "
    "Giacomo Ruggeri in 1911. Nobody was hurt, but forty stallholders lost their stock.\n\n"
    "Firefighters from Bellavia and two neighbouring towns fought the blaze for six hours. "
    "Investigators will examine the bakery's ovens, the regional fire service said, and "
    "the hall will stay closed while engineers check whether its iron frame can be saved. "
    "Traders asked the council for temporary pitches in the cathedral square."
)
FIRE_PAPER_TITLE = "Traders weep as historic hall burns"
FIRE_PAPER = (
    "Stallholders stood in the rain on Tuesday morning watching smoke rise from what was "
    "left of Castelbruno's market hall, where a fire that began in a bakery on Via Tamara "
    "gutted the building Giacomo Ruggeri designed. Mayor Elena Orsini called it a wound to "
    "the town's heart.\n\n"
    "Crews from Bellavia had arrived within minutes, a spokeswoman said, but strong wind "
    "carried sparks across the wooden roof. Greengrocer Paolo Venturi, who has sold fruit "
    "there for thirty years, said he had nothing left. Insurance assessors are expected "
    "next week; the council promised grants and a temporary market near the cathedral."
)
FESTIVAL_TITLE = "Castelbruno market hall hosts spring festival"
FESTIVAL = (
    "Mayor Elena Orsini opened the spring festival in the market hall of Castelbruno, the "
    "iron building Giacomo Ruggeri designed, with stalls from Via Tamara to the cathedral. "
    "Bands from Bellavia played in the square and children painted eggs.\n\n"
    "Organisers said twelve thousand visitors came over the weekend, a record, and local "
    "traders sold cheese, honey and wine. The council plans a summer market with music "
    "every Friday evening and more benches along the old walls near the river gardens."
)


def strict_index(**settings: float) -> StoryIndex:
    """An index whose event tier alone links nothing, so that only the signature can."""
    return StoryIndex(event_min_similarity=0.99, event_min_plain_similarity=0.99, **settings)


def test_event_kinds_fold_the_words_of_one_kind() -> None:
    assert _event_kinds("Quake hits") == _event_kinds("a strong earthquake struck")
    assert _event_kinds("a blaze gutted the hall") == _event_kinds("Fire destroys hall")
    assert _event_kinds("Fire destroys hall") != _event_kinds("earthquake")
    assert _event_kinds("Spring festival opens") == 0


def test_signature_needs_kind_names_and_no_other_year() -> None:
    lead = "Fire at the hall. Mayor Orsini, Ruggeri, Bellavia and Castelbruno said so in 2024."
    same = _anchors("Blaze", lead, 40)
    assert _signature_agrees(_anchors("Fire", lead, 40), same, 4)
    assert not _signature_agrees(_anchors("Fire", lead, 40), same, 5)  # four names only
    party = _anchors("Party", lead.replace("Fire", "Party"), 40)
    assert not _signature_agrees(party, same, 4)
    assert not _signature_agrees(_anchors("Fire", lead.replace("2024", "2019"), 40), same, 4)


def test_reports_agreeing_on_the_signature_join_at_a_lower_cosine() -> None:
    index = strict_index()
    index.add("wire", FIRE_WIRE_TITLE, FIRE_WIRE, T0)
    paper = index.add("paper", FIRE_PAPER_TITLE, FIRE_PAPER, T0 + timedelta(hours=2))
    assert paper.duplicate_of is None
    assert paper.cluster == "wire"
    # Linked through the signature only, it keeps its own alert.
    assert paper.new_information


def test_the_signature_route_is_what_joins_them() -> None:
    index = strict_index(event_signature_similarity=1.0)
    index.add("wire", FIRE_WIRE_TITLE, FIRE_WIRE, T0)
    paper = index.add("paper", FIRE_PAPER_TITLE, FIRE_PAPER, T0 + timedelta(hours=2))
    assert paper.cluster == "paper"


def test_same_names_without_the_kind_of_event_stay_apart() -> None:
    index = strict_index()
    index.add("wire", FIRE_WIRE_TITLE, FIRE_WIRE, T0)
    festival = index.add("festival", FESTIVAL_TITLE, FESTIVAL, T0 + timedelta(hours=2))
    assert festival.cluster == "festival"


def test_another_year_in_the_lead_stays_apart() -> None:
    index = strict_index()
    index.add("wire", FIRE_WIRE_TITLE, FIRE_WIRE, T0)
    older = FIRE_PAPER.replace("on Tuesday morning", "in 1987")
    paper = index.add("paper", FIRE_PAPER_TITLE, older, T0 + timedelta(hours=2))
    assert paper.cluster == "paper"
