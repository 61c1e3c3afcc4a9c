"""The English topic model and stories in other languages: no topic unless it is confident."""

from __future__ import annotations

import io
import json
import random
from contextlib import redirect_stdout
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.common import parsed_feed_corpus
from bot.cli import main as cli_main
from bot.models import RawStory
from bot.pipeline.classify import (
    FOREIGN_LANGUAGE_FLOOR,
    TopicModel,
    classify_jsonl,
    train,
    training_languages,
)
from bot.pipeline.language import detect_language
from bot.pipeline.query import parse_query
from bot.pipeline.run import Pipeline
from bot.pipeline.text import normalize_whitespace, strip_boilerplate
from storage import chats, subscriptions
from storage.db import open_database
from tests.helpers import env_file

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
    for _row, parsed in parsed_feed_corpus(feeds):
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


# --------------------------------------------------------------------------- trained languages
# Per label: words of the topic in English and in German, and everyday words of each language.
TOPIC_WORDS = {
    "gardening": (
        "tomato seedlings compost pruning greenhouse soil roses mulch hedge bulbs",
        "Tomaten Setzlinge Kompost Beet Gewächshaus Erde Rosen Hecke Blumenzwiebeln Rasen",
    ),
    "cooking": (
        "recipe oven simmer garlic sauce bake flour dough saucepan seasoning",
        "Rezept Ofen Knoblauch Soße backen Mehl Teig Kochtopf Pfanne würzen",
    ),
    "sailing": (
        "yacht mainsail harbour keel regatta knots mooring tack dinghy anchor",
        "Jacht Großsegel Hafen Kiel Regatta Knoten Liegeplatz Jolle Anker Wind",
    ),
}
EVERYDAY = {
    "en": "the and with this weekend for many people after which were there about their",
    "de": "der die das und mit diesem Wochenende für viele Leute nach welche waren über ihre",
}


def language_rows(language: str, per_label: int, seed: int) -> list[dict]:
    """Short labelled texts in ``language`` ("en" or "de"), drawn from the lists above."""
    rng = random.Random(seed)
    rows = []
    for label, (english, german) in TOPIC_WORDS.items():
        own = (english if language == "en" else german).split()
        shared = EVERYDAY[language].split()
        for _ in range(per_label):
            body = rng.sample(own, 4) + rng.sample(shared, 8)
            rng.shuffle(body)
            rows.append(
                {"title": " ".join(rng.sample(own, 2)), "text": " ".join(body), "label": label}
            )
    return rows


def test_training_languages_counts_only_languages_with_a_real_share() -> None:
    english = [(r["title"], r["text"]) for r in language_rows("en", 20, seed=1)]
    german = [(r["title"], r["text"]) for r in language_rows("de", 10, seed=2)]
    assert training_languages(english + german) == {"en": 60, "de": 30}
    # One German row among sixty English ones teaches the model no German.
    assert training_languages(english + german[:1]) == {"en": 60}
    # Rows too short to tell are not counted; nothing told means nothing recorded.
    assert training_languages([("Hi", "ok"), ("Yo", "")]) == {}


def test_train_records_the_languages_it_read_and_the_floor_follows_them(tmp_path: Path) -> None:
    rows = language_rows("en", 12, seed=3) + language_rows("de", 12, seed=4)
    report = train(rows, tmp_path / "both", folds=3, transfer=False)
    assert report.languages == {"en": 36, "de": 36}
    both = TopicModel.load(tmp_path / "both")
    assert set(both.languages) == {"en", "de"}
    assert both.meta["language_rows"] == {"en": 36, "de": 36}
    weak = [("cooking", 0.2)]
    assert both.topics_for_language(weak, "de") == weak
    assert both.topics_for_language(weak, "fr") == []

    train(language_rows("de", 12, seed=5), tmp_path / "german", folds=3, transfer=False)
    german = TopicModel.load(tmp_path / "german")
    assert german.languages == ("de",)
    assert german.topics_for_language(weak, "de") == weak
    assert german.topics_for_language(weak, "en") == []  # not a hard-coded "en" any more
    # `newsbot classify` applies the same floor from the same record.
    story = {"id": 1, "title": "Quiet", "text": "The harbour of the small town was quiet today."}
    scored = german.labels_for(german.scores_many([(story["title"], story["text"])])[0])
    assert scored and scored[0][1] < FOREIGN_LANGUAGE_FLOOR  # a weak guess for English text
    for model, expected in (
        (german, []),
        (replace(german, meta={**german.meta, "languages": ["de", "en"]}), scored),
    ):
        sink = io.StringIO()
        classify_jsonl(io.StringIO(json.dumps(story) + "\n"), sink, model)
        record = json.loads(sink.getvalue())
        assert record["language"] == "en"
        assert record["topics"] == [label for label, _ in expected]


def test_newsbot_train_prints_the_languages(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    rows = language_rows("de", 10, seed=6)
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli_main(
            [
                "--env-file",
                env_file(tmp_path),
                "train",
                "--data",
                str(data),
                "--out",
                str(tmp_path / "model"),
                "--folds",
                "3",
            ]
        )
    assert code == 0
    assert "languages: de (30 rows)" in out.getvalue()
    assert TopicModel.load(tmp_path / "model").languages == ("de",)
