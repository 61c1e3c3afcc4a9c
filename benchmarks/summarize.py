"""Extractive summaries at the alert budget: ROUGE against BBC references, beside baselines.

Every method gets the same article sentences (our splitter, boilerplate removed), the same
budget (``--chars``, default 400, and ``--sentences``, default 3) and the same rule: whole
sentences only, added while they fit; only when no sentence fits is the lead cut at a word
boundary. Baselines: Lead (sentences in article order) and TextRank (sumy's
``TextRankSummarizer`` ranking, best first). ROUGE-1/2/L F1 is Google's ``rouge_score``
with stemming, against the ``summary`` field of ``bbc_news_summary.dev.jsonl``.

The summarizer's weights were fitted on the "tune" half of the ids (a hash of the id, as in
``benchmarks/segmentation.py``); ``--half eval`` (the default) reports the other half.

Run: ``.venv/bin/python -m benchmarks.summarize [--chars 400] [--sentences 3] [--half eval]``.
Articles/s covers the summarizer alone (ROUGE scoring is excluded); it is noisy on a shared
machine, so articles per CPU-second (process time) is printed too.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from statistics import mean

from rouge_score import rouge_scorer
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from benchmarks.common import peak_rss_mb, read_jsonl, require_shared_data
from benchmarks.segmentation import _half
from bot.pipeline.summarize import _article_sentences, _cut_at_word, summarize

Method = Callable[[str, str, int, int], str]


def fill_in_order(
    sentences: Sequence[str], order: Sequence[int], max_sentences: int, max_chars: int
) -> str:
    """Whole sentences taken in ``order`` while they fit, printed in article order."""
    chosen: list[int] = []
    used = 0
    for index in order:
        if len(chosen) == max_sentences:
            break
        extra = len(sentences[index]) + (1 if chosen else 0)
        if used + extra <= max_chars:
            chosen.append(index)
            used += extra
    if not chosen:
        return _cut_at_word(sentences[0], max_chars) if sentences else ""
    return " ".join(sentences[index] for index in sorted(chosen))


def lead(title: str, text: str, max_sentences: int, max_chars: int) -> str:
    sentences = _article_sentences(title, text)
    return fill_in_order(sentences, range(len(sentences)), max_sentences, max_chars)


class _Words:
    """The word tokenizer sumy expects, so sumy needs no NLTK data download."""

    language = "english"

    @staticmethod
    def to_words(sentence: str) -> list[str]:
        return [word for word in sentence.split() if any(ch.isalnum() for ch in word)]


def make_textrank() -> Method:
    summarizer = TextRankSummarizer(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")

    def textrank(title: str, text: str, max_sentences: int, max_chars: int) -> str:
        sentences = _article_sentences(title, text)
        if not sentences:
            return ""
        document = ObjectDocumentModel(
            [Paragraph([Sentence(sentence, _Words()) for sentence in sentences])]
        )
        ratings = summarizer.rate_sentences(document)
        order = sorted(
            range(len(sentences)),
            key=lambda i: -ratings.get(document.sentences[i], 0.0),
        )
        return fill_in_order(sentences, order, max_sentences, max_chars)

    return textrank


def ours(title: str, text: str, max_sentences: int, max_chars: int) -> str:
    return summarize(title, text, max_sentences=max_sentences, max_chars=max_chars).text


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=400)
    parser.add_argument("--sentences", type=int, default=3)
    parser.add_argument("--half", choices=["tune", "eval", "all"], default="eval")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N articles")
    args = parser.parse_args(argv)
    data = require_shared_data()
    rows = [
        row
        for row in read_jsonl(data / "bbc_news_summary" / "bbc_news_summary.dev.jsonl")
        if args.half == "all" or _half(row["id"]) == args.half
    ]
    if args.limit:
        rows = rows[: args.limit]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    print(
        f"{len(rows)} BBC articles ({args.half} half), budget {args.chars} chars, "
        f"at most {args.sentences} sentences"
    )
    print(
        f"{'method':<12}{'ROUGE-1':>9}{'ROUGE-2':>9}{'ROUGE-L':>9}{'chars':>7}{'art/s':>8}"
        f"{'art/cpu-s':>11}"
    )
    methods: list[tuple[str, Method]] = [
        ("ours", ours),
        ("Lead", lead),
        ("TextRank", make_textrank()),
    ]
    for name, method in methods:
        started, cpu_started = time.perf_counter(), time.process_time()
        outputs = [method(row["title"], row["text"], args.sentences, args.chars) for row in rows]
        elapsed = time.perf_counter() - started
        cpu = max(time.process_time() - cpu_started, 1e-9)
        scores = [scorer.score(row["summary"], out) for row, out in zip(rows, outputs, strict=True)]
        over = sum(len(out) > args.chars for out in outputs)
        print(
            f"{name:<12}"
            + "".join(
                f"{mean(s[key].fmeasure for s in scores):>9.4f}"
                for key in ("rouge1", "rouge2", "rougeL")
            )
            + f"{mean(len(out) for out in outputs):>7.0f}{len(rows) / elapsed:>8.0f}"
            + f"{len(rows) / cpu:>11.0f}"
            + (f"  ({over} over budget!)" if over else "")
        )
    print(f"peak RSS {peak_rss_mb():.0f} MiB (timings are noisy on a shared machine)")


if __name__ == "__main__":
    main()
