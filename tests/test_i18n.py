"""The interface in every language: complete catalogs with the English placeholders, the right
plural forms, every command's answer rendered valid for Telegram and Slack in each language with
hostile input, and each chat's language taken from its first contact or its own choice.

The catalogs are read as the ``.po`` files they are (Babel's reader), not through the code
under test, so a missing or broken translation fails here even if the bot would fall back to
English without a word.
"""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.app import NewsBot, build_core
from bot.delivery.digest import build_digest
from bot.i18n import LANGUAGES, TOPIC_NAMES, Translator, normalize_locale, translator
from bot.models import RawStory, Reply
from bot.pipeline import classify
from bot.pipeline.classify import TopicModel
from bot.pipeline.policy import PolicyError, parse_languages, story_language_allowed
from bot.pipeline.query import parse_query
from bot.pipeline.run import Pipeline
from bot.transports import render_slack, render_telegram
from bot.transports.console import ConsoleTransport
from handlers.callbacks import handle_callback
from handlers.context import CommandContext
from handlers.registry import build_router
from handlers.router import Request, Router
from scripts import update_catalogs
from storage import chats as chat_store
from storage import deliveries as outbox
from storage import subscriptions as sub_store
from storage.db import open_database
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_blocks import message_texts, validate_message, validate_untrusted_escaping
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_html import validate_telegram_html
from tests.helpers import make_settings, running_telegram_bot
from tests.test_hostile_input import hostile_alert
from tests.test_slack_e2e import SECRET, slash, texts, wait_response
from tests.test_telegram_e2e import reply_containing

LOCALE_DIR = Path(update_catalogs.__file__).resolve().parents[1] / "bot" / "locale"
TRANSLATED = tuple(lang for lang in LANGUAGES if lang != "en")
HOSTILE = "<b>&amp;*_x_* <!channel> <@U1> </i> & < >"


def catalog(lang: str) -> Catalog:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "newsbot.po").open("rb") as handle:
        return read_po(handle, locale=lang, domain="newsbot")


def template() -> Catalog:
    with update_catalogs.TEMPLATE.open("rb") as handle:
        return read_po(handle, domain="newsbot")


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a message (``str.format`` syntax; a stray brace raises)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


# -- catalogs ----------------------------------------------------------------------------------


def test_template_is_up_to_date_with_the_code() -> None:
    extracted = update_catalogs.message_keys(update_catalogs.extract())
    assert extracted == update_catalogs.message_keys(template()), (
        "run: python scripts/update_catalogs.py (make catalogs)"
    )


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalog_translates_every_message(lang: str) -> None:
    wanted = update_catalogs.message_keys(template())
    po = catalog(lang)
    translated = set()
    for message in po:
        if not message.id or message.fuzzy:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if all(s.strip() for s in strings):
            translated.add(message.id if isinstance(message.id, tuple) else (message.id,))
    missing = wanted - translated
    assert not missing, f"{lang}: {len(missing)} untranslated, e.g. {sorted(missing)[:3]}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_the_english_placeholders(lang: str) -> None:
    wrong = []
    for message in catalog(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = placeholders(ids[0]) | placeholders(ids[-1])
        for text in strings:
            try:
                found = placeholders(text)
            except ValueError as exc:  # an unbalanced brace would break .format at run time
                wrong.append((ids[0], text, str(exc)))
                continue
            if found != wanted:
                wrong.append((ids[0], text, sorted(found ^ wanted)))
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_command_names_and_line_structure(lang: str) -> None:
    """``/subscribe`` stays ``/subscribe`` (Slack rewrites it to ``/news subscribe``), and a
    multi-line help text keeps its lines."""
    wrong = []
    for message in catalog(lang):
        if not message.id or isinstance(message.id, tuple):
            continue
        commands = sorted(set(_commands(message.id)))
        if sorted(set(_commands(message.string))) != commands:
            wrong.append((message.id, message.string))
        if message.id.count("\n") != message.string.count("\n"):
            wrong.append((message.id, "line count"))
    assert not wrong, wrong[:5]


def _commands(text: str) -> list[str]:
    import re

    return re.findall(r"(?<![\w/])/[a-z]+\b", text)


@pytest.mark.parametrize(
    ("lang", "forms"),
    [
        ("ru", {1: "1 источник:", 2: "2 источника:", 5: "5 источников:", 21: "21 источник:"}),
        ("uk", {1: "1 джерело:", 2: "2 джерела:", 5: "5 джерел:", 21: "21 джерело:"}),
        ("de", {1: "1 Quelle:", 2: "2 Quellen:", 5: "5 Quellen:", 21: "21 Quellen:"}),
        ("fr", {0: "0 source\u00a0:", 1: "1 source\u00a0:", 2: "2 sources\u00a0:"}),
        ("en", {1: "1 source:", 2: "2 sources:", 21: "21 sources:"}),
    ],
)
def test_plural_forms(lang: str, forms: dict[int, str]) -> None:
    t = translator(lang)
    for n, expected in forms.items():
        assert t.ngettext("{n} source:", "{n} sources:", n) == expected


def test_russian_and_ukrainian_catalogs_declare_three_plural_forms() -> None:
    for lang in ("ru", "uk"):
        po = catalog(lang)
        assert po.num_plurals == 3
        plural = [m for m in po if m.id and isinstance(m.id, tuple)]
        assert plural and all(len(m.string) == 3 for m in plural)
    for lang in ("de", "es", "fr", "it", "pt"):
        assert catalog(lang).num_plurals == 2


def test_translator_formats_after_translating_and_falls_back_to_english() -> None:
    assert Translator("de")._("Saved.") == "Gespeichert."
    subscribed = translator("fr")._("Subscribed (#{id}): {query}", id=3, query="{x} <b>")
    assert subscribed == "Abonné (#3)\u00a0: {x} <b>"  # values are not formatted again, nor escaped
    assert translator("xx")._("Saved.") == "Saved."
    assert translator(None).locale == "en"
    assert [normalize_locale(c) for c in ("es-ES", "pt_BR", "UK", "zh-Hans", "", None)] == [
        "es",
        "pt",
        "uk",
        None,
        None,
        None,
    ]


def test_topic_names_translate_the_bundled_taxonomy() -> None:
    assert TOPIC_NAMES == classify.TOPIC_NAMES  # the same names the model ships with
    assert translator("de").topic("crime") == "Kriminalität & Justiz"
    assert translator("uk").topic("sport") == "Спорт"
    assert translator("de").topic("my-label", "My label") == "My label"  # a custom model's


def test_story_language_lists() -> None:
    assert parse_languages("en, DE;fr en") == ("en", "de", "fr")
    assert parse_languages("any") == ()
    with pytest.raises(PolicyError):
        parse_languages("english")
    assert story_language_allowed("en,de", "de") and not story_language_allowed("en,de", "fr")
    assert story_language_allowed("fr", "fr") and not story_language_allowed("fr", "en")
    assert story_language_allowed(None, "fr") and story_language_allowed("en,de", "und")


# -- every reply, every language, hostile input ------------------------------------------------

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", ""),
    ("help", ""),
    ("help", "subscribe"),
    ("help", HOSTILE),
    ("subscribe", HOSTILE),
    ("subscribe", "earthquake OR nordland"),
    ("subscribe", "earthquake OR nordland"),
    ("subscribe", "(("),
    ("subscribe", "and"),
    ("subscribe", "-drill"),
    ("subscribe", "lang:<b>"),
    ("subscribe", "topic:"),
    ("list", ""),
    ("topics", ""),
    ("follow", "crime"),
    ("follow", HOSTILE),
    ("unfollow", HOSTILE),
    ("mute", HOSTILE),
    ("mute", "topic:sport"),
    ("unmute", HOSTILE),
    ("unmute", ""),
    ("unsubscribe", HOSTILE),
    ("latest", ""),
    ("latest", "disaster"),
    ("latest", HOSTILE),
    ("search", HOSTILE),
    ("search", "nordland"),
    ("search", "nordland page x"),
    ("story", HOSTILE),
    ("story", "1"),
    ("story", "999"),
    ("digest", ""),
    ("settings", ""),
    ("settings", f"cap {HOSTILE}"),
    ("settings", f"quiet {HOSTILE}"),
    ("settings", f"timezone {HOSTILE}"),
    ("settings", f"digest {HOSTILE}"),
    ("settings", f"mode {HOSTILE}"),
    ("settings", HOSTILE),
    ("settings", f"languages {HOSTILE}"),
    ("settings", f"language {HOSTILE}"),
    ("settings", "languages en,de"),
    ("pause", ""),
    ("resume", ""),
    ("stop", ""),
    ("nosuchcommand", HOSTILE),
    ("admin", ""),
    ("admin", HOSTILE),
    ("admin", "sources"),
    ("admin", f"removesource {HOSTILE}"),
    ("admin", "queue"),
    ("admin", "users"),
    ("admin", "health"),
    ("admin", "jobs"),
    ("admin", "audit"),
    ("admin", "retry x"),
    ("admin", "ban x"),
    ("admin", f"broadcast {HOSTILE}"),
    ("subscribe", "x" * 1200),
)
CALLBACKS = ("more:1", "less:1", "story:1", "mute:crime", "unsub:99", "bogus<b>", "search:1:x")


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[Router]:
    core = await build_core(make_settings(tmp_path))
    router = build_router(CommandContext(core.services, core.settings))
    router._allow = lambda request: True  # type: ignore[method-assign]
    await core.services.process(
        [
            RawStory(
                f"Earthquake <b>shakes</b> Nordland & {HOSTILE}",
                "A strong earthquake shook the Nordland coast on Monday, damaging the harbour "
                "and cutting power to thousands of homes, officials said.",
                "https://n.example/1?a=1&b=<2>",
                source_name=f"North <i>Wire</i> {HOSTILE}",
            )
        ]
    )
    yield router
    await core.close()


def assert_renders_valid(reply: Reply, lang: str, where: str) -> None:
    """The reply as Telegram HTML and as Slack blocks, both accepted by the fakes' validators,
    with the hostile text shown literally."""
    for part in render_telegram.render_reply(reply):
        assert validate_telegram_html(part.html) == part.plain, where
    render_telegram.inline_keyboard(reply.buttons)
    payload = render_slack.render_reply(reply, commands={"subscribe", "help"}, locale=lang)
    assert validate_message({**payload, "channel": "C1"}) == [], where
    for text in message_texts(payload):
        assert validate_untrusted_escaping(text) == [], (where, text[:200])


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_every_reply_in_every_language_renders_valid(router: Router, lang: str) -> None:
    chat = f"chat-{lang}"
    first = await router.handle(Request("console", chat, "console", "settings", f"language {lang}"))
    assert first is not None
    assert first.text.startswith(translator(lang)._("Saved."))
    answers: dict[str, str] = {}
    for command, args in COMMANDS:
        reply = await router.handle(Request("console", chat, "console", command, args))
        assert reply is not None, (command, args)
        assert "Something went wrong" not in reply.text, (command, args, reply.text)
        assert_renders_valid(reply, lang, f"/{command} {args[:40]}")
        answers.setdefault(command, reply.text)
    for data in CALLBACKS:
        reply = await handle_callback(router, Request("console", chat, "console", "callback", data))
        assert reply is not None
        assert_renders_valid(reply, lang, data)
    t = translator(lang)
    assert t._("What I can do:") in answers["help"]
    assert t._("Settings for this chat:") in answers["settings"]
    if lang != "en":
        assert "What I can do:" not in answers["help"]
        assert "Settings for this chat:" not in answers["settings"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_hostile_alerts_updates_and_home_render_valid_in_every_language(lang: str) -> None:
    rng = random.Random(f"i18n-{lang}")
    console = ConsoleTransport(color=False)
    for n in range(150):
        alert = replace(hostile_alert(rng, n), locale=lang)
        message = render_telegram.render_alert(alert)
        assert validate_telegram_html(message.html) == message.plain
        notice = render_telegram.render_update_notice(alert)
        assert validate_telegram_html(notice.html) == notice.plain
        for payload in (render_slack.render_alert(alert), render_slack.render_update(alert)):
            assert validate_message({**payload, "channel": "C1"}) == [], n
            for text in message_texts(payload):
                assert validate_untrusted_escaping(text) == [], text[:200]
        console.render_alert(alert)
    alert = replace(hostile_alert(rng, 1), locale=lang, reasons=("quake",))
    t = translator(lang)
    assert t._("matched: ") in render_telegram.render_alert(alert).plain
    slack_texts = "\n".join(message_texts(render_slack.render_alert(alert)))
    assert t.ngettext("Source:", "Sources:", 2) in slack_texts


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_home_tab_and_digest_in_every_language(router: Router, lang: str) -> None:
    db = router.context.services.db
    chat = await db.call(chat_store.ensure_chat, "slack", f"D{lang.upper()}")
    chat = await db.call(chat_store.set_chat_locale, chat.id, lang)
    await db.call(
        sub_store.add_subscription, chat.id, kind="query", query=HOSTILE, canonical=HOSTILE
    )
    await db.call(
        sub_store.add_subscription,
        chat.id,
        kind="query",
        query="topic:crime",
        canonical="topic:crime",
    )
    subs = await db.call(sub_store.chat_subscriptions, chat.id)
    view = render_slack.render_home(chat, subs, notice=HOSTILE)
    assert translator(lang)._("Your news alerts") in str(view["blocks"][0])
    assert render_slack.escape(translator(lang).topic("crime")) in str(view["blocks"])
    for text in message_texts(view):
        assert validate_untrusted_escaping(text) == [], text[:200]
    # A digest of the one stored story, held for this chat.
    story_id = 1
    await db.call(
        outbox.queue_deliveries,
        [
            outbox.QueuedDelivery(
                chat.id, story_id, story_id, "slack", ["quake"], [], sources_count=3
            )
        ],
        router.context.clock(),
    )
    held = await db.call(outbox.due_deliveries, "slack", router.context.clock(), 10)
    digest = await db.call(build_digest, held, router.context.clock(), lang)
    t = translator(lang)
    assert digest.text.startswith(
        t.ngettext("Your digest: {n} story", "Your digest: {n} stories", 1)
    )
    assert digest.title == t._("Digest")
    assert_renders_valid(digest, lang, "digest")


# -- the language of a chat: its own choice, or its first contact's ---------------------------


async def test_settings_language_then_help_in_german_through_the_bot_api(tmp_path: Path) -> None:
    with FakeTelegram(poll_timeout_cap=0.2, bot_username="newsbot_test_bot") as tg:
        async with running_telegram_bot(tmp_path, tg.api_url):
            tg.push_message(42, "/settings language de")
            await reply_containing(tg, 42, "Gespeichert.")
            tg.push_message(42, "/help")
            call = await reply_containing(tg, 42, "Das kann ich:")
            assert call.params["parse_mode"] == "HTML"
            assert "/subscribe ANFRAGE - Alarm bei Meldungen" in call.params["text"]
            menus = {c.params.get("language_code") for c in tg.calls_to("setMyCommands")}
            assert menus == {None, *TRANSLATED}


async def test_a_telegram_user_with_language_code_uk_gets_ukrainian(tmp_path: Path) -> None:
    with FakeTelegram(poll_timeout_cap=0.2, bot_username="newsbot_test_bot") as tg:
        async with running_telegram_bot(tmp_path, tg.api_url) as bot:
            assert bot.core is not None
            tg.push_message(77, "/start", language_code="uk")
            await reply_containing(tg, 77, "Вітаю!")
            chat = await bot.core.db.call(chat_store.find_chat, "telegram", "77")
            assert chat is not None and chat.locale == "uk"
            # The chat keeps its language; another member's app language does not change it.
            tg.push_message(77, "/topics", language_code="de")
            await reply_containing(tg, 77, "Злочинність і правосуддя")
            # A language we have no catalog for leaves a new chat in English.
            tg.push_message(78, "/help", language_code="zh-hans")
            await reply_containing(tg, 78, "What I can do:")


@pytest.fixture
async def slack_bot(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[NewsBot]:
    settings = make_settings(
        tmp_path,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=slack.base_url,
    )
    newsbot = NewsBot(settings)
    await newsbot.start()
    try:
        yield newsbot
    finally:
        await newsbot.stop()


async def test_a_slack_user_with_locale_es_es_gets_spanish(
    slack: FakeSlack, slack_bot: NewsBot
) -> None:
    slack.set_user("UES1", locale="es-ES")
    await slash(slack_bot, slack, "help", user="UES1", channel="DES1", key="es1")
    reply: dict[str, Any] = await wait_response(slack, "es1")
    assert "Esto es lo que sé hacer:" in texts(reply)
    assert "/news subscribe CONSULTA" in texts(reply)  # command names stay, rewritten for Slack
    assert validate_message(reply) == []
    await slash(slack_bot, slack, "settings", user="UES1", channel="DES1", key="es2")
    assert "Ajustes de este chat:" in texts(await wait_response(slack, "es2"))
    lookups = slack.calls_to("users.info")
    assert len(lookups) == 1  # asked once, then cached
    assert str(lookups[0].params.get("include_locale")).lower() in ("1", "true")
    slack.set_user("UEN1")  # Slack tells no locale: English
    await slash(slack_bot, slack, "help", user="UEN1", channel="DEN1", key="en1")
    assert "What I can do:" in texts(await wait_response(slack, "en1"))


# -- /settings languages filters alerts --------------------------------------------------------

STORIES = {
    "en": RawStory(
        "Storm floods Nordland harbour",
        "A violent storm flooded the harbour of Nordland on Monday night. Fishermen said the "
        "water rose faster than anyone could remember, and the town council opened a shelter "
        "for families whose houses were damaged by the flood.",
        "https://n.example/en",
        source_name="North Wire",
    ),
    "de": RawStory(
        "Sturm überflutet den Hafen von Nordland",
        "Ein heftiger Sturm hat in der Nacht zum Montag den Hafen von Nordland überflutet. "
        "Die Fischer sagten, das Wasser sei schneller gestiegen als je zuvor, und der Stadtrat "
        "öffnete eine Notunterkunft für Familien, deren Häuser beschädigt wurden.",
        "https://n.example/de",
        source_name="Nordkurier",
    ),
    "fr": RawStory(
        "Une tempête inonde le port de Nordland",
        "Une violente tempête a inondé le port de Nordland dans la nuit de lundi. Les pêcheurs "
        "ont dit que l'eau était montée plus vite que jamais, et le conseil municipal a ouvert "
        "un abri pour les familles dont les maisons ont été endommagées.",
        "https://n.example/fr",
        source_name="Le Nord",
    ),
}


def test_settings_languages_filters_alerts(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.db")
    chats = {}
    for name, setting in (("both", "en,de"), ("old", "fr"), ("any", None)):
        chat = chat_store.ensure_chat(db, "console", name)
        chat_store.update_chat_settings(db, chat.id, language=setting)
        sub_store.add_subscription(
            db,
            chat.id,
            kind="query",
            query="nordland",
            canonical=parse_query("nordland").canonical(),
        )
        chats[name] = chat.id
    Pipeline(TopicModel.load(None)).process(db, list(STORIES.values()))
    got: dict[int, set[str]] = {}
    for row in db.execute(
        "SELECT d.chat_id, s.language FROM deliveries d JOIN stories s ON s.id = d.story_id"
    ).fetchall():
        got.setdefault(row[0], set()).add(row[1])
    assert got[chats["both"]] == {"en", "de"}
    assert got[chats["old"]] == {"fr"}  # a single code, as stored before lists, still works
    assert got[chats["any"]] == {"en", "de", "fr"}


async def test_settings_commands_set_interface_and_story_languages(router: Router) -> None:
    async def say(args: str) -> str:
        reply = await router.handle(Request("console", "c9", "u9", "settings", args))
        assert reply is not None
        return reply.text

    assert "languages: en,de" in await say("languages en, de")
    answer = await say("language it")
    assert answer.startswith("Salvato.") and "language: Italiano (it)" in answer
    chat = await router.context.services.db.call(chat_store.find_chat, "console", "c9")
    assert chat is not None and chat.locale == "it" and chat.language == "en,de"
    assert "languages: any" in await say("language any")  # the old way to lift the filter
    assert "Impossibile cambiarlo" in await say("language klingon")
    assert "Impossibile cambiarlo" in await say("languages english")
