"""Language of a text and its key terms, cheaply and offline.

Language: ``py3langid`` (a maintained fork of langid.py: a naive Bayes model over byte
n-grams, shipped inside the package, 4.5 MB installed). Its model is loaded on first use
(about a second), never at import. The candidates are restricted to the commonest news
languages, which avoids answers such as Latin or Serbian for a word or two of English;
below a minimum of letters, or when the normalised probability is low, the answer is "und"
(undetermined, ISO 639-2). On real feeds in the shared data (German, Portuguese, Slovak,
Spanish, English) it names the feed's language for at least 99% of entries.

Key terms: candidate terms are runs of capitalised words (allowing "of", "de", "van"... and
"&" inside: "Bank of England"), acronyms ("SEC", "G8") and, for salience beyond names,
content words that occur in the title and again in the text (once is enough when the story
has no other term). A capitalised word that opens
a sentence only counts if it is seen capitalised elsewhere or is part of a longer run, so
"The" and "However" never count. Each candidate scores its frequency, plus a bonus when it
appears in the title and a smaller one for an early first mention; a single word that ends
a longer term ("Parsons" in "Richard Parsons") is merged into it.

Other languages: tokens are any letters (Cyrillic, Greek, Latin with any accent), and the
function words, days and months of the story's language (``bot/data/stopwords``: German,
Spanish, French, Portuguese, Italian, Russian) join the English ones, so "Die", "Para" or
"В" never open or form a term. Terms are merged under their folded form (case and accents,
and the Cyrillic endings of :func:`bot.pipeline.query.cyrillic_stem`: "Москва"/"Москве")
and shown in the spelling seen most, accents kept; matching folds them again.

How good: on the BBC dev articles (``tests/test_text_eval.py`` checks a sample), the eight
terms include 94% (tune half) / 93% (eval half) of the capitalised title words after the
first; by inspection they are names of people, companies, places and the main topic words.
Common errors: a sentence-initial adjective kept in a run ("Struggling Japanese"), two
entities glued by a single space across a line of a list, the odd generic title word
("profit", "deal"). It is a heuristic for tagging and matching, not named-entity
recognition: it does not type the terms and misses lower-case entities.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from typing import Any

from bot.pipeline.query import cyrillic_stem, fold
from bot.pipeline.text import stop_words, word_set

__all__ = ["NEWS_LANGUAGES", "detect_language", "key_terms"]

# ISO 639-1 codes of the languages the detector may answer (the commonest news languages).
NEWS_LANGUAGES = (
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "nl",
    "sv",
    "da",
    "no",
    "fi",
    "pl",
    "cs",
    "sk",
    "hu",
    "ro",
    "el",
    "tr",
    "ru",
    "uk",
    "ar",
    "he",
    "fa",
    "hi",
    "bn",
    "ur",
    "id",
    "ms",
    "vi",
    "th",
    "zh",
    "ja",
    "ko",
    "ca",
    "hr",
    "bg",
    "sr",
    "sl",
    "lt",
    "lv",
    "et",
    "sw",
    "tl",
)
_MIN_LETTERS = 12
_MIN_PROBABILITY = 0.5
_UNDETERMINED = "und"


@functools.cache
def _identifier() -> Any:
    """The py3langid model, loaded once, on first use, and restricted to NEWS_LANGUAGES."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    full = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    full.set_languages(list(NEWS_LANGUAGES))
    # The restriction copies the columns of these languages but keeps the whole model (28 MB
    # of its ~80) only to allow another restriction later, which never comes here: a new
    # identifier built from the restricted tables alone lets the whole model go.
    identifier = LanguageIdentifier(
        full.nb_ptc,
        full.nb_pc,
        full.nb_classes,
        full.tk_nextmove,
        full.tk_output,
        tk_row=full.tk_row,
        norm_probs=True,
    )
    del full
    return identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of the language of ``text``, or "und" when too short or unclear."""
    if sum(ch.isalpha() for ch in text) < _MIN_LETTERS:
        return _UNDETERMINED
    language, probability = _identifier().classify(text)
    return str(language) if probability >= _MIN_PROBABILITY else _UNDETERMINED


# --- key terms --------------------------------------------------------------------------------

_CONNECTORS = word_set(
    "of de del della delle degli dei der des van von la le du da das do dos di al bin &"
)
_STOP_WORDS = word_set(
    """
    a an the and or but nor of to in on at by for from with into over under about after before
    than that which who whom whose as is are was were be been being has have had will would
    can could should may might must shall do does did not no its his her their our my your
    this these those it he she they we i you him them us me if while when where because so
    such very more most also just said says say told there here what how why all any some one
    two three up out then now new mr mrs ms dr year years time people first last over back
    however meanwhile yet still according
    """
)
# Capitalised words that are not names on their own: function words (capitalised when they
# open a sentence), titles, days, months. "New" stays allowed: "New York".
_NOT_TERMS = (_STOP_WORDS - {"new"}) | word_set(
    """
    mr mrs ms dr prof sir lord lady monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    """
)
_TOKEN = re.compile(r"[^\W_][\w'’&.-]*\w|[^\W\d_]")
_TITLE_BONUS = 3.0
_EARLY_BONUS = 1.0
_EARLY_TOKENS = 60


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper()


def _is_acronym(token: str) -> bool:
    letters = [ch for ch in token if ch.isalpha()]
    return len(letters) >= 2 and all(ch.isupper() for ch in letters) and len(token) <= 8


def _candidates(
    text: str, not_terms: frozenset[str] = _NOT_TERMS, connectors: frozenset[str] = _CONNECTORS
) -> list[tuple[str, int, bool]]:
    """(term, token position, sentence-initial) for capitalised runs and acronyms in ``text``.

    A run only continues over a single space (never over a comma, full stop or line break)
    and stops after a possessive ("November's"). A sentence-initial common word that opens a
    run is dropped ("Neither Ask Jeeves" -> "Ask Jeeves").
    """
    matches = list(_TOKEN.finditer(text))
    lowered_text = text.lower()
    found: list[tuple[str, int, bool]] = []
    position = 0
    while position < len(matches):
        token = matches[position].group(0)
        if not _is_capitalised(token) or _strip_possessive(token).lower() in not_terms:
            position += 1
            continue
        before = text[max(0, matches[position].start() - 3) : matches[position].start()]
        initial = not before.strip(" \t\"'“‘(") or before.rstrip(" \"'“‘(")[-1:] in ".!?:\n"
        run = [token]
        end = position + 1
        while (
            end < len(matches)
            and _strip_possessive(run[-1]) == run[-1]
            and text[matches[end - 1].end() : matches[end].start()] == " "
        ):
            nxt = matches[end].group(0)
            name_word = _is_capitalised(nxt) and _strip_possessive(nxt).lower() not in not_terms
            connector = (
                nxt.lower() in connectors
                and end + 1 < len(matches)
                and text[matches[end].end() : matches[end + 1].start()] == " "
                and _is_capitalised(matches[end + 1].group(0))
            )
            if not (name_word or connector):
                break
            run.append(nxt)
            end += 1
        while run and run[-1].lower() in connectors:
            run.pop()
        if (
            initial
            and len(run) > 1
            and f" {run[0].lower()} " in lowered_text
            and not _seen_mid_sentence(text, " ".join(run))
        ):
            run = run[1:]  # A common word, capitalised only because it opens the sentence.
            while run and run[0].lower() in connectors:
                run = run[1:]
            initial = False
        if run:
            found.append((" ".join(run), position, initial))
        position = end
    return found


def _seen_mid_sentence(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs after a lower-case word or a comma: inside a sentence."""
    needle = " " + phrase
    at = text.find(needle)
    while at > 0:
        before = text[at - 1]
        if before == "," or before.islower():
            return True
        at = text.find(needle, at + 1)
    return False


def _strip_possessive(term: str) -> str:
    for suffix in ("'s", "’s"):
        if term.endswith(suffix):
            return term[: -len(suffix)]
    return term


@functools.lru_cache(maxsize=65536)
def _term_key(term: str) -> str:
    """The form terms are merged under: folded case and accents, Cyrillic endings cut."""
    words = []
    for word in fold(term).split():
        stem = cyrillic_stem(word) if not word.isascii() else None
        words.append(stem or word)
    return " ".join(words)


# German capitalises every noun, so "der"/"des"/"das" between two capitalised words join nouns
# ("Ruf der Hosting-Plattform"), not the parts of a name as in Spanish or Dutch.
_GERMAN_ARTICLES = word_set("der des das")


@functools.cache
def _language_words(language: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(stop words, words that are never a term, connectors) for ``language``: English plus
    its own."""
    own = stop_words(language)
    connectors = _CONNECTORS - _GERMAN_ARTICLES if language == "de" else _CONNECTORS
    return _STOP_WORDS | own, _NOT_TERMS | own, connectors


def key_terms(title: str, text: str, limit: int = 8, *, language: str | None = None) -> list[str]:
    """Up to ``limit`` salient terms (names first, then title topic words), best first.

    ``language`` (ISO 639-1) picks the stop words; it is detected when not given.
    """
    if limit <= 0:
        return []
    if language is None:
        language = detect_language(f"{title}. {text[:600]}")
    stop, not_terms, connectors = _language_words(language)
    scores: defaultdict[str, float] = defaultdict(float)
    display: dict[str, str] = {}
    spellings: defaultdict[str, Counter[str]] = defaultdict(Counter)
    initial_only: dict[str, bool] = {}
    body = f"{title}.\n{text}" if title else text
    for term, position, initial in _candidates(body, not_terms, connectors):
        term = _strip_possessive(term)
        key = _term_key(term)
        display.setdefault(key, term)
        spellings[key][term] += 1
        multiword = " " in term
        initial_only[key] = initial_only.get(key, True) and initial and not multiword
        scores[key] += 1.0 + (_EARLY_BONUS if position < _EARLY_TOKENS else 0.0)
        if _is_acronym(term):
            scores[key] += 0.5
    title_key = _term_key(title)
    for key in list(scores):
        if initial_only[key] and not _is_acronym(display[key]):
            del scores[key]  # Only ever capitalised because it opened a sentence.
            continue
        if key in title_key:
            scores[key] += _TITLE_BONUS
        # The commonest spelling, then the one with most accents ("Zürich" over "ZURICH").
        display[key] = max(
            spellings[key].items(),
            key=lambda item: (
                item[1],
                not item[0].isupper(),
                sum(not c.isascii() for c in item[0]),
            ),
        )[0]
    # Salient common words: content words of the title that the text repeats.
    text_counts: Counter[str] = Counter()
    for word, count in Counter(word.lower() for word in _TOKEN.findall(text)).items():
        text_counts[_term_key(word)] += count
    for word in _TOKEN.findall(title):
        lowered = word.lower()
        key = _term_key(word)
        if (
            len(lowered) > 3
            and lowered not in stop
            and not _is_capitalised(word)
            and text_counts[key] >= 2
        ):
            scores[key] = max(scores[key], 1.0 + text_counts[key] * 0.5)
            display.setdefault(key, lowered)
    if not scores:
        # A story without names whose title words the text does not repeat ("Só há chocolate
        # até 2050 por causa das alterações climáticas"): the title's content words that the
        # text uses at all, so the story still has terms to search by.
        for word in _TOKEN.findall(title):
            lowered, key = word.lower(), _term_key(word)
            if len(lowered) > 3 and lowered not in not_terms and text_counts[key] >= 1:
                scores[key] = max(scores[key], 0.5 + text_counts[key] * 0.5)
                display.setdefault(key, lowered)
    # Fold a word into the best longer term that ends with it ("Ebbers" -> "Bernie Ebbers"),
    # as names are shortened to their last word; "AOL" stays apart from "AOL Europe".
    for key in [key for key in scores if " " not in key]:
        containers = [other for other in scores if " " in other and other.split()[-1] == key]
        if containers:
            best = max(containers, key=lambda other: (scores[other], other))
            scores[best] += scores.pop(key)
    ranked = sorted(scores, key=lambda key: (-scores[key], key))
    return [display[key] for key in ranked[:limit]]
