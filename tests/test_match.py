"""Tests of the matcher: matching rules, fields, reasons, and agreement with the naive loop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pipeline.match import Matcher, MatchResult, StoryFeatures, naive_match
from bot.pipeline.query import Query, QueryError, parse_query


def story(
    title: str, text: str = "", topics: tuple[str, ...] = (), source: str = "", lang: str = ""
) -> StoryFeatures:
    return StoryFeatures(title, text, topics, source, lang)


def both(queries: list[str], item: StoryFeatures) -> list[MatchResult]:
    """Match with the index and with the naive loop, check they agree, return the results."""
    subscriptions = [(number, parse_query(text)) for number, text in enumerate(queries, 1)]
    fast = Matcher.build(subscriptions).match(item)
    assert fast == naive_match(subscriptions, item)
    return fast


def matches(query: str, item: StoryFeatures) -> bool:
    return bool(both([query], item))


# --- word rules ----------------------------------------------------------------------------


def test_whole_words_only() -> None:
    assert matches("NATO", story("NATO-led forces arrive"))
    assert not matches("NATO", story("A NATOwide exercise"))
    assert not matches("cat", story("Concatenated strings"))


def test_case_accents_and_plurals_are_ignored() -> None:
    assert matches("zurich", story("Storm hits Zürich"))
    assert matches("Earthquake", story("Two earthquakes shake the coast"))
    assert matches("cities", story("The city council met"))
    assert not matches("new", story("Latest news from the city"))


def test_short_all_caps_word_matches_only_capitals() -> None:
    country = story("US troops leave the base")
    dotted = story("Talks between the U.S. and allies")
    pronoun = story("Let us pray for rain")
    assert matches("US", country)
    assert matches("US", dotted)
    assert not matches("US", pronoun)
    assert matches("us", pronoun) and matches("us", country)
    assert matches('"US troops"', country)
    assert not matches('"US troops"', story("They told us troops were coming"))


def test_prefix_matches_word_starts() -> None:
    assert matches("vaccin*", story("Vaccination drive starts"))
    assert matches("vaccin*", story("New vaccines approved"))
    assert not matches("vaccin*", story("Antivaccine protest"))


def test_phrases_need_adjacent_words_in_order() -> None:
    assert matches('"tokyo bay"', story("Ships wait in Tokyo Bay"))
    assert not matches('"tokyo bay"', story("Bay area and Tokyo"))
    assert matches('"climate change"', story("Climate-change talks"))


def test_phrases_do_not_cross_from_title_to_body() -> None:
    assert not matches('"tokyo bay"', story("Quake near Tokyo", "Bay residents evacuated"))
    assert matches("tokyo bay", story("Quake near Tokyo", "Bay residents evacuated"))


def test_boolean_operators() -> None:
    item = story("Earthquake hits Japan", "No tsunami warning was issued")
    assert matches('earthquake (japan OR "tokyo bay")', item)
    assert not matches("earthquake -tsunami", item)
    assert matches("earthquake -drill", item)
    assert matches("flood OR japan", item)
    assert not matches("flood OR fire", item)
    assert matches("-sport", item)
    assert not matches("-japan", item)


# --- fields --------------------------------------------------------------------------------


def test_topic_filter() -> None:
    item = story("Knife attack in town", topics=("Crime",))
    assert matches("topic:crime", item)
    assert matches("knife topic:crime", item)
    assert not matches("topic:sport", item)
    assert not matches("knife -topic:crime", item)


def test_source_filter_by_name_or_word() -> None:
    item = story("Budget vote", source="BBC News")
    assert matches("source:bbc", item)
    assert matches('source:"bbc news"', item)
    assert matches("source:BBC", item)
    assert not matches("source:news24", item)
    assert not matches("source:bbc", story("Budget vote"))
    assert matches("source:bbc.co.uk", story("Budget vote", source="www.bbc.co.uk"))


def test_lang_filter() -> None:
    assert matches("vote lang:en", story("Budget vote", lang="en"))
    assert matches("lang:en", story("Budget vote", lang="en-GB"))
    assert not matches("lang:en-us", story("Budget vote", lang="en-GB"))
    assert not matches("lang:de", story("Budget vote", lang="en"))


# --- results -------------------------------------------------------------------------------


def test_reasons_are_the_matched_terms_as_written() -> None:
    item = story("Earthquake in Dhaka", "Buildings collapsed", topics=("disaster",))
    (result,) = both(['Earthquake (Dhaka OR "tokyo bay") -drill topic:disaster'], item)
    assert result.reasons == ("Earthquake", "Dhaka", "topic:disaster")
    (result,) = both(["quak* OR earthquak* OR buildings"], item)
    assert result.reasons == ("earthquak*", "buildings")


def test_exclusion_only_query_has_no_reasons() -> None:
    assert both(["-sport"], story("Budget vote")) == [MatchResult(1, ())]


def test_results_are_sorted_by_subscription_id() -> None:
    subscriptions = [(30, parse_query("vote")), (4, parse_query("budget")), (17, parse_query("x"))]
    matcher = Matcher.build(subscriptions)
    assert len(matcher) == 3
    found = matcher.match(story("Budget vote"))
    assert [result.subscription_id for result in found] == [4, 30]


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        Matcher.build([(1, parse_query("a")), (1, parse_query("b"))])


def test_build_sorted_takes_queries_one_at_a_time() -> None:
    """``build_sorted`` compiles a generator of increasing ids as ``build`` compiles a list,
    parsing each query only when its turn comes, and refuses ids out of order or repeated."""
    texts = {3: "budget vote", 8: '"vote count" OR budget', 12: "-sport", 20: "vote AND NOT x"}
    parsed: list[int] = []

    def one_by_one() -> Iterator[tuple[int, Query]]:
        for number, text in texts.items():
            parsed.append(number)
            yield number, parse_query(text)
            assert parsed[-1] == number  # the next query is parsed only after this one

    streamed = Matcher.build_sorted(one_by_one())
    assert parsed == list(texts)
    listed = Matcher.build([(number, parse_query(text)) for number, text in texts.items()])
    for item in (story("Budget vote count"), story("Sport vote"), story("Nothing here")):
        assert streamed.match(item) == listed.match(item)
    assert [result.subscription_id for result in streamed.match(story("Budget vote"))] == [
        3,
        8,
        12,
        20,
    ]
    for ids in ((2, 1), (1, 1)):
        with pytest.raises(ValueError, match="increasing"):
            Matcher.build_sorted((number, parse_query("a")) for number in ids)


def test_empty_matcher_and_empty_story() -> None:
    assert Matcher.build([]).match(story("Anything")) == []
    assert both(["budget", "-sport"], story("", "")) == [MatchResult(2, ())]


# --- index paths: fields as terms, exclusion-only queries, repeated terms -----------------


def test_source_and_lang_filters_inside_and_or_or() -> None:
    queries = [
        'vote source:"bbc news"',
        "(source:reuters OR source:bbc) vote",
        "vote lang:en-gb",
        "vote -lang:de",
        '(source:"bbc news" OR vote)',
    ]
    bbc = both(queries, story("Budget vote", source="BBC News", lang="en_GB"))
    assert [result.subscription_id for result in bbc] == [1, 2, 3, 4, 5]
    # Both terms of source:"bbc news" (whole name, run of words) are present: one reason.
    assert bbc[-1].reasons == ('source:"bbc news"', "vote")
    swapped = both(queries, story("Budget vote", source="News BBC", lang="de"))
    assert [result.subscription_id for result in swapped] == [2, 5]
    assert swapped[-1].reasons == ("vote",)


def test_exclusion_only_queries_beside_others() -> None:
    queries = ["-sport", "-(sport OR topic:crime)", "budget", "-budget"]
    found = both(queries, story("Budget vote", topics=("crime",)))
    assert [result.subscription_id for result in found] == [1, 3]
    found = both(queries, story("Sport results"))
    assert [result.subscription_id for result in found] == [4]
    found = both(queries, story("Weather report"))
    assert found == [MatchResult(1, ()), MatchResult(2, ()), MatchResult(4, ())]


def test_a_term_present_twice_counts_once() -> None:
    item = story("Knife attack", topics=("Crime", "crime "), lang="en")
    assert both(["topic:crime", "lang:en", "knife topic:crime"], item) == [
        MatchResult(1, ("topic:crime",)),
        MatchResult(2, ("lang:en",)),
        MatchResult(3, ("knife", "topic:crime")),
    ]
    # Anchored on two terms that are both present, the query is still tested (and found) once.
    assert len(both(["quake OR (us qua*)"], story("Quake", "quakes, quakes"))) == 1


def test_or_queries_explain_each_subset_of_terms() -> None:
    # Up to six alternatives the results are prebuilt per subset present; more are explained
    # per story. Both must name exactly the alternatives found, in the order written.
    six = "(quake OR flood OR tokyo OR bay OR storm OR fire) -sport"
    eight = "(quake OR flood OR tokyo OR bay OR storm OR fire OR rain OR snow) news"
    queries = [six, eight]
    found = both(queries, story("Flood news", "Rain and snow in Tokyo"))
    assert found == [
        MatchResult(1, ("flood", "tokyo")),
        MatchResult(2, ("flood", "tokyo", "rain", "snow", "news")),
    ]
    found = both(queries, story("Storm news", "Fire at the bay"))
    assert found == [
        MatchResult(1, ("bay", "storm", "fire")),
        MatchResult(2, ("bay", "storm", "fire", "news")),
    ]
    assert both(queries, story("Storm and sport")) == []


def test_broad_terms_are_checked_after_the_specific_ones() -> None:
    # "flood lang:en" is reached through "flood" and then checks lang:en (nearly every story
    # has it); every other group still has to be there.
    queries = [
        "flood lang:en",
        "flood topic:crime lang:en",
        "(flood OR quake) topic:crime",
        "the flood",
        '"tokyo bay" flood -sport source:bbc',
    ]
    english = story("Flood in Tokyo Bay", "The water rises", ("crime",), "BBC News", "en-GB")
    assert [found.subscription_id for found in both(queries, english)] == [1, 2, 3, 4, 5]
    german = story("Flood in Tokyo Bay", "Wasser", ("crime",), "BBC News", "de")
    assert [found.subscription_id for found in both(queries, german)] == [3, 5]
    no_topic = story("Flood", "The sport news", (), "Reuters", "en")
    assert [found.subscription_id for found in both(queries, no_topic)] == [1, 4]
    assert both(queries, story("Quake", "crime", ("crime",))) == [
        MatchResult(3, ("quake", "topic:crime"))
    ]


def test_long_phrases_and_phrases_sharing_their_start() -> None:
    queries = ['"new york"', '"new york times"', '"new york times square"', '"york times"']
    found = both(queries, story("Read the New York Times", "New York Post, Times Square"))
    assert [result.subscription_id for result in found] == [1, 2, 4]
    found = both(queries, story("New York Times Square at night"))
    assert [result.subscription_id for result in found] == [1, 2, 3, 4]
    assert both(queries, story("The New", "York Times")) == [MatchResult(4, ("york times",))]


def test_match_many_equals_one_story_at_a_time() -> None:
    queries = [
        "flood",
        "flood -tokyo",
        "(flood OR quake) bay",
        "quake OR (US qua*)",
        "-sport",
        '"tokyo bay"',
        "topic:crime",
        "bay lang:en",
    ]
    subscriptions = [(number * 7, parse_query(text)) for number, text in enumerate(queries, 1)]
    matcher = Matcher.build(subscriptions)
    items = [
        story("Flood in Tokyo Bay", lang="en"),
        story(""),
        story("Sport", "quake", ("crime",)),
        story("US quakes", "flood at the bay"),
        story("Nothing here"),
    ]
    expected = [naive_match(subscriptions, item) for item in items]
    assert matcher.match_many(items) == expected
    assert [matcher.match(item) for item in items] == expected
    assert matcher.match_many([]) == []
    assert Matcher.build([]).match_many(items) == [[] for _ in items]


def test_token_cache_stays_correct_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    # The per-matcher token cache is cleared when full; results must not depend on it.
    import bot.pipeline.match as match_module

    monkeypatch.setattr(match_module, "_TOKEN_CACHE_SIZE", 3)
    queries = ["flood", "tok*", "US", '"tokyo bay"']
    subscriptions = [(number, parse_query(text)) for number, text in enumerate(queries, 1)]
    matcher = Matcher.build(subscriptions)
    items = [story("US flood in Tokyo Bay", "floods, Tokyo, bay"), story("us flood Tokyo")] * 3
    assert matcher.match_many(items) == [naive_match(subscriptions, item) for item in items]


# --- fast matcher == naive loop ------------------------------------------------------------

VOCABULARY = ["quake", "quakes", "flood", "tokyo", "bay", "US", "us", "Zürich", "news", "new"]
TOPICS = ["crime", "sport"]


def _term() -> st.SearchStrategy[str]:
    word = st.sampled_from(VOCABULARY)
    return st.one_of(
        word,
        st.tuples(word, word).map(lambda pair: f'"{pair[0]} {pair[1]}"'),
        st.sampled_from(["qua*", "flo*", "tok*", "zu*", "ne*", "quak*", "tokyo*", "zuri*"]),
        st.sampled_from([f"topic:{topic}" for topic in TOPICS]),
        st.sampled_from(
            ["source:bbc", 'source:"bbc news"', "source:news", "lang:en", "lang:en-gb"]
        ),
    )


_QUERIES = st.recursive(
    _term(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda pair: f"({pair[0]} {pair[1]})"),
        st.tuples(inner, inner).map(lambda pair: f"({pair[0]} OR {pair[1]})"),
        inner.map(lambda query: f"-({query})"),
    ),
    max_leaves=6,
)
_STORIES = st.builds(
    StoryFeatures,
    st.lists(st.sampled_from(VOCABULARY), max_size=6).map(" ".join),
    st.lists(st.sampled_from([*VOCABULARY, "."]), max_size=10).map(" ".join),
    st.lists(st.sampled_from(TOPICS), max_size=2, unique=True).map(tuple),
    st.sampled_from(["", "BBC News", "Reuters", "News BBC", "bbc"]),
    st.sampled_from(["", "en", "de", "en-GB", "en_gb", "EN"]),
)


def _parsed(texts: list[str]) -> list[tuple[int, Query]]:
    subscriptions = []
    for number, text in enumerate(texts, 1):
        try:
            subscriptions.append((number, parse_query(text)))
        except QueryError:  # e.g. too deeply nested: not a matcher concern
            continue
    return subscriptions


@settings(max_examples=150, deadline=None)
@given(st.lists(_QUERIES, min_size=1, max_size=12), st.lists(_STORIES, min_size=1, max_size=4))
def test_fast_matcher_agrees_with_naive_loop(texts: list[str], items: list[StoryFeatures]) -> None:
    subscriptions = _parsed(texts)
    matcher = Matcher.build(subscriptions)
    expected = [naive_match(subscriptions, item) for item in items]
    assert [matcher.match(item) for item in items] == expected
    assert matcher.match_many(items) == expected
