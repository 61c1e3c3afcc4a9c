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
content words that occur in the title and again in the text. A capitalised word that opens
a sentence only counts if it is seen capitalised elsewhere or is part of a longer run, so
"The" and "However" never count. Each candidate scores its frequency, plus a bonus when it
appears in the title and a smaller one for an early first mention; a single word that ends
a longer term ("Parsons" in "Richard Parsons") is merged into it.

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

from bot.pipeline.text import word_set

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

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(NEWS_LANGUAGES))
    # The restriction copies the columns of these languages and keeps the whole model (28 MB
    # of its ~80) only to allow another restriction later, which never comes here.
    if hasattr(identifier, "_full_model"):
        identifier._full_model = (identifier.nb_ptc, identifier.nb_pc, identifier.nb_classes)
    return identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of the language of ``text``, or "und" when too short or unclear."""
    if sum(ch.isalpha() for ch in text) < _MIN_LETTERS:
        return _UNDETERMINED
    language, probability = _identifier().classify(text)
    return str(language) if probability >= _MIN_PROBABILITY else _UNDETERMINED


# --- key terms --------------------------------------------------------------------------------

_CONNECTORS = word_set("of de del della der van von la le du da dos di al bin &")
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
_TOKEN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9][\w'’&.-]*[\w]|[A-Za-zÀ-ÖØ-öø-ÿ]")
_TITLE_BONUS = 3.0
_EARLY_BONUS = 1.0
_EARLY_TOKENS = 60


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper()


def _is_acronym(token: str) -> bool:
    letters = [ch for ch in token if ch.isalpha()]
    return len(letters) >= 2 and all(ch.isupper() for ch in letters) and len(token) <= 8


def _candidates(text: str) -> list[tuple[str, int, bool]]:
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
        if not _is_capitalised(token) or _strip_possessive(token).lower() in _NOT_TERMS:
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
            name_word = _is_capitalised(nxt) and _strip_possessive(nxt).lower() not in _NOT_TERMS
            connector = (
                nxt.lower() in _CONNECTORS
                and end + 1 < len(matches)
                and text[matches[end].end() : matches[end + 1].start()] == " "
                and _is_capitalised(matches[end + 1].group(0))
            )
            if not (name_word or connector):
                break
            run.append(nxt)
            end += 1
        while run and run[-1].lower() in _CONNECTORS:
            run.pop()
        if (
            initial
            and len(run) > 1
            and f" {run[0].lower()} " in lowered_text
            and not re.search(r"[a-z,] " + re.escape(" ".join(run)), text)
        ):
            run = run[1:]  # A common word, capitalised only because it opens the sentence.
            while run and run[0].lower() in _CONNECTORS:
                run = run[1:]
            initial = False
        if run:
            found.append((" ".join(run), position, initial))
        position = end
    return found


def _strip_possessive(term: str) -> str:
    for suffix in ("'s", "’s"):
        if term.endswith(suffix):
            return term[: -len(suffix)]
    return term


def key_terms(title: str, text: str, limit: int = 8) -> list[str]:
    """Up to ``limit`` salient terms (names first, then title topic words), best first."""
    if limit <= 0:
        return []
    scores: defaultdict[str, float] = defaultdict(float)
    display: dict[str, str] = {}
    initial_only: dict[str, bool] = {}
    body = f"{title}.\n{text}" if title else text
    for term, position, initial in _candidates(body):
        term = _strip_possessive(term)
        key = term.lower()
        display.setdefault(key, term)
        multiword = " " in term
        initial_only[key] = initial_only.get(key, True) and initial and not multiword
        scores[key] += 1.0 + (_EARLY_BONUS if position < _EARLY_TOKENS else 0.0)
        if _is_acronym(term):
            scores[key] += 0.5
    title_lower = title.lower()
    for key in list(scores):
        if initial_only[key] and not _is_acronym(display[key]):
            del scores[key]  # Only ever capitalised because it opened a sentence.
            continue
        if key in title_lower:
            scores[key] += _TITLE_BONUS
    # Salient common words: content words of the title that the text repeats.
    text_counts = Counter(word.lower() for word in _TOKEN.findall(text))
    for word in _TOKEN.findall(title):
        lowered = word.lower()
        if (
            len(lowered) > 3
            and lowered not in _STOP_WORDS
            and not _is_capitalised(word)
            and text_counts[lowered] >= 2
        ):
            scores[lowered] = max(scores[lowered], 1.0 + text_counts[lowered] * 0.5)
            display.setdefault(lowered, lowered)
    # Fold a word into the best longer term that ends with it ("Ebbers" -> "Bernie Ebbers"),
    # as names are shortened to their last word; "AOL" stays apart from "AOL Europe".
    for key in [key for key in scores if " " not in key]:
        containers = [other for other in scores if " " in other and other.split()[-1] == key]
        if containers:
            best = max(containers, key=lambda other: (scores[other], other))
            scores[best] += scores.pop(key)
    ranked = sorted(scores, key=lambda key: (-scores[key], key))
    return [display[key] for key in ranked[:limit]]
