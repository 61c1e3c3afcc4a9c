"""The bot's interface in the chat's language: gettext catalogs read with Babel.

Every user-facing text is an English message id in the code, translated through the catalogs in
``bot/locale/<lang>/LC_MESSAGES/newsbot.po`` (``newsbot.pot`` beside them is the template,
made by ``scripts/update_catalogs.py``). The ``.po`` sources are what ships: each is compiled
in memory with Babel on first use, so there is no build step and no ``.mo`` file that could
fall out of date with its source.

Placeholders are named (``{query}``) and filled *after* translation by :meth:`Translator._`, so
a translation may move them where its grammar wants them. Nothing is escaped here: replies are
plain text, and escaping for Telegram HTML and Slack mrkdwn stays in the renderers, the one
place that knows the target format.

Message ids at module level (command summaries, topic names) are marked with :func:`N_`, which
only lets ``pybabel extract`` see them; they are translated where they are shown.
"""

from __future__ import annotations

import io
from functools import cache
from importlib import resources
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DOMAIN = "newsbot"
DEFAULT_LOCALE = "en"
#: Interface languages with a complete catalog, English (the message ids) first.
LANGUAGES: tuple[str, ...] = ("en", "de", "es", "fr", "it", "pt", "ru", "uk")
#: Each language's name in itself, for ``/settings`` and the help text.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
    "fr": "Français",
    "it": "Italiano",
    "pt": "Português",
    "ru": "Русский",
    "uk": "Українська",
}


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translated where it is shown)."""
    return message


def normalize_locale(code: str | None) -> str | None:
    """A supported interface language for a platform's locale (``es-ES``, ``pt_BR``, ``UK``),
    or None when we have no catalog for it."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def _catalog_text(locale: str) -> bytes | None:
    path = resources.files("bot").joinpath("locale", locale, "LC_MESSAGES", f"{DOMAIN}.po")
    return path.read_bytes() if path.is_file() else None


@cache
def _translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (English, the message ids, needs none)."""
    source = _catalog_text(locale) if locale != DEFAULT_LOCALE else None
    if source is None:
        return NullTranslations()
    catalog = read_po(io.BytesIO(source), locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    # Fuzzy entries are guesses, not translations: they stay out, as msgfmt leaves them out.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


class Translator:
    """Translation into one language, with placeholders filled after translating."""

    def __init__(self, locale: str | None = None) -> None:
        self.locale = normalize_locale(locale) or DEFAULT_LOCALE
        self._catalog = _translations(self.locale)

    def _(self, message: str, /, **values: Any) -> str:
        """``message`` translated, then ``{name}`` placeholders filled from ``values``."""
        text = self._catalog.gettext(message)
        return text.format_map(values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, /, **values: Any) -> str:
        """The form of ``singular``/``plural`` the language uses for ``n`` (Russian and
        Ukrainian have three), with ``{n}`` and the other placeholders filled."""
        text = self._catalog.ngettext(singular, plural, n)
        return text.format_map({"n": n, **values})

    def topic(self, topic: str, label: str | None = None) -> str:
        """A topic's display name: the bundled taxonomy's names are translated; a custom
        model's labels are shown as the model names them."""
        name = TOPIC_NAMES.get(topic)
        return self._(name) if name is not None else (label or topic)


@cache
def translator(locale: str | None) -> Translator:
    """The (cached) translator for ``locale``; English for None or an unknown code."""
    return Translator(locale)


#: Display names of the bundled model's topic ids (ids and command names stay as they are).
TOPIC_NAMES: dict[str, str] = {
    "world": N_("World"),
    "politics": N_("Politics"),
    "conflict": N_("Conflict & defence"),
    "crime": N_("Crime & justice"),
    "disaster": N_("Disasters & accidents"),
    "business": N_("Business & economy"),
    "technology": N_("Technology"),
    "science": N_("Science"),
    "health": N_("Health"),
    "environment": N_("Environment & climate"),
    "sport": N_("Sport"),
    "entertainment": N_("Entertainment & culture"),
}
