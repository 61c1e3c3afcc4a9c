"""Query matching across languages: accents and case folded, ß/ss, Cyrillic case forms.

Every case goes through the indexed matcher and the naive reference (they must agree), and
/search (SQLite FTS5) is checked to find the same forms.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.pipeline.match import Matcher, MatchResult, StoryFeatures, naive_match
from bot.pipeline.query import cyrillic_stem, normalize_word, parse_query
from storage import stories
from storage.db import open_database
from tests.helpers import new_story


def both(queries: list[str], item: StoryFeatures) -> list[MatchResult]:
    """Match with the index and with the naive loop, check they agree, return the results."""
    subscriptions = [(number, parse_query(text)) for number, text in enumerate(queries, 1)]
    fast = Matcher.build(subscriptions).match(item)
    assert fast == naive_match(subscriptions, item)
    return fast


def matches(query: str, title: str, text: str = "") -> bool:
    return bool(both([query], StoryFeatures(title, text)))


@pytest.mark.parametrize("written", ["ZURICH", "Zurich", "Zürich", "ZÜRICH", "zurich"])
@pytest.mark.parametrize("query", ["Zürich", "zurich", "ZÜRICH"])
def test_zurich_in_any_case_and_accent(query: str, written: str) -> None:
    assert matches(query, f"Floods reach {written} overnight")


def test_accented_latin_languages() -> None:
    assert matches("São Paulo", "Chuva forte em Sao Paulo")
    assert matches('"sao paulo"', "Chuva forte em SÃO PAULO nesta segunda")
    assert matches("Bogotá", "Protestas en BOGOTA")
    assert matches("Françoise", "Francoise Hardy est morte")
    assert matches("citta", "La città si sveglia")
    assert matches("Ñandú", "El nandu del zoo")
    assert not matches("Zürich", "Zurichsee bleibt ruhig")  # whole words only, still


def test_german_sharp_s_and_ss() -> None:
    assert matches("Straße", "Sperrung der STRASSE am Montag")
    assert matches("strasse", "Die Straße bleibt gesperrt")
    assert matches('"große koalition"', "Streit in der Grosse Koalition")


def test_prefixes_fold_the_same_way() -> None:
    assert matches("zür*", "Zurichsee bleibt ruhig")
    assert matches("strass*", "Straßenbahn fällt aus")
    assert matches("моск*", "Новости МОСКВЫ")


@pytest.mark.parametrize(
    "written", ["Москва", "Москвы", "Москве", "Москву", "Москвой", "МОСКВЕ", "москвою"]
)
def test_moscow_matches_its_case_forms(written: str) -> None:
    assert matches("Москва", f"Новости: {written} сегодня")
    assert matches(written, "Москва готовится к зиме")


def test_cyrillic_phrases_and_ukrainian_forms() -> None:
    assert matches('"Красная площадь"', "Парад на Красной площади")
    assert matches("Україна", "Новини України")
    assert matches("Україна", "Разом з Україною")
    assert matches("Зеленский", "Встреча с Зеленским")
    assert matches("Россия", "Санкции против России")


def test_cyrillic_stemmer_stays_conservative() -> None:
    # Surnames in -ов/-ев keep their ending, so all their cases share one key.
    assert {normalize_word(w) for w in ["Лавров", "Лаврова", "Лаврову", "Лавровым"]} == {"лавров"}
    assert not matches("Лавр", "Заявление Лаврова")
    # Short words are left whole: at least three letters of stem stay.
    assert normalize_word("она") == "она"
    assert normalize_word("США") == "сша"
    assert not matches("она", "Он сказал")
    # Latin words are untouched by the Cyrillic rules.
    assert normalize_word("Mama") == "mama"


def test_cyrillic_stem_for_search() -> None:
    assert cyrillic_stem("Москва") == "москв"
    assert cyrillic_stem("Зеленский") == "зеленск"  # й kept, as the search index keeps it
    assert cyrillic_stem("она") is None
    assert cyrillic_stem("Zürich") is None


def _story(title: str, digest: str) -> stories.NewStory:
    return new_story(title, content_hash=digest, language="")


def test_search_agrees_with_matching(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.db")
    ids = {
        title: stories.insert_story(db, _story(title, str(number)))
        for number, title in enumerate(
            [
                "Floods reach ZURICH",
                "Chuva em São Paulo",
                "Die Straße bleibt gesperrt",
                "Sperrung der Strasse",
                "Новости Москвы",
                "Встреча с Зеленским",
            ]
        )
    }

    def found(text: str) -> set[str]:
        hits = {hit.story.id for hit in stories.search_stories(db, text, limit=10)}
        return {title for title, story_id in ids.items() if story_id in hits}

    assert found("Zürich") == {"Floods reach ZURICH"}
    assert found("sao paulo") == {"Chuva em São Paulo"}
    assert found("strasse") == {"Die Straße bleibt gesperrt", "Sperrung der Strasse"}
    assert found("Straße") == {"Die Straße bleibt gesperrt", "Sperrung der Strasse"}
    assert found("Москва") == {"Новости Москвы"}
    assert found("Зеленский") == {"Встреча с Зеленским"}
    # A folded word next to another: every word must match, and the query stays valid FTS5.
    assert found("die Straße") == {"Die Straße bleibt gesperrt"}
    assert found("0 ß") == set()
    assert found("Новости Москва") == {"Новости Москвы"}
    assert found("Москва Новости") == {"Новости Москвы"}
