"""Resource bounds on hostile and large inputs: memory of a doubled-gzip feed, memory and time of
the largest inbox file accepted, and the event loop's longest stall while a 5 MB feed is parsed.

Each case runs in a fresh subprocess so its peak RSS is its own (``ru_maxrss`` of that child),
printed beside the RSS the same child had before the case (imports and models loaded).

    python -m benchmarks.input_limits [--bomb-gb 2.2] [--input-bytes 5000000] [--kind jsonl]

No shared data needed: inputs are generated.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def double_gzip_body(size: int) -> bytes:
    """gzip(gzip(``size`` zero bytes)), built in 1 MiB steps."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [inner.compress(block) for _ in range(size >> 20)]
    parts.append(inner.flush())
    return gzip.compress(b"".join(parts), compresslevel=9)


async def _case_bomb(gigabytes: float) -> dict[str, object]:
    from bot.pipeline.fetch import Fetcher, SourceState, build_http_client
    from tests.fakes.feed_server import FeedServer

    body = double_gzip_body(int(gigabytes * 2**30))
    before = _current_rss_mb()
    with FeedServer() as server:
        server.route("/double.xml", body=body, headers={"Content-Encoding": "gzip, gzip"})
        async with build_http_client(timeout=30.0) as client:
            fetcher = Fetcher(client, allow_private=True)  # the default 5,000,000-byte cap
            started = time.perf_counter()
            result = await fetcher.fetch(SourceState(url=server.url("/double.xml")))
            elapsed = time.perf_counter() - started
    return {
        "case": "double-gzip feed",
        "wire_bytes": len(body),
        "decoded_if_unbounded_gb": gigabytes,
        "result": result.error,
        "seconds": round(elapsed, 2),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
    }


def _input_file(folder: Path, size: int, kind: str) -> Path:
    paragraph = (
        "The regional council said on Tuesday that the new bus lanes on the ring road would open "
        "in stages over the summer, starting with the stretch between the station and the "
        "hospital, after a consultation drew more than four thousand replies from residents."
    )
    lines: list[str] = []
    total, number = 0, 0
    while True:
        if kind == "jsonl":
            line = json.dumps(
                {"title": f"Ring road update {number}", "text": f"{paragraph} {number}."}
            )
        else:
            line = f"RING ROAD {number}: {paragraph} Item {number}.\n"
        if total + len(line) + 1 > size:
            break
        lines.append(line)
        total += len(line) + 1
        number += 1
    path = folder / f"largest.{kind if kind == 'jsonl' else 'txt'}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def _case_input(size: int, kind: str, store: bool) -> dict[str, object]:
    from bot.app import build_core
    from tests.helpers import make_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), inbox_settle_seconds=0.0, max_input_bytes=size)
        settings.inbox.mkdir()
        core = await build_core(settings)
        await core.services.ingest_payload({"title": "Warm-up", "text": "Models load here."})
        path = _input_file(settings.inbox, size, kind)
        before = _current_rss_mb()
        started = time.perf_counter()
        if store:
            (outcome,) = await core.services.scan_inbox()
            stories, error = len(outcome.report.new), outcome.error
        else:
            parsed = await asyncio.to_thread(
                core.services._read_and_parse, path, source_name="bench"
            )
            stories, error = len(parsed.stories), None
        elapsed = time.perf_counter() - started
        await core.close()
    return {
        "case": f"largest {kind} input ({'read, parse, store' if store else 'read and parse'})",
        "bytes": path.stat().st_size if path.exists() else size,
        "stories": stories,
        "error": error,
        "seconds": round(elapsed, 2),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
    }


async def _case_stall() -> dict[str, object]:
    from bot.pipeline.fetch import Fetcher, SourceState, build_http_client
    from tests.fakes.feed_server import FeedServer
    from tests.test_loop_stall import big_feed, longest_stall

    body = big_feed(5_000_000)
    stalls = []
    with FeedServer() as server:
        server.route("/big.xml", body=body)
        async with build_http_client(timeout=30.0) as client:
            fetcher = Fetcher(client, allow_private=True, max_bytes=6_000_000)
            for _ in range(3):
                stall, _sends, _ = await longest_stall(
                    fetcher.fetch(SourceState(url=server.url("/big.xml")))
                )
                stalls.append(round(stall * 1000, 1))
            idle = []
            for _ in range(3):
                stall, _sends, _ = await longest_stall(asyncio.sleep(2))
                idle.append(round(stall * 1000, 1))
    return {
        "case": "loop stall while a 5 MB feed is fetched and parsed, pacer sending",
        "stall_ms": stalls,
        "idle_loop_stall_ms": idle,
    }


def _child(args: argparse.Namespace) -> None:
    if args.case == "bomb":
        result = asyncio.run(_case_bomb(args.bomb_gb))
    elif args.case == "input":
        result = asyncio.run(_case_input(args.input_bytes, args.kind, args.store))
    else:
        result = asyncio.run(_case_stall())
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bomb-gb", type=float, default=2.2)
    parser.add_argument("--input-bytes", type=int, default=5_000_000)
    parser.add_argument("--kind", choices=("jsonl", "text"), default="jsonl")
    parser.add_argument("--store", action="store_true", help="also store the stories")
    parser.add_argument("--case", choices=("bomb", "input", "stall", "all"), default="all")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    cases = ("bomb", "input", "stall") if args.case == "all" else (args.case,)
    for case in cases:
        command = [sys.executable, "-m", "benchmarks.input_limits", "--child", "--case", case]
        command += ["--bomb-gb", str(args.bomb_gb), "--input-bytes", str(args.input_bytes)]
        command += ["--kind", args.kind] + (["--store"] if args.store else [])
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        print(output.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
