"""The text stages on real non-English feed items: sentences, summaries, boilerplate, key terms.

Every item of every feed in ``../shared/data/feeds`` goes the way a polled feed goes
(:func:`parse_feed`, :func:`stories_from_feed_items`, :func:`clean_raw`, then the title and
text cleaning of ``Pipeline``); its language is detected as the pipeline does, and the items
in German, Spanish, French, Portuguese, Italian and Russian are then summarized and given key
terms. Feed items are single stories, so the dump segmenter has nothing to do here; the
"segmentation" a feed item gets is the ingest cleaning above.

Rule-based checks, each one a mistake a reader would see (lists below are the benchmark's
own, written apart from the ones in ``bot/``):

* ``bad split``: a pair of consecutive sentences where the first ends with an abbreviation
  of the language ("z. B.", "Dr.", "S.A.", "г.", "т.е."), an initial ("J.", "А."), a German
  ordinal before a month or a counted noun ("3. Oktober", "2. Liga"), or where the second
  starts with a closing quote or bare punctuation (« ... » and „ ... “ cut at the full stop
  inside them, a French " ?" left alone). Shown per 100 sentence boundaries.
* ``no end``: sentences of the summarizer's candidates that do not end with terminal
  punctuation; ``glued``: sentences that run an unpunctuated line of the item (a related-
  story link, a sub-heading) into the next line's sentence.
* ``sum no end``: summaries holding such a sentence (a teaser cut mid-sentence is shown with
  an ellipsis, which counts as an end).
* ``over``: summaries longer than the 400-character budget or the 3 sentences.
* ``boiler``: summaries holding feed furniture ("Weiterlesen", "Leer más", "Lire la suite",
  "Continua a leggere", "Leia mais", "Читать далее", "The post ... appeared first on",
  cookie and newsletter lines).
* ``stop terms``: key terms that are a stop word or open or close with one (reference lists:
  sumy's, a dev dependency; sumy has none for Russian, where the check uses a short list of
  prepositions, conjunctions and pronouns written here). ``no terms``: items without any.

Run: ``.venv/bin/python -m benchmarks.multilingual [--save FILE] [--compare FILE]``. ``--save``
writes the figures as JSON; ``--compare`` prints them beside earlier ones (the before/after
table). ``benchmarks/multilingual_baseline.json`` holds the figures of the code before the
multilingual rules (commit 2471cfa), measured by this benchmark run over an export of that
commit's ``bot/`` (``git archive 2471cfa bot | tar -x -C DIR``, with ``benchmarks/`` copied
beside it). French and Italian have (almost) no items in the corpus: their rows say so, and the
unit tests cover them with hand-written inputs.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import parsed_feed_corpus, require_shared_data
from bot.pipeline import language as language_module
from bot.pipeline import summarize as summarize_module
from bot.pipeline.ingest import stories_from_feed_items
from bot.pipeline.language import detect_language
from bot.pipeline.run import clean_raw
from bot.pipeline.text import normalize_whitespace, strip_boilerplate, word_set

LANGUAGES = ("de", "es", "fr", "pt", "it", "ru")
MAX_CHARS = 400
MAX_SENTENCES = 3

# --- reference lists (the benchmark's own) ----------------------------------------------------

# Abbreviations that do not end a sentence (those that may, "etc.", "usw.", "и т.д.", are left
# out: a boundary after them can be right).

_ABBREVIATIONS: dict[str, frozenset[str]] = {
    "de": word_set(
        "z.b z u.a u d.h h bzw ca vgl sog dr prof nr st evtl ggf inkl mio mrd tsd jh jhd "
        "abs str hr fr dipl ing bspw zzgl s.o o.ä gegr geb verh mind rd"
    ),
    "es": word_set(
        "sr sra srta dr dra ud uds dña lic ing gral av avda pág núm nº ee.uu s.a "
        "p.ej aprox tel dpto cía hnos admón prof"
    ),
    "fr": word_set("m mm mme mlle dr pr me st ste av apr j.-c cf p.ex env min n° no"),
    "pt": word_set("sr sra srª dr dra av pág n.º nº lda s.a prof eng exmo exma ex"),
    "it": word_set("sig sigg sig.ra dott dott.ssa prof avv ing on pag s.p.a s.r.l art cfr"),
    "ru": word_set(
        "г гг т.е т.к др пр им ул д кв стр руб млн млрд тыс см напр ок и.о проф акад обл р-н пос"
    ),
}
_MONTHS = word_set(
    "januar jänner februar märz april mai juni juli august september oktober november dezember "
    "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre "
    "diciembre janvier février mars avril juin juillet août septembre octobre novembre "
    "décembre janeiro fevereiro março maio junho julho setembro outubro dezembro gennaio "
    "febbraio aprile maggio giugno luglio settembre ottobre dicembre января февраля марта "
    "апреля мая июня июля августа сентября октября ноября декабря"
)
_GERMAN_COUNTED = word_set(
    "liga bundesliga platz mal jahrhundert spieltag runde klasse etage stock geburtstag "
    "jahrestag fc minute halbzeit weltkrieg auflage lauf tag woche"
)
# Marks that close a quote or end a sentence and so never open one: a sentence starting with
# one was cut before it. "“" closes a quote only in German („ ... “); it opens one elsewhere.
_CLOSING_ONLY = "»”.,;:!?"
_TERMINAL = (".", "!", "?", "…")
_BOILERPLATE: dict[str, list[str]] = {
    "common": [
        r"the post .{1,200} appeared first on",
        r"\bcookies?\b",
        r"\bnewsletter\b",
        r"\bread more\b",
        r"\bcontinue reading\b",
    ],
    "de": [r"\bweiterlesen\b", r"\bmehr lesen\b", r"\bmehr zum thema\b", r"\blesen sie auch\b"],
    "es": [r"\bleer más\b", r"\bseguir leyendo\b", r"\bver más\b", r"\blea también\b"],
    "fr": [r"\blire la suite\b", r"\blire aussi\b", r"\ben savoir plus\b"],
    "pt": [r"\bleia mais\b", r"\bleia também\b", r"\bsaiba mais\b", r"\bcontinue lendo\b"],
    "it": [r"\bcontinua a leggere\b", r"\bleggi anche\b", r"\bleggi tutto\b"],
    "ru": [r"читать далее", r"читать полностью", r"подробнее", r"читайте также"],
}
_RUSSIAN_STOP = word_set(
    "и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только "
    "ее мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни "
    "быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где "
    "есть надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж "
    "тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее "
    "сейчас были куда зачем всех никогда можно при наконец два об другой хоть после над больше "
    "тот через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой "
    "перед иногда лучше чуть том нельзя такой им более всегда конечно всю между это"
)


def _reference_stop_words(language: str) -> frozenset[str]:
    if language == "ru":
        return _RUSSIAN_STOP
    from sumy.utils import get_stop_words

    names = {"de": "german", "es": "spanish", "fr": "french", "pt": "portuguese", "it": "italian"}
    return frozenset(word.lower() for word in get_stop_words(names[language]))


# --- the items --------------------------------------------------------------------------------


def feed_items(feeds: Path) -> dict[str, list[tuple[str, str]]]:
    """Distinct (title, cleaned text) of the corpus's feed items, by detected language."""
    found: dict[str, dict[tuple[str, str], None]] = defaultdict(dict)
    for _row, parsed in parsed_feed_corpus(feeds):
        for raw in stories_from_feed_items(parsed.items, source_name="feed"):
            raw = clean_raw(raw)
            title, text = normalize_whitespace(raw.title), strip_boilerplate(raw.text)
            if not (title or text):
                continue
            language = detect_language(f"{title}. {text}")
            if language in LANGUAGES:
                found[language][(title, text)] = None
    return {language: list(found[language]) for language in LANGUAGES}


def _takes_language(function: Callable[..., Any]) -> bool:
    """Whether ``function`` accepts ``language=`` (so the same benchmark runs on older code)."""
    return "language" in inspect.signature(function).parameters


# --- the checks -------------------------------------------------------------------------------


def _bare(token: str) -> str:
    return token.strip("\"'“”„‘’«»()[]¿¡,;:!?").lower()


def bad_split(first: str, second: str, language: str) -> str | None:
    """Why the boundary between two consecutive sentences is wrong, or None."""
    if not second or not first:
        return None
    head = second.split()[0]
    if head[0] in _CLOSING_ONLY or (language == "de" and head[0] == "“" and "„" in first):
        return "quote or punctuation cut off"
    last = first.split()[-1]
    if not last.endswith("."):
        return None
    word = _bare(last[:-1])
    if not word:
        return None
    nxt = _bare(head).rstrip(".")
    year = word in ("г", "гг") and first.split()[-2:-1] and first.split()[-2].isdigit()
    if word in _ABBREVIATIONS[language] and not year:
        return "abbreviation"  # "в 2020 г." (a year) may end a sentence; "г. Москва" may not.
    letter = last[:-1].strip("\"'“„«(")
    if len(word) == 1 and word.isalpha() and (letter.isupper() or len(head.rstrip(".")) == 1):
        # An initial ("A. Merkel") or a letter before another ("z. B."); "15.30 h. Además"
        # does end a sentence.
        return "initial or one-letter abbreviation"
    if word.isdigit() and len(word) <= 3:
        if nxt in _MONTHS:
            return "ordinal date"
        if language == "de" and nxt in _GERMAN_COUNTED:
            return "ordinal"
    return None


def glued_lines(text: str, sentences: Sequence[str]) -> list[str]:
    """Sentences that run an unpunctuated line of ``text`` into the next line's words."""
    markers = []
    lines = [line.strip() for line in normalize_whitespace(text).split("\n")]
    for line, nxt in itertools.pairwise(lines):
        if not line or not nxt or line.rstrip("\"'”’»)“ ").endswith((*_TERMINAL, ":", ";", ",")):
            continue
        if not (nxt[0].isupper() or nxt[0] in '"“„«¿¡—–-'):
            continue
        markers.append(f"{' '.join(line.split()[-3:])} {' '.join(nxt.split()[:3])}")
    return [sentence for sentence in sentences if any(marker in sentence for marker in markers)]


def _ends(sentence: str) -> bool:
    """Whether ``sentence`` ends with terminal punctuation (closing quotes aside)."""
    return sentence.rstrip("\"'”’»“)] ").endswith(_TERMINAL)


def is_stop_term(term: str, stop: frozenset[str]) -> bool:
    """A term made of stop words only ("Para", "El", "Die"); names such as "La Nación" that
    open with one are not counted."""
    return all(_bare(word) in stop for word in term.split())


@dataclass
class Figures:
    items: int = 0
    sentences: int = 0
    boundaries: int = 0
    bad_splits: int = 0
    unfinished: int = 0
    glued: int = 0
    summaries: int = 0
    over_budget: int = 0
    summary_unfinished: int = 0
    boilerplate: int = 0
    boiler_items: int = 0
    terms: int = 0
    stop_terms: int = 0
    no_terms: int = 0
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def row(self) -> dict[str, float]:
        def share(part: int, whole: int) -> float:
            return round(100.0 * part / whole, 1) if whole else 0.0

        return {
            "items": self.items,
            "sentences/item": round(self.sentences / self.items, 2) if self.items else 0.0,
            "bad split %": share(self.bad_splits, self.boundaries),
            "no end %": share(self.unfinished, self.sentences),
            "glued %": share(self.glued, self.sentences),
            "over %": share(self.over_budget, self.summaries),
            "sum no end %": share(self.summary_unfinished, self.summaries),
            "boiler %": share(self.boilerplate, self.summaries),
            "boiler sent %": share(self.boiler_items, self.items),
            "stop terms %": share(self.stop_terms, self.terms),
            "no terms %": share(self.no_terms, self.items),
        }


def measure(language: str, items: Sequence[tuple[str, str]]) -> Figures:
    """Run the text stages over ``items`` (all in ``language``) and count the mistakes."""
    figures = Figures(items=len(items))
    stop = _reference_stop_words(language)
    boilerplate = re.compile(
        "|".join(_BOILERPLATE["common"] + _BOILERPLATE[language]), re.IGNORECASE
    )
    with_language = _takes_language(summarize_module.summarize)
    terms_with_language = _takes_language(language_module.key_terms)
    for title, text in items:
        extra = {"language": language} if with_language else {}
        sentences = summarize_module._article_sentences(title, text, **extra)
        figures.sentences += len(sentences)
        figures.boundaries += max(0, len(sentences) - 1)
        for first, second in itertools.pairwise(sentences):
            why = bad_split(first, second, language)
            if why:
                figures.bad_splits += 1
                figures.examples["bad split"].append(f"{why}: …{first[-40:]} | {second[:40]}…")
        for sentence in sentences:
            if not _ends(sentence):
                figures.unfinished += 1
                figures.examples["no end"].append(sentence[:90])
        glued = glued_lines(text, sentences)
        figures.glued += len(glued)
        figures.examples["glued"] += [sentence[:120] for sentence in glued]
        furniture = next(filter(None, map(boilerplate.search, sentences)), None)
        if furniture:
            figures.boiler_items += 1
            figures.examples["boilerplate sentence"].append(furniture.string[:90])
        summary = summarize_module.summarize(
            title, text, max_sentences=MAX_SENTENCES, max_chars=MAX_CHARS, **extra
        )
        if summary.text:
            figures.summaries += 1
            if len(summary.text) > MAX_CHARS or len(summary.sentences) > MAX_SENTENCES:
                figures.over_budget += 1
            if not all(_ends(sentence) for sentence in summary.sentences):
                figures.summary_unfinished += 1
                figures.examples["summary no end"].append(summary.text[:90])
            found = boilerplate.search(summary.text)
            if found:
                figures.boilerplate += 1
                figures.examples["boilerplate"].append(found.group(0) + ": " + summary.text[:80])
        terms = language_module.key_terms(
            title, text, **({"language": language} if terms_with_language else {})
        )
        figures.terms += len(terms)
        figures.no_terms += not terms
        for term in terms:
            if is_stop_term(term, stop):
                figures.stop_terms += 1
                figures.examples["stop term"].append(term)
    return figures


def _table(rows: dict[str, dict[str, float]], title: str) -> str:
    columns = list(next(iter(rows.values())).keys())
    widths = [max(len(name), 6) for name in columns]
    lines = [title, "lang  " + "  ".join(f"{n:>{w}}" for n, w in zip(columns, widths, strict=True))]
    for language, row in rows.items():
        cells = [f"{row.get(n, '-'):>{w}}" for n, w in zip(columns, widths, strict=True)]
        lines.append(f"{language:<4}  " + "  ".join(cells))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--save", type=Path, help="write the figures as JSON")
    parser.add_argument("--compare", type=Path, help="figures saved earlier, shown as 'before'")
    parser.add_argument("--label", help="what the saved figures measure (e.g. a commit)")
    parser.add_argument("--examples", type=int, default=0, help="print N examples per mistake")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    items = feed_items(require_shared_data() / "feeds")
    rows: dict[str, dict[str, float]] = {}
    for language in LANGUAGES:
        figures = measure(language, items[language])
        rows[language] = figures.row()
        if args.examples:
            for kind, examples in figures.examples.items():
                for example in examples[: args.examples]:
                    print(f"  {language} {kind}: {example}")
    if args.compare:
        before = json.loads(args.compare.read_text(encoding="utf-8"))
        print(_table(before["rows"], f"before ({before.get('label', args.compare.name)})"))
        print()
    print(_table(rows, "now"))
    print(f"\n{time.perf_counter() - started:.1f} s")
    if args.save:
        record = {"label": args.label or args.save.stem, "rows": rows}
        args.save.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        print(f"figures written to {args.save}")


if __name__ == "__main__":
    main()
