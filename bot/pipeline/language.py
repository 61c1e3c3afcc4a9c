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
import math
import re
import unicodedata
from collections import Counter, defaultdict
from typing import Any

import numpy as np

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


# A py3langid state's bytes, most recent lowest, with its length in the top byte: see _Detector.
_LENGTH_SHIFT = np.uint64(56)
_EMPTY = np.uint64(2**64 - 1)  # an empty slot of _Detector's table: no state is 255 bytes long
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class _Detector:
    """py3langid's naive Bayes model, with its byte automaton replaced by a table of suffixes.

    py3langid counts its byte n-gram features by walking an Aho-Corasick automaton over the
    text's bytes, a 256-entry row of next states per state: 39 MB of transitions (and two
    Python lists of ~100,000 ints), most of the ~55 MB the loaded model took, for the
    restricted model's ~9 MB of weights. In an Aho-Corasick automaton the state after any
    byte is the trie node spelling the longest suffix of the text so far that is a node
    (``tests/test_language_model.py`` checks it for every transition of the shipped model). So
    only the bytes each state spells (at most six) are kept, and the state at every position
    is found by looking up the suffixes ending there with a few vectorised look-ups: the same
    features in the same order, so the same scores to the bit, from ~8 MB of tables.
    """

    def __init__(
        self, nb_ptc: Any, nb_pc: Any, classes: list[str], nextmove: Any, rows: Any, outputs: Any
    ) -> None:
        self.ptc = nb_ptc
        self.pc = nb_pc
        self.classes = classes
        first: dict[str, int] = {}
        # Labels that appear twice (a language in two scripts) are summed into the first.
        self.alias_pairs = [
            (first[label], i) for i, label in enumerate(classes) if first.setdefault(label, i) != i
        ]
        spelled, lengths = _spellings(
            np.asarray(nextmove).reshape(-1, 256), np.asarray(rows).astype(np.intp)
        )
        state_outputs = np.asarray(outputs, dtype=np.int32)
        self.root_output = int(state_outputs[0])
        self.depth = int(lengths.max())
        # States of one or two bytes: a plain array indexed by the bytes (after 256 for two).
        self.short_outputs = np.full(256 + 65536, -2, dtype=np.int32)
        short = (lengths >= 1) & (lengths <= 2)
        at = np.where(lengths[short] == 2, 256, 0) + spelled[short].astype(np.intp)
        self.short_outputs[at] = state_outputs[short]
        # Longer ones in a hash table of buckets as wide as the fullest one, so that a look-up
        # is one gather and one comparison whatever the key (a binary search of 100,000 keys,
        # or probing on from a full slot, took several times as long as py3langid's walk).
        long = np.flatnonzero(lengths > 2)
        keys = spelled[long] | (lengths[long].astype(np.uint64) << _LENGTH_SHIFT)
        self.bits = max(int(keys.size / 1.5).bit_length(), 4)
        slots = self._slots(keys)
        order = np.argsort(slots, kind="stable")
        starts = np.searchsorted(slots[order], slots[order])
        rank = np.arange(keys.size) - starts  # place of each key (in ``order``) in its bucket
        width = int(rank.max()) + 1 if keys.size else 1
        self.table_keys = np.full((1 << self.bits, width), _EMPTY, dtype=np.uint64)
        self.table_outputs = np.full((1 << self.bits, width), -2, dtype=np.int32)
        self.table_keys[slots[order], rank] = keys[order]
        self.table_outputs[slots[order], rank] = state_outputs[long][order]

    def _slots(self, keys: Any) -> Any:
        """The bucket of each key (Fibonacci hashing)."""
        return ((keys * _GOLDEN) >> np.uint64(64 - self.bits)).astype(np.intp)

    def _outputs_of(self, keys: Any) -> Any:
        """The output of the state each key spells, -2 for keys that spell no state."""
        slots = self._slots(keys)
        found = np.full(keys.size, -2, dtype=np.int32)
        rows, columns = np.nonzero(self.table_keys[slots] == keys[:, None])
        found[rows] = self.table_outputs[slots[rows], columns]
        return found

    def features(self, data: bytes) -> tuple[Any, Any]:
        """The features the automaton would count in ``data``, in order of first occurrence,
        and how often each occurs."""
        size = len(data)
        if not size:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.intp)
        values = np.frombuffer(data, dtype=np.uint8).astype(np.uint64)
        depth = min(self.depth, size)
        # Row l - 1, column i: the l bytes ending at byte i, most recent lowest (the columns
        # before l - 1, with fewer bytes before them, are never looked up).
        suffixes = np.empty((depth, size), dtype=np.uint64)
        suffixes[0] = values
        for length in range(2, depth + 1):
            row = suffixes[length - 1]
            row[: length - 1] = 0
            row[length - 1 :] = suffixes[length - 2, length - 2 : -1] << np.uint64(8)
            row[length - 1 :] |= values[length - 1 :]
        outputs = np.full((depth, size), -2, dtype=np.int32)
        outputs[0] = self.short_outputs[suffixes[0].astype(np.intp)]
        if depth > 1:
            outputs[1, 1:] = self.short_outputs[256 + suffixes[1, 1:].astype(np.intp)]
        for length in range(3, depth + 1):
            # States are prefixes of features, so bytes whose first length - 1 (ending one byte
            # earlier) spell no state spell none either: only the others are looked up.
            at = np.flatnonzero(outputs[length - 2, length - 2 : -1] != -2) + (length - 1)
            tagged = suffixes[length - 1, at] | (np.uint64(length) << _LENGTH_SHIFT)
            outputs[length - 1, at] = self._outputs_of(tagged)
        # The state at each byte spells the longest suffix that is a state (the start state,
        # with nothing, when none is).
        is_state = outputs[::-1] != -2
        longest = depth - 1 - is_state.argmax(axis=0)
        found = np.where(is_state.any(axis=0), outputs[longest, np.arange(size)], self.root_output)
        found = found[found >= 0]
        distinct, first, counts = np.unique(found, return_index=True, return_counts=True)
        order = np.argsort(first)
        return distinct[order], counts[order]

    def classify(self, text: str) -> tuple[str, float]:
        """(language, probability), exactly as py3langid's ``classify`` with ``norm_probs``."""
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")
        features, counts = self.features(data)
        if features.size:
            scores = np.log1p(counts.astype(np.float32)) @ self.ptc[features] + self.pc
        else:
            scores = np.full(len(self.classes), 0.0, dtype=np.float32)
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in self.alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        best = int(scores.argmax())
        return self.classes[best], float(scores[best])


def _spellings(nextmove: Any, rows: Any) -> tuple[Any, Any]:
    """The bytes each automaton state spells (most recent lowest) and their number.

    A breadth-first walk from the start state: a state first reached at depth d + 1 from one
    at depth d spells that state's bytes and the byte of the move, since in an Aho-Corasick
    automaton only a node's trie parent reaches it with a full-length match.
    """
    states = rows.size
    lengths = np.full(states, -1, dtype=np.int64)
    spelled = np.zeros(states, dtype=np.uint64)
    lengths[0] = 0
    frontier = np.zeros(1, dtype=np.intp)
    depth = 0
    while frontier.size:
        reached = []
        for start in range(0, frontier.size, 2048):
            chunk = frontier[start : start + 2048]
            targets = nextmove[rows[chunk]].astype(np.intp)  # (chunk, 256)
            new = lengths[targets] == -1
            source, byte = np.nonzero(new)
            fresh, first = np.unique(targets[source, byte], return_index=True)
            lengths[fresh] = depth + 1
            spelled[fresh] = (spelled[chunk[source[first]]] << np.uint64(8)) | byte[first].astype(
                np.uint64
            )
            reached.append(fresh)
        frontier = np.concatenate(reached)
        depth += 1
    return spelled, lengths


@functools.cache
def _identifier() -> _Detector:
    """py3langid's model, loaded once, on first use, restricted to NEWS_LANGUAGES and with its
    automaton replaced (see :class:`_Detector`); the full model is let go."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    full = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    full.set_languages(list(NEWS_LANGUAGES))
    return _Detector(
        full.nb_ptc,
        full.nb_pc,
        list(full.nb_classes),
        full.tk_nextmove,
        full.tk_row,
        full.tk_output,
    )


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
