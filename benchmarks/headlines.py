"""Headlines: written titles against real ones, and run-on headlines found again.

Written titles: held-back BBC articles (the "eval" half of the ids, as in
``benchmarks/segmentation.py``; ``--half tune`` is the half the rules were tuned on) with
their headline removed get a title from :func:`bot.pipeline.headline.write_headline`;
ROUGE-1 and ROUGE-L F1 (Google's ``rouge_score``, stemmed) against the real headline, beside
the baseline "first sentence cut at 90 characters" (at a word boundary). The same on BASIL
articles of ``news_events`` (real headlines from three outlets; a headline repeated as the
first paragraph is removed first).

Naming the subject, measured two ways:

- *main name*: the article's most frequent capitalised word that is not a sentence's first
  word (calendar words and titles such as "Mr" aside) appears in the title;
- *headline names*: of articles whose real headline holds a name (a capitalised word the
  article also capitalises mid-sentence), the share whose title holds one of those names.

``current_events`` items have no headline: there the share of titles naming one of the
item's linked entities (``entities``), and of ECB+ articles of ``news_events``, the main
name. Every title is checked to be at most 90 characters and to end on a whole word.

Run-on headlines: each article's headline and first paragraph joined on one line (as
pasted copy arrives), the share where ``split_run_on_headline`` gives back the headline
exactly; and, on the first paragraph alone, the share wrongly split (false seams).

Run: ``.venv/bin/python -m benchmarks.headlines [--half eval|tune|all] [--limit N]``.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import mean

from rouge_score import rouge_scorer

from benchmarks.common import read_jsonl, require_shared_data
from benchmarks.segmentation import _half
from bot.pipeline.headline import HEADLINE_MAX_CHARS, split_run_on_headline, write_headline
from bot.pipeline.text import split_sentences

_NOT_NAMES = {
    "i",
    "mr",
    "mrs",
    "ms",
    "dr",
    "sir",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "the",
    "but",
    "and",
}
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


@dataclass(frozen=True)
class Article:
    id: str
    headline: str  # "" when the set has none.
    text: str  # Without the headline.
    entities: tuple[str, ...] = ()


def baseline(text: str) -> str:
    """The first sentence cut at 90 characters, at a word boundary."""
    sentences = split_sentences(text)
    first = sentences[0] if sentences else ""
    if len(first) <= HEADLINE_MAX_CHARS:
        return first
    head = first[: HEADLINE_MAX_CHARS + 1]
    return head[: head.rfind(" ")] if " " in head else head[:HEADLINE_MAX_CHARS]


def ours(text: str) -> str:
    return write_headline(text)


def _tokens(text: str) -> list[str]:
    return [token.lower().replace("’s", "").replace("'s", "") for token in _WORD.findall(text)]


def mid_sentence_names(text: str) -> Counter[str]:
    """Capitalised words that are not a sentence's first word, counted."""
    names: Counter[str] = Counter()
    for sentence in split_sentences(text):
        for raw in _WORD.findall(sentence)[1:]:
            token = raw.replace("’s", "").replace("'s", "")
            if token[0].isupper() and token.lower() not in _NOT_NAMES:
                names[token.lower()] += 1
    return names


def names_main(title: str, text: str) -> bool | None:
    names = mid_sentence_names(text)
    if not names:
        return None
    top = names.most_common(1)[0][0]
    return top in _tokens(title) or top in title.lower().replace(" ", "")


def names_headline(title: str, headline: str, text: str) -> bool | None:
    known = mid_sentence_names(text)
    wanted = {
        token.lower()
        for token in _WORD.findall(headline)
        if token[0].isupper() and token.lower() in known
    }
    if not wanted:
        return None
    return bool(wanted & set(_tokens(title)))


def names_entity(title: str, entities: Sequence[str]) -> bool | None:
    words = {
        word.lower()
        for entity in entities
        for word in _WORD.findall(entity)
        if len(word) > 3 and word.lower() not in _NOT_NAMES
    }
    if not words:
        return None
    return bool(words & set(_tokens(title)))


def _share(values: Sequence[bool | None]) -> tuple[float, int]:
    known = [value for value in values if value is not None]
    return (sum(known) / len(known) if known else 0.0), len(known)


def well_formed(title: str) -> bool:
    """At most 90 characters, and ending on a whole word (no ellipsis, no dangling comma)."""
    last = title[-1:]
    return 0 < len(title) <= HEADLINE_MAX_CHARS and (last.isalnum() or last in "%'’\"”)")


def load_bbc(half: str) -> list[Article]:
    data = require_shared_data()
    return [
        Article(row["id"], row["title"], row["text"])
        for row in read_jsonl(data / "bbc_news" / "bbc_news.dev.jsonl")
        if half == "all" or _half(row["id"]) == half
    ]


def load_news_events(corpus: str) -> list[Article]:
    data = require_shared_data()
    articles = []
    for row in read_jsonl(data / "news_events" / "news_events.dev.jsonl"):
        if row["corpus"] != corpus:
            continue
        text = row["text"]
        if corpus == "basil":
            first, _, rest = text.partition("\n\n")
            if " ".join(first.split()).lower() == " ".join(row["title"].split()).lower():
                text = rest
            articles.append(Article(row["id"], row["title"], text))
        elif text.strip():
            articles.append(Article(row["id"], "", f"{row['title']} {text}"))
    return articles


def load_current_events() -> list[Article]:
    data = require_shared_data()
    return [
        Article(row["id"], "", row["text"], tuple(row.get("entities") or ()))
        for row in read_jsonl(data / "current_events" / "current_events.dev.jsonl")
    ]


def rouge_table(
    name: str, articles: Sequence[Article], methods: Sequence[tuple[str, Callable[[str], str]]]
) -> dict[str, dict[str, float]]:
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    print(f"\n{name}: {len(articles)} articles with their headline removed")
    print(
        f"{'method':<10}{'ROUGE-1':>9}{'ROUGE-L':>9}{'chars':>7}{'main name':>11}"
        f"{'hl names':>10}{'well-formed':>13}{'titles/s':>10}"
    )
    results: dict[str, dict[str, float]] = {}
    for label, method in methods:
        started = time.process_time()
        titles = [method(article.text) for article in articles]
        cpu = max(time.process_time() - started, 1e-9)
        scores = [
            scorer.score(article.headline, title)
            for article, title in zip(articles, titles, strict=True)
        ]
        main, _ = _share([names_main(t, a.text) for t, a in zip(titles, articles, strict=True)])
        head, _ = _share(
            [names_headline(t, a.headline, a.text) for t, a in zip(titles, articles, strict=True)]
        )
        formed = mean(well_formed(title) for title in titles)
        row = {
            "rouge1": mean(s["rouge1"].fmeasure for s in scores),
            "rougeL": mean(s["rougeL"].fmeasure for s in scores),
            "chars": mean(len(title) for title in titles),
            "main_name": main,
            "headline_names": head,
            "well_formed": formed,
        }
        results[label] = row
        print(
            f"{label:<10}{row['rouge1']:>9.4f}{row['rougeL']:>9.4f}{row['chars']:>7.0f}"
            f"{main:>11.3f}{head:>10.3f}{formed:>13.3f}{len(articles) / cpu:>10.0f}"
        )
    real_main, _ = _share([names_main(a.headline, a.text) for a in articles])
    print(
        f"{'(real)':<10}{'':>9}{'':>9}{mean(len(a.headline) for a in articles):>7.0f}"
        f"{real_main:>11.3f}"
    )
    return results


def run_on_table(name: str, articles: Sequence[Article]) -> tuple[float, float]:
    """Share of joined headline+lede lines split back exactly; share of ledes split wrongly."""
    found = false = 0
    usable = [a for a in articles if a.headline and a.text.strip()]
    for article in usable:
        paragraphs = [p for p in article.text.split("\n\n") if p.strip()]
        first = " ".join(paragraphs[0].split())
        rest = "\n\n".join(paragraphs[1:])
        joined = f"{' '.join(article.headline.split())} {first}"
        split = split_run_on_headline(joined, rest)
        found += split is not None and split[0] == " ".join(article.headline.split())
        false += split_run_on_headline(first, rest) is not None
    total = max(len(usable), 1)
    print(
        f"{name}: run-on headline found exactly {found / total:.3f}, "
        f"lede alone split wrongly {false / total:.3f} ({len(usable)} articles)"
    )
    return found / total, false / total


def naming_only(name: str, articles: Sequence[Article], *, entities: bool) -> dict[str, float]:
    titles = [write_headline(article.text) for article in articles]
    if entities:
        share, known = _share(
            [names_entity(t, a.entities) for t, a in zip(titles, articles, strict=True)]
        )
        what = "a linked entity"
    else:
        share, known = _share(
            [names_main(t, a.text) for t, a in zip(titles, articles, strict=True)]
        )
        what = "the main name"
    formed = mean(well_formed(title) for title in titles)
    print(
        f"{name}: {len(articles)} items, titles naming {what} {share:.3f} (of {known}), "
        f"well-formed {formed:.3f}, mean {mean(len(t) for t in titles):.0f} chars"
    )
    return {"names": share, "well_formed": formed}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--half", choices=["tune", "eval", "all"], default="eval")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N of each set")
    parser.add_argument("--show", type=int, default=0, help="print N example titles")
    args = parser.parse_args(argv)
    cut: Callable[[list[Article]], list[Article]] = (
        (lambda rows: rows[: args.limit]) if args.limit else (lambda rows: rows)
    )
    methods: list[tuple[str, Callable[[str], str]]] = [("ours", ours), ("baseline", baseline)]
    bbc = cut(load_bbc(args.half))
    rouge_table(f"BBC News ({args.half} half)", bbc, methods)
    basil = cut(load_news_events("basil"))
    rouge_table("news_events BASIL", basil, methods)
    print()
    run_on_table(f"BBC News ({args.half} half)", bbc)
    run_on_table("news_events BASIL", basil)
    print()
    naming_only("news_events ECB+", cut(load_news_events("ecbplus")), entities=False)
    naming_only("current_events", cut(load_current_events()), entities=True)
    for article in bbc[: args.show]:
        print(f"\n  real: {article.headline}")
        print(f"  ours: {ours(article.text)}\n  base: {baseline(article.text)}")


if __name__ == "__main__":
    main()
