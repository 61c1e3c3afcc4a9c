"""Sentence splitting, whitespace, kickers and boilerplate on texts written for the tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pipeline.text import (
    is_boilerplate_line,
    normalize_whitespace,
    split_kicker,
    split_sentences,
    strip_boilerplate,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mr. Hale met Dr. Ruiz in Paris. They spoke for an hour.",
            ["Mr. Hale met Dr. Ruiz in Paris.", "They spoke for an hour."],
        ),
        (
            "The U.S. Navy sent two ships. Officials in the U.S. said little.",
            ["The U.S. Navy sent two ships.", "Officials in the U.S. said little."],
        ),
        (
            "The plan was drawn up in the U.S. The rest of the world waited.",
            ["The plan was drawn up in the U.S.", "The rest of the world waited."],
        ),
        (
            "Sales rose 3.5% to $1.2bn. Song No. 5 topped the chart. Costs fell.",
            ["Sales rose 3.5% to $1.2bn.", "Song No. 5 topped the chart.", "Costs fell."],
        ),
        (
            "J. R. R. Tolkien wrote it in 1937. It still sells.",
            ["J. R. R. Tolkien wrote it in 1937.", "It still sells."],
        ),
        (
            '"We will rebuild," the mayor said. "Stop!" he shouted. Nobody moved.',
            ['"We will rebuild," the mayor said.', '"Stop!" he shouted.', "Nobody moved."],
        ),
        (
            "Is it over? Nobody knows! Wait and see.",
            ["Is it over?", "Nobody knows!", "Wait and see."],
        ),
        (
            "Ferry services resume\n\nBoats left the harbour at 6 a.m. on Monday.",
            ["Ferry services resume", "Boats left the harbour at 6 a.m. on Monday."],
        ),
        (
            "Él llegó a las 9. Después habló con «El País». Todo bien.",
            ["Él llegó a las 9.", "Después habló con «El País».", "Todo bien."],
        ),
    ],
)
def test_split_sentences_handles_news_traps(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_keeps_a_truncated_tail_and_empty_input() -> None:
    assert split_sentences("The storm hit at dawn. Crews worked through the") == [
        "The storm hit at dawn.",
        "Crews worked through the",
    ]
    assert split_sentences("   \n\n ") == []


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab AB.?!\"'\n3,é")), max_size=80))
def test_split_sentences_never_loses_or_adds_text(text: str) -> None:
    assert " ".join(split_sentences(text)).split() == text.split()


@pytest.mark.parametrize(
    "line",
    [
        "Photo: Ana Ruiz/Reuters",
        "(Reuters photo)",
        "(AP Photo/Tom Hale)",
        "Image copyright Getty Images",
        "Image caption",
        "Photograph: Li Wei/AFP via Getty Images",
        "Read more",
        "READ MORE: the full timeline",
        "Click here to sign up",
        "By Jane Doe",
        "By JANE DOE | Staff writer",
        "By Tom Hale and Sara Okafor, Reuters",
        "Follow us on Twitter",
        "WASHINGTON (Reuters) -",
        "LONDON —",
        "Advertisement",
        "Sign up for our free morning newsletter",
        "You are receiving this email because you subscribed.",
        "Unsubscribe | Manage preferences",
        "© 2024 Example Media. All rights reserved.",
        "Reporting by Ana Ruiz; Editing by Tom Hale",
        "* * *",
    ],
)
def test_boilerplate_lines_are_recognised(line: str) -> None:
    assert is_boilerplate_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "Mr Hale said the photo was taken before the blast.",
        "By Monday, river levels had fallen.",
        "Photographs released by the police show the damage to the bridge and the road.",
        "Readers of the paper voted the bakery the best in town.",
        "Washington",
        "Floods sweep through valley towns",
        "Click, the new fintech start-up, raised $5m on Tuesday.",
        "WORLD OF WARCRAFT",
        "WATCH: Northport striker set to return",
        "",
    ],
)
def test_news_lines_are_not_boilerplate(line: str) -> None:
    assert not is_boilerplate_line(line)


def test_normalize_whitespace_cleans_noise_but_keeps_paragraphs() -> None:
    raw = "Prices\u00a0rose\t sharply.\r\n\r\n\r\n\u200bTrade  fell.  \nCafe\u0301 owners wait. "
    assert normalize_whitespace(raw) == "Prices rose sharply.\n\nTrade fell.\nCafé owners wait."


def test_strip_boilerplate_drops_lines_and_whole_footer_paragraphs() -> None:
    text = (
        "Photo: Ana Ruiz/Reuters\n"
        "The bridge reopened on Friday.\n"
        "Read more\n\n"
        "Engineers said repairs cost $2m.\n\n"
        "You are receiving this email because\n"
        "you signed up on our site.\n\n"
        "Unsubscribe"
    )
    assert strip_boilerplate(text) == (
        "The bridge reopened on Friday.\n\nEngineers said repairs cost $2m."
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("DISASTER: Floods sweep the valley", ("DISASTER", "Floods sweep the valley")),
        ("UPDATE 2: Talks resume", ("UPDATE 2", "Talks resume")),
        ("SCI/TECH: Probe lands", ("SCI/TECH", "Probe lands")),
        ("Note: this is a sentence", ("", "Note: this is a sentence")),
        ("10:30 Trading opens", ("", "10:30 Trading opens")),
        ("The CEO said: profits rose", ("", "The CEO said: profits rose")),
    ],
)
def test_split_kicker(line: str, expected: tuple[str, str]) -> None:
    assert split_kicker(line) == expected
