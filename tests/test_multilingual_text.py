"""Sentences, feed furniture, summaries and key terms of German, Spanish, French, Portuguese,
Italian and Russian stories (inputs written for these tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.models import RawStory
from bot.pipeline.classify import TopicModel
from bot.pipeline.language import key_terms
from bot.pipeline.query import fold
from bot.pipeline.run import Pipeline
from bot.pipeline.summarize import summarize
from bot.pipeline.text import (
    STOP_WORD_LANGUAGES,
    is_boilerplate_line,
    split_sentences,
    stop_words,
    strip_boilerplate,
)
from storage.db import open_database


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        (
            "de",
            "Der Verein spielt ab dem 3. Oktober in der 2. Liga. Das teilte er z. B. per Post mit.",
            [
                "Der Verein spielt ab dem 3. Oktober in der 2. Liga.",
                "Das teilte er z. B. per Post mit.",
            ],
        ),
        (
            "de",
            "Die Stadt sparte ca. Hundert Euro bzw. Dreißig Prozent. Dr. Weber lobte das.",
            ["Die Stadt sparte ca. Hundert Euro bzw. Dreißig Prozent.", "Dr. Weber lobte das."],
        ),
        (
            "de",
            "Der Trainer sagte: „Wir mussten reagieren.“ Danach ging er. Er kam am 19. März zurück.",
            [
                "Der Trainer sagte: „Wir mussten reagieren.“",
                "Danach ging er.",
                "Er kam am 19. März zurück.",
            ],
        ),
        (
            "es",
            "La Sra. García habló con EE.UU. sobre el acuerdo. ¿Qué dijo? ¡Nada nuevo! Luego se fue.",
            [
                "La Sra. García habló con EE.UU. sobre el acuerdo.",
                "¿Qué dijo?",
                "¡Nada nuevo!",
                "Luego se fue.",
            ],
        ),
        (
            "es",
            "La empresa Aceros S.A. El grupo cerró el año con pérdidas.",
            ["La empresa Aceros S.A.", "El grupo cerró el año con pérdidas."],
        ),
        (
            "fr",
            "Le maire a dit : « Nous rouvrirons l'école. » Les parents sont rassurés. Vraiment ? Oui.",
            [
                "Le maire a dit : « Nous rouvrirons l'école. »",
                "Les parents sont rassurés.",
                "Vraiment ?",
                "Oui.",
            ],
        ),
        (
            "fr",
            "M. Dupont et Mme Martin sont arrivés le 5 mai. Ils repartent demain.",
            ["M. Dupont et Mme Martin sont arrivés le 5 mai.", "Ils repartent demain."],
        ),
        (
            "pt",
            "O Sr. Costa e a Dra. Lima visitaram a obra. A ponte abre em março.",
            ["O Sr. Costa e a Dra. Lima visitaram a obra.", "A ponte abre em março."],
        ),
        (
            "it",
            "Il Sig. Rossi e il Dott. Bianchi hanno firmato. La Fiat S.p.A. ha confermato.",
            ["Il Sig. Rossi e il Dott. Bianchi hanno firmato.", "La Fiat S.p.A. ha confermato."],
        ),
        (
            "ru",
            "В г. Самаре открыли мост. Его строил А. С. Петров, т.е. местный инженер. Работы шли "
            "с 2019 г. В мэрии довольны.",
            [
                "В г. Самаре открыли мост.",
                "Его строил А. С. Петров, т.е. местный инженер.",
                "Работы шли с 2019 г.",
                "В мэрии довольны.",
            ],
        ),
        (
            "ru",
            "Глава района заявил: «Дорогу откроют весной». Жители ждут.",
            ["Глава района заявил: «Дорогу откроют весной».", "Жители ждут."],
        ),
    ],
)
def test_sentence_rules_of_each_language(language: str, text: str, expected: list[str]) -> None:
    assert split_sentences(text, language) == expected


def test_german_counted_nouns_need_the_language() -> None:
    """'3. Platz' ends no sentence in German; without the language the rule stays off, so an
    English 'aged 3. Platz ...' style boundary is not guessed away."""
    text = "Die Mannschaft wurde am Ende 3. Platz war das Ziel."
    assert split_sentences(text, "de") == [text]
    assert len(split_sentences(text)) == 2


@pytest.mark.parametrize(
    "line",
    [
        "Weiterlesen",
        "Mehr zum Thema: Neue Regeln für E-Scooter",
        "Lesen Sie auch: Die Bahn erhöht die Preise",
        "Leer más",
        "Ver la noticia completa aquí: https://news.example/es/1",
        "Con información de Télam",
        "Lire la suite",
        "À voir aussi : le bilan de la saison",
        "Leia mais (12/03/2021 - 10h15)",
        "Saiba mais sobre o programa",
        "Continua a leggere",
        "Leggi anche: il nuovo orario dei treni",
        "Читать далее",
        "Подробнее на сайте",
        "The post Flooding closes the coast road appeared first on Example Daily.",
        "Wir verwenden Cookies, um Ihnen das beste Nutzererlebnis zu bieten.",
        "Utilizamos cookies para mejorar su experiencia.",
        "Nous utilisons des cookies pour vous offrir la meilleure expérience.",
        "Мы используем файлы cookie, чтобы сайт работал лучше.",
        "Le maire lors de l'inauguration (Photo : Jean Martin)",
    ],
)
def test_feed_furniture_of_each_language_is_boilerplate(line: str) -> None:
    assert is_boilerplate_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "Mehr als hundert Menschen demonstrierten am Samstag in Leipzig.",
        "Ver más allá de la crisis exige un plan, dijo el ministro.",
        "Lire un roman par semaine reste l'objectif du club de lecture de Lyon.",
        "Leia o relatório completo antes da votação, pediu a deputada.",
        "Подробный отчёт о работе мэрии опубликуют в пятницу.",
        "Die Cookie-Richtlinie der EU wird überarbeitet, berichtet die Kommission.",
        "Google will stop the use of third-party cookies in Chrome next year.",
        "Con información de la policía, los fiscales pidieron la detención del sospechoso.",
        "Hier geht es um die Frage, wer die Kosten trägt.",
    ],
)
def test_news_sentences_in_those_languages_are_kept(line: str) -> None:
    assert not is_boilerplate_line(line)


def test_a_trailing_call_to_read_on_is_cut_from_a_teaser_line() -> None:
    text = "Der Stadtrat hat den Haushalt beschlossen. [Weiterlesen]\n\nEl tren vuelve. Leer más »"
    assert (
        strip_boilerplate(text) == "Der Stadtrat hat den Haushalt beschlossen.\n\nEl tren vuelve."
    )


SPANISH_FEED_ITEM = (
    "La ciudad habilitó la venta de pasajes del tren a la costa para el fin de semana largo.\n"
    "Los boletos se venden en la web con un descuento del diez por ciento.\n"
    "Cambios en el horario de invierno\n"
    "“Tuvimos una temporada excelente”, dijo el presidente de la empresa ferroviaria.\n"
    "El tren sale de la estación central todos los días a las 15.15 y regresa a las 22.30.\n"
    "Leer más"
)


def test_an_unpunctuated_line_between_paragraphs_is_not_glued_to_the_next_sentence() -> None:
    summary = summarize("Vuelve el tren a la costa", SPANISH_FEED_ITEM, max_chars=400)
    assert summary.text
    assert "invierno “Tuvimos" not in summary.text and "Cambios en el horario" not in summary.text
    assert "Leer más" not in summary.text
    assert all(sentence.endswith((".", "”")) for sentence in summary.sentences)


@pytest.mark.parametrize(
    ("language", "title", "text", "furniture"),
    [
        (
            "de",
            "Hochwasser: Pegel in Passau sinkt",
            "Der Pegel der Donau in Passau ist am Dienstag deutlich gesunken. Die Feuerwehr "
            "räumt die Altstadt auf, z. B. die Uferstraße. Am 3. Juni hatte der Fluss zwölf Meter "
            "erreicht.\n\nFoto: Stadt Passau\n\nWeiterlesen",
            ("Foto:", "Weiterlesen"),
        ),
        (
            "fr",
            "Grève des contrôleurs aériens à Marseille",
            "Les contrôleurs aériens de Marseille ont cessé le travail mardi matin. Plus de deux "
            "cents vols sont annulés, selon la direction de l'aéroport. « Nous regrettons la "
            "gêne », a dit M. Garnier.\n\nLire la suite\n\nAbonnez-vous à notre newsletter",
            ("Lire la suite", "Abonnez-vous"),
        ),
        (
            "it",
            "Nevicata record sulle Alpi piemontesi",
            "Una nevicata record ha colpito le Alpi piemontesi nella notte tra lunedì e martedì. "
            "Il Sig. Ferrero, sindaco di Limone, ha chiuso le scuole. Le strade provinciali sono "
            "state riaperte nel pomeriggio.\n\nContinua a leggere\n\nLeggi anche: il meteo",
            ("Continua a leggere", "Leggi anche"),
        ),
        (
            "pt",
            "Chuva forte provoca cheias em Coimbra",
            "A chuva forte das últimas horas provocou cheias na Baixa de Coimbra. A Proteção "
            "Civil retirou doze famílias das casas junto ao rio. O Sr. Almeida, comandante dos "
            "bombeiros, pediu cautela.\n\nLeia mais\n\nSiga-nos nas redes sociais",
            ("Leia mais", "Siga-nos"),
        ),
        (
            "ru",
            "В Самаре открыли новый мост через Волгу",
            "В г. Самаре в понедельник открыли новый мост через Волгу. Его строительство "
            "продолжалось с 2019 г. По словам мэра, мост разгрузит центр города.\n\n"
            "Читать далее\n\nПодписывайтесь на наш канал",
            ("Читать далее", "Подписывайтесь"),
        ),
    ],
)
def test_summaries_keep_the_budget_and_drop_furniture(
    language: str, title: str, text: str, furniture: tuple[str, ...]
) -> None:
    for max_chars in (400, 160, 90):
        summary = summarize(title, text, max_chars=max_chars, language=language)
        assert summary.text and len(summary.text) <= max_chars
        assert len(summary.sentences) <= 3
        assert not any(word in summary.text for word in furniture)
    # Detected when not given: the same summary.
    assert summarize(title, text) == summarize(title, text, language=language)


def test_stop_word_lists_are_there_and_distinct() -> None:
    for language in STOP_WORD_LANGUAGES:
        words = stop_words(language)
        assert len(words) > 100, language
        assert all(word == word.lower() and " " not in word for word in words)
    assert {"der", "und"} <= stop_words("de") and "und" not in stop_words("es")
    assert {"и", "в", "что"} <= stop_words("ru")
    assert stop_words("en") == frozenset() and stop_words("de-AT") == stop_words("de")


@pytest.mark.parametrize(
    ("language", "title", "text", "wanted", "unwanted"),
    [
        (
            "de",
            "Die Bahn erhöht die Preise",
            "Die Deutsche Bahn erhöht zum Fahrplanwechsel die Preise. Das kündigte Bahnchef Anna "
            "Krüger am Montag in Berlin an. Die Deutsche Bahn begründet das mit Kosten. Aber "
            "Fahrgastverbände in Berlin kritisieren die Deutsche Bahn.",
            {"Deutsche Bahn", "Berlin"},
            {"Die", "Das", "Aber", "Montag"},
        ),
        (
            "es",
            "Para el Gobierno, la inflación cede",
            "Para el Gobierno de Chile, la inflación cede. El ministro Pablo Soto dijo en Santiago "
            "que el Banco Central bajará las tasas. Como otros años, el Banco Central decidirá en "
            "marzo. El Gobierno de Chile celebró el dato.",
            {"Banco Central", "Gobierno de Chile"},
            {"Para", "El", "Como"},
        ),
        (
            "ru",
            "В Москве открылась выставка",
            "В Москве открылась выставка современного искусства. Выставку в Москве посетил "
            "Сергей Иванов. По его словам, Москва давно ждала такую выставку. В субботу вход "
            "свободный.",
            {"Москве", "Сергей Иванов"},
            {"В", "По"},
        ),
    ],
)
def test_key_terms_skip_function_words_of_the_language(
    language: str, title: str, text: str, wanted: set[str], unwanted: set[str]
) -> None:
    terms = key_terms(title, text, language=language)
    assert wanted <= set(terms), terms
    assert not unwanted & set(terms), terms
    assert key_terms(title, text) == terms  # the language is detected when not given


def test_key_terms_merge_accents_case_and_cyrillic_endings_but_show_accents() -> None:
    terms = key_terms(
        "Zürich stimmt ab",
        "ZÜRICH (dpa) Die Stadt Zürich stimmt über ein neues Stadion ab. In Zurich wird seit "
        "Jahren gestritten. Zürich hofft auf Klarheit.",
        language="de",
    )
    assert [fold(term) for term in terms].count("zurich") == 1
    assert "Zürich" in terms
    russian = key_terms(
        "Москва готовится к зиме",
        "Москва готовится к зиме. В Москве закупили новую технику. Мэрия Москвы отчиталась.",
        language="ru",
    )
    assert len([term for term in russian if fold(term).startswith("москв")]) == 1
    assert "Москва" in russian


def test_the_pipeline_stores_summary_and_key_terms_in_the_story_language(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.db")
    story = RawStory(
        title="В Самаре открыли новый мост через Волгу",
        text=(
            "В г. Самаре в понедельник открыли новый мост через Волгу.\n"
            "Строительство моста\n"
            "Его строил А. С. Петров с 2019 г. По словам мэра, мост через Волгу разгрузит "
            "центр Самары.\n"
            "Читать далее"
        ),
        url="https://news.example/ru/most",
        source_name="Пример",
    )
    report = Pipeline(TopicModel.load(None)).process(db, [story])
    stored = db["stories"].get(report.new[0].id)
    assert stored["language"] == "ru"
    # The lede repeats the title (shown already); the next two sentences make the summary.
    assert stored["summary"] == (
        "Его строил А. С. Петров с 2019 г. По словам мэра, мост через Волгу разгрузит центр Самары."
    )
    assert "Читать далее" not in stored["summary"]
    assert "Строительство моста Его" not in stored["summary"]
    terms = json.loads(stored["key_terms"])
    assert "Волгу" in terms and not {"В", "По"} & set(terms)


def test_a_story_without_names_still_gets_its_title_words_as_terms() -> None:
    title = "Só há chocolate até 2050 por causa das alterações climáticas"
    text = "As plantações de cacau sofrem com o calor causado pelas alterações climáticas."
    assert key_terms(title, text, language="pt") == ["alterações", "climáticas"]
    # Words of the title that the text never uses are no terms.
    assert key_terms("Grande companheiro", "Sempre assisto a uma partida.", language="pt") == []
