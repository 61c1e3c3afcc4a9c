"""Tests of the query language: normalisation, parser, canonical form, errors, hints."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pipeline.query import (
    EXAMPLE_QUERY,
    MAX_DEPTH,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    And,
    Field,
    Not,
    Or,
    Phrase,
    Query,
    QueryError,
    Word,
    analyze_text,
    anchor_leaves,
    normalize_word,
    parse_query,
    text_tokens,
    token_info,
    tokenize,
    word_tokens,
)

# --- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("earthquakes", "earthquake"),
        ("cities", "city"),
        ("churches", "church"),
        ("boxes", "box"),
        ("classes", "class"),
        ("viruses", "virus"),
        ("heroes", "hero"),
        ("movies", "movie"),
        ("days", "day"),
        ("Elections", "election"),
    ],
)
def test_plural_and_singular_share_a_key(plural: str, singular: str) -> None:
    assert normalize_word(plural) == normalize_word(singular)


@pytest.mark.parametrize(
    ("word", "other"),
    [("news", "new"), ("us", "u"), ("gas", "ga"), ("crisis", "crisi"), ("bus", "bu")],
)
def test_words_that_only_look_plural_are_kept(word: str, other: str) -> None:
    assert normalize_word(word) != normalize_word(other)
    assert normalize_word(word) == word


def test_case_and_accents_are_folded() -> None:
    assert normalize_word("Zürich") == normalize_word("zurich")
    assert normalize_word("CAFÉ") == normalize_word("cafe")
    assert normalize_word("København") == normalize_word("kobenhavn")
    assert normalize_word("cafe\u0301") == normalize_word("café")  # decomposed accent


def test_text_tokens_are_whole_words() -> None:
    assert text_tokens("NATO-led talks") == ["nato", "led", "talk"]
    assert text_tokens("NATOwide") == ["natowide"]
    assert text_tokens("the U.S. and the U.K.'s plan") == ["the", "us", "and", "the", "uk", "plan"]
    assert text_tokens("Trump's wall") == ["trump", "wall"]
    assert text_tokens("snake_case") == ["snake", "case"]
    assert text_tokens("") == []


def test_scripts_with_combining_marks_stay_whole() -> None:
    (token,) = text_tokens("हिन्दी")
    assert len(token) == 6


_TRICKY_TEXT = st.text(alphabet=st.sampled_from(list("aZy9_.'’ sS-\tU\u00e9\u0915\u094d\u0301")))


_ASCII_TEXT = st.text(alphabet=st.sampled_from(list("aZy9_.'sS- U")), max_size=20)


@settings(max_examples=500, deadline=None)
@given(_ASCII_TEXT)
def test_ascii_text_tokenises_like_any_other_text(text: str) -> None:
    # Pure ASCII text takes a faster pattern; a trailing non-ASCII word forces the general
    # one, and must add exactly that word.
    assert word_tokens(text + " é") == [*word_tokens(text), "é"]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Trump's U.S.'s e.g. plan", ["Trump's", "U.S.'s", "e.g", "plan"]),
        ("snake_case it'sy A.B 9.5", ["snake", "case", "it", "sy", "A.B", "9", "5"]),
    ],
)
def test_ascii_and_general_patterns_cut_the_same_tokens(text: str, tokens: list[str]) -> None:
    assert word_tokens(text) == tokens
    assert word_tokens(text + " é") == [*tokens, "é"]


@settings(max_examples=200, deadline=None)
@given(_TRICKY_TEXT, _TRICKY_TEXT)
def test_word_tokens_and_token_info_are_analyze_text_in_two_steps(title: str, body: str) -> None:
    analysis = analyze_text(title, body)
    parts = [word_tokens(part) for part in (title, body)]
    infos = [token_info(raw) for raw in parts[0]]
    if parts[0] and parts[1]:
        infos.append(("", "", False))  # the title/body divider
    infos += [token_info(raw) for raw in parts[1]]
    assert list(zip(analysis.keys, analysis.surfaces, analysis.upper, strict=True)) == infos


# --- parsing -------------------------------------------------------------------------------


def w(text: str, prefix: bool = False) -> Word:
    return Word(text, prefix=prefix)


def test_every_construct_parses_to_its_node() -> None:
    assert parse_query("flood").root == w("flood")
    assert parse_query('"tokyo bay"').root == Phrase("tokyo bay")
    assert parse_query("earthquak*").root == w("earthquak", prefix=True)
    assert parse_query("topic:crime").root == Field("topic", "crime")
    assert parse_query('source:"new york times"').root == Field("source", "new york times")
    assert parse_query("lang:en").root == Field("lang", "en")
    assert parse_query("a AND b").root == And((w("a"), w("b")))
    assert parse_query("a b").root == And((w("a"), w("b")))
    assert parse_query("a OR b").root == Or((w("a"), w("b")))
    assert parse_query("NOT a").root == Not(w("a"))
    assert parse_query("-a").root == Not(w("a"))
    assert parse_query('-"a b"').root == Not(Phrase("a b"))
    assert parse_query("(a)").root == w("a")


def test_precedence_is_not_then_and_then_or() -> None:
    assert parse_query("a OR b c").root == Or((w("a"), And((w("b"), w("c")))))
    assert parse_query("a b OR c").root == Or((And((w("a"), w("b"))), w("c")))
    assert parse_query("NOT a b").root == And((Not(w("a")), w("b")))
    assert parse_query("NOT a OR b").root == Or((Not(w("a")), w("b")))
    assert parse_query("(a OR b) c").root == And((Or((w("a"), w("b"))), w("c")))
    assert parse_query("-(a OR b)").root == Not(Or((w("a"), w("b"))))


def test_nested_operators_of_one_kind_are_flattened() -> None:
    assert parse_query("a AND (b AND c)").root == And((w("a"), w("b"), w("c")))
    assert parse_query("(a OR b) OR c").root == Or((w("a"), w("b"), w("c")))


def test_lowercase_operators_are_words() -> None:
    assert parse_query("rock and roll").root == And((w("rock"), w("and"), w("roll")))


def test_punctuated_bare_word_becomes_a_phrase() -> None:
    assert parse_query("covid-19").root == Phrase("covid-19")
    assert parse_query("U.S.").root == w("U.S.")


def test_curly_quotes_delimit_phrases() -> None:
    assert parse_query("“tokyo bay”").root == Phrase("tokyo bay")


def test_canonical_form_spells_everything_out() -> None:
    query = parse_query('earthquake (japan OR "tokyo bay") -drill topic:disaster')
    assert query.canonical() == (
        'earthquake AND (japan OR "tokyo bay") AND NOT drill AND topic:disaster'
    )
    assert parse_query("a OR b c").canonical() == "a OR (b AND c)"
    assert parse_query("-(a b)").canonical() == "NOT (a AND b)"
    assert parse_query("vaccin* lang:en").canonical() == "vaccin* AND lang:en"


@pytest.mark.parametrize(
    "text",
    [
        'earthquake (japan OR "tokyo bay") -drill topic:disaster',
        "NOT NOT a",
        "a OR (b c) OR -d",
        'source:"bbc news" covid-19 U.S.',
        "((a OR b) (c OR d)) -(e f)",
    ],
)
def test_canonical_round_trips(text: str) -> None:
    query = parse_query(text)
    assert parse_query(query.canonical()) == query


def test_terms_lists_positive_terms_once() -> None:
    query = parse_query('Earthquake (japan OR "tokyo bay") -drill topic:disaster japan')
    assert query.terms() == ["Earthquake", "japan", "tokyo bay", "topic:disaster"]


def test_tokenize_reports_positions() -> None:
    tokens = tokenize('a  "b c" -d')
    assert [(t.kind, t.text, t.position) for t in tokens] == [
        ("word", "a", 0),
        ("phrase", "b c", 3),
        ("not", "-", 9),
        ("word", "d", 10),
    ]


def test_query_equality_ignores_the_source_text() -> None:
    assert parse_query("a  AND b") == parse_query("a b")
    assert parse_query("a b").source == "a b"
    assert isinstance(parse_query("a"), Query)


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ("a AND", 5, "AND needs a word after it"),
        ("OR b", 0, "OR needs a word before it"),
        ("a OR OR b", 5, "OR needs a word after it"),
        ("(a b", 0, "never closed"),
        ("a b)", 3, "no matching"),
        ("()", 0, "empty"),
        ('x "tokyo bay', 2, "quote"),
        ("foo:bar", 0, "Known fields: topic:, source:, lang:"),
        ("topic:", 6, "needs a value"),
        ("lang:english", 5, "language code"),
        ("ear*quake", 3, "end of a word"),
        ("*", 0, "letters before it"),
        ('"climate chang*"', 14, "single words"),
        ("a - b", 2, "directly followed"),
        ("a -)", 2, "leave out"),
        ("!!!", 0, "no letters or digits"),
        ("a NOT", 2, "leave out"),
    ],
)
def test_errors_point_at_the_problem(text: str, position: int, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    error = caught.value
    assert error.position == position
    assert fragment in str(error)
    assert f"Example of a valid query: {EXAMPLE_QUERY}" in str(error)
    query_line, caret_line = str(error).splitlines()[1:3]
    assert query_line == "  " + text.replace("\t", " ")
    assert caret_line == " " * (2 + position) + "^"


def test_error_example_is_itself_valid() -> None:
    assert parse_query(EXAMPLE_QUERY).terms()


def test_limits_are_enforced() -> None:
    with pytest.raises(QueryError, match="too long"):
        parse_query("a" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(QueryError, match="Too many terms") as caught:
        parse_query(" ".join(["w"] * (MAX_TERMS + 1)))
    assert caught.value.position == 2 * MAX_TERMS
    with pytest.raises(QueryError, match="nested"):
        parse_query("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(QueryError, match="nested"):
        parse_query("-" * (MAX_DEPTH + 1) + "a")
    assert parse_query("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH).root == w("a")


# --- hints and anchors ---------------------------------------------------------------------


def test_common_words_get_a_hint_but_are_accepted() -> None:
    hint = parse_query("the").hint()
    assert hint is not None and "‘the’" in hint and "common" in hint
    assert parse_query("the earthquake").hint() is None


def test_exclusion_only_query_gets_a_hint() -> None:
    hint = parse_query("-sport").hint()
    assert hint is not None and "almost every story" in hint


def test_lowercase_operator_gets_a_hint() -> None:
    hint = parse_query("flood or fire").hint()
    assert hint is not None and "OR in capitals" in hint


def test_specific_query_has_no_hint() -> None:
    assert parse_query('earthquake (japan OR "tokyo bay")').hint() is None


def test_anchors_prefer_the_rarer_side_of_an_and() -> None:
    assert anchor_leaves(parse_query("the earthquake").root) == (w("earthquake"),)
    assert anchor_leaves(parse_query("a OR b").root) == (w("a"), w("b"))
    assert anchor_leaves(parse_query("a OR -b").root) is None
    assert anchor_leaves(parse_query("topic:crime knife").root) == (w("knife"),)


# --- properties ----------------------------------------------------------------------------

_QUERY_ALPHABET = st.sampled_from(
    [*'ab xyz()"“”-*:', "AND", "OR", "NOT", "topic:", "lang:", "source:", "é", "\t", "US"]
)


def _parse_or_error(text: str) -> Query | None:
    try:
        return parse_query(text)
    except QueryError as error:
        assert 0 <= error.position <= len(text)
        assert "Example of a valid query" in str(error)
        return None


@settings(max_examples=300, deadline=None)
@given(st.lists(_QUERY_ALPHABET, max_size=40).map("".join))
def test_parser_only_raises_query_error_on_query_like_text(text: str) -> None:
    query = _parse_or_error(text)
    if query is not None:
        assert parse_query(query.canonical()) == query
        query.terms()
        query.hint()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_parser_only_raises_query_error_on_any_text(text: str) -> None:
    query = _parse_or_error(text)
    if query is not None:
        assert parse_query(query.canonical()) == query


def test_pathological_inputs_parse_quickly() -> None:
    inputs = [
        "(" * MAX_QUERY_CHARS,
        '"' * MAX_QUERY_CHARS,
        "-" * MAX_QUERY_CHARS,
        "a " * (MAX_QUERY_CHARS // 2),
        "a OR " * (MAX_QUERY_CHARS // 5),
        "x" * MAX_QUERY_CHARS,
        "a.b." * (MAX_QUERY_CHARS // 4),
    ]
    for text in inputs:
        started = time.perf_counter()
        _parse_or_error(text)
        assert time.perf_counter() - started < 0.5, text[:20]


def test_error_in_a_long_query_shows_the_surrounding_window() -> None:
    text = "alpha " * 30 + "(beta"
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    error = caught.value
    assert error.position == text.index("(")
    query_line, caret_line = str(error).splitlines()[1:3]
    assert query_line.startswith("  …")
    assert query_line[caret_line.index("^")] == "("
