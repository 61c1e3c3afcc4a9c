"""FTS5's ``snippet()`` in Python, so ``/search`` on PostgreSQL shows the snippet SQLite shows.

PostgreSQL decides which words match (``ts_headline(..., HighlightAll=true)`` marks them with
control characters that ingested text never holds); this module then picks the column and
the window of ``tokens`` words the way SQLite's ``fts5SnippetFunction`` does: every window
that starts at a match (centred on the matches it holds) or at the start of the sentence
holding a match scores 1000 per distinct query term and 1 per repeat, a sentence start earns
120 (the column's start) or 100, the first best window wins (title, text, summary order),
and ``…`` marks where the column was cut. Tokens are runs of letters and digits, as FTS5's
``unicode61`` tokenizer sees them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

OPEN_MARK, CLOSE_MARK = "\x02", "\x03"
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class _Column:
    text: str
    tokens: list[tuple[int, int]]  # (start, end) offsets of each token in ``text``
    hits: list[tuple[int, str]]  # (token index, query term) of each match, in order
    sentence_starts: list[int]  # token indexes that start a sentence (FTS5's rule)


def fold(word: str) -> str:
    """Case and accents folded (FTS5's ``remove_diacritics 2``; PostgreSQL's unaccent)."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _parse(marked: str, term_of: Callable[[str], str]) -> _Column | None:
    """The column text without the marks, its tokens and which tokens were marked."""
    plain: list[str] = []
    marked_ranges: list[tuple[int, int]] = []
    position, start = 0, -1
    for char in marked:
        if char == OPEN_MARK:
            start = position
        elif char == CLOSE_MARK:
            if start >= 0:
                marked_ranges.append((start, position))
            start = -1
        else:
            plain.append(char)
            position += 1
    text = "".join(plain)
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    hits = [
        (index, term_of(text[s:e]))
        for index, (s, e) in enumerate(tokens)
        if any(a <= s and e <= b for a, b in marked_ranges)
    ]
    starts = [0] if tokens else []
    for index, (s, _e) in enumerate(tokens[1:], start=1):
        before = text[:s]
        stripped = before.rstrip(" \t\n\r")
        if len(stripped) != len(before) and stripped.endswith((".", ":")):
            starts.append(index)
    return _Column(text, tokens, hits, starts)


def _score(column: _Column, position: int, tokens: int) -> tuple[int, int]:
    """FTS5's fts5SnippetScore: the window's score and its start, centred on its matches."""
    seen: set[str] = set()
    score, first, last = 0, -1, 0
    for offset, term in column.hits:
        if position <= offset < position + tokens:
            score += 1 if term in seen else 1000
            seen.add(term)
            if first < 0:
                first = offset
            last = offset + 1
    start = first - (tokens - (last - first)) // 2
    if start + tokens > len(column.tokens):
        start = len(column.tokens) - tokens
    return score, max(start, 0)


def snippet(
    marked_columns: Sequence[str | None],
    term_of: Callable[[str], str],
    *,
    tokens: int = 12,
    ellipsis: str = "…",
    start_mark: str = "[",
    end_mark: str = "]",
) -> str:
    """The snippet of the best column; ``marked_columns`` in the FTS index's column order."""
    columns = [_parse(text or "", term_of) for text in marked_columns]
    best_score, best_column, best_start = 0, 0, 0
    for number, column in enumerate(columns):
        if column is None:
            continue
        for offset, _term in column.hits:
            score, start = _score(column, offset, tokens)
            if score > best_score:
                best_score, best_column, best_start = score, number, start
            if column.sentence_starts and len(column.tokens) > tokens:
                jj = 0
                while jj < len(column.sentence_starts) - 1:
                    if column.sentence_starts[jj + 1] > offset:
                        break
                    jj += 1
                sentence = column.sentence_starts[jj]
                if sentence < offset:
                    score = _score(column, sentence, tokens)[0]
                    score += 120 if sentence == 0 else 100
                    if score > best_score:
                        best_score, best_column, best_start = score, number, sentence
    chosen = columns[best_column]
    if chosen is None or not chosen.tokens:
        return chosen.text if chosen is not None else ""
    last = min(best_start + tokens, len(chosen.tokens)) - 1
    hit_tokens = {offset for offset, _term in chosen.hits}
    out = [ellipsis] if best_start > 0 else []
    cursor = chosen.tokens[best_start][0] if best_start > 0 else 0
    for index in range(best_start, last + 1):
        s, e = chosen.tokens[index]
        if index in hit_tokens:
            out.append(chosen.text[cursor:s] + start_mark + chosen.text[s:e] + end_mark)
        else:
            out.append(chosen.text[cursor:e])
        cursor = e
    out.append(chosen.text[cursor:] if last >= len(chosen.tokens) - 1 else ellipsis)
    return "".join(out)
