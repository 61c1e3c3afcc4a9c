"""Extractive summaries for alerts: the one to three sentences that carry the news.

Each sentence gets a probability of belonging in a summary from a logistic model over cheap
features: position in the article (news puts the point first), length (long sentences carry
more facts), overlap with the title, centrality (TF-IDF cosine to the whole article, with
the IDF taken over the article's own sentences), and whether it is a quote or a question.
The weights were fitted with scikit-learn's LogisticRegression on the "tune" half of the
BBC News Summary dev split (whose reference summaries are sentences picked from the
article); ``benchmarks/summarize.py`` reports ROUGE on the other half. The best subset of at
most ``max_sentences`` sentences that fits the character budget is then picked (expected
useful characters: probability times length), and printed in article order.

Stories in other languages get the same model: its features are language-neutral except the
content words, which leave out that language's stop words (``bot/data/stopwords``), and the
sentence splitter applies that language's rules. ``language`` is detected when not given.

The scorer is hand-written rather than taken from sumy: sumy's TextRank is several times
slower and, on the benchmark, scores lower ROUGE-2 at equal length than this model.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from bot.pipeline.headline import (
    opens_sentence,
    repeats_title,
    split_run_on_headline,
    strip_dateline,
)
from bot.pipeline.jsonl import text_records
from bot.pipeline.language import detect_language
from bot.pipeline.text import (
    is_boilerplate_line,
    normalize_whitespace,
    split_kicker,
    split_sentences,
    stop_words,
    strip_boilerplate,
    word_set,
)

__all__ = ["Summary", "score_sentences", "summarize", "summarize_jsonl"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    """A summary's text and the sentences it is made of (in article order)."""

    text: str
    sentences: list[str]


_TOKEN = re.compile(r"[^\W_][\w'’-]*", re.UNICODE)
_STOP_WORDS = word_set(
    """
    a an the and or but nor of to in on at by for from with into over under about after before
    than that which who whom whose as is are was were be been being has have had will would
    can could should may might must shall do does did not no its his her their our my your
    this these those it he she they we i you him them us me if while when where because so
    such very more most also just said says say told there here what how why all any some one
    up out then than now new mr mrs ms
    """
)
# Weights of the features returned by _sentence_features, in order, and the bias.
_WEIGHTS = (0.64, -0.423, -1.028, -0.17, -2.705, 0.588, -0.019, -0.192, 7.053, -0.626)
_BIAS = -1.99
# Subset choice: maximise sum(probability * length ** _LENGTH_POWER) within the budget.
_LENGTH_POWER = 1.0
_CANDIDATES = 8
_MIN_WORDS = 4
_ELLIPSIS = "…"


def _words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _content(words: Sequence[str], language: str | None = None) -> list[str]:
    extra = stop_words(language) if language else frozenset()
    return [
        word for word in words if len(word) > 1 and word not in _STOP_WORDS and word not in extra
    ]


def _sentence_features(
    title: str, sentences: Sequence[str], language: str | None = None
) -> list[tuple[float, ...]]:
    """Features per sentence: see the module docstring; order matches ``_WEIGHTS``."""
    bags = [Counter(_content(_words(sentence), language)) for sentence in sentences]
    count = len(sentences)
    frequency: Counter[str] = Counter()
    for bag in bags:
        frequency.update(bag.keys())
    idf = {word: math.log((count + 1) / (df + 0.5)) for word, df in frequency.items()}
    centroid: defaultdict[str, float] = defaultdict(float)
    for bag in bags:
        for word, tf in bag.items():
            centroid[word] += tf * idf[word]
    centroid_norm = math.sqrt(sum(value * value for value in centroid.values())) or 1.0
    title_words = set(_content(_words(title), language))
    # Degree centrality with TextRank's sentence similarity (shared words over summed log
    # lengths): long sentences that share facts with many others score high.
    keys = [frozenset(bag) for bag in bags]
    log_lengths = [math.log(len(bag) + 1) for bag in bags]
    degree = [0.0] * count
    for i in range(count):
        keys_i, log_i = keys[i], log_lengths[i]
        for j in range(i + 1, count):
            denominator = log_i + log_lengths[j]
            if denominator:
                shared = len(keys_i & keys[j]) / denominator
                degree[i] += shared
                degree[j] += shared
    top_degree = max(degree) or 1.0
    longest = max((len(sentence) for sentence in sentences), default=1) or 1
    features: list[tuple[float, ...]] = []
    for index, (sentence, bag) in enumerate(zip(sentences, bags, strict=True)):
        weights = {word: tf * idf[word] for word, tf in bag.items()}
        norm = math.sqrt(sum(value * value for value in weights.values())) or 1.0
        centrality = sum(value * centroid[word] for word, value in weights.items()) / (
            norm * centroid_norm
        )
        title_overlap = len(title_words & bag.keys()) / len(title_words) if title_words else 0.0
        length = len(sentence.split())
        features.append(
            (
                1.0 if index == 0 else 0.0,
                index / count,
                1.0 / (index + 1),
                math.log1p(length),
                centrality,
                title_overlap,
                1.0 if sentence.lstrip()[:1] in "\"“'‘" else 0.0,
                1.0 if sentence.rstrip("\"'”’ ").endswith("?") else 0.0,
                degree[index] / top_degree,
                len(sentence) / longest,
            )
        )
    return features


def score_sentences(
    title: str, sentences: Sequence[str], language: str | None = None
) -> list[float]:
    """Probability, per sentence, that it belongs in a summary of the article."""
    scores = []
    for features in _sentence_features(title, sentences, language):
        logit = _BIAS + sum(w * f for w, f in zip(_WEIGHTS, features, strict=True))
        scores.append(1.0 / (1.0 + math.exp(-logit)))
    return scores


def _run_on_rest(title: str, paragraph: str, rest: str) -> str:
    """``paragraph`` without a headline run into it with no full stop (the lede that follows).

    The story's title run into its first paragraph ("Title words The lede ...") is cut off
    first; failing that, a headline found by :func:`split_run_on_headline`.
    """
    title_words = title.split()
    words = paragraph.split()
    if (
        title_words
        and len(words) > len(title_words)
        and words[len(title_words)].lstrip("\"'“‘(")[:1].isupper()
        and [_bare_word(word) for word in words[: len(title_words)]]
        == [_bare_word(word) for word in title_words]
    ):
        # A sentence must start there. A title written from this very sentence ("GM pays
        # $2bn to evade Fiat buyout General Motors of the US is to pay" for "... is to pay
        # Fiat 1.55bn euros") also matches its start, and cutting it leaves a fragment.
        run_on = split_run_on_headline(paragraph, rest)
        if run_on is not None and len(run_on[0].split()) == len(title_words):
            return run_on[1]
        if opens_sentence(words[len(title_words)], f"{paragraph}\n\n{rest}"):
            return " ".join(words[len(title_words) :])
        return paragraph
    run_on = split_run_on_headline(paragraph, rest)
    return run_on[1] if run_on is not None else paragraph


def _bare_word(word: str) -> str:
    return word.strip("\"'“”‘’.,;:!?").lower()


def _finished(sentence: str) -> bool:
    """Whether a sentence ends as a sentence does, not as a fragment or a cut teaser.

    "At least five people," or "... said the river was still rising and that" are not.
    """
    stripped = sentence.rstrip("\"'”’»)] ")
    if stripped.endswith(("...", "…")):
        return False
    return stripped.endswith((".", "!", "?"))


def _foreign_tail(paragraphs: list[str]) -> int:
    """How many paragraphs at the end share no content word with the rest of the story.

    Such a tail is another story run on by the dump's layout; a real story's later
    paragraphs repeat its names and nouns. Only a minority of the paragraphs can be cut,
    and the test is a substring search, so a story pays one pass over its text.
    """
    cut = 0
    while len(paragraphs) - cut > 1 and cut + 1 <= len(paragraphs) // 3:
        candidate = set(_content(_words(paragraphs[len(paragraphs) - cut - 1])))
        before = " ".join(paragraphs[: len(paragraphs) - cut - 1]).lower()
        if len(candidate) < 4 or any(word in before for word in candidate):
            break
        cut += 1
    return cut


_TERMINAL = (".", "!", "?", "…", ":")
_ENDS_WITH_URL = re.compile(r"https?://\S+$")
_UNWRAPPED_LINE = 100
# Lines shorter than this are list items or headings: prose is never wrapped this narrow.
_LIST_LINE = 50
_BULLETS = frozenset(("* ", "- ", "• ", "– ", "· "))


def _line_paragraphs(paragraph: str) -> list[str]:
    """``paragraph`` cut at its line breaks when each line is a paragraph of its own.

    Feeds often separate paragraphs with one line break, and run a related-story link or a
    sub-heading between them as a line without a full stop ("Servicios y pasajes"); read as
    one paragraph, that line would be glued to the next sentence. Hard-wrapped prose (a wire
    dump) also has single line breaks, but few of its lines end a sentence, so a paragraph is
    only cut when at least half of its lines (the last one aside) end with terminal
    punctuation; otherwise only at links, bullets and the items of a list.
    """
    lines = [line for line in paragraph.split("\n") if line.strip()]
    if len(lines) < 2:
        return lines
    ended = sum(line.rstrip("\"'”’»“)] ").endswith(_TERMINAL) for line in lines[:-1])
    if 2 * ended >= len(lines) - 1:
        return lines
    # Prose is wrapped narrower than this; a longer line is a paragraph of its own, and the
    # lines without a full stop around it are a feed's standfirst or deck ("One person was
    # killed" / "A chartered train ..."), not a sentence wrapped over lines.
    if max(len(line) for line in lines[:-1]) > _UNWRAPPED_LINE:
        return lines
    # Otherwise a line ends its piece when it ends with a link ("Ver la noticia completa
    # aquí: https://..."), when the next one is a bullet, or when it is a short item of a
    # block made mostly of such ("Разработчик: ZXStyles").
    listing = 2 * sum(len(line) < _LIST_LINE for line in lines[:-1]) >= len(lines) - 1
    pieces = [lines[0]]
    for previous, line in itertools.pairwise(lines):
        if (
            _ENDS_WITH_URL.search(previous)
            or line.lstrip()[:2] in _BULLETS
            or (listing and len(previous) < _LIST_LINE)
        ):
            pieces.append(line)
        else:
            pieces[-1] += "\n" + line
    return pieces


def _article_sentences(title: str, text: str, language: str | None = None) -> list[str]:
    """Sentences of the article body without boilerplate, kicker labels or a repeated title.

    A headline run into the lede is cut off, and a sentence that repeats the title (the
    alert shows the title already) is left out.
    """
    cleaned = strip_boilerplate(normalize_whitespace(text))
    sentences: list[str] = []
    title_key = " ".join(_words(title))
    paragraphs = [
        piece
        for paragraph in cleaned.split("\n\n")
        if paragraph.strip()
        for piece in _line_paragraphs(paragraph)
    ]
    paragraphs = paragraphs[: len(paragraphs) - _foreign_tail(paragraphs)]
    for number, paragraph in enumerate(paragraphs):
        _, paragraph = split_kicker(paragraph)
        if number == 0:
            paragraph = _run_on_rest(title, paragraph, "\n\n".join(paragraphs[1:3]))
        for sentence in split_sentences(paragraph, language):
            if is_boilerplate_line(sentence):
                continue
            if len(sentence) <= 2 * len(title) and " ".join(_words(sentence)) == title_key:
                continue  # The headline repeated as the first line of the body.
            if not sentences:
                sentence = strip_dateline(sentence)
                if title and repeats_title(title, sentence):
                    continue  # The lede that the title already says: it would show twice.
            sentences.append(sentence)
    return sentences


def _cut_at_word(sentence: str, max_chars: int) -> str:
    """``sentence`` shortened to ``max_chars`` at a word boundary, ending with an ellipsis."""
    room = max_chars - len(_ELLIPSIS)
    if room <= 0:
        return ""
    head = sentence[: room + 1]
    head = head[: head.rfind(" ")] if " " in head.strip() else head[:room]
    return head.rstrip(" ,;:-—–") + _ELLIPSIS


def summarize(
    title: str,
    text: str,
    *,
    max_sentences: int = 3,
    max_chars: int = 400,
    language: str | None = None,
) -> Summary:
    """Pick at most ``max_sentences`` whole sentences, ``max_chars`` in all, in article order.

    Sentences are never cut: when even the best sentence is too long, the best sentence that
    fits is used; only when no sentence fits is the lead cut at a word boundary with an
    ellipsis. Boilerplate lines and kicker labels never appear, nor (while a finished
    sentence exists) a fragment or a sentence cut off by a teaser's end. ``language`` (ISO
    639-1, as stored with the story) is detected from the text when not given.
    """
    if language is None:
        language = detect_language(f"{title}. {text[:600]}")
    sentences = _article_sentences(title, text, language)
    if not sentences or max_sentences < 1:
        return Summary("", [])
    substantial = [
        index for index, s in enumerate(sentences) if len(s.split()) >= _MIN_WORDS and _finished(s)
    ]
    # Only when the story has no finished sentence (a teaser cut in its first sentence) is an
    # unfinished one used, and then it is marked as cut with an ellipsis.
    pool = (
        substantial
        or [index for index, s in enumerate(sentences) if len(s.split()) >= _MIN_WORDS]
        or list(range(len(sentences)))
    )
    probability = score_sentences(title, sentences, language)
    fitting = [index for index in pool if len(sentences[index]) <= max_chars]
    if not fitting:
        cut = _cut_at_word(sentences[pool[0]], max_chars)
        return Summary(cut, [cut] if cut else [])
    candidates = sorted(fitting, key=lambda index: -probability[index])[:_CANDIDATES]
    lengths = {index: len(sentences[index]) for index in candidates}
    gains = {index: probability[index] * lengths[index] ** _LENGTH_POWER for index in candidates}
    best: tuple[int, ...] = (candidates[0],)
    best_value = -1.0
    for size in range(1, min(max_sentences, len(candidates)) + 1):
        for combo in itertools.combinations(candidates, size):
            if sum(lengths[index] for index in combo) + size - 1 > max_chars:
                continue
            value = sum(gains[index] for index in combo)
            if value > best_value:
                best, best_value = combo, value
    chosen = [sentences[index] for index in sorted(best)]
    if not substantial:
        marked = [s if _finished(s) or s.endswith(_ELLIPSIS) else s + _ELLIPSIS for s in chosen]
        if len(" ".join(marked)) <= max_chars:
            chosen = marked
    return Summary(" ".join(chosen), chosen)


def summarize_jsonl(src: TextIO, dst: TextIO, *, max_sentences: int, max_chars: int) -> int:
    """Summarize ``{"id", "title"?, "text"}`` lines into ``{"id", "summary", "sentences"}``.

    Returns how many lines were written. A line that is not a JSON object with a string
    ``text`` is skipped with a warning naming its line number, so one bad record does not
    stop a batch.
    """
    written = 0
    for record in text_records(src, command="summarize"):
        title = record["title"]
        summary = summarize(
            title,
            record["text"],
            max_sentences=max_sentences,
            max_chars=max_chars,
        )
        out = {"id": record.get("id"), "summary": summary.text, "sentences": summary.sentences}
        dst.write(json.dumps(out, ensure_ascii=False) + "\n")
        written += 1
    return written
