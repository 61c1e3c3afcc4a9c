"""Language detection and key terms, on sentences written for the tests."""

from __future__ import annotations

import pytest

from bot.pipeline.language import detect_language, key_terms


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The city council approved the new budget for schools on Tuesday evening.", "en"),
        ("Le conseil municipal a approuvé mardi soir le nouveau budget des écoles.", "fr"),
        ("Der Stadtrat hat am Dienstagabend den neuen Haushalt für die Schulen gebilligt.", "de"),
        ("El ayuntamiento aprobó el martes por la noche el nuevo presupuesto escolar.", "es"),
        ("A câmara municipal aprovou na terça-feira o novo orçamento para as escolas.", "pt"),
        ("Городской совет во вторник вечером утвердил новый бюджет для школ.", "ru"),
    ],
)
def test_detect_language(text: str, code: str) -> None:
    assert detect_language(text) == code


@pytest.mark.parametrize("text", ["", "ok", "Hi!", "12 345 678", "Apple shares"])
def test_too_short_or_unclear_is_undetermined(text: str) -> None:
    assert detect_language(text) == "und"


TITLE = "Northport Telecom buys Eastmere Cable in $2bn deal"
TEXT = (
    "Northport Telecom has agreed to buy Eastmere Cable for $2bn, the companies said on "
    "Monday. The deal, approved by the FCC, makes Northport Telecom the largest operator "
    "in the region. However, chief executive Sara Okafor said prices would not rise. "
    "Okafor said Eastmere Cable customers would keep their contracts. The Bank of Northport "
    "advised on the deal."
)


def test_key_terms_finds_names_acronyms_and_title_terms() -> None:
    terms = key_terms(TITLE, TEXT)
    assert set(terms[:2]) == {"Northport Telecom", "Eastmere Cable"}
    for expected in ("Sara Okafor", "FCC", "Bank of Northport", "deal"):
        assert expected in terms
    assert "Okafor" not in terms  # Folded into "Sara Okafor".


def test_key_terms_skip_sentence_openers_days_and_titles() -> None:
    lowered = {term.lower() for term in key_terms(TITLE, TEXT, limit=20)}
    assert not lowered & {"the", "however", "monday", "the deal"}


def test_key_terms_limit() -> None:
    assert len(key_terms(TITLE, TEXT, limit=3)) == 3
    assert key_terms(TITLE, TEXT, limit=0) == []
    assert key_terms("", "") == []


def test_key_terms_handle_unicode_names() -> None:
    terms = key_terms("Zoë Ångström wins prize", "The jury said Zoë Ångström won the prize.")
    assert terms[0] == "Zoë Ångström"
