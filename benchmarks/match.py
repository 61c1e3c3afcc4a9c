"""Benchmark the subscription matcher against the naive per-subscription loop.

Run from the repository root::

    .venv/bin/python -m benchmarks.match --subscriptions 100000 --stories 2000

Subscriptions are generated from real headline vocabulary (HuffPost and AG News titles in the
shared evaluation data): single words, two-word phrases, AND / OR / NOT combinations, prefix
terms and topic filters. Like real users, who subscribe to distinctive terms (names, places,
organisations, topics), the generator leaves out stop words and the 200 most frequent
headline words ("trump", "new", "photos", "week"...), and draws the other words with weights
growing with the square root of their headline frequency; two-word phrases are adjacent
content words of real headlines, drawn as often as they occur, so frequent names ("Donald
Trump") stay in. An earlier mix that sampled all content words, the most frequent included,
gave about 820 matches per story at 100,000 subscriptions, more than the "hundreds" seen in
practice; ``matches_per_story`` is printed so the load each run puts on the matcher is
visible. Stories are full BBC articles and AG News items, with topics taken
from their labels. ``--subscriptions-file`` (one query per line) and ``--stories-file`` (JSON
Lines with ``id``, ``title``, ``text`` and optional ``topics``) replace the generated inputs.

Stories are matched in batches of ``--batch`` with :meth:`Matcher.match_many`, as the pipeline
ingests a feed's new items together; ``stories_per_s`` and ``cpu_stories_per_s`` come from that
pass. A story matched in a batch is only ready when its whole batch is, so ``p95_ms`` is the
95th percentile over stories of the time of the batch each story was in (a batch of one story,
``--batch 1``, gives the plain per-story latency). A second pass then matches the same stories
one at a time with :meth:`Matcher.match` (``single_*``, ``single_p95_ms`` per call); its token
cache has by then seen these stories' words once, so it is slightly favoured. Before timing,
``--warm-stories`` other stories (2,000; not timed, none of them among the timed ones) go
through the matcher, as a running bot has matched earlier news: its per-word cache then knows
the common vocabulary, while each timed story still brings words it has not seen (the
cache's misses cost about 5 µs a word and are part of the figure).

The naive loop (the baseline, measured in the same run) evaluates every subscription's AST for
each of the first ``--naive-stories`` stories; the run fails (exit status 1) unless the batched
and the one-at-a-time results are both identical to it on every one of them. Prints one JSON
object, with ``peak_rss_mb`` (the process peak, inputs included) and ``matcher_rss_mb`` (the
resident memory building the matcher added). Timings on a shared machine are noisy: compare figures from the same run, not across
runs.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import current_rss_mb, peak_rss_mb, read_jsonl, require_shared_data
from bot.pipeline.match import Matcher, MatchResult, StoryFeatures, naive_match
from bot.pipeline.query import Query, QueryError, is_common_word, normalize_word, parse_query

_HEADLINE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")
_AG_TOPICS = {"World": "world", "Sports": "sport", "Business": "business", "Sci/Tech": "tech"}
_TOPICS = ("business", "entertainment", "politics", "sport", "tech", "world")


#: The most frequent headline content words, which subscribers rarely follow on their own.
_TOP_WORDS_LEFT_OUT = 200


def _headline_vocabulary(data: Path) -> tuple[list[str], list[float], list[str]]:
    """Content words of the headlines with sampling weights, and adjacent content-word pairs.

    Weights grow with the square root of a word's headline frequency: people follow names and
    topics that are in the news, but not in proportion to filler. The
    :data:`_TOP_WORDS_LEFT_OUT` most frequent words ("new", "photos", "week"...) are left out
    as single-word subscriptions, and so are words seen once (typos, odd tokens).
    """
    counts: Counter[str] = Counter()
    key_counts: Counter[str] = Counter()  # "Vote", "vote" and "votes" are one word here
    pairs: list[str] = []
    titles = [
        row["title"]
        for row in read_jsonl(data / "huffpost_headlines" / "huffpost_headlines.dev.jsonl")
    ]
    titles += [row["title"] for row in read_jsonl(data / "ag_news" / "ag_news_test.dev.jsonl")]
    for title in titles:
        tokens = _HEADLINE_WORD.findall(title)
        content = [
            len(token) >= 3 and not is_common_word(normalize_word(token)) for token in tokens
        ]
        kept = [token for token, keep in zip(tokens, content, strict=True) if keep]
        counts.update(kept)
        key_counts.update(map(normalize_word, kept))
        pairs.extend(
            f"{tokens[i]} {tokens[i + 1]}"
            for i in range(len(tokens) - 1)
            if content[i] and content[i + 1]
        )
    frequent = {key for key, _ in key_counts.most_common(_TOP_WORDS_LEFT_OUT)}
    words = [
        word
        for word, count in counts.items()
        if count >= 2 and normalize_word(word) not in frequent
    ]
    return words, [math.sqrt(counts[word]) for word in words], pairs


def _generated_queries(count: int, data: Path, rng: random.Random) -> list[str]:
    """A realistic mix of subscription queries built from headline words and phrases."""
    words, weights, pairs = _headline_vocabulary(data)
    cumulative = list(itertools.accumulate(weights))

    def word() -> str:
        return rng.choices(words, cum_weights=cumulative)[0]

    def phrase() -> str:
        return f'"{rng.choice(pairs)}"'

    def term() -> str:
        return phrase() if rng.random() < 0.3 else word()

    def prefix() -> str:
        stem = rng.choice([w for w in (word() for _ in range(20)) if len(w) >= 6] or ["climat"])
        return stem[: max(4, len(stem) - 2)] + "*"

    makers = [
        (30, word),
        (14, phrase),
        (7, prefix),
        (14, lambda: f"{term()} {term()}"),
        (5, lambda: f"{word()} AND {prefix()}"),
        (6, lambda: f"{term()} OR {term()}"),
        (5, lambda: f"({term()} OR {term()}) {word()}"),
        (6, lambda: f"{term()} -{word()}"),
        (3, lambda: f"{word()} AND NOT ({word()} OR {phrase()})"),
        (1, lambda: f"topic:{rng.choice(_TOPICS)}"),
        (5, lambda: f"{term()} topic:{rng.choice(_TOPICS)}"),
        (1, lambda: f"{word()} lang:en"),
    ]
    maker_weights = [weight for weight, _ in makers]
    queries = []
    for _ in range(count):
        if rng.random() < 0.001:  # a few "everything except" subscriptions (mutes-like)
            queries.append(f"-{word()}")
            continue
        (maker,) = rng.choices([make for _, make in makers], weights=maker_weights)
        queries.append(maker())
    return queries


def _generated_stories(count: int, data: Path, rng: random.Random) -> list[StoryFeatures]:
    """Full BBC articles and AG News items, shuffled; topics from their labels.

    Without repeats while ``count`` is at most the pool's size (6,893 items in the dev split);
    :func:`main` takes the timed stories from the front and the warm-up ones after them.
    """
    stories = [
        StoryFeatures(row["title"], row["text"], (row["label"],), "BBC News", "en")
        for row in read_jsonl(data / "bbc_news" / "bbc_news.dev.jsonl")
    ]
    stories += [
        StoryFeatures(row["title"], row["text"], (_AG_TOPICS[row["label"]],), "", "en")
        for row in read_jsonl(data / "ag_news" / "ag_news_test.dev.jsonl")
    ]
    rng.shuffle(stories)
    return [stories[i % len(stories)] for i in range(count)]


def _file_stories(path: Path, count: int | None) -> list[StoryFeatures]:
    stories = [
        StoryFeatures(row.get("title", ""), row.get("text", ""), tuple(row.get("topics") or ()))
        for row in read_jsonl(path)
    ]
    return stories[:count] if count else stories


def _parse_all(lines: list[str]) -> tuple[list[tuple[int, Query]], int]:
    parsed: list[tuple[int, Query]] = []
    rejected = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            parsed.append((len(parsed) + 1, parse_query(line.strip())))
        except QueryError:
            rejected += 1
    return parsed, rejected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--stories", type=int, default=2000)
    parser.add_argument("--subscriptions-file", type=Path)
    parser.add_argument("--stories-file", type=Path)
    parser.add_argument("--naive-stories", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64, help="stories per match_many call")
    parser.add_argument(
        "--warm-stories",
        type=int,
        default=2000,
        help="other stories matched before timing, as a running bot has seen earlier news",
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    data = None
    if args.subscriptions_file is None or args.stories_file is None:
        data = require_shared_data()
    if args.subscriptions_file is not None:
        lines = args.subscriptions_file.read_text(encoding="utf-8").splitlines()
    else:
        assert data is not None
        lines = _generated_queries(args.subscriptions, data, rng)
    subscriptions, rejected = _parse_all(lines)
    if args.stories_file is not None:
        stories = _file_stories(args.stories_file, args.stories)
        earlier = stories[: args.warm_stories]
    else:
        assert data is not None
        pool = _generated_stories(args.stories + args.warm_stories, data, rng)
        stories, earlier = pool[: args.stories], pool[args.stories :]

    gc.collect()
    rss_before_build = current_rss_mb()
    started = time.perf_counter()
    matcher = Matcher.build(subscriptions)
    build_s = time.perf_counter() - started
    gc.collect()
    # What the matcher itself holds: the resident memory it added (the inputs stay loaded).
    matcher_rss = current_rss_mb() - rss_before_build

    batch = max(1, args.batch)
    # A running bot's token cache has seen earlier news, whose vocabulary overlaps today's but
    # not fully: warm it with other stories of the same sources (not timed).
    for first in range(0, len(earlier), batch):
        matcher.match_many(earlier[first : first + batch])
    naive_count = min(args.naive_stories, len(stories))
    fast_sample: list[list[MatchResult]] = []
    latencies: list[float] = []  # per story: the time of the batch it was matched in
    total_matches = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    for first in range(0, len(stories), batch):
        chunk = stories[first : first + batch]
        began = time.perf_counter()
        batch_results = matcher.match_many(chunk)
        latencies += [time.perf_counter() - began] * len(chunk)
        total_matches += sum(map(len, batch_results))
        fast_sample += batch_results[: max(0, naive_count - first)]
    fast_s = time.perf_counter() - started
    fast_cpu_s = time.process_time() - cpu_started

    single_sample: list[list[MatchResult]] = []
    single_latencies: list[float] = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for index, story in enumerate(stories):
        began = time.perf_counter()
        results = matcher.match(story)
        single_latencies.append(time.perf_counter() - began)
        if index < naive_count:
            single_sample.append(results)
    single_s = time.perf_counter() - started
    single_cpu_s = time.process_time() - cpu_started

    cpu_started = time.process_time()
    started = time.perf_counter()
    naive_results = [naive_match(subscriptions, story) for story in stories[:naive_count]]
    naive_s = time.perf_counter() - started
    naive_cpu_s = time.process_time() - cpu_started
    disagreements = [
        i
        for i in range(naive_count)
        if naive_results[i] != fast_sample[i] or naive_results[i] != single_sample[i]
    ]

    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else fast_s
    single_p95 = (
        statistics.quantiles(single_latencies, n=20)[-1] if len(single_latencies) > 1 else single_s
    )
    report: dict[str, object] = {
        "subscriptions": len(subscriptions),
        "rejected_queries": rejected,
        "stories": len(stories),
        "build_s": round(build_s, 2),
        "stories_per_s": round(len(stories) / fast_s, 1),
        # CPU time of this process only: less disturbed by other programs on a busy machine.
        "cpu_stories_per_s": round(len(stories) / max(fast_cpu_s, 1e-9), 1),
        "batch": batch,
        "p95_ms": round(p95 * 1000, 3),
        "single_stories_per_s": round(len(stories) / single_s, 1),
        "single_cpu_stories_per_s": round(len(stories) / max(single_cpu_s, 1e-9), 1),
        "single_p95_ms": round(single_p95 * 1000, 3),
        "matches_per_story": round(total_matches / max(1, len(stories)), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "matcher_rss_mb": round(matcher_rss, 1),
        "naive_stories_per_s": round(naive_count / naive_s, 2) if naive_count else None,
        "naive_cpu_stories_per_s": (
            round(naive_count / max(naive_cpu_s, 1e-9), 2) if naive_count else None
        ),
        "naive_matches_per_story": round(
            sum(len(r) for r in naive_results) / max(1, naive_count), 2
        ),
        "naive_stories": naive_count,
        "sample_matches_per_story": round(
            sum(len(r) for r in fast_sample) / max(1, naive_count), 2
        ),
        "agree": not disagreements,
    }
    if naive_count:
        report["speedup_vs_naive"] = round((len(stories) / fast_s) / (naive_count / naive_s), 1)
    print(json.dumps(report))
    if disagreements:
        first = disagreements[0]
        batched = naive_results[first] != fast_sample[first]
        wrong = fast_sample[first] if batched else single_sample[first]
        fast_ids = {r.subscription_id for r in wrong}
        naive_ids = {r.subscription_id for r in naive_results[first]}
        print(
            f"disagreement on {len(disagreements)} stories; first at story {first} "
            f"({'batched' if batched else 'one at a time'}): "
            f"only fast {sorted(fast_ids - naive_ids)[:10]}, "
            f"only naive {sorted(naive_ids - fast_ids)[:10]}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
