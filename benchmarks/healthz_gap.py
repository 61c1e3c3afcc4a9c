"""How long ``/healthz`` goes unanswered while one big ``POST /ingest`` is stored.

Starts the bot's real HTTP server over a real SQLite file, posts ``--stories`` stories in one
request and polls ``/healthz`` every 50 ms meanwhile. Prints the longest stretch without a
healthy answer and the request's duration, for the configured chunk size and, as the baseline
in the same run, for one chunk as large as the whole request (the former single transaction).
One story is ingested first, as a running bot has done: the first batch after start pays
one-time imports that are not what is measured.

    python -m benchmarks.healthz_gap [--stories 10000] [--chunk 100] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import httpx

from bot.app import build_core
from bot.web import WebServer
from tests.helpers import make_settings

TOKEN = "bench-token-123"
WORDS = [
    "harbour",
    "council",
    "storm",
    "ferry",
    "budget",
    "minister",
    "court",
    "river",
    "school",
    "hospital",
    "election",
    "rail",
    "bridge",
    "museum",
    "festival",
    "drought",
    "wildfire",
    "market",
    "shares",
    "bank",
    "strike",
    "union",
    "village",
    "coast",
    "police",
    "inquiry",
    "vaccine",
    "satellite",
    "reactor",
    "treaty",
    "border",
    "summit",
    "league",
    "final",
    "orchestra",
]


def stories(count: int) -> list[dict[str, str]]:
    rng = random.Random(11)
    rows = []
    for n in range(count):
        words = [rng.choice(WORDS) for _ in range(36)]
        title = f"{' '.join(words[:6]).capitalize()} {n}"
        text = ". ".join(" ".join(words[k : k + 12]).capitalize() for k in range(0, 36, 12))
        rows.append({"title": title, "text": f"{text}. Report number {n}."})
    return rows


async def measure(count: int, chunk: int) -> tuple[float, float, float, int]:
    """(longest gap without a healthy /healthz in s, when it began, request seconds, stored)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = make_settings(
            Path(folder),
            ingest_token=TOKEN,
            ingest_max_stories=max(count, 1),
            ingest_chunk_stories=chunk,
        )
        core = await build_core(settings)
        server = WebServer(core.services, core.metrics, scheduler_alive=lambda: True)
        port = await server.start("127.0.0.1", 0)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(timeout=600) as client:
                # A running bot has ingested before: its first batch's one-time imports (the
                # topic model pulls in scikit-learn, about 3 s) are not what is measured here.
                await client.post(
                    f"{base}/ingest",
                    json={"title": "Warm-up", "text": "The bot starts."},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                started = time.perf_counter()
                push = asyncio.create_task(
                    client.post(
                        f"{base}/ingest",
                        json=stories(count),
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                )
                last_ok, longest, longest_at = time.perf_counter(), 0.0, 0.0
                while not push.done():
                    try:
                        health = await client.get(f"{base}/healthz", timeout=30)
                        healthy = health.status_code == 200
                    except httpx.HTTPError:
                        healthy = False
                    now = time.perf_counter()
                    if now - last_ok > longest:
                        longest, longest_at = now - last_ok, last_ok - started
                    if healthy:
                        last_ok = now
                    await asyncio.sleep(0.05)
                answer = await push
                seconds = time.perf_counter() - started
            if answer.status_code not in (200, 201):
                raise SystemExit(f"POST /ingest answered {answer.status_code}: {answer.text[:200]}")
            stored = len(answer.json()["ids"])
        finally:
            await server.stop()
            await core.close()
    return longest, longest_at, seconds, stored


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    runs = [("chunked", args.chunk)]
    if not args.no_baseline:
        runs.append(("one transaction (baseline)", args.stories))
    print(f"{args.stories:,} stories in one POST /ingest")
    for label, chunk in runs:
        longest, at, seconds, stored = asyncio.run(measure(args.stories, chunk))
        print(
            f"  {label:28s} chunk {chunk:>6}: /healthz longest unanswered {longest:6.2f} s "
            f"(from {at:.1f} s), request {seconds:6.1f} s, stored {stored:,}"
        )


if __name__ == "__main__":
    main()
