"""Story segmentation of text dumps: boundary precision / recall / F1 against baselines.

Dumps are built from real articles (BBC full articles, AG News title + description) the way
wire copy and newsletters arrive: one paragraph per line with no separator between stories,
some stories truncated mid-sentence, some opening with an upper-case kicker ("SPORT: ..."),
some with photo-credit lines at their start or between their paragraphs, some with a
headline line and some without; a minority of dumps separate stories with a blank line.
A boundary is the index of the line where a story's first non-credit line sits; the first
story of a dump is not counted, wherever a method puts its start (a dump may open with a
credit line). A second, "wire-style" mix lays out 30% of the multi-paragraph articles one
sentence per line, as wire copy does: continuation lines are short and share few words.

Besides boundary F1, every set is scored by the share of its stories split exactly right:
all of a story's lines in one stored story, and no line of another story in it. Fifteen
layouts real copy arrives in (``LAYOUTS``: a whole story per line, a headline run into the
lede, the mixed shape of a news page copied by hand, teasers cut mid-sentence, numbered and
bulleted items, wire slugs, "Read more" links, datelines, e-mails and web pages pasted as
text...) are built from BBC News and BASIL articles (``news_events``; US politics from three
outlets, so neighbouring stories share vocabulary), with furniture the benchmark writes
itself. Two sets are real dumps: ``wire_dumps`` (Reuters-21578, Distribution 1.0, cut into
windows of ``--wire-window`` stories) and ``current_events_dumps`` (Wikipedia Current Events
days, CC BY-SA). The shared data is read at run time; none of it is copied.

The articles are split in two halves by a hash of their id (BASIL by event), the Current
Events days by a hash of their date (a third of them "eval"): ``--half tune`` is what the segmenter's thresholds were
chosen on (and, for Current Events, what the boundary model is fitted on), ``--half eval``
(the default) is reported.
``--large 1,5`` times 1 MB and 5 MB of wire copy, with and without blank lines between
stories, each in a fresh process (time, CPU time, peak RSS).

Run: ``.venv/bin/python -m benchmarks.segmentation [--dumps 400] [--seed 7] [--half eval]``;
the segmenter's boundary model is fitted by ``scripts/build_segment_model.py`` on text
whose licence allows shipping the result; the sets read here only measure it.
Timing figures are noisy on a shared machine; lines per CPU-second (process time) is less
affected by other load than the wall-clock rates.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.common import peak_rss_mb, read_jsonl, require_shared_data
from bot.pipeline import segment
from bot.pipeline.segment import boundary_examples, split_dump, split_dump_spans
from bot.pipeline.text import split_sentences

# Invented names for synthetic photo credits (no text from the data goes into them).
_CREDIT_NAMES = ["Ana Ruiz", "Tom Becker", "Li Wei", "Sara Okafor", "J. Moreau", "Pat Kelly"]
_CREDIT_TEMPLATES = [
    "Photo: {name}/Reuters",
    "(Reuters photo)",
    "(AP Photo/{name})",
    "Image copyright Getty Images",
    "Photograph: {name}/AFP via Getty Images",
    "Picture: {name}",
    "Photo credit: {name}",
    "Image caption",
]
# Share of multi-paragraph articles laid out wire-style (one sentence per line) in the dumps
# of the extra "wire-style" row of the report.
_WIRE_STYLE_SHARE = 0.3
_GENERIC_KICKERS = ["BREAKING", "UPDATE", "EXCLUSIVE", "ANALYSIS", "DISASTER", "WATCH"]


@dataclass(frozen=True)
class Story:
    """One source item: a headline and its paragraphs."""

    title: str
    paragraphs: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class Dump:
    """A synthetic dump with the line index where each story (after the first) starts."""

    text: str
    boundaries: frozenset[int]
    stories: int
    credit_lines: tuple[str, ...]
    body_words: frozenset[str]
    first_line: int  # Index of the first story's first line (after any leading credit).


def _half(key: str) -> str:
    return "tune" if hashlib.sha256(key.encode()).digest()[0] % 2 == 0 else "eval"


def day_half(date: str) -> str:
    """The half of a Current Events portal day: a third of the days (by a hash) are "eval".

    The boundary model is fitted on the items of the "tune" days, so the "eval" days that
    ``current_events_dumps`` is scored on stay held out; two thirds go to the fit because the
    items are its only multi-paragraph licensed text.
    """
    return "eval" if hashlib.sha256(date.encode()).digest()[0] % 3 == 0 else "tune"


def load_stories(data: Path, half: str | None = None) -> tuple[list[Story], list[Story]]:
    """BBC full articles and AG News items, optionally restricted to one half of the ids."""
    bbc = [
        Story(
            row["title"],
            tuple(p.strip() for p in row["text"].split("\n\n") if p.strip()),
            row["label"].upper(),
        )
        for row in read_jsonl(data / "bbc_news" / "bbc_news.dev.jsonl")
        if half is None or _half(row["id"]) == half
    ]
    ag = [
        Story(
            row["title"], (" ".join(row["text"].replace("\\", " ").split()),), row["label"].upper()
        )
        for row in read_jsonl(data / "ag_news" / "ag_news_test.dev.jsonl")
        if (half is None or _half(row["id"]) == half) and row["text"].strip()
    ]
    return bbc, ag


def truncate_paragraphs(paragraphs: list[str], rng: random.Random) -> list[str]:
    """Keep a prefix of the paragraphs and cut the last one mid-sentence at a word boundary."""
    keep = paragraphs[: rng.randint(1, len(paragraphs))]
    words = keep[-1].split()
    if len(words) < 6:
        return keep
    for _ in range(10):
        cut = rng.randint(5, len(words) - 1)
        if not words[cut - 1].endswith((".", "!", "?", '"', "'", ")")):
            return [*keep[:-1], " ".join(words[:cut])]
    return keep


@dataclass
class DumpAssembler:
    """Lays stories out one after another with the furniture of the mixes: kickers, photo
    credits inside a story and before it, blank lines between stories in some dumps.

    Shared by these mixes and the segmenter's training dumps (scripts/build_segment_model.py),
    which bring their own stories and word lists; the random draws come in one fixed order, so a
    seed gives the same dump every run.
    """

    rng: random.Random
    blank_separated: bool
    kickers: Sequence[str] = tuple(_GENERIC_KICKERS)
    credit_templates: Sequence[str] = tuple(_CREDIT_TEMPLATES)
    credit_names: Sequence[str] = tuple(_CREDIT_NAMES)
    lines: list[str] = field(default_factory=list)
    boundaries: set[int] = field(default_factory=set)
    credits: list[str] = field(default_factory=list)
    words: set[str] = field(default_factory=set)
    first_line: int = 0
    stories: int = 0

    def _credit(self) -> str:
        template = self.rng.choice(self.credit_templates)
        return template.format(name=self.rng.choice(self.credit_names))

    def add(self, story_lines: list[str], label: str) -> None:
        """Append one story (its lines, headline first if it has one; changed in place)."""
        rng = self.rng
        for line in story_lines:
            self.words.update(line.split())
        if rng.random() < 0.2:
            kicker = label if rng.random() < 0.5 else rng.choice(self.kickers)
            story_lines[0] = f"{kicker}: {story_lines[0]}"
        if rng.random() < 0.15 and len(story_lines) > 2:
            credit = self._credit()
            story_lines.insert(rng.randint(2, len(story_lines) - 1), credit)
            self.credits.append(credit)
        lead_credit = rng.random() < 0.15
        if self.stories and self.blank_separated:
            self.lines.append("")
        if lead_credit:
            credit = self._credit()
            self.lines.append(credit)
            self.credits.append(credit)
        if self.stories:
            self.boundaries.add(len(self.lines))
        else:
            self.first_line = len(self.lines)
        self.lines.extend(story_lines)
        self.stories += 1

    def dump(self) -> Dump:
        return Dump(
            "\n".join(self.lines),
            frozenset(self.boundaries),
            self.stories,
            tuple(self.credits),
            frozenset(self.words),
            self.first_line,
        )


def build_dump(
    bbc: Sequence[Story], ag: Sequence[Story], rng: random.Random, wire_share: float = 0.0
) -> Dump:
    """Assemble one dump of 3-8 stories with the mix of cues described in the module docstring."""
    assembler = DumpAssembler(rng, blank_separated=rng.random() < 0.15)
    for _ in range(rng.randint(3, 8)):
        story = rng.choice(bbc) if rng.random() < 0.6 else rng.choice(ag)
        paragraphs = list(story.paragraphs)
        if wire_share and len(paragraphs) > 1 and rng.random() < wire_share:
            # Wire copy runs one sentence per paragraph: short lines that share few words.
            paragraphs = [sentence for p in paragraphs for sentence in split_sentences(p)]
        if rng.random() < 0.25:
            paragraphs = truncate_paragraphs(paragraphs, rng)
        story_lines = ([story.title] if rng.random() < 0.5 else []) + paragraphs
        assembler.add(story_lines, story.label)
    return assembler.dump()


def build_dumps(
    data: Path, count: int, seed: int, half: str | None = "eval", wire_share: float = 0.0
) -> list[Dump]:
    """``count`` dumps from a seeded RNG, so every run (and the evaluation test) sees the same.

    ``wire_share`` of the multi-paragraph articles are laid out one sentence per line.
    """
    bbc, ag = load_stories(data, half)
    rng = random.Random(seed)
    return [build_dump(bbc, ag, rng, wire_share) for _ in range(count)]


def score(dumps: Sequence[Dump], predict: Callable[[str], set[int]]) -> tuple[float, float, float]:
    """Micro-averaged boundary precision, recall and F1 over all dumps."""
    true_pos = predicted = actual = 0
    for dump in dumps:
        # The first story is not scored, wherever a method puts its start.
        found = {start for start in predict(dump.text) if start > dump.first_line}
        true_pos += len(found & dump.boundaries)
        predicted += len(found)
        actual += len(dump.boundaries)
    precision = true_pos / predicted if predicted else 0.0
    recall = true_pos / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def predict_ours(text: str) -> set[int]:
    return {start for start, _ in split_dump_spans(text)}


def predict_every_line(text: str) -> set[int]:
    """Baseline: every non-empty line is a story."""
    return {i for i, line in enumerate(text.split("\n")) if line.strip()}


def predict_blank_lines(text: str) -> set[int]:
    """Baseline: stories are separated by blank lines only."""
    lines = text.split("\n")
    return {i for i in range(1, len(lines)) if lines[i].strip() and not lines[i - 1].strip()}


def leak_report(dumps: Sequence[Dump]) -> tuple[int, float]:
    """Credit lines that leaked into story text, and the share of body words kept verbatim."""
    leaked = 0
    kept = total = 0
    for dump in dumps:
        segments = split_dump(dump.text)
        joined = "\n".join(f"{seg.title}\n{seg.text}" for seg in segments)
        leaked += sum(1 for credit in dump.credit_lines if credit in joined)
        present = set(joined.split())
        total += len(dump.body_words)
        kept += sum(1 for word in dump.body_words if word in present)
    return leaked, kept / total if total else 1.0


# --- layouts real copy arrives in ----------------------------------------------------------
#
# Each layout dump is a list of lines with, per line, the number of the story it belongs to
# (-1 for lines of no story: blank lines, credits, newsletter furniture). A story is "exactly
# right" when one stored story holds all of its lines and no line of another story.

# Invented furniture for the e-mail and web-page layouts (no text from the data).
EMAIL_HEADER = [
    "From: The Morning Brief <brief@example.org>",
    "Sent: Tuesday, 3 June 2025 06:00",
    "To: reader@example.org",
    "Subject: Your morning briefing",
    "",
    "View this email in your browser",
]
EMAIL_FOOTER = [
    "You are receiving this email because you subscribed to The Morning Brief.",
    "Unsubscribe | Manage preferences",
    "© 2025 The Morning Brief, 1 Example Street",
]
_PAGE_HEADER = ["Skip to content", "Home", "News", "World", "Business", "Sport", "Menu", ""]
_PAGE_FOOTER = ["", "Share this", "Advertisement", "Privacy policy", "Terms of use"]
_READ_MORE = ["Read more", "Read more »", "Continue reading", "Read the full story"]
_CITIES = ["LONDON", "WASHINGTON", "PARIS", "BRUSSELS", "NEW YORK", "TOKYO", "NAIROBI"]
_AGENCY = ["(Reuters)", "(AP)", "(AFP)", ""]
_REAL_KICKERS = ["CHARGES", "WHAT HAPPENED", "WHY IT MATTERS", "THE DEAL", "REACTION"]
LAYOUTS = (
    "paragraph per line",
    "story per line",
    "headline into lede",
    "real dump mix",
    "blank after paragraph",
    "headline, blank between stories",
    "headline, no blank lines",
    "teasers cut mid-sentence",
    "numbered items",
    "bulleted items",
    "wire slugs",
    "read-more links",
    "datelines",
    "e-mail newsletter",
    "web page as text",
)


@dataclass(frozen=True)
class LayoutDump:
    """A dump in one layout: its lines and the story each line belongs to (-1: none)."""

    layout: str
    lines: tuple[str, ...]
    owners: tuple[int, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def stories(self) -> int:
        return len({owner for owner in self.owners if owner >= 0})


def load_articles(data: Path, half: str | None = "eval") -> list[Story]:
    """Multi-paragraph articles for the layout dumps: BBC News and BASIL (news_events).

    BASIL adds US politics from three outlets, where neighbouring stories share much of their
    vocabulary; the halves split BASIL by event, so both halves never hold one event.
    """
    bbc = [
        replace(story, paragraphs=tuple(" ".join(p.split()) for p in story.paragraphs))
        for story in load_stories(data, half)[0]
    ]  # A few BBC paragraphs hold a line break; a layout decides where lines break.
    basil = []
    for row in read_jsonl(data / "news_events" / "news_events.dev.jsonl"):
        if row["corpus"] != "basil" or (half is not None and _half(row["event"]) != half):
            continue
        paragraphs = [" ".join(p.split()) for p in row["text"].split("\n\n") if p.strip()]
        if paragraphs and paragraphs[0] == row["title"].strip():
            paragraphs = paragraphs[1:]
        if len(paragraphs) >= 3:
            basil.append(Story(row["title"].strip(), tuple(paragraphs), "POLITICS"))
    return [story for story in bbc if len(story.paragraphs) >= 3] + basil


def _cut_mid_sentence(text: str, rng: random.Random, low: int, high: int) -> str:
    """``text`` cut between ``low`` and ``high`` characters, at a word and not after a stop."""
    words = text.split()
    out: list[str] = []
    for word in words:
        if len(" ".join([*out, word])) > high:
            break
        out.append(word)
    while len(out) > 3 and (
        out[-1].endswith((".", "!", "?", '"', "”", ")", ":"))
        or len(" ".join(out)) > rng.randint(max(low, 1), high)
    ):
        out.pop()
    return " ".join(out)


def _story_line(story: Story, rng: random.Random, low: int = 600, high: int = 850) -> str:
    """4-8 paragraphs joined on one line, ending at a sentence between ``low`` and ``high``."""
    joined = " ".join(story.paragraphs[: rng.randint(4, 8)])
    sentences = split_sentences(joined)
    out = ""
    for sentence in sentences:
        if len(out) + len(sentence) + 1 > high:
            break
        out = f"{out} {sentence}".strip()
    if len(out) < low // 2:
        return _cut_mid_sentence(joined, rng, low, high)
    return out


def _credit(rng: random.Random) -> str:
    return rng.choice(_CREDIT_TEMPLATES).format(name=rng.choice(_CREDIT_NAMES))


def build_layout_dump(layout: str, articles: Sequence[Story], rng: random.Random) -> LayoutDump:
    """One dump of 4-8 articles laid out as ``layout`` (see ``LAYOUTS``)."""
    lines: list[str] = []
    owners: list[int] = []

    def add(line: str, owner: int) -> None:
        lines.append(line)
        owners.append(owner if line.strip() else -1)

    count = rng.randint(4, 8)
    chosen = rng.sample(list(articles), count)
    if layout == "e-mail newsletter":
        for line in EMAIL_HEADER:
            add(line, -1)
        add("Good morning. Here is what you need to know today.", -1)
        add("", -1)
    if layout == "web page as text":
        for line in _PAGE_HEADER:
            add(line, -1)
    for number, story in enumerate(chosen):
        paragraphs = list(story.paragraphs)
        short = paragraphs[: rng.randint(2, 5)]
        if layout == "paragraph per line":
            for line in ([story.title] if rng.random() < 0.5 else []) + paragraphs:
                add(line, number)
        elif layout == "story per line":
            add(_story_line(story, rng), number)
        elif layout == "headline into lede":
            add(f"{story.title} {_story_line(story, rng)}", number)
        elif layout == "real dump mix":
            if number == 0:
                add(f"{story.title} {paragraphs[0]}", number)
                for line in paragraphs[1 : rng.randint(3, 7)]:
                    add(line, number)
                add(_credit(rng), -1)
                continue
            line = _story_line(story, rng)
            if rng.random() < 0.4:
                line = f"{story.title} {line}"
            if rng.random() < 0.4 and len(line) >= 420:  # Licensed briefs can be shorter.
                line = _cut_mid_sentence(line, rng, 400, len(line) - 20)
            if rng.random() < 0.25:
                line = f"{rng.choice(_REAL_KICKERS)}: {line}"
            add(line, number)
        elif layout == "blank after paragraph":
            for line in ([story.title] if rng.random() < 0.5 else []) + paragraphs:
                add(line, number)
                add("", -1)
        elif layout in ("headline, blank between stories", "headline, no blank lines"):
            if number and layout == "headline, blank between stories":
                add("", -1)
            for line in [story.title, *paragraphs]:
                add(line, number)
        elif layout == "teasers cut mid-sentence":
            add(_cut_mid_sentence(" ".join(short), rng, 120, 320), number)
        elif layout == "numbered items":
            add(f"{number + 1}. {story.title}", number)
            for line in short:
                add(line, number)
            add("", -1)
        elif layout == "bulleted items":
            bullet = "•" if number == 0 or rng.random() < 0.9 else "-"
            add(f"{bullet} {_cut_mid_sentence(' '.join(short), rng, 150, 400)}", number)
        elif layout == "wire slugs":
            add(f"WIRE{number + 10}: {story.title}", number)
            add("", -1)
            for line in short:
                add(line, number)
                add("", -1)
        elif layout == "read-more links":
            add(story.title, number)
            for line in short[: rng.randint(1, 2)]:
                add(line, number)
            add(rng.choice(_READ_MORE), -1)
        elif layout == "datelines":
            agency = rng.choice(_AGENCY)
            lede = f"{rng.choice(_CITIES)} {agency} - {paragraphs[0]}".replace("  ", " ")
            for line in ([story.title] if rng.random() < 0.5 else []) + [lede, *paragraphs[1:6]]:
                add(line, number)
        elif layout == "e-mail newsletter":
            add(story.title.upper() if rng.random() < 0.3 else story.title, number)
            for line in short:
                add(line, number)
            add("", -1)
            add(rng.choice(["———", "* * *", ""]), -1)
        elif layout == "web page as text":
            add(story.title, number)
            add(rng.choice(["2 hours ago", "Updated 14:05", "Published 3 June"]), -1)
            add(_cut_mid_sentence(" ".join(short), rng, 120, 300), number)
            add(rng.choice(["World", "Business", "Politics", "Share", "Comments"]), -1)
            add("", -1)
        else:
            raise ValueError(f"unknown layout {layout!r}")
    if layout == "e-mail newsletter":
        for line in EMAIL_FOOTER:
            add(line, -1)
    if layout == "web page as text":
        for line in _PAGE_FOOTER:
            add(line, -1)
    return LayoutDump(layout, tuple(lines), tuple(owners))


def build_layout_dumps(
    data: Path, layout: str, count: int, seed: int, half: str | None = "eval"
) -> list[LayoutDump]:
    """``count`` seeded dumps in ``layout`` from the articles of ``half``."""
    articles = load_articles(data, half)
    rng = random.Random(f"{seed}:{layout}")
    return [build_layout_dump(layout, articles, rng) for _ in range(count)]


def exactly_right(lines: int, owners: Sequence[int], starts: Sequence[int]) -> tuple[int, int]:
    """Stories that one stored story holds entirely and alone, and the number of stories.

    ``owners`` gives each line's story (-1: none); ``starts`` are the line indices where the
    segmenter starts stories. Lines of no story (credits, furniture) are not counted.
    """
    ordered = sorted(starts)
    stored = [bisect.bisect_right(ordered, index) for index in range(lines)]
    where: dict[int, set[int]] = {}
    held: dict[int, set[int]] = {}
    for index, owner in enumerate(owners):
        if owner < 0:
            continue
        where.setdefault(owner, set()).add(stored[index])
        held.setdefault(stored[index], set()).add(owner)
    right = sum(
        1
        for owner, found in where.items()
        if len(found) == 1 and held[next(iter(found))] == {owner}
    )
    return right, len(where)


def layout_score(dumps: Sequence[LayoutDump]) -> tuple[int, int]:
    right = total = 0
    for dump in dumps:
        starts = [start for start, _ in split_dump_spans(dump.text)]
        got, count = exactly_right(len(dump.lines), dump.owners, starts)
        right, total = right + got, total + count
    return right, total


def _span_owners(text: str, spans: Sequence[tuple[int, int]]) -> tuple[list[str], list[int]]:
    """The lines of ``text`` and, per line, the span (story) it falls in (-1: none)."""
    lines = text.split("\n")
    owners: list[int] = []
    offset = 0
    span_starts = [start for start, _ in spans]
    for line in lines:
        number = bisect.bisect_right(span_starts, offset) - 1
        inside = number >= 0 and offset < spans[number][1] and line.strip()
        owners.append(number if inside else -1)
        offset += len(line) + 1
    return lines, owners


def real_dump_windows(
    data: Path, window: int, limit: int | None, half: str | None = "eval"
) -> dict[str, list[LayoutDump]]:
    """``wire_dumps`` cut into windows of ``window`` stories, and ``current_events_dumps``.

    The Current Events days are split by a hash of their date (:func:`day_half`): the
    boundary model is fitted on the items of the "tune" days only
    (``scripts/build_segment_model.py``), so the "eval" days it is scored on stay held out.
    """
    wire: list[LayoutDump] = []
    for row in read_jsonl(data / "wire_dumps" / "wire_dumps.dev.jsonl"):
        stories = row["stories"]
        for first in range(0, len(stories), window):
            part = stories[first : first + window]
            base = part[0]["start"]
            text = row["text"][base : part[-1]["end"]]
            spans = [(story["start"] - base, story["end"] - base) for story in part]
            lines, owners = _span_owners(text, spans)
            wire.append(LayoutDump("wire_dumps", tuple(lines), tuple(owners)))
    events = []
    for row in read_jsonl(data / "current_events_dumps" / "current_events_dumps.dev.jsonl"):
        if half is not None and day_half(row["date"]) != half:
            continue
        spans = [(story["start"], story["end"]) for story in row["stories"]]
        lines, owners = _span_owners(row["text"], spans)
        events.append(LayoutDump("current_events_dumps", tuple(lines), tuple(owners)))
    return {"wire_dumps": wire[:limit], "current_events_dumps": events}


def dumps_exactly_right(dumps: Sequence[Dump]) -> tuple[int, int]:
    """Exactly-right stories of the old mixes (boundaries known, credit lines owned by none)."""
    right = total = 0
    for dump in dumps:
        lines = dump.text.split("\n")
        owners: list[int] = []
        story = -1
        for index, line in enumerate(lines):
            if index == dump.first_line or index in dump.boundaries:
                story += 1
            owners.append(-1 if line in dump.credit_lines or story < 0 else story)
        starts = [start for start, _ in split_dump_spans(dump.text)]
        got, count = exactly_right(len(lines), owners, starts)
        right, total = right + got, total + count
    return right, total


@dataclass(frozen=True)
class BoundaryModel:
    """The constants of the segmenter's boundary model, as ``bot.pipeline.segment`` names them."""

    feature_mean: tuple[float, ...]
    feature_scale: tuple[float, ...]
    bias: float
    terms: tuple[tuple[int, int, float], ...]
    decode_offset: float = 0.0

    def source(self) -> str:
        """The model as Python assignments, to paste into the segmenter."""
        terms = "\n".join(f"    {term}," for term in self.terms)
        return (
            f"_FEATURE_MEAN = {self.feature_mean}\n_FEATURE_SCALE = {self.feature_scale}\n"
            f"_BIAS = {self.bias}\n_TERMS = (\n{terms}\n)\n"
            f"_DECODE_OFFSET = {self.decode_offset}"
        )


@contextmanager
def using_model(model: BoundaryModel) -> Iterator[None]:
    """Run the segmenter with ``model`` in place of its shipped constants (for tuning)."""
    names = {
        "_FEATURE_MEAN": model.feature_mean,
        "_FEATURE_SCALE": model.feature_scale,
        "_BIAS": model.bias,
        "_TERMS": model.terms,
        "_DECODE_OFFSET": model.decode_offset,
    }
    saved = {name: getattr(segment, name) for name in names}
    for name, value in names.items():
        setattr(segment, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(segment, name, value)


def fit_model(
    dumps: Sequence[Dump],
    regularization: float = 0.1,
    interactions: bool = True,
    boundary_weight: float = 1.0,
) -> BoundaryModel:
    """Fit the boundary model of ``bot.pipeline.segment`` on ``dumps``.

    A logistic regression over the standardised features (and, with ``interactions``, all
    their pairwise products), with an L1 penalty that drops the terms that do not pay their
    way, so the shipped model stays a list of numbers. The decoding offset is chosen
    separately. ``scripts/build_segment_model.py`` fits the shipped model on its own dumps
    of licence-compatible text, without interactions: fitted on short Current Events items,
    the pairwise terms learn that text's story lengths and split long articles (stories
    exactly right on the tune half of the layouts fell by about a third with them).
    ``boundary_weight`` weighs the rows of lines that open a story against the others: under
    1, a boundary must be plainer before the model calls it, so long stories split less.
    The first story of a dump starts at ``first_line`` (after any lead furniture).
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import PolynomialFeatures

    rows = [
        row
        for dump in dumps
        for row in boundary_examples(dump.text, dump.boundaries | {dump.first_line})
    ]
    features = np.array([features for features, _ in rows])
    labels = np.array([opens for _, opens in rows])
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    expand = PolynomialFeatures(2 if interactions else 1, include_bias=False)
    expanded = expand.fit_transform((features - mean) / scale)
    model = LogisticRegression(
        C=regularization,
        l1_ratio=1.0,
        solver="liblinear",
        max_iter=5000,
        random_state=0,
        class_weight={True: boundary_weight, False: 1.0},
    )
    model.fit(expanded, labels)
    terms = []
    for powers, weight in zip(expand.powers_, model.coef_[0], strict=True):
        if round(float(weight), 3) == 0:
            continue
        used = [int(i) for i in np.flatnonzero(powers) for _ in range(int(powers[i]))]
        terms.append((used[0], used[1] if len(used) > 1 else -1, round(float(weight), 3)))
    return BoundaryModel(
        tuple(round(float(m), 4) for m in mean),
        tuple(round(float(s), 4) for s in scale),
        round(float(model.intercept_[0]), 3),
        tuple(terms),
    )


def choose_offset(
    model: BoundaryModel, mixes: Sequence[Sequence[Dump]], offsets: Sequence[float]
) -> BoundaryModel:
    """The model with the decoding offset that maximises mean F1 over ``mixes`` (tune half)."""
    best_f1, best_offset = -1.0, 0.0
    for offset in offsets:
        candidate = replace(model, decode_offset=offset)
        with using_model(candidate):
            f1 = sum(score(mix, predict_ours)[2] for mix in mixes) / len(mixes)
        print(f"decode offset {offset:+.2f}: mean F1 {f1:.4f}")
        if f1 > best_f1:
            best_f1, best_offset = f1, offset
    return replace(model, decode_offset=best_offset)


def large_dump(data: Path, megabytes: float, blank_lines: bool) -> str:
    """About ``megabytes`` of real wire copy (the ``wire_dumps`` files, repeated as needed).

    Without ``blank_lines`` the stories run into each other, so no separator cuts the
    decoding short: the slow case for the segmenter.
    """
    texts = [row["text"] for row in read_jsonl(data / "wire_dumps" / "wire_dumps.dev.jsonl")]
    size = int(megabytes * 1_000_000)
    parts: list[str] = []
    total = 0
    while total < size:
        part = texts[len(parts) % len(texts)]
        parts.append(part)
        total += len(part)
    text = "".join(parts)[:size]
    if not blank_lines:
        text = "\n".join(line for line in text.split("\n") if line.strip())
    return text


def time_large(data: Path, megabytes: float, blank_lines: bool) -> str:
    """Segment one large dump in this process and report time, stories and peak RSS."""
    text = large_dump(data, megabytes, blank_lines)
    started, cpu_started = time.perf_counter(), time.process_time()
    stories = len(split_dump(text))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    shape = "blank lines between stories" if blank_lines else "no blank lines"
    return (
        f"{megabytes:g} MB wire copy, {shape}: {stories} stories, {elapsed:.1f} s "
        f"({cpu:.1f} CPU-s), peak RSS {peak_rss_mb():.0f} MiB"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dumps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--half", choices=["tune", "eval", "all"], default="eval")
    parser.add_argument(
        "--layouts", type=int, default=30, help="dumps per layout (0: skip the layouts)"
    )
    parser.add_argument("--wire-window", type=int, default=40, help="stories per wire_dumps window")
    parser.add_argument(
        "--wire-windows", type=int, default=50, help="wire_dumps windows scored (0: all)"
    )
    parser.add_argument(
        "--large",
        default="",
        help="comma-separated sizes in MB: time each large dump in a fresh process (1,5)",
    )
    parser.add_argument("--large-one", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--no-blank-lines", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data = require_shared_data()
    if args.large_one:
        print(time_large(data, args.large_one, not args.no_blank_lines))
        return
    if args.large:
        for size in args.large.split(","):
            for flag in ([], ["--no-blank-lines"]):
                command = [sys.executable, "-m", "benchmarks.segmentation", "--large-one", size]
                subprocess.run([*command, *flag], check=True)
        return
    half = None if args.half == "all" else args.half
    dumps = build_dumps(data, args.dumps, args.seed, half)
    methods: list[tuple[str, Callable[[str], set[int]]]] = [
        ("split_dump (ours)", predict_ours),
        ("every line a story", predict_every_line),
        ("blank-line separators", predict_blank_lines),
    ]
    wire = build_dumps(data, args.dumps, args.seed, half, _WIRE_STYLE_SHARE)
    for title, sample in (("standard mix", dumps), ("wire-style mix", wire)):
        lines = sum(dump.text.count("\n") + 1 for dump in sample)
        stories = sum(dump.stories for dump in sample)
        print(
            f"{title}: {len(sample)} dumps, {stories} stories, {lines} lines "
            f"(seed {args.seed}, {args.half} half of the ids)"
        )
        print(
            f"{'method':<24}{'precision':>10}{'recall':>10}{'F1':>8}{'dumps/s':>10}"
            f"{'lines/s':>10}{'lines/cpu-s':>12}"
        )
        for name, predict in methods:
            started, cpu_started = time.perf_counter(), time.process_time()
            precision, recall, f1 = score(sample, predict)
            elapsed = time.perf_counter() - started
            cpu = max(time.process_time() - cpu_started, 1e-9)
            print(
                f"{name:<24}{precision:>10.3f}{recall:>10.3f}{f1:>8.3f}"
                f"{len(sample) / elapsed:>10.0f}{lines / elapsed:>10.0f}{lines / cpu:>12.0f}"
            )
    for title, sample in (("standard mix", dumps), ("wire-style mix", wire)):
        right, total = dumps_exactly_right(sample)
        print(f"{title}: stories exactly right {right}/{total} = {right / total:.3f}")
    if args.layouts:
        print(
            f"layouts: {args.layouts} dumps each (seed {args.seed}, {args.half} half), "
            "stories exactly right"
        )
        for layout in LAYOUTS:
            right, total = layout_score(
                build_layout_dumps(data, layout, args.layouts, args.seed, half)
            )
            print(f"  {layout:<34}{right:>5}/{total:<5}{right / total:>7.3f}")
    real = real_dump_windows(data, args.wire_window, args.wire_windows or None, half)
    for name, sample in real.items():
        right, total = layout_score(sample)
        print(
            f"{name} ({len(sample)} dumps): stories exactly right {right}/{total} = {right / total:.3f}"
        )
    leaked, kept = leak_report(dumps)
    print(f"credit lines leaked into story text: {leaked}; body words kept: {kept:.4f}")
    print(f"peak RSS {peak_rss_mb():.0f} MiB (timings are noisy on a shared machine)")


if __name__ == "__main__":
    main()
