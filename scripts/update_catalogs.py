"""Keep the translation catalogs in step with the code.

    python scripts/update_catalogs.py           # extract the template, merge it into every .po
    python scripts/update_catalogs.py --check   # exit 1 if the template is behind the code
    python scripts/update_catalogs.py --stats   # messages translated / total, per language

Messages are extracted with Babel from ``bot/`` and ``handlers/`` (see ``babel.cfg``) into
``bot/locale/newsbot.pot``; each ``bot/locale/<lang>/LC_MESSAGES/newsbot.po`` is then updated
from it (new messages untranslated, removed ones dropped). References carry no line numbers, so
the files change only when messages do. ``make catalogs`` runs the first form.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE_DIR = ROOT / "bot" / "locale"
TEMPLATE = LOCALE_DIR / "newsbot.pot"
#: t._(), t.ngettext(), N_() and the query parser's say(): see bot/i18n.py.
KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None, "say": None}
WIDTH = 100

sys.path.insert(0, str(ROOT))
from bot.i18n import DEFAULT_LOCALE, LANGUAGES  # noqa: E402


def extract() -> Catalog:
    """The template: every message of the code, in file order, without line numbers."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    catalog = Catalog(project="newsbot", domain="newsbot", charset="utf-8", fuzzy=False)
    found = extract_from_dir(
        ROOT,
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    )
    for filename, _lineno, message, comments, context in found:
        catalog.add(
            message,
            None,
            [(filename, None)],
            auto_comments=comments,
            context=context,
            flags=("python-brace-format",) if "{" in str(message) else (),
        )
    return catalog


def template_text(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=WIDTH, omit_header=False, include_lineno=False)
    return out.getvalue()


def message_keys(messages: Iterable[Message]) -> set[tuple[str, ...]]:
    keys: set[tuple[str, ...]] = set()
    for message in messages:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        keys.add(tuple(str(part) for part in ids))
    return keys


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, domain="newsbot")


def update(template: Catalog) -> None:
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    if TEMPLATE.exists():
        current = read_catalog(TEMPLATE)
        if message_keys(current) == message_keys(template):
            # Same messages: keep the date, so that an unchanged template is an unchanged file.
            template.creation_date = current.creation_date
    TEMPLATE.write_bytes(template_text(template))
    for locale in LANGUAGES:
        if locale == DEFAULT_LOCALE:
            continue
        path = LOCALE_DIR / locale / "LC_MESSAGES" / "newsbot.po"
        if path.exists():
            catalog = read_catalog(path, locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, project="newsbot", domain="newsbot")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        out = io.BytesIO()
        write_po(out, catalog, width=WIDTH, include_lineno=False, ignore_obsolete=True)
        path.write_bytes(out.getvalue())
        print(f"updated {path.relative_to(ROOT)}")


def stats() -> list[tuple[str, int, int]]:
    """(language, translated, total) for every catalog: a message counts as translated when
    every plural form has a non-empty, non-fuzzy translation."""
    template = read_catalog(TEMPLATE)
    wanted = message_keys(template)
    rows = [(DEFAULT_LOCALE, len(wanted), len(wanted))]
    for locale in LANGUAGES:
        if locale == DEFAULT_LOCALE:
            continue
        catalog = read_catalog(LOCALE_DIR / locale / "LC_MESSAGES" / "newsbot.po", locale)
        done = 0
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            key = tuple(message.id) if isinstance(message.id, tuple | list) else (message.id,)
            strings = (
                message.string if isinstance(message.string, tuple | list) else (message.string,)
            )
            if key in wanted and all(strings):
                done += 1
        rows.append((locale, done, len(wanted)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="is the template up to date?")
    parser.add_argument("--stats", action="store_true", help="translated / total per language")
    args = parser.parse_args(argv)
    if args.stats:
        for locale, done, total in stats():
            print(f"{locale}: {done}/{total} messages translated ({100 * done / total:.0f}%)")
        return 0
    template = extract()
    if args.check:
        current = read_catalog(TEMPLATE) if TEMPLATE.exists() else Catalog()
        missing = message_keys(template) - message_keys(current)
        stale = message_keys(current) - message_keys(template)
        for key in sorted(missing):
            print(f"not in the template: {key[0]!r}")
        for key in sorted(stale):
            print(f"no longer in the code: {key[0]!r}")
        if missing or stale:
            print("run: python scripts/update_catalogs.py")
            return 1
        return 0
    update(template)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
