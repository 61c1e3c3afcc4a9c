"""Split a text dump (wire copy, a pasted newsletter) into stories with titles.

Dumps arrive in two shapes: stories separated by blank lines or rules, or one paragraph per
line with one story running straight into the next. No library segments news dumps, so the
split is a segment-level dynamic programme over the non-empty, non-boilerplate lines: each
line either continues the story running up to it or opens a new one, with a probability from
a logistic model (``_new_story_logit``) that sees

- lexical cohesion with the whole running story (not a fixed window), with the line before
  and between the story and the two lines after; words are lightly stemmed so that
  "coastal" meets "coast"; names shared with the story count separately;
- cues of a story start: an upper-case kicker (``DISASTER: ...``), an agency dateline
  (``LONDON (Reuters) - ``), a headline-shaped line, an indefinite opener ("A new ..."), a
  day in the first sentence, a line before it cut off mid-sentence;
- cues of a continuation: an anaphoric opener or a third-person pronoun, several sentences,
  the line right after the story's headline.

Explicit separators force a story start: a rule line (``---``, ``* * *``) or, when the
dump's blank-line gaps differ in size, a gap larger than the smallest one. Boilerplate lines
(photo credits, bylines, calls to action) are dropped from the story text and never decide a
boundary. A story's first line is its title when it is headline-shaped and scores as one
(``_headline_score``); otherwise the title comes from the first sentence, cut at a clause or
word boundary when it is too long. The weights are fitted with scikit-learn on the "tune"
half of the dumps of ``benchmarks/segmentation.py`` (``--fit``), which reports the other
half: boundary F1 about 0.92 on its standard mix and 0.90 on its wire-style mix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from bot.pipeline.text import (
    is_boilerplate_line,
    normalize_whitespace,
    split_kicker,
    split_sentences,
    word_set,
)

__all__ = ["Segment", "boundary_examples", "derive_title", "split_dump", "split_dump_spans"]


@dataclass(frozen=True)
class Segment:
    """One story of a dump: its title, its body text, and whether the title was derived."""

    title: str
    text: str
    title_derived: bool


# Function words a headline does not end on, but a line cut mid-sentence often does.
_FUNCTION_WORDS = word_set(
    """
    a an the and or but nor of to in on at by for from with into onto over under about after
    before than that which who whom whose as is are was were be been being has have had will
    would can could should may might must shall do does did not no its his her their our my
    your this these those it he she they we i you if while when where because since although
    though so such very more most less also just said says say says told according per via
    """
)
# Words that often stay unchanged in different stories; they do not count as shared vocabulary.
_STOP_WORDS = _FUNCTION_WORDS | word_set(
    """
    mr mrs ms dr there here what how why all any some one two three new year years last first
    next time people like up out get got make made now then them him us me other over been
    being into only even back well way many much still make made per cent percent up down
    against between during under own same including including around off being while
    """
)
# Openers of a paragraph that continues a story rather than starts one.
_CONTINUATION_OPENERS = word_set(
    """
    he she it they we i you his her its their our this that these those there but and or so
    yet however meanwhile also then still instead moreover furthermore nevertheless thus
    mr mrs ms dr the firm the company the group the government the move the deal
    """
)
# Suffixes stripped by _stem, longest first.
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "ies", "er", "ed", "es", "al", "ly", "s")
# Third-person pronouns: a continuation refers back with them, a lead introduces its subject.
_PRONOUNS = word_set("he she it they him her them his its their")
_RULE_LINE = re.compile(r"^\s*(?:[-*=_~#•·]\s*){3,}$")
_TERMINAL = re.compile(r"[.!?…][\"'”’»)\]]*$")
_OPEN_QUOTE = re.compile(r"^[\"'“‘«]")
# "LONDON (Reuters) - ", "SPACE.com - TORONTO, Canada -- ", "AP - ".
_DATELINE_START = re.compile(
    r"^(?:[A-Z][\w.&'’]*(?:[ ,]+[A-Z][\w.&'’]*){0,4}\s*(?:\([^()]{1,30}\))?|\([^()]{1,30}\))"
    r"\s+(?:-{1,2}|—|–)\s+\S"
)
_TOKEN = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)

_HEADLINE_MAX_WORDS = 20
_HEADLINE_MAX_CHARS = 160
_TITLE_MAX_CHARS = 100
_TITLE_MIN_CHARS = 40
# Weights and bias of the boundary model in _new_story_logit, in the order of _features.
_WEIGHTS = (
    4.974,
    1.048,
    -0.702,
    2.143,
    0.567,
    -2.506,
    1.757,
    0.335,
    -0.87,
    -1.506,
    -0.104,
    3.117,
    -2.451,
    1.749,
    -0.922,
    -2.427,
    -0.383,
    -13.118,
    3.463,
    -1.638,
    0.53,
    -0.49,
)
_BIAS = -0.548
# Added when decoding: the fit sees wire-style dumps, where it learns to be cautious; 0.5
# balances precision and recall over both mixes of the tune half (chosen there by grid search).
_DECODE_OFFSET = 0.5
# Scores of the headline cues, in log-odds units (chosen on the "tune" half).
_HEADLINE_BIAS = 2.0
_HEADLINE_TITLE_CASE = 2.0
_HEADLINE_ECHOED = 2.0
_HEADLINE_LOOKS_BACK = 1.5
_HEADLINE_LONG_SENTENCE = 2.0


@dataclass
class _Line:
    index: int
    text: str  # Without kicker.
    kicker: str
    gap_before: int  # Blank lines between the previous non-empty line and this one.
    rule_before: bool  # A rule line (---) stands between the previous line and this one.

    @property
    def open_ended(self) -> bool:
        return _TERMINAL.search(self.text) is None

    @property
    def words(self) -> list[str]:
        return self.text.split()


def _stem(word: str) -> str:
    """A light suffix stripper, so that "coastal" meets "coast" and "drivers" meets "driver".

    Written by hand because cohesion only needs inflected forms to meet, not a linguistic
    stem, and it runs on every word of every line: NLTK's Porter stemmer is several times
    slower and is not a runtime dependency.
    """
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _content_words(text: str) -> set[str]:
    """Stems of the lower-cased words of three letters or more that are not stop words."""
    return {
        _stem(lowered)
        for token in _TOKEN.findall(text)
        if len(token) > 2 and (lowered := token.lower()) not in _STOP_WORDS
    }


def _headline_shaped(line: _Line) -> bool:
    """Short, no closing full stop, and not cut off after a function word or a comma."""
    words = line.words
    if not words or len(words) > _HEADLINE_MAX_WORDS or len(line.text) > _HEADLINE_MAX_CHARS:
        return False
    if line.text.endswith((".", ",", ";", ":", "-", "—", "–", "…", "&")):
        return False
    last = words[-1].strip("\"'”’»)]").lower()
    if last in _FUNCTION_WORDS:
        return False
    first = line.text[0]
    return first.isupper() or first.isdigit() or bool(_OPEN_QUOTE.match(line.text))


def _overlap(words: AbstractSet[str], context: AbstractSet[str]) -> float:
    """Share of ``words`` found in ``context`` (0 when ``words`` is empty)."""
    return len(words & context) / len(words) if words else 0.0


def _headline_score(
    line: _Line, following: _Line | None, previous: Sequence[AbstractSet[str]]
) -> float:
    """Log-odds-like score that ``line`` is a headline; ``-inf`` when it cannot be one.

    A headline is followed by body text that repeats some of its words, and reads more like
    that body than like the lines before it; Title Case is headline style.
    """
    if following is None or not line.open_ended or not _headline_shaped(line):
        return _IMPOSSIBLE
    words = _content_words(line.text)
    toward_next = _overlap(words, _content_words(following.text))
    toward_previous = _overlap(words, set().union(*previous))
    capitalised = sum(word[:1].isupper() for word in line.words) / len(line.words)
    score = _HEADLINE_BIAS
    score += _HEADLINE_TITLE_CASE if capitalised >= 0.6 and len(line.words) > 1 else 0.0
    score += _HEADLINE_ECHOED if toward_next > 0 else 0.0
    score -= _HEADLINE_LOOKS_BACK * max(0.0, toward_previous - toward_next) * 2
    if capitalised < 0.6 and len(line.words) > 10:
        score -= _HEADLINE_LONG_SENTENCE  # Long and in sentence case: likely a cut sentence.
    if following.open_ended and _headline_shaped(following):
        score -= _HEADLINE_LOOKS_BACK  # Two headline-like lines: one of them is a cut story.
    return score


_IMPOSSIBLE = -math.inf


def _read_lines(text: str) -> list[_Line]:
    """Non-empty, non-boilerplate lines with their original index and separator context."""
    lines: list[_Line] = []
    gap = 0
    rule = False
    for index, raw in enumerate(text.splitlines()):
        clean = normalize_whitespace(raw)
        if not clean:
            gap += 1
            continue
        if _RULE_LINE.match(clean):
            rule = True
            continue
        if is_boilerplate_line(clean):
            continue
        kicker, rest = split_kicker(clean)
        lines.append(_Line(index, rest.strip() if kicker else clean, kicker, gap, rule))
        gap = 0
        rule = False
    return lines


# Opening words of a line that starts a story with an indefinite introduction ("A new ...").
_INDEFINITE_OPENERS = word_set("a an")
# A day or a relative day: news leads date their event ("on Thursday"), later paragraphs less.
_TIME_EXPRESSION = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tonight"
    r"|overnight|this (?:week|month|morning|afternoon|evening)|last (?:week|month|night))\b",
    re.IGNORECASE,
)
# Longest story the decoder considers, in lines (the longest article of the data has 55).
_MAX_STORY_LINES = 80


@dataclass(frozen=True)
class _Cues:
    """What is known about one line before deciding where stories start."""

    words: frozenset[str]
    after: frozenset[str]  # Words of the two lines after.
    after_own: float  # Share of ``after`` found in ``words``.
    names: frozenset[str]  # Capitalised words after the first: names shared across lines.
    headline: bool  # Headline-shaped, open-ended and followed by a line.
    fixed: tuple[float, ...]  # The features that do not depend on the running story.
    separated: bool  # A rule or a larger blank-line gap stands before the line.


def _names(text: str) -> frozenset[str]:
    tokens = _TOKEN.findall(text)
    return frozenset(
        token.lower()
        for token in tokens[1:]
        if token[0].isupper() and token.lower() not in _STOP_WORDS
    )


def _line_cues(lines: Sequence[_Line]) -> list[_Cues]:
    """Per line, the cues of :func:`_features` that do not depend on the running story."""
    words = [frozenset(_content_words(line.text)) for line in lines]
    gaps = {line.gap_before for line in lines[1:]}
    separator_gap = min(gaps) + 1 if len(gaps) > 1 else None
    shaped = [line.open_ended and _headline_shaped(line) for line in lines]
    cues: list[_Cues] = []
    for position, line in enumerate(lines):
        following = lines[position + 1] if position + 1 < len(lines) else None
        head = _headline_score(line, following, words[max(0, position - 3) : position])
        previous = lines[position - 1] if position else None
        open_before = (
            previous is not None and previous.open_ended and not _is_list_context(previous, line)
        )
        opening = line.text.lower().strip("\"'“‘«(").split()
        first_word = opening[0] if opening else ""
        anaphoric = (
            bool(_OPEN_QUOTE.match(line.text))
            or first_word in _CONTINUATION_OPENERS
            or " ".join(opening[:2]) in _CONTINUATION_OPENERS
        )
        sentences = split_sentences(line.text)
        fixed = (
            float(bool(line.kicker)),
            float(bool(_DATELINE_START.match(line.text))),
            float(open_before),
            max(-4.0, min(4.0, head)) / 4 if head != _IMPOSSIBLE else -1.0,
            float(first_word in _INDEFINITE_OPENERS),
            float(anaphoric),
            float(first_word == "the"),
            float(bool(sentences) and _TIME_EXPRESSION.search(sentences[0]) is not None),
            math.log1p(len(line.words)),
            float(min(4, len(sentences))),
            float(any(word in _PRONOUNS for word in opening[:20])),
            math.log1p(len(words[position])),
        )
        separated = position > 0 and (
            line.rule_before or (separator_gap is not None and line.gap_before >= separator_gap)
        )
        cues.append(
            _Cues(
                words[position],
                after := frozenset().union(*words[position + 1 : position + 3]),
                _overlap(after, words[position]),
                _names(line.text),
                shaped[position] and following is not None,
                fixed,
                separated,
            )
        )
    return cues


def _features(
    position: int,
    start: int,
    cues: Sequence[_Cues],
    story_words: set[str],
    story_names: set[str],
) -> tuple[float, ...]:
    """Features for "line ``position`` opens a new story after the story ``start..position-1``".

    Lexical cohesion is measured against the whole running story (TextTiling-like, but with
    the story's own extent rather than a fixed window), against the line before, and for the
    two lines after; cue features describe the line's shape (see :func:`_line_cues`).
    """
    line = cues[position]
    own, after = line.words, line.after
    shared = len(own & story_words)
    return (
        *line.fixed,
        float(position - start == 1 and cues[start].headline),
        # A line cut short ends its story; a headline is not cut, so it does not count.
        float(line.fixed[2] > 0 and not (position - start == 1 and cues[start].headline)),
        shared / len(own) if own else 0.0,
        math.log1p(shared),
        _overlap(own, cues[position - 1].words),
        _overlap(after, story_words),
        line.after_own,
        math.log1p(len(line.names & story_names)),
        math.log1p(position - start),
        float(bool(after)),
    )


def _new_story_logit(features: Sequence[float]) -> float:
    return _BIAS + _DECODE_OFFSET + sum(w * f for w, f in zip(_WEIGHTS, features, strict=True))


def _log_sigmoid(value: float) -> float:
    """``log(1 / (1 + exp(-value)))`` without overflow."""
    return -math.log1p(math.exp(-value)) if value >= 0 else value - math.log1p(math.exp(value))


def _is_list_context(previous: _Line, line: _Line) -> bool:
    """Open-ended lines inside one story: a list intro ("he announced:") or bulleted items."""
    return previous.text.endswith(":") or (
        previous.text.startswith(("-", "•", "*")) and line.text.startswith(("-", "•", "*"))
    )


def _story_starts(lines: Sequence[_Line]) -> tuple[list[int], set[int]]:
    """Positions (into ``lines``) where stories start, and positions that are headlines.

    Segment-level dynamic programming: a story ``s..e-1`` scores the log-probability that
    each of its lines continues the story so far, plus that line ``e`` opens a new one, both
    from the logistic model of :func:`_new_story_logit`. Because each decision looks at the
    whole running story, the best split is exact over all segmentations (stories of at most
    ``_MAX_STORY_LINES`` lines), in O(lines x story length).
    """
    count = len(lines)
    if not count:
        return [], set()
    cues = _line_cues(lines)
    best = [-math.inf] * (count + 1)
    back = [0] * (count + 1)
    best[0] = 0.0
    for start in range(count):
        if best[start] == -math.inf:
            continue
        story_words = set(cues[start].words)
        story_names = set(cues[start].names)
        running = best[start]
        end = start + 1
        while end < min(count, start + _MAX_STORY_LINES):
            if cues[end].separated:
                break
            logit = _new_story_logit(_features(end, start, cues, story_words, story_names))
            if running + _log_sigmoid(logit) > best[end]:
                best[end], back[end] = running + _log_sigmoid(logit), start
            running += _log_sigmoid(-logit)
            story_words |= cues[end].words
            story_names |= cues[end].names
            end += 1
        if running > best[end]:  # The story ends at a separator, the cap or the dump's end.
            best[end], back[end] = running, start
    starts: list[int] = []
    position = count
    while position > 0:
        position = back[position]
        starts.append(position)
    starts.reverse()
    headlines = {
        start
        for number, start in enumerate(starts)
        if cues[start].headline
        and (starts[number + 1] if number + 1 < len(starts) else count) - start > 1
        and _headline_score(
            lines[start],
            lines[start + 1],
            [set(cue.words) for cue in cues[max(0, start - 3) : start]],
        )
        > 0
    }
    return starts, headlines


def boundary_examples(text: str, starts: Collection[int]) -> list[tuple[tuple[float, ...], bool]]:
    """Training rows for the boundary model: features and whether the line opens a story.

    ``starts`` are the indices (in ``text.splitlines()``) of the lines where stories start.
    Every line after the first is described against the true story running up to it, which
    is the context the decoder scores it in along the best path. Used by
    ``benchmarks/segmentation.py --fit`` to fit ``_WEIGHTS``.
    """
    lines = _read_lines(text)
    cues = _line_cues(lines)
    rows: list[tuple[tuple[float, ...], bool]] = []
    start = 0
    story_words = set(cues[0].words) if cues else set()
    story_names = set(cues[0].names) if cues else set()
    for position in range(1, len(lines)):
        opens = lines[position].index in starts
        if not cues[position].separated:
            rows.append((_features(position, start, cues, story_words, story_names), opens))
        if opens or cues[position].separated:
            start, story_words, story_names = position, set(), set()
        story_words |= cues[position].words
        story_names |= cues[position].names
    return rows


_CLAUSE_BREAK = re.compile(r"(?:,|;|:| -| —| –|\)) ")
_LEADING_DATELINE = re.compile(
    r"^(?:[A-Z][\w.&'’]*(?:[ ,]+[A-Z][\w.&'’]*){0,4}\s*(?:\([^()]{1,30}\))?|\([^()]{1,30}\))"
    r"\s+(?:-{1,2}|—|–)\s+"
)
_PARENTHETICAL = re.compile(r"\s*\([^()]{1,60}\)")
# "Shares in Acme, the maker of widgets based in X, fell ...": subject, appositive, predicate.
_APPOSITIVE = re.compile(
    r"^(?P<subject>[^,]{10,80}?), (?:the|a|an|which|who|whose|its|his|her|their) [^,]{3,160}?,"
    r" (?P<rest>[a-z].*)$"
)


def derive_title(sentence: str, max_chars: int = _TITLE_MAX_CHARS) -> str:
    """A title from a story's first sentence, short enough for an alert line.

    A leading agency dateline ("LONDON (Reuters) - ") names no subject and is dropped. When
    the sentence is too long, asides go first: bracketed asides ("$1.1bn (£600m)") and an
    appositive after the subject ("Acme, the widget maker based in X, fell ..."), because
    English news leads open with their subject and the predicate carries the news. What is
    still too long is cut at the last clause boundary (comma, dash, semicolon) that leaves at
    least ``_TITLE_MIN_CHARS`` characters, or else at a word boundary that does not leave a
    dangling function word, and ends with an ellipsis.
    """
    plain = " ".join(sentence.split())
    title = _LEADING_DATELINE.sub("", plain) or plain
    if title.endswith(".") and not title.endswith(".."):
        title = title[:-1]
    if len(title) <= max_chars:
        return title
    title = _PARENTHETICAL.sub("", title)
    appositive = _APPOSITIVE.match(title)
    if appositive:
        title = f"{appositive.group('subject')} {appositive.group('rest')}"
    if len(title) <= max_chars:
        return title
    window = title[: max_chars - 1]
    clause_cuts = [
        match.start()
        for match in _CLAUSE_BREAK.finditer(window)
        if match.start() >= _TITLE_MIN_CHARS
    ]
    if clause_cuts:
        head = window[: clause_cuts[-1]]
    else:
        head = window[: window.rfind(" ")] if " " in window else window
    words = head.split()
    while len(words) > 3 and words[-1].lower().strip(",;:") in _FUNCTION_WORDS:
        words.pop()
    return " ".join(words).rstrip(",;:-—– ") + "…"


def _make_segment(story: Sequence[_Line], headline: bool) -> Segment:
    body_lines = story[1:] if headline and len(story) > 1 else story
    text = "\n\n".join(line.text for line in body_lines)
    if headline and len(story) > 1:
        return Segment(title=story[0].text, text=text, title_derived=False)
    sentences = split_sentences(story[0].text)
    return Segment(
        title=derive_title(sentences[0] if sentences else story[0].text),
        text=text,
        title_derived=True,
    )


def split_dump_spans(text: str) -> list[tuple[int, Segment]]:
    """Like :func:`split_dump`, with the index (in ``text.splitlines()``) of each story's start.

    The index is that of the story's first line that is not boilerplate, which is what the
    segmentation benchmark scores.
    """
    lines = _read_lines(text)
    starts, headlines = _story_starts(lines)
    spans: list[tuple[int, Segment]] = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        spans.append((lines[start].index, _make_segment(lines[start:end], start in headlines)))
    return spans


def split_dump(text: str) -> list[Segment]:
    """Split a dump into stories, each with a title; boilerplate lines are dropped.

    Kicker labels ("DISASTER:") are removed from both title and body. Every other line is
    kept: in the title (headline line) or the body (paragraphs joined by blank lines).
    """
    return [segment for _, segment in split_dump_spans(text)]
