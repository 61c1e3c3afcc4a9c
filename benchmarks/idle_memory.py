"""Resident memory of an idle ``newsbot run``: the real command, in a subprocess.

Run from the repository root::

    .venv/bin/python -m benchmarks.idle_memory [--settle 10]

Starts ``python -m bot run`` with nothing configured (console mode) over a new database in a
temporary folder, the HTTP server on a free port, and waits until ``/healthz`` answers. It then
reads the process's ``VmRSS`` (resident now) and ``VmHWM`` (peak so far) from
``/proc/PID/status``, lets it run ``--settle`` seconds more (the console demo ingests its
sources, classifies, summarises and prints its alerts meanwhile) and reads them again, then
stops it with SIGTERM. Two cases:

* **demo**: a fresh database, so console mode loads the bundled demo sources and subscription;
* **own data**: a database that already holds one subscription made with ``newsbot chat``, so
  no demo data is loaded and nothing is ingested: the bot with nothing to do.

Prints one line per case and state. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.helpers import cli_env

_PORT = re.compile(r"event=http_started host=\S+ port=(\d+)")


def _status(pid: int) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` of a process, in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024  # reported in kB
    return values


def _env(folder: Path) -> dict[str, str]:
    """The tests' subprocess environment, without their leave to poll private addresses."""
    return cli_env(folder, NEWSBOT_ALLOW_PRIVATE_SOURCES="false")


def _command(folder: Path, *args: str) -> list[str]:
    env_file = folder / ".env"
    env_file.touch()
    return [sys.executable, "-m", "bot", "--env-file", str(env_file), *args]


def measure(folder: Path, settle: float, timeout: float = 120.0) -> list[tuple[str, float, float]]:
    """Start ``newsbot run`` in ``folder``; (state, RSS MiB, peak MiB) when up and settled."""
    bot = subprocess.Popen(
        _command(folder, "run"),
        cwd=folder,
        env=_env(folder),
        stdin=subprocess.PIPE,  # kept open: the console reads commands until it closes
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    port: list[int] = []
    found = threading.Event()
    lines: list[str] = []

    def read_stderr() -> None:
        assert bot.stderr is not None
        for line in bot.stderr:
            lines.append(line)
            if not port and (match := _PORT.search(line)):
                port.append(int(match.group(1)))
                found.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    figures: list[tuple[str, float, float]] = []
    try:
        if not found.wait(timeout):
            raise SystemExit("newsbot run did not start its HTTP server:\n" + "".join(lines))
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port[0]}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or bot.poll() is not None:
                raise SystemExit("newsbot run never answered /healthz:\n" + "".join(lines))
            time.sleep(0.1)
        status = _status(bot.pid)
        figures.append(("up (/healthz answers)", status["VmRSS"], status["VmHWM"]))
        time.sleep(settle)
        status = _status(bot.pid)
        figures.append((f"after {settle:g} s more", status["VmRSS"], status["VmHWM"]))
    finally:
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bot.kill()
            bot.wait()
        reader.join(timeout=5)
    return figures


def _own_data(folder: Path) -> None:
    """Give the database one subscription of the user's own, so the demo stays out."""
    result = subprocess.run(
        _command(folder, "chat"),
        cwd=folder,
        env=_env(folder),
        input="/subscribe earthquake\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise SystemExit("newsbot chat failed:\n" + result.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds between the two readings"
    )
    args = parser.parse_args()
    for case in ("demo", "own data"):
        with tempfile.TemporaryDirectory(prefix="newsbot-idle-") as name:
            folder = Path(name)
            if case == "own data":
                _own_data(folder)
            for state, rss, peak in measure(folder, args.settle):
                print(f"{case:<9} {state:<24} RSS {rss:6.1f} MiB   peak {peak:6.1f} MiB")


if __name__ == "__main__":
    main()
