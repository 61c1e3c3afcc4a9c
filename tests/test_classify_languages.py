"""The English topic model and stories in other languages: no topic unless it is confident."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bot.models import RawStory
from bot.pipeline.classify import FOREIGN_LANGUAGE_FLOOR, TopicModel
from bot.pipeline.feeds import parse_feed
from bot.pipeline.language import detect_language
from bot.pipeline.query import parse_query
from bot.pipeline.run import Pipeline
from bot.pipeline.text import normalize_whitespace, strip_boilerplate
from storage import chats, subscriptions
from storage.db import open_database

GERMAN = RawStory(
    title="Gemeinderat beschließt neue Öffnungszeiten für das Hallenbad",
    text=(
        "Der Gemeinderat hat am Dienstagabend mit knapper Mehrheit beschlossen, dass das "
        "städtische Hallenbad künftig schon um sechs Uhr öffnet. Die Verwaltung rechnet mit "
        "höheren Personalkosten, die Vereine begrüßen die Entscheidung."
    ),
    url="https://news.example/de/hallenbad",
    source_name="Lokalblatt",
)
SPANISH = (
    "El ayuntamiento aprueba el nuevo horario de la biblioteca",
    "La biblioteca municipal abrirá también los domingos por la mañana a partir del próximo "
    "mes, según informó el concejal de cultura.",
)
RUSSIAN = (
    "В Москве открылась новая библиотека",
    "Новая городская библиотека открылась в понедельник в центре Москвы, сообщили в мэрии.",
)
ENGLISH = RawStory(
    title="Earthquake hits the coast of Nordland",
    text=(
        "A magnitude 6.1 earthquake struck the coast of Nordland on Monday morning, damaging "
        "the harbour of Tessel and cutting power to thousands of homes. Rescue teams searched "
        "two damaged apartment blocks."
    ),
    url="https://news.example/en/quake",
    source_name="Example News",
)


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return TopicModel.load(None)


def test_the_shipped_model_says_it_reads_english(model: TopicModel) -> None:
    assert model.languages == ("en",)
    assert model.knows_language("en") and model.knows_language("en-GB")
    assert model.knows_language("und") and model.knows_language("")
    assert not model.knows_language("de")


@pytest.mark.parametrize("story", [(GERMAN.title, GERMAN.text), SPANISH, RUSSIAN])
def test_unreadable_story_gets_no_random_topic(model: TopicModel, story: tuple[str, str]) -> None:
    language = detect_language(". ".join(story))
    assert language in ("de", "es", "ru")
    scored = model.classify(*story)
    assert scored  # the model alone always names its best guess...
    assert model.topics_for_language(scored, language) == []  # ...which is not kept


def test_known_language_keeps_every_label(model: TopicModel) -> None:
    scored = model.classify(ENGLISH.title, ENGLISH.text)
    assert model.topics_for_language(scored, "en") == scored
    assert model.topics_for_language(scored, "und") == scored
    weak = [("world", 0.2)]
    assert model.topics_for_language(weak, "en") == weak


def test_confident_topics_survive_in_any_language(model: TopicModel) -> None:
    scored = [("technology", 0.93), ("business", FOREIGN_LANGUAGE_FLOOR), ("world", 0.4)]
    assert model.topics_for_language(scored, "de") == scored[:2]


def test_a_model_can_declare_its_languages(model: TopicModel) -> None:
    german = replace(model, meta={**model.meta, "languages": ["en", "de"]})
    assert german.languages == ("en", "de")
    weak = [("world", 0.2)]
    assert german.topics_for_language(weak, "de") == weak
    assert german.topics_for_language(weak, "fr") == []


def test_pipeline_stores_no_topic_for_a_german_story(tmp_path: Path, model: TopicModel) -> None:
    db = open_database(tmp_path / "n.db")
    chat = chats.ensure_chat(db, "console", "c1")
    for query in ("topic:entertainment", "topic:disaster"):
        subscriptions.add_subscription(
            db, chat.id, kind="query", query=query, canonical=parse_query(query).canonical()
        )
    report = Pipeline(model).process(db, [GERMAN, ENGLISH])
    by_language = {story.language: story for story in report.new}
    assert by_language["de"].topics == []
    assert json.loads(db["stories"].get(by_language["de"].id)["topics"]) == []
    assert by_language["en"].topics and "disaster" in by_language["en"].topics
    assert by_language["de"].alerted_chats == 0  # no topic: subscription fired at random
    assert by_language["en"].alerted_chats == 1


def _feed_items(feeds: Path) -> list[tuple[str, str]]:
    """Title and text of every distinct item of the shared feed corpus."""
    found: dict[tuple[str, str], None] = {}
    for line in (feeds / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        name, _, value = str(row.get("header") or "").partition(":")
        content_type = value.strip() if name.strip().lower() == "content-type" else None
        parsed = parse_feed(
            (feeds / row["path"]).read_bytes(),
            url=f"https://feeds.example/{row['path']}",
            content_type=content_type,
        )
        for item in parsed.items:
            title, text = normalize_whitespace(item.title), strip_boilerplate(item.text)
            if title or text:
                found[(title, text)] = None
    return list(found)


def test_non_english_feed_items_rarely_get_a_topic(shared_data: Path, model: TopicModel) -> None:
    """On the real feeds, nearly every non-English item went out with a forced best guess;
    now only confident ones keep a topic, and English items keep exactly what they had."""
    items = _feed_items(shared_data / "feeds")
    languages = [detect_language(f"{title}. {text}") for title, text in items]
    scored = model.classify_many(items)
    foreign = [
        (found, language)
        for found, language in zip(scored, languages, strict=True)
        if not model.knows_language(language)
    ]
    assert len(foreign) >= 300
    assert all(found for found, _ in foreign)  # before: every one had a topic
    kept = sum(bool(model.topics_for_language(found, language)) for found, language in foreign)
    assert kept / len(foreign) < 0.1
    for found, language in zip(scored, languages, strict=True):
        if language in ("en", "und"):
            assert model.topics_for_language(found, language) == found
