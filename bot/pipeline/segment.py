"""Split a text dump (wire copy, a pasted newsletter) into stories with titles.

Dumps arrive in many layouts: stories separated by blank lines, rules or "Read more" links;
one paragraph per line with one story running straight into the next; one whole story per
line, with or without a headline run into the lede; teasers cut off mid-sentence; numbered or
bulleted items; wire slugs ("WIRE12: ..."); agency datelines; e-mails and web pages pasted
as text. The layout decides first where it can (``_forced_starts``, ``_block_layout``,
``_is_brief_list``): separators that cut the dump into story-sized blocks, slugs and item
numbers, lines that each hold a whole story, a digest of one-line briefs. Where it cannot,
no library segments news dumps, so the
split is a segment-level dynamic programme over the non-empty, non-boilerplate lines: each
line either continues the story running up to it or opens a new one, with a probability from
a logistic model with interaction terms (``_new_story_logits``, scored for every candidate
pair of a dump in one numpy pass) that sees

- lexical cohesion with the whole running story (not a fixed window), with the line before
  and between the story and the two lines after; words are lightly stemmed so that
  "coastal" meets "coast"; names shared with the story count separately; the share of
  shared words is also weighted by inverse line frequency within the dump, so words that
  every story uses ("said", "government") count for less than the story's own vocabulary;
- layout: the share of the running story's lines that hold a single sentence, and the
  sentence count and length of the line before. A story is laid out one way (wire copy
  one sentence per line, other copy in paragraphs), and a news lead is often one sentence
  after paragraphs of several, so a change of layout marks a new story;
- cues of a story start: an upper-case kicker (``DISASTER: ...``), an agency dateline
  (``LONDON (Reuters) - ``), a headline-shaped line, an indefinite opener ("A new ..."), a
  day in the first sentence, a line before it cut off mid-sentence;
- cues of a continuation: an anaphoric opener or a third-person pronoun, several sentences,
  the line right after the story's headline.

A third cue is measured inside the dump at run time, TextTiling-style
(``_cohesion_depths``): the two lines before each candidate boundary and the two after it
are compared, words weighted by how rare they are among the dump's lines; two stories meet
where that similarity dips below the similarity at the neighbouring candidates, while the
paragraphs of a long article, however far they drift, keep sharing its names and terms with
their neighbours. The depth of the dip moves the model's decision either way. The fitted
model learned from short licensed items and, alone, splits long articles and merges
headline-less stories; this cue needs no training text. For the same reason a story that
has already run several paragraphs is pulled back from ending (``_LONG_STORY``): the
items taught the model that stories end within a few lines.

Explicit separators force a story start: a rule line (``---``, ``* * *``), a "Read more"
link or, when the dump's blank-line gaps differ in size, a gap larger than the smallest one,
unless those gaps break paragraphs (``_paragraph_gaps``: they all fall in one region of
one-paragraph blocks among stories laid out without blank lines, or every block carries on
the subject of the one before). A line of thousands of characters is a paste that lost its
line breaks (``_run_on_pieces``): it is cut at item joiners (" | ", " • "), runs of spaces
and sentence ends and read as copy laid out one sentence per line; its short sentences that
read as headlines are where its stories start.
Cues move the model's decision without forcing it: a long line cut off mid-sentence
before the line, and two long lines in a row that share little vocabulary (a topic shift),
toward a new story; a line that opens in mid-sentence (a lower-case word, a comma: its first
words were lost in copying; after a line cut off, the rest of a broken paragraph), a line
that opens by referring back (a pronoun, "But", a quotation), and, in a dump whose stories
carry agency datelines, a line with none, against one.
Boilerplate lines (photo credits, bylines, calls to action) are dropped from the story text
and never decide a boundary. A story's first line is its title when it is headline-shaped and
scores as one (``_headline_score``); a headline run into the lede with no full stop is split
off as the title; otherwise a headline is written from the lede (``bot.pipeline.headline``).
The model is fitted with scikit-learn by ``scripts/build_segment_model.py`` on dumps laid out
from licence-compatible text only (Wikipedia Current Events items, CC BY-SA; HuffPost
headlines, CC BY 4.0; ``bot/data/segment_model/model.json`` records them). BBC News, AG News,
BASIL and Reuters copy are for evaluation only: ``benchmarks/segmentation.py`` reports, on
them, boundary F1 and the share of stories split exactly right in each layout.

The decoder runs forward over the lines and follows only the stories that can still win,
so time and memory grow with the dump's length (a 5 MB dump is not held as every pair of
lines at once).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.pipeline.headline import (
    HEADLINE_MAX_CHARS,
    fit_title,
    split_run_on_headline,
    write_headline,
)
from bot.pipeline.text import (
    is_boilerplate_line,
    normalize_whitespace,
    split_kicker,
    split_sentences,
    word_set,
)

__all__ = [
    "MODEL_FILE",
    "Segment",
    "boundary_examples",
    "derive_title",
    "split_dump",
    "split_dump_spans",
]


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
# A link that closes a newsletter or web-page item.
_READ_MORE = re.compile(
    r"^(?:read (?:more|the full (?:story|article))|continue reading|full story)\b[^.!?]{0,80}$",
    re.IGNORECASE,
)
_EMAIL_HEADER = re.compile(r"^(?:from|to|cc|bcc|sent|date|subject|reply-to):\s", re.IGNORECASE)
_EMAIL_HEADER_LINES = 12  # An e-mail's header is at the top of the paste.
_BULLET = re.compile(r"^[•·▪●◦‣■►▸*–-]\s+(?=\S)")
_NUMBERED = re.compile(r"^(\d{1,3})[.)]\s+(?=[\"'“‘(\w])")
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
# The boundary model of _new_story_logits: a logistic regression over the standardised
# features of _features (``(x - _FEATURE_MEAN) / _FEATURE_SCALE``) and their pairwise
# products, fitted with an L1 penalty so that only the interactions that help remain
# ("previous line cut off" x "shared words", "headline-shaped" x "story length", ...). Each
# term is ``(i, j, weight)``: feature ``i`` alone when ``j`` is -1, else the product of ``i``
# and ``j``. ``_DECODE_OFFSET`` is added when decoding. The numbers are read from
# ``bot/data/segment_model/model.json``, built by ``scripts/build_segment_model.py`` from
# licence-compatible text only (its ``meta`` names the sources and their licences); about
# 200 numbers over layout and cohesion features, no words.
MODEL_FILE = Path(str(resources.files("bot").joinpath("data", "segment_model", "model.json")))


def _load_model(
    path: Path,
) -> tuple[tuple[float, ...], tuple[float, ...], float, tuple[tuple[int, int, float], ...], float]:
    """The boundary model's mean, scale, bias, terms and decoding offset from ``path``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != "newsbot-segment-model":
        raise ValueError(f"{path} is not a segmenter model")
    return (
        tuple(float(value) for value in data["feature_mean"]),
        tuple(float(value) for value in data["feature_scale"]),
        float(data["bias"]),
        tuple((int(i), int(j), float(weight)) for i, j, weight in data["terms"]),
        float(data["decode_offset"]),
    )


_FEATURE_MEAN, _FEATURE_SCALE, _BIAS, _TERMS, _DECODE_OFFSET = _load_model(MODEL_FILE)
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
    # A sentence of a run-on line (``_run_on_pieces``): 1, or 2 when read as a headline.
    run_on: int = 0

    @property
    def open_ended(self) -> bool:
        return _TERMINAL.search(self.text) is None

    @property
    def words(self) -> list[str]:
        return self.text.split()


@functools.lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """A light suffix stripper, so that "coastal" meets "coast" and "drivers" meets "driver".

    Written by hand because cohesion only needs inflected forms to meet, not a linguistic
    stem, and it runs on every word of every line: NLTK's Porter stemmer is several times
    slower and is not a runtime dependency. Cached because news vocabulary repeats: most
    calls are for words already seen, and stemming was the largest single cost of a split.
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
    """Non-empty, non-boilerplate lines with their original index and separator context.

    Besides rules, a "Read more" link separates the item before it from the next one (in
    newsletters and pasted pages it closes an item). The header of a pasted e-mail ("From:",
    "Subject:" ...) and runs of menu words from a pasted web page are furniture, not news.
    Numbered items ("1. ", "2) ") counted up through the dump, and bullets ("• ") when most
    lines carry one, open items: their marker is kept aside like a kicker, so it is in
    neither title nor text.
    """
    raw_lines = text.splitlines()
    clean_lines = [normalize_whitespace(raw) for raw in raw_lines]
    run_on = {
        index: pieces
        for index, raw in enumerate(raw_lines)
        if len(raw) >= _RUN_ON_LINE_CHARS and len(pieces := _run_on_pieces(raw)) > 1
    }
    menu = _menu_lines(clean_lines)
    numbered = _numbered_items(clean_lines)
    # Bullets are items of a digest when most lines carry one and they are news items, not
    # the short points of a list inside a story (a list of award winners).
    bullets = sorted(len(line) for line in clean_lines if _BULLET.match(line))
    bulleted = (
        bool(bullets)
        and len(bullets) >= _BULLETED_SHARE * sum(bool(line) for line in clean_lines)
        and bullets[len(bullets) // 2] >= _BULLET_ITEM_CHARS
    )
    lines: list[_Line] = []
    gap = dropped_gap = 0
    rule = False
    for index, clean in enumerate(clean_lines):
        if not clean:
            gap += 1
            continue
        if _RULE_LINE.match(clean) or _READ_MORE.match(clean):
            rule = True
            continue
        if (
            index in menu
            or (index < _EMAIL_HEADER_LINES and _EMAIL_HEADER.match(clean))
            or is_boilerplate_line(clean)
        ):
            # A dropped line is transparent: the blank lines on either side of a credit are
            # one gap, not two, so that a credit between paragraphs is no separator.
            dropped_gap, gap = max(dropped_gap, gap), 0
            continue
        marker = (_BULLET.match(clean) if bulleted else None) or (
            _NUMBERED.match(clean) if index in numbered else None
        )
        gap = max(gap, dropped_gap)
        if index in run_on:
            for number, (piece, joined, headline) in enumerate(run_on[index]):
                kicker, rest = split_kicker(piece)
                lines.append(
                    _Line(
                        index,
                        rest.strip() if kicker else piece,
                        kicker,
                        gap if number == 0 else 0,
                        rule if number == 0 else joined,
                        2 if headline else 1,
                    )
                )
            gap = dropped_gap = 0
            rule = False
            continue
        if marker:
            lines.append(_Line(index, clean[marker.end() :], marker.group().strip(), gap, rule))
        else:
            kicker, rest = split_kicker(clean)
            lines.append(_Line(index, rest.strip() if kicker else clean, kicker, gap, rule))
        gap = dropped_gap = 0
        rule = False
    return lines


# A line this long is a paste that lost its line breaks, not a paragraph: the longest
# story pasted on one line runs to a few thousand characters.
_RUN_ON_LINE_CHARS = 4000
# Joiners that stand where the line breaks were: items joined by " | " or " • " (each one an
# item, like a rule between them), and runs of spaces (a line break flattened to spaces).
_ITEM_JOINER = re.compile(r"\s+[|•·▪●]\s+")
_SPACE_JOINER = re.compile(r"[^\S\n]{2,}")
# A sentence of at most this many words, in Title Case or with no verb-like word, read as a
# headline run in front of its lede on a run-on line.
_RUN_ON_HEADLINE_WORDS = 14
# Headline sentences in a run-on line from which only they are read as story starts.
_RUN_ON_HEADLINES = 3
_VERB_LIKE = word_set(
    """
    is are was were be been being am has have had do does did will would can could should
    may might must shall said says say told tells added adds according
    """
)


def _run_on_pieces(raw: str) -> list[tuple[str, bool, bool]]:
    """A run-on line cut where its line breaks were: (piece, whether an item joiner precedes
    it, whether it reads as a headline).

    The line is cut at item joiners (" | ", " • ") when it holds several, at runs of spaces,
    and then into sentences, so that the segmenter reads it as copy laid out one sentence
    per line. A short sentence that reads as a headline (Title Case, or no verb-like word)
    loses its closing full stop, so that it is read as the headline of what follows.
    """
    joiners = len(_ITEM_JOINER.findall(raw))
    # Items are story-sized: two bullets in a long paste are the paste's own punctuation.
    itemised = joiners >= 2 and len(raw) <= _RUN_ON_LINE_CHARS * (joiners + 1)
    items = _ITEM_JOINER.split(raw) if itemised else [raw]
    pieces: list[tuple[str, bool, bool]] = []
    for number, item in enumerate(items):
        first = True
        for chunk in _SPACE_JOINER.split(item):
            for sentence in split_sentences(normalize_whitespace(chunk)):
                piece = _as_headline(sentence)
                pieces.append((piece, first and number > 0, piece != sentence))
                first = False
    return pieces


def _as_headline(sentence: str) -> str:
    """``sentence`` without its full stop when it reads as a headline, else unchanged."""
    words = sentence.split()
    if not sentence.endswith(".") or len(words) > _RUN_ON_HEADLINE_WORDS or len(words) < 3:
        return sentence
    capitalised = sum(word[:1].isupper() for word in words) / len(words)
    lowered = {word.strip("\"'“”‘’,.;:").lower() for word in words}
    if capitalised >= 0.6 or (len(words) <= 8 and not lowered & _VERB_LIKE):
        opener = words[0].strip("\"'“‘").lower()
        if opener in _PRONOUNS or opener in _CONTINUATION_OPENERS:
            return sentence
        return sentence[:-1]
    return sentence


def _menu_lines(lines: Sequence[str]) -> set[int]:
    """Indices of lines in runs of three or more one- or two-word lines: a site's menu."""
    menu: set[int] = set()
    run: list[int] = []
    for index, line in enumerate([*lines, "end of the lines here"]):
        if (
            line
            and len(line.split()) <= 2
            and line[0].isupper()
            and not any(ch.isdigit() for ch in line)
            and not _TERMINAL.search(line)
        ):
            run.append(index)
            continue
        if line or not run:
            if len(run) >= 3:
                menu.update(run)
            run = []
    return menu


def _numbered_items(lines: Sequence[str]) -> set[int]:
    """Indices of lines numbered 1, 2, 3 ... in order through the dump (two items at least).

    A number at the start of one line ("2. Bundesliga", "1) He said") is not a list; the
    count going up line after line is.
    """
    expected = 1
    found: list[int] = []
    for index, line in enumerate(lines):
        match = _NUMBERED.match(line)
        if match and int(match.group(1)) == expected:
            found.append(index)
            expected += 1
    return set(found) if len(found) >= 2 else set()


# Opening words of a line that starts a story with an indefinite introduction ("A new ...").
_INDEFINITE_OPENERS = word_set("a an")
# A day or a relative day: news leads date their event ("on Thursday"), later paragraphs less.
_TIME_EXPRESSION = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tonight"
    r"|overnight|this (?:week|month|morning|afternoon|evening)|last (?:week|month|night))\b",
    re.IGNORECASE,
)
# Blocks between blank lines of at most this many lines are paragraphs when a run of at
# least ``_GAPLESS_RUN`` lines with no blank line stands outside them and they use (median)
# this share of the region's weighted vocabulary before them (``_paragraph_gaps``); a block that
# uses ``_GAP_CONTINUES`` of the previous block's weighted vocabulary carries it on.
_PARAGRAPH_BLOCK_LINES = 2
_GAPLESS_RUN = 6
_GAP_CONTINUES = 0.3
_REGION_CONTINUES = 0.1
_REGION_MIN_BLOCKS = 3  # An article's region holds a few paragraphs at least.
# Longest story the decoder considers, in lines (the longest article of the data has 55).
_MAX_STORY_LINES = 80
# Blocks between separators at most this long (median) are read as one story each.
_MAX_BLOCK_LINES = 60
# An agency sign-off closing a story in wire copy, and the share of blocks that must end
# with one for a block without it to be read as continued (_block_starts).
_SIGN_OFF = re.compile(r"(?:^|\s)(?:reuters?|ap|afp|upi|dpa)\s*$", re.IGNORECASE)
_SIGNED_SHARE = 0.5
# A line of this many characters and three sentences or more can hold a whole story.
_WHOLE_STORY_CHARS = 450
# A whole line of this many characters and three sentences reads as a story on one line.
_STORY_LINE_CHARS = 550
# Lines of that kind in a row, ending the dump, read as one story per line.
_WHOLE_STORY_RUN = 3
# Share of such lines at which a dump is read as one story per line.
_WHOLE_STORY_SHARE = 0.75
# Cohesion (see _cohesion) of two long lines in a row, and the log-odds it adds to "the
# second opens a story" (_topic_shifts); chosen on tune-half dumps of the benchmark.
_TOPIC_SHIFT_NUDGES = ((0.03, 4.0), (0.06, 2.0))
# Cohesion depth (_cohesion_depths): lines per window; fewest lines of a dump it is read in
# (in a few lines the dump's own word rarities are too crude, and a story of four short
# paragraphs dips as deep inside as at its ends); log-odds per unit of depth above the
# neutral depth, and the largest nudge either way. Chosen on the tune half of the benchmark.
_DEPTH_WINDOW = 2
_DEPTH_MIN_LINES = 24
_DEPTH_SLOPE = 10.0
_DEPTH_NEUTRAL = 0.1
_DEPTH_CAP = 5.0
# Log-odds taken from "opens a story", per unit of log story length past _LONG_FROM lines
# (chosen on the tune half): the fitted model's pull toward ending a story as it grows
# comes from short licensed items, and long articles need a counterweight.
_LONG_STORY = 2.0
_LONG_FROM = 8
_LONG_FROM_LOG = math.log1p(_LONG_FROM)
# In a dump without headlines, a line naming this many people or places, none of them in
# a story already ``_NEW_NAMES_AFTER`` lines long, leans toward opening a story.
_NEW_NAMES = 2
_NEW_NAMES_NUDGE = 1.0
_NEW_NAMES_AFTER = 3
# A line cut off mid-sentence at least this long is a teaser's end, not a headline.
_CUT_LINE_WORDS = 15
_CUT_LINE_CHARS = 100
_CUT_LINE_NUDGE = 4.0  # Log-odds added to "the next line opens a story".
# Log-odds taken from "opens a story" for a line that opens in mid-sentence.
_MID_SENTENCE_NUDGE = 4.0
# Log-odds taken from "opens a story" for a line without a dateline in a dump whose
# stories carry one (_unmarked_in_dateline_dump), and the datelines that make such a dump.
_UNMARKED_NUDGE = 6.0
_DATELINE_DUMP_MIN = 3
# A line that is a wire agency's sign-off alone, and the sign-offs that make a dump read as
# signed copy, where a story without one is unlikely.
_SIGN_OFF_LINE = re.compile(r"^(?:reuters?|ap|afp|upi|dpa)$", re.IGNORECASE)
_SIGNED_DUMP_MIN = 3
# Log-odds taken from "opens a story" for the line under a headline.
_AFTER_HEADLINE_NUDGE = 2.0
# The same after a line cut off: the two lines are one paragraph broken in copying.
_BROKEN_PARAGRAPH_NUDGE = 12.0
# Hard-wrapped copy (_wrapped_continuations): at least this many lines, a width (the 90th
# percentile of line lengths) of at most this many characters, and this share of lines
# within the slack of it.
_WRAPPED_MIN_LINES = 10
_WRAPPED_MAX_WIDTH = 90
_WRAPPED_SLACK = 12
_WRAPPED_SHARE = 0.5
# Log-odds taken from "opens a story" for a line that opens by referring back
# (_referring_openers).
_REFERRING_NUDGE = 1.5
_REFERRING_FIRST_WORDS = _PRONOUNS | word_set(
    "but and yet however meanwhile also still instead moreover furthermore nevertheless thus"
)
# Openers of a paragraph that refers back to what came before (_is_brief_list): unlike
# _CONTINUATION_OPENERS, not "The" alone, which opens many a brief ("The army ...").
_REFERRING_OPENERS = _PRONOUNS | word_set(
    """
    i we you this that these those there but and or so yet however meanwhile also then still
    instead moreover furthermore nevertheless thus mr mrs ms dr
    """
)
_REFERRING_PHRASES = frozenset(
    {"the firm", "the company", "the group", "the move", "the deal", "the government"}
)
# A digest of briefs (_is_brief_list): lines at least, longest brief, share of lines that
# open by referring back.
_BRIEF_LIST_MIN_LINES = 3
_BRIEF_MAX_CHARS = 900
_BRIEF_MEDIAN_CHARS = 350
_BRIEF_LIST_ANAPHORA = 0.25
_BRIEF_LINKED_COHESION = 0.2
_BRIEF_LINKED_SHARE = 0.15
# Share of a digest's lines that name someone or something past their first word: items of a
# digest each name their subject ("... in Kabul", "... Apple ..."), while a story told one short
# paragraph per line has many that only go on about it ("Schools will stay closed.").
_BRIEF_NAMED_SHARE = 0.8
# Capitalised words that name no subject.
_CALENDAR_WORDS = word_set(
    """
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december i
    """
)
# Share of a dump's lines that are bulleted for its bullets to open stories.
_BULLETED_SHARE = 0.5
_BULLET_ITEM_CHARS = 100  # Median length of the bullets of a digest.
# Cohesion under which a line of a dump of long lines opens a story (_forced_starts).
_STORY_LINES_COHESION = 0.2
# Cohesion under which a line in a final run of long lines opens a story (_forced_starts).
_TAIL_COHESION = 0.1
# Rarity-weighted share of a line's words that the running story uses, and names shared
# with it, from which a long line is read as the story's next paragraph, not a new story
# (_new_subject_lines); chosen on the tune half of the benchmark's layouts.
_STORY_COHESION = 0.1
_STORY_NAMES = 3
_STORY_COHESION_ALONE = 0.16
# Shortest line that a dump of lines holding whole stories forces to open a story.
_STORY_LINE_MIN_CHARS = 300
# First characters of the markers _read_lines keeps aside for numbered and bulleted items.
_ITEM_MARKERS = frozenset("•·▪●◦‣■►▸*–-0123456789")
_SLUG = re.compile(r"^[A-Z]{2,}[ -]?\d+$")
# A dateline naming an agency or in capitals: "LONDON (Reuters) - ", "PARIS, June 3 (AFP) - ".
_AGENCY_DATELINE = re.compile(
    r"^(?:[A-Z][A-Z .,'’-]{2,40}|[^()]{2,40}\([^()]{2,30}\))\s+(?:-{1,2}|—|–)\s+"
)
# Large dumps are split a window of lines at a time (_windowed_story_starts); the last
# lines of a window are decided again with the next one.
_WINDOW_LINES = 4000
_WINDOW_MARGIN = 200
# Log-odds below the best open story at which the decoder stops following a story.
_PRUNE_MARGIN = 8.0


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
    weights: Mapping[str, float]  # Inverse line frequency in the dump of ``words`` and ``after``.
    mass: float  # Total weight of ``words``.
    after_mass: float  # Total weight of ``after``.
    single_before: int  # Lines before this one in the dump that hold a single sentence.


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
    # Inverse line frequency within the dump, not over a corpus: what matters is which words
    # the dump's other stories use too, and a dump needs no vocabulary file.
    frequency = Counter(word for own in words for word in own)
    total = len(lines) + 1
    idf = {word: math.log(total / count) for word, count in frequency.items()}
    if separator_gap is not None and _paragraph_gaps(lines, words, separator_gap, idf):
        separator_gap = None
    cues: list[_Cues] = []
    single = 0
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
        after = frozenset().union(*words[position + 1 : position + 3])
        weights = {word: idf[word] for word in words[position] | after}
        cues.append(
            _Cues(
                words[position],
                after,
                _overlap(after, words[position]),
                _names(line.text),
                shaped[position] and following is not None,
                fixed,
                separated,
                weights,
                sum(weights[word] for word in words[position]),
                sum(weights[word] for word in after),
                single,
            )
        )
        single += len(sentences) == 1
    return cues


def _paragraph_gaps(
    lines: Sequence[_Line],
    words: Sequence[AbstractSet[str]],
    separator_gap: int,
    idf: Mapping[str, float],
) -> bool:
    """Whether the dump's larger blank-line gaps break paragraphs rather than stories.

    A dump can mix layouts: an article whose paragraphs are set apart by blank lines among
    stories laid out with none. Its gaps then are not separators, and reading them as such
    cuts the article at every paragraph. They are paragraph breaks when they all fall inside
    one region of paragraph-sized blocks (a line or two each) while a block outside it runs
    on for several lines with no gap at all; or when every block after a gap carries on the
    subject of the block before it (it uses much of that block's rarer vocabulary).
    """
    gaps = [
        position
        for position, line in enumerate(lines)
        if position and not line.rule_before and line.gap_before >= separator_gap
    ]
    if len(gaps) < 2:
        return False
    bounds = [0, *gaps, len(lines)]
    blocks = [set().union(*words[before:after]) for before, after in itertools.pairwise(bounds)]

    def carried(block: AbstractSet[str], context: AbstractSet[str]) -> float:
        mass = sum(idf[word] for word in block)
        return sum(idf[word] for word in block & context) / mass if mass > 0 else 0.0

    sizes = [after - before for before, after in itertools.pairwise(bounds)]
    if max(sizes[1:-1]) <= _PARAGRAPH_BLOCK_LINES and max(sizes[0], sizes[-1]) >= _GAPLESS_RUN:
        # The region's blocks must read as one article: they share the vocabulary of the
        # region before them (a run of one-line briefs after a long first story shares none).
        region = set(blocks[1])
        shares = []
        for block in blocks[2:-1]:
            shares.append(carried(block, region))
            region |= block
        if (
            len(shares) >= _REGION_MIN_BLOCKS - 1
            and sorted(shares)[len(shares) // 2] >= _REGION_CONTINUES
        ):
            return True
    return all(
        carried(block, previous) >= _GAP_CONTINUES for previous, block in itertools.pairwise(blocks)
    )


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
    two lines after, plainly and weighted by inverse line frequency; layout features compare
    the line's neighbourhood with the running story; cue features describe the line's shape
    (see :func:`_line_cues`).
    """
    line = cues[position]
    own, after, weight = line.words, line.after, line.weights.__getitem__
    shared = own & story_words
    shared_after = after & story_words
    return (
        *line.fixed,
        float(position - start == 1 and cues[start].headline),
        # A line cut short ends its story; a headline is not cut, so it does not count.
        float(line.fixed[2] > 0 and not (position - start == 1 and cues[start].headline)),
        len(shared) / len(own) if own else 0.0,
        math.log1p(len(shared)),
        _overlap(own, cues[position - 1].words),
        len(shared_after) / len(after) if after else 0.0,
        line.after_own,
        math.log1p(len(line.names & story_names)),
        math.log1p(position - start),
        float(bool(after)),
        sum(map(weight, shared)) / line.mass if line.mass > 0 else 0.0,
        sum(map(weight, shared_after)) / line.after_mass if line.after_mass > 0 else 0.0,
        (line.single_before - cues[start].single_before) / (position - start),
        cues[position - 1].fixed[9],
        cues[position - 1].fixed[8],
    )


def _new_story_logits(rows: Sequence[Sequence[float]]) -> npt.NDArray[np.float64]:
    """Log-odds that each row's line opens a new story (rows of :func:`_features`).

    Evaluated for all candidate (story, line) pairs of a dump at once, as a quadratic form:
    the pairwise terms go into one matrix, so a few hundred terms cost two small matrix
    products rather than an array operation each.
    """
    standard = (np.asarray(rows, dtype=np.float64) - _FEATURE_MEAN) / _FEATURE_SCALE
    linear, pairs = _term_matrices(_TERMS, len(_FEATURE_MEAN))
    # einsum rather than ``@``: a BLAS product would wake a pool of threads that keep
    # spinning (and using CPU) after these small products are done.
    quadratic = np.einsum("ij,ij->i", np.einsum("ij,jk->ik", standard, pairs), standard)
    return _BIAS + _DECODE_OFFSET + np.einsum("ij,j->i", standard, linear) + quadratic


@functools.lru_cache(maxsize=4)
def _term_matrices(
    terms: tuple[tuple[int, int, float], ...], size: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The weights of ``terms`` as a vector (single features) and a matrix (products).

    Cached on the terms themselves, so a model swapped in for tuning gets its own matrices.
    """
    linear = np.zeros(size)
    pairs = np.zeros((size, size))
    for first, second, weight in terms:
        if second < 0:
            linear[first] += weight
        else:
            pairs[first, second] += weight
    return linear, pairs


def _is_list_context(previous: _Line, line: _Line) -> bool:
    """Open-ended lines inside one story: a list intro ("he announced:") or bulleted items."""
    return previous.text.endswith(":") or (
        previous.text.startswith(("-", "•", "*")) and line.text.startswith(("-", "•", "*"))
    )


def _story_starts(lines: Sequence[_Line]) -> tuple[list[int], set[int]]:
    """Positions (into ``lines``) where stories start, and positions that are headlines.

    Segment-level dynamic programming: a story ``s..e-1`` scores the log-probability that
    each of its lines continues the story so far, plus that line ``e`` opens a new one, both
    from the model of :func:`_new_story_logits`. Because each decision looks at the whole
    running story, the best split is found over all segmentations (stories of at most
    ``_MAX_STORY_LINES`` lines).

    The programme runs forward, one line at a time, over the stories still "open" at that
    line; an open story whose running score has fallen ``_PRUNE_MARGIN`` log-units below the
    best one cannot come back (every open story faces the same lines ahead), so it is
    dropped. Time is then linear in the dump's lines times the few stories kept open, and
    memory is what the lines themselves need: a 5 MB dump no longer holds a feature row for
    every (start, line) pair at once.
    """
    count = len(lines)
    if not count:
        return [], set()
    cues = _line_cues(lines)
    blocks = _block_layout(cues)
    forced = _forced_starts(lines, cues, blocks)
    sign_offs = [] if blocks else _sign_off_lines(lines)
    forced.update(position + 1 for position in sign_offs if position + 1 < count)
    nudges = _topic_shifts(lines, cues)
    # Lines of hard-wrapped copy are pieces of sentences, too short to read dips in.
    depths = _cohesion_depths(cues) if _wrap_width(lines) is None else {}
    for position, nudge in depths.items():
        nudges[position] = nudges.get(position, 0.0) + nudge
    mid_sentence = _mid_sentence_openers(lines)
    for position in mid_sentence:
        # After a line cut off, a line that carries on in mid-sentence is the rest of that
        # paragraph, broken in copying: both halves belong to one story.
        broken = lines[position - 1].open_ended
        nudge = _BROKEN_PARAGRAPH_NUDGE if broken else _MID_SENTENCE_NUDGE
        nudges[position] = nudges.get(position, 0.0) - nudge
    for position in _wrapped_continuations(lines):
        nudges[position] = nudges.get(position, 0.0) - _BROKEN_PARAGRAPH_NUDGE
    for position in range(1, count):
        if cues[position - 1].headline and cues[position - 1].fixed[3] > 0:
            # The line under a headline is its story's first paragraph.
            nudges[position] = nudges.get(position, 0.0) - _AFTER_HEADLINE_NUDGE
    for position in _referring_openers(lines, cues):
        nudges[position] = nudges.get(position, 0.0) - _REFERRING_NUDGE
    for position in _unmarked_in_dateline_dump(lines, cues, forced):
        nudges[position] = nudges.get(position, 0.0) - _UNMARKED_NUDGE
    for position in sign_offs:
        nudges[position] = nudges.get(position, 0.0) - _BROKEN_PARAGRAPH_NUDGE
    for position in _unheaded_run_on(lines):
        nudges[position] = nudges.get(position, 0.0) - _UNMARKED_NUDGE
    if len(sign_offs) >= _SIGNED_DUMP_MIN:
        # Signed copy: a story ends with its sign-off, so one without is unlikely.
        after = {position + 1 for position in sign_offs}
        for position in range(1, count):
            if position not in after:
                nudges[position] = nudges.get(position, 0.0) - _UNMARKED_NUDGE
    for position in set(_cut_lines(lines, cues, blocks)) - set(mid_sentence):
        # A line cut off before one that carries on its sentence is a paragraph broken
        # mid-sentence, not a teaser's end.
        nudges[position] = nudges.get(position, 0.0) + _CUT_LINE_NUDGE
    marked = [position for position, line in enumerate(lines) if _marks_item(line)]
    if len(marked) >= 2 and marked[0] == 0:
        # Slugs or numbers on every story ("WIRE12: ...", "1. ..."): they say where all
        # stories start, and nothing between them does.
        return marked, _headline_starts(lines, cues, marked)
    if blocks:
        block_starts = sorted({0, *forced, *_block_starts(lines, cues)})
        return block_starts, _headline_starts(lines, cues, block_starts)
    # In a dump with no headline lines, nothing but the lead itself shows where a story starts.
    unheaded = not any(cue.headline and cue.fixed[3] > 0 for cue in cues)
    best = np.full(count + 1, -np.inf)
    back = np.zeros(count + 1, dtype=np.int64)
    best[0] = 0.0
    # Open stories: start -> [running score, story words, story names].
    live: dict[int, tuple[float, set[str], set[str]]] = {
        0: (0.0, set(cues[0].words), set(cues[0].names))
    }
    for end in range(1, count + 1):
        ends_all = end == count or cues[end].separated or end in forced
        if ends_all:
            # The dump's end or a separator: every open story runs up to here.
            for start, (running, _, _) in live.items():
                if running > best[end]:
                    best[end], back[end] = running, start
            live = {}
        else:
            open_starts = [start for start in live if end - start < _MAX_STORY_LINES]
            for start in [start for start in live if end - start >= _MAX_STORY_LINES]:
                running = live.pop(start)[0]
                if running > best[end]:
                    best[end], back[end] = running, start
            if open_starts:
                rows = [
                    _features(end, start, cues, live[start][1], live[start][2])
                    for start in open_starts
                ]
                logits = _new_story_logits(rows) + nudges.get(end, 0.0)
                if unheaded and len(cues[end].names) >= _NEW_NAMES:
                    # A lead names its own people and places; a story's later paragraph
                    # names some of those already met (its first few still bring in new
                    # ones).
                    logits += _NEW_NAMES_NUDGE * np.array(
                        [
                            end - start >= _NEW_NAMES_AFTER and not cues[end].names & live[start][2]
                            for start in open_starts
                        ],
                        dtype=np.float64,
                    )
                # The model learned from short items that stories end within a few lines;
                # one that has run on this long is a long article, likely to run on.
                if end - min(open_starts) > _LONG_FROM:
                    lengths = np.array([end - start for start in open_starts], dtype=np.float64)
                    logits -= _LONG_STORY * np.maximum(0.0, np.log1p(lengths) - _LONG_FROM_LOG)
                opens = -np.logaddexp(0.0, -logits)  # log P(the line opens a new story)
                continues = -np.logaddexp(0.0, logits)  # log P(it continues the running one)
                for number, start in enumerate(open_starts):
                    running, words, names = live[start]
                    score = running + float(opens[number])
                    if score > best[end]:
                        best[end], back[end] = score, start
                    words |= cues[end].words
                    names |= cues[end].names
                    live[start] = (running + float(continues[number]), words, names)
        if end < count:
            live[end] = (float(best[end]), set(cues[end].words), set(cues[end].names))
            top = max(running for running, _, _ in live.values())
            live = {
                start: state for start, state in live.items() if state[0] >= top - _PRUNE_MARGIN
            }
    starts: list[int] = []
    position = count
    while position > 0:
        position = int(back[position])
        starts.append(position)
    starts.reverse()
    return starts, _headline_starts(lines, cues, starts)


def _headline_starts(lines: Sequence[_Line], cues: Sequence[_Cues], starts: list[int]) -> set[int]:
    """The story starts (positions in ``lines``) whose first line is the story's headline."""
    count = len(lines)
    return {
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


def _block_layout(cues: Sequence[_Cues]) -> bool:
    """Whether separators (rules, larger blank-line gaps) cut the dump into whole stories.

    Wire files and tidy newsletters put a blank line (or a rule, or a "Read more") after
    each story and none inside: when there are several separators and the blocks between
    them are story-sized, each block is one story and only a strong cue splits it.
    """
    separators = [position for position, cue in enumerate(cues) if cue.separated]
    if len(separators) < 2:
        return False
    bounds = [0, *separators, len(cues)]
    sizes = sorted(after - before for before, after in itertools.pairwise(bounds))
    return sizes[len(sizes) // 2] <= _MAX_BLOCK_LINES


def _block_starts(lines: Sequence[_Line], cues: Sequence[_Cues]) -> list[int]:
    """Where the blocks between separators start, less those that continue a signed story.

    When most blocks end with an agency sign-off ("Reuter", "AP"), a block after one that
    has none and holds more than a headline is the rest of that story (a table with blank
    lines in it), not a new one.
    """
    separators = [position for position, cue in enumerate(cues) if cue.separated]
    ends = [position - 1 for position in separators] + [len(lines) - 1]
    signed = [bool(_SIGN_OFF.search(lines[end].text)) for end in ends]
    if sum(signed) < _SIGNED_SHARE * len(ends):
        return separators
    starts = []
    block_start = 0
    for number, position in enumerate(separators):
        if signed[number] or position - block_start == 1:
            starts.append(position)
        block_start = position
    return starts


def _is_whole_story(line: _Line, sentences: int) -> bool:
    """A line long enough, and of enough sentences, to hold a story on its own."""
    return len(line.text) >= _WHOLE_STORY_CHARS and sentences >= 3


def _is_story_line(line: _Line, sentences: int) -> bool:
    """A line that reads as a story pasted on one line: long, or a long teaser cut short."""
    if line.open_ended:
        return len(line.text) >= _WHOLE_STORY_CHARS and sentences >= 3
    return len(line.text) >= _STORY_LINE_CHARS and sentences >= 3


def _names_something(text: str) -> bool:
    """Whether a line holds a name after its first word: a capitalised word that does not open
    a sentence and is no day or month."""
    words = text.split()
    for before, word in itertools.pairwise(words):
        core = word.strip("\"'“”‘’([{,;:.!?")
        if core[:1].isupper() and before[-1:] not in ".!?:" and core.lower() not in _CALENDAR_WORDS:
            return True
    return False


def _is_brief_list(lines: Sequence[_Line], cues: Sequence[_Cues]) -> bool:
    """A digest of briefs: short items, one per line, no headline.

    A story laid out one paragraph per line refers back: many of its paragraphs open with a
    pronoun, "But", a quote or "The company", and many share their terms with the next one;
    items of a digest each name their subject, so few lines open that way or share much
    with their neighbour, and none is a headline over the lines below it.
    """
    count = len(lines)
    if count < _BRIEF_LIST_MIN_LINES or any(
        (cue.headline and cue.fixed[3] > 0) or line.kicker or cue.fixed[1]
        for line, cue in zip(lines, cues, strict=True)
    ):
        return False  # Headlines, kickers or datelines mark where stories start.
    lengths = sorted(len(line.text) for line in lines)
    if lengths[-1] > _BRIEF_MAX_CHARS or lengths[count // 2] > _BRIEF_MEDIAN_CHARS:
        return False
    referring = sum(
        bool(_OPEN_QUOTE.match(line.text))
        or line.text.split(maxsplit=1)[0].lower().strip(",") in _REFERRING_OPENERS
        or " ".join(line.text.lower().split()[:2]) in _REFERRING_PHRASES
        for line in lines[1:]
    )
    if referring > _BRIEF_LIST_ANAPHORA * count:
        return False
    named = sum(_names_something(line.text) for line in lines)
    if named < _BRIEF_NAMED_SHARE * count:
        return False
    # Items of a digest rarely share their vocabulary with the next; paragraphs of a story do.
    linked = sum(
        _cohesion(cues[position], cues[position - 1]) >= _BRIEF_LINKED_COHESION
        for position in range(1, count)
    )
    return linked <= _BRIEF_LINKED_SHARE * (count - 1)


def _marks_item(line: _Line) -> bool:
    """A wire slug ("WIRE12:"), a number counted up through the dump, or a digest's bullet."""
    return bool(_SLUG.match(line.kicker)) or line.kicker[:1] in _ITEM_MARKERS


def _forced_starts(lines: Sequence[_Line], cues: Sequence[_Cues], blocks: bool) -> set[int]:
    """Positions where a story starts whatever the model says, from the dump's layout.

    - A dump whose lines are nearly all long multi-sentence paragraphs is one story per line
      (pasted story after story, each on one line, or a headline run into its lede), and so
      is a run of such lines that ends the dump (stories pasted one per line after a first
      one laid out in paragraphs, when no headline line shows where stories start): a
      line opens a story unless it shares much of its vocabulary with the one before, or
      stays on the running story's subject (its rarer words, its names; see
      :func:`_new_subject_lines`): then they are paragraphs of one story, and the model
      decides. A short line among them (a first story's headline and lede) opens none,
      nor forces the line after it.
    - A list of briefs, one per line, is one story per line (see :func:`_is_brief_list`).
    - Wire slugs ("WIRE12: ..."), numbered or bulleted items and agency datelines ("LONDON
      (Reuters) - ") open a story; a headline line right before a dateline opens it instead
      (not a line that ends with a colon, which introduces what follows).
    """
    count = len(lines)
    sentence_counts = [cue.fixed[9] for cue in cues]
    whole = [_is_whole_story(line, int(n)) for line, n in zip(lines, sentence_counts, strict=True)]
    forced: set[int] = set()
    # The rules on lines that hold a story apply where no separator already says where
    # stories end: inside a block, lines are that block's paragraphs.
    if not blocks and count >= 2 and sum(whole) >= _WHOLE_STORY_SHARE * count:
        # A short paragraph among them (a first story laid out in paragraphs) is no story,
        # and the line after one is measured against too few words to be forced.
        sized = [
            held or len(line.text) >= _STORY_LINE_MIN_CHARS
            for held, line in zip(whole, lines, strict=True)
        ]
        candidates = {
            position for position in range(1, count) if sized[position] and sized[position - 1]
        }
        return _new_subject_lines(cues, candidates, _STORY_LINES_COHESION)
    if not blocks and _is_brief_list(lines, cues):
        return set(range(1, count))
    # Story after story pasted one per line after a first story laid out in paragraphs.
    tail = count
    while tail > 0 and _is_story_line(lines[tail - 1], int(sentence_counts[tail - 1])):
        tail -= 1
    headlined = any(cue.headline and cue.fixed[3] > 0 for cue in cues)
    if not blocks and not headlined and count - tail >= _WHOLE_STORY_RUN:
        forced.update(_new_subject_lines(cues, range(max(tail, 1), count), _TAIL_COHESION))
    for position in range(1, count):
        line = lines[position]
        if _marks_item(line):
            forced.add(position)
        if cues[position].fixed[1] and _AGENCY_DATELINE.match(line.text):
            before = position - 1
            headline = (
                lines[before].open_ended
                and not lines[before].text.endswith(":")  # "... recently reported:"
                and len(lines[before].words) <= _HEADLINE_MAX_WORDS
                and not cues[position].separated
            )
            if not headline:
                forced.add(position)
            elif before > 0:
                forced.add(before)
    return forced


def _new_subject_lines(
    cues: Sequence[_Cues], candidates: Collection[int], ceiling: float
) -> set[int]:
    """The ``candidates`` that share little with the line before and with the running story.

    Read forward, each line that opens a story starts the running story again. A paragraph
    can share few words with the one before it and still be on its story's subject: it uses
    the story's rarer words (``_STORY_COHESION``) or names its people and places
    (``_STORY_NAMES``), which a new story pasted after it does not.
    """
    found: set[int] = set()
    story = set(cues[0].words) if cues else set()
    names = set(cues[0].names) if cues else set()
    start = 0
    for position in range(1, len(cues)):
        cue = cues[position]
        if (
            position in candidates
            and _cohesion(cue, cues[position - 1]) < ceiling
            and (position - start < 2 or not _on_story_subject(cue, story, names))
        ):
            # A story of one line is the line before, which the first test has measured.
            found.add(position)
            story, names, start = set(cue.words), set(cue.names), position
            continue
        story |= cue.words
        names |= cue.names
    return found


def _on_story_subject(line: _Cues, story: AbstractSet[str], names: AbstractSet[str]) -> bool:
    """Whether a line reads as the running story's next paragraph.

    It uses many of the story's rarer words, or some of them and several of its names.
    """
    cohesion = _story_cohesion(line, story)
    return cohesion >= _STORY_COHESION_ALONE or (
        cohesion >= _STORY_COHESION and len(line.names & names) >= _STORY_NAMES
    )


def _story_cohesion(line: _Cues, story: AbstractSet[str]) -> float:
    """Share of the line's vocabulary, weighted by rarity in the dump, that the story uses."""
    if line.mass <= 0:
        return 0.0
    return sum(line.weights[word] for word in line.words & story) / line.mass


def _cut_lines(lines: Sequence[_Line], cues: Sequence[_Cues], blocks: bool) -> list[int]:
    """Lines that follow a long line cut off mid-sentence: a teaser's end closes its story.

    Not after a list's introduction ("he said:"), a headline, or when separators already cut
    the dump into stories (a paragraph that stops short there is a quirk of the copy). It is
    strong evidence, not proof: copy has paragraphs that end without a full stop.
    """
    found = []
    for position in range(1, len(lines)):
        line, previous = lines[position], lines[position - 1]
        if (
            not blocks
            and previous.open_ended
            and len(previous.words) >= _CUT_LINE_WORDS
            and len(previous.text) >= _CUT_LINE_CHARS
            and not previous.text.endswith((":", "-", "—", "–"))
            and not _is_list_context(previous, line)
            and not (cues[position - 1].headline and cues[position - 1].fixed[3] > 0)
        ):
            found.append(position)
    return found


def _mid_sentence_openers(lines: Sequence[_Line]) -> list[int]:
    """Lines that open in mid-sentence: a lower-case word or a stop, as a paragraph does
    whose first words (a linked name) were lost when the page was copied.

    A story's first line opens a sentence; brand names written in lower case ("eBay",
    "iPhone") have a capital inside and a source's domain ("washingtonpost.com - ...") a
    dot, and do not count.
    """
    found = []
    for position in range(1, len(lines)):
        line = lines[position]
        if line.kicker or not line.words:
            continue
        first = line.words[0]
        if first[:1] in ",;:." or (
            first[:1].islower() and first == first.lower() and "." not in first[:-1]
        ):
            found.append(position)
    return found


def _unmarked_in_dateline_dump(
    lines: Sequence[_Line], cues: Sequence[_Cues], forced: Collection[int]
) -> list[int]:
    """Lines that neither carry nor head an agency dateline, in a dump whose stories do.

    Agency copy dates every story ("LONDON (Reuters) - "): when the first story opens with
    a dateline (on its first or second line) and several more do, a story that carries none
    is unlikely, so the lines without one are read as paragraphs unless the evidence against
    that is strong (a separator, a cut-off teaser's end).
    """
    dated = [
        position
        for position, (line, cue) in enumerate(zip(lines, cues, strict=True))
        if cue.fixed[1] and _AGENCY_DATELINE.match(line.text)
    ]
    if len(dated) < _DATELINE_DUMP_MIN or dated[0] > 1:
        return []
    marked = set(dated) | {position for position in forced if position + 1 in set(dated)}
    return [position for position in range(1, len(lines)) if position not in marked]


def _unheaded_run_on(lines: Sequence[_Line]) -> list[int]:
    """Sentences of a run-on line that are no headline, when its stories carry headlines.

    When a paste that lost its line breaks holds several sentences that read as headlines,
    its stories start there; a sentence between them is its story's next one.
    """
    if sum(line.run_on == 2 for line in lines) < _RUN_ON_HEADLINES:
        return []
    return [
        position
        for position in range(1, len(lines))
        if lines[position].run_on == 1
        and lines[position - 1].run_on
        and not lines[position].rule_before
    ]


def _sign_off_lines(lines: Sequence[_Line]) -> list[int]:
    """Lines that are an agency's sign-off alone ("Reuter", "AP"), which close a wire story.

    The line after one opens the next story; the sign-off itself never opens one. Two at
    least, or a line reading "AP" is no sign of wire copy.
    """
    found = [
        position
        for position, line in enumerate(lines)
        if not line.kicker and _SIGN_OFF_LINE.match(line.text)
    ]
    return found if len(found) >= 2 else []


def _wrap_width(lines: Sequence[_Line]) -> int | None:
    """The width copy is hard-wrapped at (most lines run close to it), or None."""
    count = len(lines)
    if count < _WRAPPED_MIN_LINES:
        return None
    lengths = sorted(len(line.text) for line in lines)
    width = lengths[int(count * 0.9)]
    if width > _WRAPPED_MAX_WIDTH:
        return None
    near = width - _WRAPPED_SLACK
    if sum(length >= near for length in lengths) < _WRAPPED_SHARE * count:
        return None
    return width


def _wrapped_continuations(lines: Sequence[_Line]) -> list[int]:
    """Lines that carry on a line hard-wrapped at the dump's width (wire copy at 60-70).

    In copy wrapped at a fixed width, most lines run close to that width; a line that
    reaches it without closing its sentence was wrapped there, and its sentence goes on in
    the next line. Cut-off cues (the line before "cut off") do not hold there: such a line
    never ends a story.
    """
    width = _wrap_width(lines)
    if width is None:
        return []
    near = width - _WRAPPED_SLACK
    return [
        position
        for position in range(1, len(lines))
        if lines[position - 1].open_ended
        and len(lines[position - 1].text) >= near
        and not lines[position].kicker
    ]


def _referring_openers(lines: Sequence[_Line], cues: Sequence[_Cues]) -> list[int]:
    """Lines that open by referring back to what came before: a pronoun or "But" as the
    first word, or a quotation. A story's first paragraph introduces its subject; these
    go on about one already named. Not a line with a kicker or a dateline, which open
    stories whatever their first word.
    """
    found = []
    for position in range(1, len(lines)):
        line = lines[position]
        if line.kicker or cues[position].fixed[1] or not line.words:
            continue
        first = line.words[0].lower().strip(",;:")
        if _OPEN_QUOTE.match(line.text) or first in _REFERRING_FIRST_WORDS:
            found.append(position)
    return found


def _topic_shifts(lines: Sequence[_Line], cues: Sequence[_Cues]) -> dict[int, float]:
    """Log-odds added to "opens a story" where a long line follows another on a new subject.

    Two long multi-sentence lines in a row are two paragraphs of one story or two stories
    pasted one per line; paragraphs of one story keep their names and terms, a new story
    brings its own. Little shared vocabulary is evidence, not proof (one story's paragraphs
    can drift), so it moves the model's decision rather than forcing it.
    """
    nudges: dict[int, float] = {}
    for position in range(1, len(lines)):
        if not (
            _is_whole_story(lines[position], int(cues[position].fixed[9]))
            and _is_whole_story(lines[position - 1], int(cues[position - 1].fixed[9]))
        ):
            continue
        cohesion = _cohesion(cues[position], cues[position - 1])
        for ceiling, nudge in _TOPIC_SHIFT_NUDGES:
            if cohesion < ceiling:
                nudges[position] = nudge
                break
    return nudges


def _window_vector(cues: Sequence[_Cues], first: int, last: int) -> dict[str, float]:
    """Summed inverse-line-frequency weights of the words of lines ``first..last-1``."""
    vector: dict[str, float] = {}
    for cue in cues[first:last]:
        for word in cue.words:
            vector[word] = vector.get(word, 0.0) + cue.weights[word]
    return vector


def _cosine(first: Mapping[str, float], second: Mapping[str, float]) -> float:
    """Cosine of two sparse word vectors: a window's length does not count, only its mix."""
    if len(first) > len(second):
        first, second = second, first
    dot = sum(value * second.get(word, 0.0) for word, value in first.items())
    if dot <= 0:
        return 0.0
    norm = math.sqrt(sum(v * v for v in first.values()) * sum(v * v for v in second.values()))
    return dot / norm


def _cohesion_depths(cues: Sequence[_Cues]) -> dict[int, float]:
    """Log-odds added to "opens a story" from the drop in cohesion at each line (TextTiling).

    The lines before a candidate boundary and the lines after it are compared as two windows
    of ``_DEPTH_WINDOW`` lines (words weighted by inverse line frequency in the dump, so the
    dump's own stories decide what is rare); a boundary is where that similarity dips below
    the similarity at the neighbouring candidates, its depth being how far it dips from the
    nearest peak on either side. A long article's paragraphs drift from one another without
    a dip, since every window on its lines shares its names and terms; two stories meet at
    a dip however alike their vocabularies. Measured inside the dump at run time, so no
    training text is involved.
    """
    count = len(cues)
    if count < _DEPTH_MIN_LINES:
        return {}
    window = _DEPTH_WINDOW
    similarity = [0.0] * count
    for position in range(1, count):
        before = _window_vector(cues, max(0, position - window), position)
        after = _window_vector(cues, position, min(count, position + window))
        similarity[position] = _cosine(before, after)
    # The peak reached climbing from each candidate while the similarity does not fall,
    # leftward and rightward, in one pass each.
    left = similarity[:]
    for position in range(2, count):
        if similarity[position - 1] >= similarity[position]:
            left[position] = left[position - 1]
    right = similarity[:]
    for position in range(count - 2, 0, -1):
        if similarity[position + 1] >= similarity[position]:
            right[position] = right[position + 1]
    depths = [left[p] + right[p] - 2 * similarity[p] for p in range(count)]
    nudges: dict[int, float] = {}
    for position in range(1, count):
        depth = depths[position]
        nudge = _DEPTH_SLOPE * (depth - _DEPTH_NEUTRAL)
        if nudge > 0 and depth < max(depths[max(1, position - 1) : position + 2]):
            nudge = 0.0  # A dip's shoulder: the boundary is at its deepest point.
        nudges[position] = max(-_DEPTH_CAP, min(_DEPTH_CAP, nudge))
    return nudges


def _cohesion(line: _Cues, other: _Cues) -> float:
    """Weighted share of the rarer line's vocabulary that the other line uses too."""
    shared = line.words & other.words
    mass = min(line.mass, sum(other.weights.get(word, 0.0) for word in other.words))
    if mass <= 0:
        return 0.0
    return sum(line.weights[word] for word in shared) / mass


def boundary_examples(text: str, starts: Collection[int]) -> list[tuple[tuple[float, ...], bool]]:
    """Training rows for the boundary model: features and whether the line opens a story.

    ``starts`` are the indices (in ``text.splitlines()``) of the lines where stories start.
    Every line after the first is described against the true story running up to it, which
    is the context the decoder scores it in along the best path. Used by
    ``scripts/build_segment_model.py`` to fit ``_TERMS``.
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


def derive_title(sentence: str, max_chars: int = HEADLINE_MAX_CHARS, context: str = "") -> str:
    """A headline written from a story's first sentence, short enough for an alert line.

    The sentence is compressed, not cut at a character count (see
    :func:`bot.pipeline.headline.write_headline`); ``context`` is the story, which names its
    subject when the sentence only refers to it ("The former president ...").
    """
    return write_headline(context or sentence, lede=sentence, max_chars=max_chars)


def _fitted(headline: str, text: str) -> str:
    """``headline`` as it is when it fits an alert's title, else shortened at a clause.

    A deck or a long headline line ("A powerful 6.1-magnitude earthquake struck the
    province of ... with no tsunami warning issued") would be cut mid-phrase by a chat's
    title limit; it is compressed like a lede instead.
    """
    return fit_title(headline, text) if len(headline) > HEADLINE_MAX_CHARS else headline


# A line this long that stops without punctuation was wrapped, not ended: wire copy and
# e-mail text break their paragraphs every 60 to 80 characters.
_WRAPPED_LINE_CHARS = 40
_SENTENCE_STOP = (".", "!", "?", "…", ":", ";")


def _paragraphs(lines: Sequence[str]) -> str:
    """The story's lines as paragraphs, a hard-wrapped paragraph joined back into one.

    Each line of a dump is a paragraph unless it continues the line before: that line
    stopped without ending its sentence and either ran long (it was wrapped) or the next
    one opens in lower case. Kept apart, the pieces of a wrapped sentence would each be
    read as a sentence of their own ("Comissaria Smith said in its weekly review.").
    """
    paragraphs: list[str] = []
    for line in lines:
        if paragraphs:
            previous = paragraphs[-1].rstrip("\"'”’»)] ")
            if not previous.endswith(_SENTENCE_STOP) and (
                len(paragraphs[-1].rsplit("\n", 1)[-1]) >= _WRAPPED_LINE_CHARS or line[:1].islower()
            ):
                paragraphs[-1] += " " + line
                continue
        paragraphs.append(line)
    return "\n\n".join(paragraphs)


def _line_texts(lines: Sequence[_Line]) -> list[str]:
    """The lines' texts, the sentences cut from one run-on line joined back into one (a
    sentence read as a headline but kept in the body gets its full stop back)."""
    texts: list[str] = []
    for number, line in enumerate(lines):
        text = line.text + "." if line.run_on == 2 else line.text
        if number and line.run_on and lines[number - 1].run_on and not line.rule_before:
            texts[-1] += " " + text
        else:
            texts.append(text)
    return texts


def _make_segment(story: Sequence[_Line], headline: bool) -> Segment:
    if (
        headline
        and len(story) > 2
        and story[1].open_ended
        and _headline_shaped(story[1])
        and not _content_words(story[0].text)
        & set().union(*(_content_words(line.text) for line in story[1:]))
    ):
        # "Morning briefing" / "Quake kills 41" / "A magnitude ...": a newsletter's or page's
        # heading that shares no word with the story is not its headline; the next line is.
        story = story[1:]
    body_lines = story[1:] if headline and len(story) > 1 else story
    text = _paragraphs(_line_texts(body_lines))
    if headline and len(story) > 1:
        return Segment(title=_fitted(story[0].text, text), text=text, title_derived=False)
    # A headline or deck run into the lede with no full stop is the title, not lede text.
    run_on = split_run_on_headline(story[0].text, "\n\n".join(line.text for line in story[1:]))
    if run_on is not None:
        text = _paragraphs(_line_texts([replace(story[0], text=run_on[1]), *story[1:]]))
        return Segment(title=_fitted(run_on[0], text), text=text, title_derived=False)
    sentences = split_sentences(story[0].text)
    lede = next(
        (s for s in sentences[:3] if len(s.split()) >= 5), sentences[0] if sentences else ""
    )
    return Segment(
        title=derive_title(lede or story[0].text, context=text), text=text, title_derived=True
    )


def _windowed_story_starts(lines: Sequence[_Line]) -> tuple[list[int], set[int]]:
    """:func:`_story_starts` over windows of ``_WINDOW_LINES`` lines, for large dumps.

    The cues of a line (its words, their weights) are what a split holds in memory, so a
    long dump is read a window at a time: each window starts at a story start decided by
    the one before, and its last ``_WINDOW_MARGIN`` lines, decided without the lines that
    follow, are decided again at the head of the next window. Memory is then bounded by
    the window, and dumps shorter than a window are split exactly as before.
    """
    count = len(lines)
    if count <= _WINDOW_LINES:
        return _story_starts(lines)
    starts: list[int] = []
    headlines: set[int] = set()
    begin = 0
    while begin < count:
        end = min(count, begin + _WINDOW_LINES)
        window_starts, window_headlines = _story_starts(lines[begin:end])
        if end == count:
            kept, following = window_starts, count
        else:
            limit = end - begin - _WINDOW_MARGIN
            kept = [start for start in window_starts if start < limit]
            later = [start for start in window_starts if start >= limit]
            if later:
                following = begin + later[0]
            elif kept[-1] > 0:
                # No story starts in the margin: decide the last one again.
                following = begin + kept.pop()
            else:
                following = end  # One story fills the window (a cap keeps this rare).
        starts.extend(begin + start for start in kept)
        headlines.update(begin + start for start in kept if start in window_headlines)
        begin = following
    return starts, headlines


def _join_lone_headlines(
    lines: Sequence[_Line], starts: list[int], headlines: set[int]
) -> list[int]:
    """``starts`` without those that leave a headline standing alone before its own story.

    A page pasted as text sets its headline off by a blank line (and a byline or a date,
    dropped as furniture), then runs its paragraphs without blank lines: read as blocks, the
    headline is a story of one line with no text, and the story after it gets a title
    written from its lede. A one-line story that is shaped like a headline, is followed by
    a story that opens with a sentence rather than its own headline, and shares words with
    that sentence is that story's headline. A teaser cut mid-sentence shares no words with
    the next teaser, so a list of them is left alone.
    """
    kept: list[int] = []
    for start in starts:
        if (
            kept
            and start not in headlines
            and kept[-1] == start - 1
            and not (lines[start].open_ended and _headline_shaped(lines[start]))
            and lines[start - 1].open_ended
            and _headline_shaped(lines[start - 1])
            and _content_words(lines[start - 1].text) & _content_words(lines[start].text)
        ):
            headlines.add(kept[-1])
            continue
        kept.append(start)
    return kept


def split_dump_spans(text: str) -> list[tuple[int, Segment]]:
    """Like :func:`split_dump`, with the index (in ``text.splitlines()``) of each story's start.

    The index is that of the story's first line that is not boilerplate, which is what the
    segmentation benchmark scores.
    """
    lines = _read_lines(text)
    starts, headlines = _windowed_story_starts(lines)
    starts = _join_lone_headlines(lines, starts, headlines)
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
