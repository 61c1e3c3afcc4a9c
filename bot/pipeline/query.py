"""The subscription query language: normalisation, lexer, parser and AST.

A subscription is a small boolean query over the words of a story, for example
``earthquake AND (japan OR "tokyo bay") -drill topic:disaster``. The grammar, precedence and
matching rules are documented for users in ``docs/query-language.md``; this module is the single
source of truth for them.

The same normaliser (:func:`normalize_word`, :func:`text_tokens`, :func:`analyze_text`) is used
for query terms and for story text, so both sides always agree on what a "word" is: case- and
accent-insensitive, whole words only, with simple English plural folding.

Nothing here does work at import time; the word pattern and the list of common words are built
on first use and cached.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, cast

from bot.i18n import N_
from bot.pipeline.text import english_common_words

__all__ = [
    "EXAMPLE_QUERY",
    "FIELDS",
    "MAX_DEPTH",
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "And",
    "Field",
    "Leaf",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Query",
    "QueryError",
    "TextAnalysis",
    "Token",
    "Word",
    "analyze_text",
    "anchor_leaves",
    "cyrillic_stem",
    "fold",
    "is_common_word",
    "leaves",
    "normalize_word",
    "parse_query",
    "text_tokens",
    "token_info",
    "tokenize",
    "word_tokens",
]

#: Longest accepted query, in characters: keeps parsing and matching cheap and bounded.
MAX_QUERY_CHARS = 500
#: Most words, phrases and fields one query may contain.
MAX_TERMS = 40
#: Deepest nesting of parentheses and NOT: bounds recursion in the parser and evaluators.
MAX_DEPTH = 16
#: Field filters understood by ``name:value`` terms.
FIELDS: tuple[str, ...] = ("topic", "source", "lang")
#: Shown at the end of every :class:`QueryError` so the user sees what a good query looks like.
EXAMPLE_QUERY = 'earthquake AND (japan OR "tokyo bay") -drill topic:disaster'

FieldName = Literal["topic", "source", "lang"]
TokenKind = Literal["word", "phrase", "field", "and", "or", "not", "lparen", "rparen"]

# Quote characters accepted around phrases: phones turn " into curly quotes as you type.
_QUOTES = frozenset('"“”„«»')
_BARE_STOP = _QUOTES | frozenset("()")
_FIELD_RE = re.compile(r"([A-Za-z]+):")
_LANG_RE = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{2,8})*")
_OPERATORS: dict[str, TokenKind] = {"AND": "and", "OR": "or", "NOT": "not"}

# ---------------------------------------------------------------------------------------------
# Normalisation shared by queries and stories
# ---------------------------------------------------------------------------------------------

# Letters that Unicode does not decompose into "base + accent", folded the way readers expect
# (København ~ Kobenhavn). A table this small is clearer than a transliteration dependency.
_EXTRA_FOLDS = str.maketrans(
    {"ø": "o", "ł": "l", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
# Words ending in -s that are not plurals, or whose singular would be a different common word
# ("news" is not the plural of "new"). Everything else follows the simple suffix rules below.
_NOT_PLURAL = frozenset(
    [
        "news",
        "means",
        "goods",
        "arms",
        "customs",
        "savings",
        "series",
        "species",
        "physics",
        "politics",
        "economics",
        "athletics",
        "mathematics",
        "always",
        "perhaps",
        "sometimes",
        "whereas",
        "towards",
        "afterwards",
        "besides",
        "thus",
        "yes",
        "does",
        "goes",
        "lens",
        "bias",
        "atlas",
        "texas",
        "christmas",
    ]
)
_VOWELS = frozenset("aeiou")


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    """The word pattern, built on first use.

    Stdlib ``re`` has no ``\\p{M}``, and its ``\\w`` omits combining marks, which would cut
    Devanagari or Thai words apart. The third-party ``regex`` module has ``\\p{M}`` but
    tokenises news text about half as fast on this hot path, so the mark ranges are collected
    here once from :mod:`unicodedata`. Only Basic Multilingual Plane marks are included: ``re``
    tests a character class with astral ranges one range at a time, which made tokenising
    several times slower; astral marks belong to historic scripts.

    A token is either a dotted abbreviation (``U.S.``, ``e.g.``) or a run of letters, digits and
    marks with an optional possessive ``'s`` (both folded away by :func:`normalize_word`).
    """
    ranges: list[list[int]] = []
    for code in range(0x10000):
        char = chr(code)
        if unicodedata.category(char).startswith("M") and not char.isalnum():
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    marks = "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high in ranges
    )
    return _compile_words(inside=rf"[\w{marks}]", start=r"[^\W_]", letter=r"[^\W\d_]", quote="['’]")


def _compile_words(inside: str, start: str, letter: str, quote: str) -> re.Pattern[str]:
    r"""The token pattern over the given character classes (``letter`` is part of ``start``,
    ``start`` of ``inside``).

    Logically ``letter(\.letter)+(\.?'s)?(?!inside) | start inside* ('s(?!inside))?``; the
    first character is factored out of the two branches (a lookbehind tells the abbreviation
    branch that it was a letter) so that the pattern begins with a character class, which lets
    ``re`` skip the spaces and punctuation between words in its fast C loop instead of trying
    both branches at every position.
    """
    abbreviation = rf"(?<={letter})(?:\.{letter})+(?:\.?{quote}s)?(?!{inside})"
    return re.compile(rf"{start}(?:{abbreviation}|{inside}*(?:{quote}s(?!{inside}))?)")


@functools.cache
def _ascii_token_pattern() -> re.Pattern[str]:
    """:func:`_token_pattern` for pure ASCII text (most news text), where it reduces to
    ASCII classes that ``re`` tests faster: no marks, no curly quote, and no ``_``, which
    :func:`_prepare` would turn into a space and which no class here contains anyway."""
    return _compile_words(inside="[A-Za-z0-9]", start="[A-Za-z0-9]", letter="[A-Za-z]", quote="'")


def _prepare(text: str) -> str:
    """Compose accents (so a letter and its accent stay one character) and split snake_case."""
    return unicodedata.normalize("NFC", text).replace("_", " ")


def fold(text: str) -> str:
    """Case- and accent-fold ``text`` (casefold, strip accents, fold ø/æ/ł...).

    This is the comparison form for prefixes and field values; words additionally get plural
    folding in :func:`normalize_word`.
    """
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_EXTRA_FOLDS))
    # Only the Latin/Greek/Cyrillic accents (U+0300-U+036F) are dropped: marks of other scripts,
    # such as the Devanagari virama, are part of the spelling. Some ligatures decompose into
    # several words; a key must never contain a space.
    return "".join(
        char for char in decomposed if not ("\u0300" <= char <= "\u036f" or char.isspace())
    )


def _strip_word(raw: str) -> str:
    """Drop a possessive ``'s`` and the dots of an abbreviation: ``U.S.'s`` -> ``US``."""
    if raw.endswith(("'s", "’s")):
        raw = raw[:-2]
    return raw.replace(".", "") if "." in raw else raw


def _fold_plural(word: str) -> str:
    """Map singular and plural of an already folded word to one form.

    Deliberately simple suffix rules (no dictionary): ``earthquakes`` -> ``earthquake``,
    ``cities``/``city`` -> ``citie``, ``churches``/``church`` -> ``church``,
    ``viruses``/``virus`` -> ``virus``, ``heroes``/``hero`` -> ``hero``. Words of three letters
    or fewer, words ending in -ss/-us/-is and the :data:`_NOT_PLURAL` list are never shortened,
    so ``news`` stays ``news`` and ``us`` stays ``us``. The output is a matching key, not
    necessarily an English word; both sides of every comparison go through it.
    """
    if (
        len(word) > 3
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is"))
        and word not in _NOT_PLURAL
    ):
        word = word[:-1]
    if word.endswith("e"):
        stem = word[:-1]
        if (stem.endswith(("ch", "sh", "x", "ss", "zz")) and len(stem) >= 3) or (
            stem.endswith(("us", "o")) and len(stem) >= 4
        ):
            return stem
    elif word.endswith("y") and len(word) > 2 and word[-2] not in _VOWELS:
        return word[:-1] + "ie"
    return word


def normalize_word(word: str) -> str:
    """The matching key of one word: casefold, strip accents, fold plurals.

    ``normalize_word("Earthquakes") == normalize_word("earthquake")``,
    ``normalize_word("Zürich") == normalize_word("zurich")`` and
    ``normalize_word("U.S.") == "us"``. Used for query words and story tokens alike.
    """
    return _token_info(word)[0]


def _is_shouted(word: str) -> bool:
    """True for an ALL-CAPS word of at most three letters (``US``, ``UN``, ``IT``).

    Such a query word matches only upper-case occurrences, so ``US`` finds the country and not
    the pronoun "us"; see the US/us rule in ``docs/query-language.md``.
    """
    return len(word) <= 3 and word.isalpha() and word.isupper()


# Case endings of Russian and Ukrainian nouns and adjectives, as they read after :func:`fold`
# (which turns й into и, ё into е and ї into і), longest first so that "-ами" goes before "-и".
# Deliberately left out: "-ов"/"-ев"/"-ин" (the nominative of surnames such as Лавров, Медведев,
# Путин, which would otherwise lose them and part from their other cases), and verb endings.
_CYRILLIC_ENDING_LIST = """
    иями иеи иям иях ами ями ого его ому ему ыми ими ові еві
    ия ии ию ие ам ям ах ях ом ем ои еи ыи ая яя ое ее ые ую юю ым им ых их ою ею ью оі іи
    а я ы и е у ю о ь і є
"""
_CYRILLIC_ENDINGS: tuple[str, ...] = tuple(
    sorted(dict.fromkeys(_CYRILLIC_ENDING_LIST.split()), key=len, reverse=True)
)
#: Fewest letters a Cyrillic stem keeps: "мира" -> "мир", but "она" and "США" stay whole.
_CYRILLIC_MIN_STEM = 3


def _fold_cyrillic(word: str) -> str:
    """Strip one common case ending from a folded Cyrillic word: a light stemmer.

    ``Москва``, ``Москвы``, ``Москве``, ``Москву`` and ``Москвой`` all give ``москв``;
    ``Зеленский``/``Зеленского``/``Зеленским`` give ``зеленск``; ``Україна``/``України``/
    ``Україною`` give ``украін``. The longest listed ending that leaves at least
    :data:`_CYRILLIC_MIN_STEM` letters is removed, once: no dictionary, no alternations
    (Київ/Києва stay apart). Like :func:`_fold_plural` the result is a matching key applied
    to both sides, so the same written form always matches itself; the rule only adds the
    other case forms of a word.
    """
    for ending in _CYRILLIC_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _CYRILLIC_MIN_STEM:
            return word[: -len(ending)]
    return word


def cyrillic_stem(word: str) -> str | None:
    """For a Cyrillic ``word``, the lower-case start that its case forms share, else None.

    Full-text search indexes whole words, so it finds other case forms through this stem as
    a prefix (``Москва`` -> ``москв*``). The stem is cut from the case-folded word itself,
    not from the accent-folded key, because the search index keeps й and ё apart from и and
    е; None when nothing would be stripped.
    """
    lower = word.casefold()
    if not lower or lower.isascii() or not _is_cyrillic(lower):
        return None
    folded = fold(lower)
    stem = _fold_cyrillic(folded)
    if stem == folded or len(folded) != len(lower):
        return None
    return lower[: len(stem)]


def _is_cyrillic(word: str) -> bool:
    """True when ``word`` is written in Cyrillic letters (judged by its first and last)."""
    return "\u0400" <= word[0] <= "\u04ff" and "\u0400" <= word[-1] <= "\u04ff"


@functools.lru_cache(maxsize=1 << 17)
def _token_info(raw: str) -> tuple[str, str, bool]:
    """``(key, surface, written_in_capitals)`` of one raw token, cached: news vocabulary is
    Zipfian, so almost every token of a story is a cache hit.

    Latin words get English plural folding, Cyrillic words the light case-ending stemmer;
    the surface (what ``prefix*`` terms see) is only case- and accent-folded.
    """
    stripped = _strip_word(raw)
    surface = fold(stripped) or raw.casefold()
    if not surface.isascii() and _is_cyrillic(surface):
        return _fold_cyrillic(surface), surface, stripped.isupper()
    return _fold_plural(surface), surface, stripped.isupper()


class TextAnalysis(NamedTuple):
    """A text cut into normalised tokens, aligned position by position.

    ``keys`` are the plural-folded matching keys, ``surfaces`` the case/accent-folded words
    before plural folding (what ``prefix*`` terms are compared with) and ``upper`` tells
    whether the word was written in capitals (for the US/us rule). Separate parts of a story
    (title, body) are divided by an empty key so that no phrase matches across them.
    """

    keys: tuple[str, ...]
    surfaces: tuple[str, ...]
    upper: tuple[bool, ...]


def _raw_tokens(text: str) -> list[str]:
    if text.isascii():  # already NFC; "_" is no word character of the ASCII pattern
        return _ascii_token_pattern().findall(text)
    return _token_pattern().findall(_prepare(text))


def word_tokens(text: str) -> list[str]:
    """The raw word tokens of ``text`` in order, before any folding (``["U.S.'s", "Cities"]``).

    With :func:`token_info` this is :func:`analyze_text` split in two, for callers that cache
    their own per-token work: news vocabulary repeats within and across stories, so the
    matcher folds a raw token the first time it sees it and afterwards only looks it up.
    """
    return _raw_tokens(text)


def token_info(raw: str) -> tuple[str, str, bool]:
    """``(key, surface, written_in_capitals)`` of one raw token from :func:`word_tokens`,
    exactly as :func:`analyze_text` aligns them in ``keys``, ``surfaces`` and ``upper``."""
    return _token_info(raw)


def analyze_text(*parts: str) -> TextAnalysis:
    """Tokenise and normalise the ``parts`` of a text (e.g. title and body) in one pass."""
    infos: list[tuple[str, str, bool]] = []
    for part in parts:
        raws = _raw_tokens(part)
        if not raws:
            continue
        if infos:
            infos.append(("", "", False))
        infos.extend(map(_token_info, raws))
    if not infos:
        return TextAnalysis((), (), ())
    keys, surfaces, upper = zip(*infos, strict=True)
    return TextAnalysis(keys, surfaces, upper)


def text_tokens(text: str) -> list[str]:
    """The matching keys of ``text`` in order: whole words, case/accent/plural folded.

    ``text_tokens("NATO-led Cities") == ["nato", "led", "citie"]``; ``NATOwide`` stays one
    token, which is why ``NATO`` does not match it.
    """
    return list(analyze_text(text).keys)


@functools.cache
def _common_words() -> frozenset[str]:
    """Keys of very common English words (scikit-learn's stop-word list), built on first use."""
    return frozenset(normalize_word(word) for word in english_common_words())


def is_common_word(key: str) -> bool:
    """True when the normalised ``key`` is a very common English word (``the``, ``which``)."""
    return key in _common_words()


# ---------------------------------------------------------------------------------------------
# AST
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """A single word, or with ``prefix`` a word start (``earthquak*``).

    ``text`` is the word as the user typed it (without the ``*``); ``key`` is what is compared:
    the normalised word, or for a prefix the folded stem (no plural folding, so ``citie*``
    finds "cities"). ``exact_case`` is set for short ALL-CAPS words (the US/us rule).
    """

    text: str
    prefix: bool = False
    key: str = field(init=False, compare=False, repr=False)
    exact_case: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        raws = _raw_tokens(self.text)
        if len(raws) != 1:
            raise ValueError(f"a Word holds exactly one word, got {self.text!r}")
        key, surface, _ = _token_info(raws[0])
        object.__setattr__(self, "key", surface if self.prefix else key)
        object.__setattr__(
            self, "exact_case", not self.prefix and _is_shouted(_strip_word(raws[0]))
        )

    @property
    def display(self) -> str:
        return f"{self.text}*" if self.prefix else self.text


@dataclass(frozen=True)
class Phrase:
    """Words that must appear next to each other, in this order (``"tokyo bay"``).

    A bare word that splits into several tokens (``covid-19``) is a phrase too.
    """

    text: str
    keys: tuple[str, ...] = field(init=False, compare=False, repr=False)
    exact_case: tuple[bool, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        raws = _raw_tokens(self.text)
        if not raws:
            raise ValueError(f"a Phrase needs at least one word, got {self.text!r}")
        object.__setattr__(self, "keys", tuple(_token_info(raw)[0] for raw in raws))
        object.__setattr__(self, "exact_case", tuple(_is_shouted(_strip_word(raw)) for raw in raws))

    @property
    def display(self) -> str:
        return self.text


@dataclass(frozen=True)
class Field:
    """A filter on story metadata: ``topic:crime``, ``source:bbc``, ``lang:en``."""

    name: FieldName
    value: str
    folded: str = field(init=False, compare=False, repr=False)
    keys: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.name not in FIELDS:
            raise ValueError(f"unknown field {self.name!r}")
        object.__setattr__(self, "folded", " ".join(fold(self.value).split()))
        object.__setattr__(self, "keys", tuple(text_tokens(self.value)))

    @property
    def display(self) -> str:
        value = self.value
        if not value or any(c.isspace() or c in _BARE_STOP for c in value):
            value = f'"{value}"'
        return f"{self.name}:{value}"


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Leaf = Word | Phrase | Field
Node = Word | Phrase | Field | Not | And | Or


def leaves(node: Node, positive: bool = True) -> Iterator[tuple[Leaf, bool]]:
    """Yield every leaf of ``node`` in query order with its polarity (False under one NOT)."""
    if isinstance(node, Not):
        yield from leaves(node.child, not positive)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from leaves(child, positive)
    else:
        yield node, positive


def _is_broad(leaf: Leaf) -> bool:
    """Terms that on their own match most stories (the subject of :meth:`Query.hint`)."""
    if isinstance(leaf, Word):
        if leaf.prefix:
            return len(leaf.key) <= 2
        return not leaf.exact_case and is_common_word(leaf.key)
    if isinstance(leaf, Phrase):
        return all(is_common_word(key) for key in leaf.keys)
    return leaf.name == "lang"


def _leaf_cost(leaf: Leaf) -> float:
    """A rough guess of how many stories contain ``leaf``: used to pick the rarest anchor."""
    if _is_broad(leaf):
        return 1000.0
    if isinstance(leaf, Word):
        if leaf.prefix:
            return 20.0 if len(leaf.key) == 3 else 3.0
        return 1.0
    if isinstance(leaf, Phrase):
        return 0.5 if len(leaf.keys) > 1 else 1.0
    return 200.0 if leaf.name == "topic" else 5.0


def anchor_leaves(
    node: Node, cost: Callable[[Leaf], float] = _leaf_cost
) -> tuple[Leaf, ...] | None:
    """Leaves of which at least one must be present in any story that ``node`` matches.

    An index over these "anchors" finds every candidate story without evaluating every query.
    For AND the cheapest child's anchors suffice, OR needs all children's, and NOT gives none.
    Returns ``None`` when the query can match a story that contains none of its terms
    (``-sport``, ``a OR -b``): such queries must be checked against every story.
    """
    return _anchors(node, cost)[0]


def _anchors(node: Node, cost: Callable[[Leaf], float]) -> tuple[tuple[Leaf, ...] | None, float]:
    if isinstance(node, Not):
        return None, float("inf")
    if isinstance(node, And):
        best: tuple[tuple[Leaf, ...] | None, float] = (None, float("inf"))
        for child in node.children:
            found, child_cost = _anchors(child, cost)
            if found is not None and (best[0] is None or child_cost < best[1]):
                best = (found, child_cost)
        return best
    if isinstance(node, Or):
        union: list[Leaf] = []
        total = 0.0
        for child in node.children:
            found, child_cost = _anchors(child, cost)
            if found is None:
                return None, float("inf")
            union.extend(found)
            total += child_cost
        return tuple(union), total
    return (node,), cost(node)


# ---------------------------------------------------------------------------------------------
# Errors, lexer and parser
# ---------------------------------------------------------------------------------------------


class QueryError(ValueError):
    """A query the parser cannot accept.

    ``position`` is the 0-based character offset of the problem in ``query``; the message
    repeats the query with a caret under that spot and ends with an example of a valid query.
    """

    def __init__(self, reason: str, query: str, position: int, **values: Any) -> None:
        # ``reason`` is an English message id with ``{name}`` placeholders filled from
        # ``values``, so that the chat can read it in its own language (:meth:`render`).
        self.reason = reason
        self.values = values
        self.query = query
        self.position = max(0, min(position, len(query)))
        super().__init__(self.render())

    def render(self, gettext: Callable[..., str] | None = None) -> str:
        """The message with its caret, translated by ``gettext`` (a
        :meth:`bot.i18n.Translator._`) when one is given."""

        def say(message: str, **values: Any) -> str:
            if gettext is not None:
                return gettext(message, **values)
            return message.format_map(values) if values else message

        window = 60
        start = max(0, self.position - window // 2)
        end = min(len(self.query), start + window)
        shown = "".join(" " if c.isspace() else c for c in self.query[start:end])
        lead = "…" if start else ""
        tail = "…" if end < len(self.query) else ""
        caret = " " * (len(lead) + self.position - start) + "^"
        reason = say(self.reason, **self.values)
        return (
            say("{reason} (at character {position})", reason=reason, position=self.position + 1)
            + f"\n  {lead}{shown}{tail}\n  {caret}\n"
            + say("Example of a valid query: {example}", example=EXAMPLE_QUERY)
        )


@dataclass(frozen=True, slots=True)
class Token:
    """One lexeme of a query. ``text`` is the word (without ``*``), phrase content or field
    value; ``name`` is the field name for ``field`` tokens."""

    kind: TokenKind
    text: str
    position: int
    prefix: bool = False
    name: str = ""


def _read_quoted(query: str, start: int) -> tuple[str, int]:
    """Return the text between the quote at ``start`` and the next quote, and the index after."""
    index = start + 1
    while index < len(query) and query[index] not in _QUOTES:
        index += 1
    if index >= len(query):
        raise QueryError(N_('This quote is never closed: add a closing "'), query, start)
    return query[start + 1 : index], index + 1


def tokenize(query: str) -> list[Token]:
    """Cut a query into tokens in one left-to-right pass (linear in the query length)."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            N_("The query is too long: at most {limit} characters"),
            query,
            MAX_QUERY_CHARS,
            limit=MAX_QUERY_CHARS,
        )
    tokens: list[Token] = []
    index, length = 0, len(query)
    while index < length:
        char = query[index]
        if char.isspace():
            index += 1
        elif char in "()":
            tokens.append(Token("lparen" if char == "(" else "rparen", char, index))
            index += 1
        elif char in _QUOTES:
            text, after = _read_quoted(query, index)
            if "*" in text:
                raise QueryError(
                    N_("‘*’ works on single words, not inside quotes"),
                    query,
                    index + 1 + text.index("*"),
                )
            tokens.append(Token("phrase", " ".join(text.split()), index))
            index = after
        elif char == "-":
            if index + 1 >= length or query[index + 1].isspace():
                raise QueryError(
                    N_("‘-’ must be directly followed by the word to leave out, as in -sport"),
                    query,
                    index,
                )
            tokens.append(Token("not", "-", index))
            index += 1
        else:
            end = index
            while end < length and not query[end].isspace() and query[end] not in _BARE_STOP:
                end += 1
            token, end = _bare_token(query, index, end)
            tokens.append(token)
            index = end
    return tokens


def _bare_token(query: str, start: int, end: int) -> tuple[Token, int]:
    """Classify the unquoted run ``query[start:end]``: operator, field filter or word."""
    text = query[start:end]
    if text in _OPERATORS:
        return Token(_OPERATORS[text], text, start), end
    field_match = _FIELD_RE.match(text)
    if field_match:
        name = field_match.group(1).lower()
        if name not in FIELDS:
            known = ", ".join(f"{known}:" for known in FIELDS)
            raise QueryError(
                N_(
                    "Unknown field ‘{field}:’. Known fields: {known}. "
                    'To search for the text itself, put it in quotes: "{text}"'
                ),
                query,
                start,
                field=field_match.group(1),
                known=known,
                text=text,
            )
        value = text[field_match.end() :]
        if not value and end < len(query) and query[end] in _QUOTES:
            value, end = _read_quoted(query, end)
            value = " ".join(value.split())
        _check_field_value(name, value, query, start + field_match.end())
        return Token("field", value, start, name=name), end
    prefix = False
    if "*" in text:
        star = text.index("*")
        if star != len(text) - 1:
            raise QueryError(
                N_("‘*’ goes at the end of a word, as in earthquak*"), query, start + star
            )
        text, prefix = text[:-1], True
    raws = _raw_tokens(text)
    if not raws:
        if prefix:
            raise QueryError(N_("‘*’ needs some letters before it, as in earthquak*"), query, start)
        raise QueryError(
            N_("‘{text}’ has no letters or digits to search for"), query, start, text=text
        )
    if prefix and len(raws) > 1:
        raise QueryError(
            N_("‘*’ works on a single word; this one contains punctuation"), query, start
        )
    return Token("word", text, start, prefix=prefix), end


def _check_field_value(name: str, value: str, query: str, position: int) -> None:
    if not value:
        example = {"topic": "crime", "source": "bbc", "lang": "en"}[name]
        raise QueryError(
            N_("‘{name}:’ needs a value right after it, as in {name}:{example}"),
            query,
            position,
            name=name,
            example=example,
        )
    if "*" in value:
        raise QueryError(
            N_("‘{name}:’ takes a whole value, without ‘*’"), query, position, name=name
        )
    if name == "lang" and not _LANG_RE.fullmatch(value.lower()):
        raise QueryError(N_("‘lang:’ takes a language code, as in lang:en"), query, position)


class _Parser:
    """Recursive descent over the token list; each token is consumed once (linear time).

    Grammar (NOT binds tighter than AND, AND tighter than OR)::

        query   := or_expr
        or_expr := and_expr ("OR" and_expr)*
        and_expr:= unary (["AND"] unary)*        adjacent terms are ANDed
        unary   := ("NOT" | "-") unary | primary
        primary := "(" or_expr ")" | word | "phrase" | field:value
    """

    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.index = 0
        self.depth = 0
        self.terms = 0

    def error(self, reason: str, position: int | None = None, **values: Any) -> QueryError:
        if position is None:
            token = self.peek()
            position = token.position if token is not None else len(self.query)
        return QueryError(reason, self.query, position, **values)

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def parse(self) -> Node:
        if not self.tokens:
            raise self.error(N_("The query is empty: write the words to look for"), 0)
        node = self.or_expr()
        token = self.peek()
        if token is not None:  # only a stray ")" can stop or_expr early
            raise self.error(N_("This ‘)’ has no matching ‘(’"), token.position)
        return node

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while (token := self.peek()) is not None and token.kind == "or":
            self.index += 1
            self.expect_operand("OR")
            children.append(self.and_expr())
        return _combine(Or, children)

    def and_expr(self) -> Node:
        children = [self.unary()]
        while (token := self.peek()) is not None and token.kind not in ("or", "rparen"):
            if token.kind == "and":
                self.index += 1
                self.expect_operand("AND")
            children.append(self.unary())
        return _combine(And, children)

    def expect_operand(self, name: str) -> None:
        token = self.peek()
        if token is None or token.kind in ("and", "or", "rparen"):
            raise self.error(
                N_("{operator} needs a word after it"),
                token.position if token else len(self.query),
                operator=name,
            )

    def unary(self) -> Node:
        token = self.peek()
        assert token is not None  # callers check for a following operand
        if token.kind == "not":
            self.index += 1
            nxt = self.peek()
            if nxt is None or nxt.kind in ("and", "or", "rparen"):
                raise self.error(
                    N_("‘{operator}’ needs the word to leave out right after it, as in -sport"),
                    token.position,
                    operator=token.text,
                )
            self.enter(token)
            child = self.unary()
            self.depth -= 1
            return Not(child)
        return self.primary()

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                N_("Too deeply nested: at most {limit} levels of brackets and NOT"),
                token.position,
                limit=MAX_DEPTH,
            )

    def primary(self) -> Node:
        token = self.peek()
        assert token is not None
        self.index += 1
        if token.kind == "lparen":
            inner = self.peek()
            if inner is not None and inner.kind == "rparen":
                raise self.error(N_("These brackets are empty"), token.position)
            if inner is None:
                raise self.error(N_("This ‘(’ is never closed: add a ‘)’"), token.position)
            self.enter(token)
            node = self.or_expr()
            self.depth -= 1
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise self.error(N_("This ‘(’ is never closed: add a ‘)’"), token.position)
            self.index += 1
            return node
        if token.kind in ("and", "or"):
            raise self.error(
                N_("{operator} needs a word before it"), token.position, operator=token.text
            )
        if token.kind == "rparen":
            raise self.error(N_("This ‘)’ has no matching ‘(’"), token.position)
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(
                N_("Too many terms: at most {limit} per query"), token.position, limit=MAX_TERMS
            )
        if token.kind == "phrase":
            if not _raw_tokens(token.text):
                raise self.error(N_("This phrase has no letters or digits"), token.position)
            return Phrase(token.text)
        if token.kind == "field":
            return Field(cast(FieldName, token.name), token.text)
        if len(_raw_tokens(token.text)) > 1:
            return Phrase(token.text)
        return Word(token.text, prefix=token.prefix)


def _combine(kind: type[And] | type[Or], children: list[Node]) -> Node:
    """Build an AND/OR node, flattening nested nodes of the same kind: a AND (b AND c)."""
    if len(children) == 1:
        return children[0]
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else (child,))
    return kind(tuple(flat))


# ---------------------------------------------------------------------------------------------
# Query
# ---------------------------------------------------------------------------------------------

_PRECEDENCE = {Or: 1, And: 2, Not: 3}


def _render(node: Node) -> str:
    if isinstance(node, Not):
        child = node.child
        inner = _render(child)
        return f"NOT ({inner})" if isinstance(child, And | Or) else f"NOT {inner}"
    if isinstance(node, And | Or):
        joiner = " AND " if isinstance(node, And) else " OR "
        parts = []
        for child in node.children:
            text = _render(child)
            # AND inside OR needs no brackets for the parser, but they make it readable.
            parts.append(f"({text})" if isinstance(child, And | Or) else text)
        return joiner.join(parts)
    if isinstance(node, Phrase):
        return f'"{node.text}"'
    return node.display


@dataclass(frozen=True)
class Query:
    """A parsed subscription query (the AST root). Build it with :func:`parse_query`.

    ``source`` keeps the text the user typed; it does not take part in equality, so
    ``parse_query(q.canonical()) == q``.
    """

    root: Node
    source: str = field(default="", compare=False)

    def canonical(self) -> str:
        """The query as understood, with every operator and bracket written out, e.g.
        ``earthquake AND (japan OR "tokyo bay") AND NOT drill AND topic:disaster``."""
        return _render(self.root)

    def terms(self) -> list[str]:
        """The words, phrases and filters the query looks for (not those under NOT), as the
        user wrote them, in order and without repeats."""
        return list(dict.fromkeys(leaf.display for leaf, positive in leaves(self.root) if positive))

    def hint(self, gettext: Callable[..., str] | None = None) -> str | None:
        """Advice when the query is legal but probably not what the user wants, else None;
        in the chat's language when ``gettext`` (a :meth:`bot.i18n.Translator._`) is given.

        The query is never refused: common words may be subscribed to, the hint just warns.
        """

        def say(message: str, **values: Any) -> str:
            if gettext is not None:
                return gettext(message, **values)
            return message.format_map(values) if values else message

        notes: list[str] = []
        for leaf, _ in leaves(self.root):
            if isinstance(leaf, Word) and not leaf.prefix and leaf.text in ("and", "or", "not"):
                notes.append(
                    say(
                        "‘{word}’ is searched as an ordinary word; write "
                        "{operator} in capitals to use it as an operator.",
                        word=leaf.text,
                        operator=leaf.text.upper(),
                    )
                )
                break
        anchors = anchor_leaves(self.root)
        if anchors is None:
            notes.append(
                say(
                    "This query only leaves words out, so it will match almost every story; "
                    "add a word to look for, as in earthquake -drill."
                )
            )
        elif all(_is_broad(leaf) for leaf in anchors):
            names = ", ".join(f"‘{leaf.display}’" for leaf in anchors[:3])
            if any(isinstance(leaf, Word) and leaf.prefix for leaf in anchors):
                notes.append(
                    say("{terms} covers a great many words: this will match a lot.", terms=names)
                )
            elif len(anchors) == 1:
                notes.append(say("{terms} is very common: this will match a lot.", terms=names))
            else:
                notes.append(say("{terms} are very common: this will match a lot.", terms=names))
        return " ".join(notes) or None


def parse_query(text: str) -> Query:
    """Parse a subscription query; raise :class:`QueryError` (and nothing else) if it is bad."""
    if not isinstance(text, str):
        raise TypeError("parse_query expects a str")
    return Query(_Parser(text).parse(), source=text)
