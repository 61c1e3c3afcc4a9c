"""Stories across outlets: reports of one event by different outlets share a cluster, and a
similar but different event (another earthquake in the same country) starts its own.

The articles are written for these tests. All stories fall within one window on purpose, so
that only their text can tell the two earthquakes apart.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest

from bot.pipeline.dedup import DedupDecision, StoryIndex

T0 = datetime(2024, 9, 12, 6, 0, tzinfo=UTC)

# The first earthquake, as reported by a wire service.
QUAKE_WIRE_TITLE = "Strong earthquake kills 14 in northern Marendia"
QUAKE_WIRE = [
    "A magnitude 6.4 earthquake struck the northern Marendian province of Alto Vireo before "
    "dawn on Thursday, killing at least 14 people and injuring more than 200, the national "
    "disaster agency said.",
    "The quake was centred 12 kilometres south-east of the mining town of Valdera at a depth "
    "of 10 kilometres, according to the Marendian Geological Institute. Several buildings "
    "collapsed in Valdera's old quarter, including the bell tower of the Santa Lucia church.",
    "Rescue teams worked through the morning to free residents trapped under the rubble. "
    "Interior Minister Tomas Echeverri said soldiers had been sent from the garrison at "
    "Puerto Quell to help clear roads blocked by landslides.",
    "Power was cut across much of Alto Vireo and the regional hospital in Valdera moved "
    "patients into tents in its car park as a precaution against aftershocks, at least 30 of "
    "which were recorded by midday.",
]

# The same earthquake, told by a newspaper in its own words: it names the same places,
# people and numbers, but shares few other words with the wire report.
QUAKE_PAPER_TITLE = "Valdera mourns as earthquake topples Santa Lucia tower"
QUAKE_PAPER = [
    "Grief settled over Valdera on Thursday. Neighbours dug with shovels and bare hands "
    "through collapsed houses after a 6.4 earthquake shook Alto Vireo province, in "
    "Marendia's far north, before dawn. Fourteen people were killed and more than 200 "
    "hurt, hospital staff said.",
    "The Santa Lucia bell tower, which had watched over the old quarter since 1712, lies in "
    'pieces across the cobbles. "My grandmother was baptised under that bell," said Ines '
    "Barral, 62, who sells bread from a stall opposite.",
    "Interior Minister Tomas Echeverri arrived by helicopter and told townspeople that troops "
    "from Puerto Quell would clear the landslides blocking the mountain roads by Saturday. "
    "Seismologists placed the epicentre just south-east of Valdera, at a shallow depth.",
    "Many families intend to sleep outdoors again tonight, fearing aftershocks, while "
    "volunteers hand out blankets, bottled water and hot soup from the parish hall.",
]

# A third outlet: its lead restates the news of the first report (same names, numbers and
# places), and the rest is its own colour and background, with no new development.
QUAKE_RADIO_TITLE = "Marendia earthquake: 14 dead in Alto Vireo"
QUAKE_RADIO = [
    "At least 14 people were killed and more than 200 injured when a magnitude 6.4 "
    "earthquake struck Alto Vireo province in northern Marendia before dawn on Thursday, the "
    "national disaster agency said. The quake was centred near the mining town of Valdera.",
    "Listeners in the region described being thrown from their beds. A caller from a farm "
    "outside the town said her dogs had started barking minutes earlier, and that cracks now "
    "run along every wall of the kitchen her father built in the sixties.",
    "The valley sits on a fault line that last produced a deadly tremor almost a century "
    "ago. Copper and silver from its mines once made it one of the wealthiest corners of the "
    "country, and many of the stone houses in the old quarter date from that boom.",
    "Our correspondent will be reporting from the area throughout the weekend, and the "
    "morning programme will carry interviews with engineers about building standards.",
]

# Another earthquake in the same country years later: the hard negative. It shares the
# country, the vocabulary of earthquakes and rescues, but not the places, people or numbers.
QUAKE_OTHER_TITLE = "Powerful earthquake hits southern Marendia, dozens dead"
QUAKE_OTHER = [
    "A magnitude 7.1 earthquake struck off the southern coast of Marendia on Saturday "
    "evening, killing at least 53 people in the port city of Esmer and the surrounding "
    "Costa Sur province, emergency officials said.",
    "The quake hit at a depth of 35 kilometres beneath the Gulf of Tarrin. A tsunami warning "
    "was issued for the coast and lifted two hours later after waves of less than a metre "
    "reached the harbour.",
    "Governor Alicia Montorre said a hotel and two apartment blocks had collapsed in Esmer's "
    "waterfront district and that rescuers with sniffer dogs were searching for survivors. "
    "Hundreds of people were treated for injuries at field hospitals.",
    "The country's president cut short a visit abroad and declared three days of national "
    "mourning. It is the deadliest earthquake in Marendia since the disaster agency began "
    "keeping records.",
]

# Unrelated stories already in the window, as in any real window.
OTHERS = [
    (
        "Council approves new library on Mill Lane",
        "Eastbrook council has approved plans for a new public library on Mill Lane, replacing "
        "the Victorian reading room that closed in 2019 because of a leaking roof. The building "
        "will include a children's wing and a cafe run by a local charity, and construction is "
        "due to begin in September after a public vote on the design.",
    ),
    (
        "Teenager wins chess open with a round to spare",
        "Fifteen-year-old Mireille Duval won the Port Selwyn open chess tournament on Sunday, "
        "clinching first place with a round to spare after beating the top seed in 41 moves. "
        "The organisers said a record 212 players from 19 countries entered this year.",
    ),
    # Other disasters of the day: in any real window the words of disaster reports
    # (killed, injured, rescue, collapsed, officials said) are common, and names are not.
    (
        "Flash floods kill six in hill villages",
        "Flash floods killed at least six people and injured dozens in hill villages on "
        "Thursday, emergency officials said. Rescue teams in boats searched flooded farms "
        "along the swollen river, and the regional governor asked the army for help.",
    ),
    (
        "Factory fire: workers trapped as roof collapses",
        "A fire at a textile factory killed four workers and injured 30 more when the roof "
        "collapsed, the fire service said. The blaze started in a storeroom of cotton bales "
        "and took eight crews most of the night to bring under control.",
    ),
    (
        "Storm leaves thousands without power",
        "A storm cut power to thousands of homes and killed two people when a tree fell on "
        "their car, officials said. Gusts of 120 km/h closed bridges and ports, and the "
        "weather service warned of more heavy rain on Saturday.",
    ),
    (
        "Earthquake shakes island chain, no damage reported",
        "A magnitude 5.8 earthquake struck at a depth of 40 kilometres off an island chain "
        "on Thursday, the geological survey said. No tsunami warning was issued, and "
        "officials reported no deaths or damage, though residents felt the quake for several "
        "seconds and some aftershocks followed.",
    ),
    (
        "Central bank holds rates as inflation slows",
        "The central bank kept its main interest rate at 4.5 per cent on Wednesday, saying "
        "inflation had slowed for a third month but that wage growth remained too strong for "
        "a cut. Two of the nine members of the rate committee voted for a reduction.",
    ),
]


def body(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


def with_others(index: StoryIndex) -> StoryIndex:
    for number, (title, text) in enumerate(OTHERS):
        index.add(f"other-{number}", title, text, T0 - timedelta(hours=8 - number))
    return index


@pytest.fixture
def index() -> StoryIndex:
    return with_others(StoryIndex())


def test_two_outlets_reports_of_one_event_share_a_cluster(index: StoryIndex) -> None:
    first = index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    second = index.add("paper", QUAKE_PAPER_TITLE, body(QUAKE_PAPER), T0 + timedelta(hours=3))
    assert first.cluster == "wire"
    # Not a reprint (its own words), but the same event: one cluster, one alert updated.
    assert second.duplicate_of is None
    assert second.cluster == "wire"


def test_another_earthquake_in_the_same_country_starts_its_own_cluster(
    index: StoryIndex,
) -> None:
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    index.add("paper", QUAKE_PAPER_TITLE, body(QUAKE_PAPER), T0 + timedelta(hours=3))
    other = index.add("other", QUAKE_OTHER_TITLE, body(QUAKE_OTHER), T0 + timedelta(hours=8))
    assert other.duplicate_of is None
    assert other.cluster == "other"
    assert other.new_information


def test_outlets_join_in_any_order(index: StoryIndex) -> None:
    first = index.add("paper", QUAKE_PAPER_TITLE, body(QUAKE_PAPER), T0)
    second = index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0 + timedelta(hours=1))
    assert (first.cluster, second.cluster) == ("paper", "paper")


def test_event_tier_is_for_full_articles_only() -> None:
    # A headline-only item sharing a couple of words with a long article is judged by the
    # short-item rule, not by the cosine of the event tier.
    index = StoryIndex()
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    decision = index.add("brief", "Marendia minister visits Puerto Quell garrison", "", T0)
    assert decision.cluster == "brief"


def test_event_threshold_is_what_decides() -> None:
    # The same pair with the event tier made stricter than any cosine stays apart: the
    # cluster above comes from the event tier, not from the short-item rule.
    index = StoryIndex(event_min_similarity=1.01)
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    second = index.add("paper", QUAKE_PAPER_TITLE, body(QUAKE_PAPER), T0 + timedelta(hours=3))
    assert second.cluster == "paper"


def test_another_outlet_retelling_the_news_updates_the_alert_instead_of_a_new_one() -> None:
    # With the lead rule applied to matches as loose as this one (the default keeps it for
    # very close retellings only), a report whose lead says nothing new updates the alert.
    index = with_others(StoryIndex(lead_rule_min_similarity=0.15))
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    radio = index.add("radio", QUAKE_RADIO_TITLE, body(QUAKE_RADIO), T0 + timedelta(hours=2))
    # Most of its words are its own, but its lead (where the news is) says nothing new.
    assert radio == DedupDecision(None, "wire", False)


def test_lead_rule_threshold_is_what_decides() -> None:
    # Without the lead rule the same report counts as new information (a second alert).
    lenient = with_others(StoryIndex(min_new_lead_share=0.0, lead_rule_min_similarity=0.15))
    lenient.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    radio = lenient.add("radio", QUAKE_RADIO_TITLE, body(QUAKE_RADIO), T0 + timedelta(hours=2))
    assert radio == DedupDecision(None, "wire", True)


def test_a_loosely_matched_report_keeps_its_own_alert_by_default(index: StoryIndex) -> None:
    # By default the lead rule is kept for very close retellings: a report matched loosely
    # may be about another development, and a missed alert costs more than a second one.
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    radio = index.add("radio", QUAKE_RADIO_TITLE, body(QUAKE_RADIO), T0 + timedelta(hours=2))
    assert radio == DedupDecision(None, "wire", True)


# Another earthquake in the same place, decades earlier, remembered on its anniversary:
# the same province, town, garrison and words of rescue as the wire report, another year.
ANNIVERSARY_TITLE = "Alto Vireo remembers the 1987 earthquake"
ANNIVERSARY = [
    "Residents of Valdera and the Alto Vireo province gathered on Sunday to remember the "
    "1987 earthquake, which killed 31 people and destroyed the old quarter's market hall.",
    "The magnitude 6.1 quake struck before dawn. Rescue teams worked through the morning to "
    "free residents trapped under the rubble, and soldiers from the garrison at Puerto Quell "
    "cleared roads blocked by landslides, survivors recalled.",
    "Power was cut across much of Alto Vireo for a week and the regional hospital in Valdera "
    "treated patients in tents for fear of aftershocks.",
]
QUAKE_WIRE_DATED = [
    QUAKE_WIRE[0].replace("on Thursday", "on Thursday, 12 September 2024"),
    *QUAKE_WIRE[1:],
]


def test_leads_naming_other_years_are_other_events(index: StoryIndex) -> None:
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE_DATED), T0)
    anniversary = index.add(
        "anniversary", ANNIVERSARY_TITLE, body(ANNIVERSARY), T0 + timedelta(hours=2)
    )
    assert anniversary == DedupDecision(None, "anniversary", True)


def test_the_year_is_what_keeps_the_anniversary_apart(index: StoryIndex) -> None:
    # Undated, the wire report's lead does not contradict the anniversary piece, whose
    # vocabulary is close enough for the event tier.
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    anniversary = index.add(
        "anniversary", ANNIVERSARY_TITLE, body(ANNIVERSARY), T0 + timedelta(hours=2)
    )
    assert anniversary.cluster == "wire"


# An event tier loose enough to link the two earthquakes by their vocabulary alone, with
# the name rule of the leads on (it is off by default: see the module docstring).
LOOSE_WITH_NAMES = functools.partial(
    StoryIndex, event_min_similarity=0.05, event_min_plain_similarity=0.0, event_min_shared_names=2
)


def test_leads_sharing_too_few_names_are_other_events() -> None:
    # A cosine threshold low enough to link the two earthquakes by their vocabulary: the
    # names in their leads (Alto Vireo against Esmer, Costa Sur) still keep them apart.
    loose = with_others(LOOSE_WITH_NAMES())
    loose.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    other = loose.add("other", QUAKE_OTHER_TITLE, body(QUAKE_OTHER), T0 + timedelta(hours=10))
    assert other.cluster == "other"
    no_names = with_others(LOOSE_WITH_NAMES(event_min_shared_names=0))
    no_names.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    other = no_names.add("other", QUAKE_OTHER_TITLE, body(QUAKE_OTHER), T0 + timedelta(hours=10))
    assert other.cluster == "wire"


# A round-up of both earthquakes: close to each, so a chain wire -> round-up -> second
# earthquake would put the two events in one cluster.
ROUNDUP_TITLE = "Marendia counts the cost of two earthquakes"
ROUNDUP = [
    "Marendia's disaster agency said on Sunday that rebuilding Valdera and Alto Vireo after "
    "Thursday's earthquake would take years, as rescuers in Esmer and Costa Sur searched "
    "the rubble left by Saturday's stronger quake off the southern coast.",
    "Interior Minister Tomas Echeverri and Governor Alicia Montorre asked for help from "
    "abroad. Field hospitals in Valdera and Esmer treated hundreds of injured people, and "
    "aftershocks kept families sleeping outdoors in both provinces.",
]


@pytest.mark.parametrize(("root_similarity", "cluster"), [(0.25, "other"), (0.0, "wire")])
def test_a_cluster_does_not_drift_to_another_event_through_a_round_up(
    root_similarity: float, cluster: str
) -> None:
    index = with_others(LOOSE_WITH_NAMES(event_root_min_similarity=root_similarity))
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    assert index.add("roundup", ROUNDUP_TITLE, body(ROUNDUP), T0 + timedelta(hours=9)).cluster == (
        "wire"
    )
    other = index.add("other", QUAKE_OTHER_TITLE, body(QUAKE_OTHER), T0 + timedelta(hours=10))
    # It matches the round-up, but not the first report of the round-up's cluster.
    assert other.cluster == cluster


def test_headline_with_one_known_key_is_still_compared() -> None:
    # Short items keep the short-item rule: when only one of a headline's terms is in the
    # window, that one shared key is enough to compare the two.
    index = with_others(StoryIndex())
    index.add("recall", "Zorvex recalls cars over brake fault", "", T0)
    decision = index.add("slump", "Zorvex slump", "", T0 + timedelta(hours=1))
    assert decision.cluster == "recall"


@pytest.mark.parametrize(("lead_weight", "cluster"), [(2.0, "wire"), (1.0, "radio")])
def test_reports_leading_with_the_same_facts_match_on_their_leads(
    lead_weight: float, cluster: str
) -> None:
    # The radio report words its body its own way (listeners, the fault line, the mines)
    # but leads with the wire's news: weighting lead terms up is what makes the two close.
    index = with_others(StoryIndex(event_min_similarity=0.4, event_lead_weight=lead_weight))
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    radio = index.add("radio", QUAKE_RADIO_TITLE, body(QUAKE_RADIO), T0 + timedelta(hours=2))
    assert radio.cluster == cluster


@pytest.mark.parametrize(("plain_floor", "cluster"), [(0.2, "other"), (0.0, "wire")])
def test_lead_agreement_alone_does_not_join_another_earthquake(
    plain_floor: float, cluster: str
) -> None:
    # Both leads say "a magnitude ... earthquake struck ... Marendia ... killing at least":
    # weighted up, that passes the event threshold. The whole texts share too little (other
    # province, town, people and numbers), and the floor on their plain cosine keeps the
    # second earthquake apart even without the name rule.
    index = with_others(
        StoryIndex(event_min_shared_names=0, event_min_plain_similarity=plain_floor)
    )
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    other = index.add("other", QUAKE_OTHER_TITLE, body(QUAKE_OTHER), T0 + timedelta(hours=8))
    assert other.cluster == cluster


@pytest.mark.parametrize(("strong_similarity", "cluster"), [(0.45, "wire"), (0.6, "radio")])
def test_a_strong_match_needs_no_shared_names_in_the_leads(
    strong_similarity: float, cluster: str
) -> None:
    # Name rule made strict on purpose (the leads must share every name): the radio report's
    # lead names a place the wire's does not. Matched strongly (lead-weighted cosine ~0.5),
    # it joins anyway; only a year in the leads would still keep it apart (see the
    # anniversary tests above, which pass the strong threshold too).
    index = with_others(
        StoryIndex(event_min_shared_names=10, event_strong_similarity=strong_similarity)
    )
    index.add("wire", QUAKE_WIRE_TITLE, body(QUAKE_WIRE), T0)
    radio = index.add("radio", QUAKE_RADIO_TITLE, body(QUAKE_RADIO), T0 + timedelta(hours=2))
    assert radio.cluster == cluster
