"""``newsbot dashboard``: a read-only web view of the live database for admins, by Datasette.

Why Datasette: it already serves any SQLite file as HTML and JSON, with sorting, facets,
full-text search and *canned queries* kept in a metadata file
(``bot/data/dashboard/metadata.json``: latest stories, sources health, the outbox by status,
dead letters, chats, the audit log). Writing that by hand would be a second web app to secure.

How the file is opened, and why:

* **Not** ``--immutable``. Immutable tells SQLite the file can never change, so it takes no
  locks and ignores the ``-wal`` file: with the bot writing in WAL mode, pages would show stale
  data (everything not yet checkpointed is invisible) or fail on a half-rewritten page.
* **Not** ``--nolock``. It drops locking too, meant for files held locked by another program;
  reading a database under active writes without locks can return torn results.
* Datasette's default for a plain file argument: every read connection is opened as
  ``file:PATH?mode=ro``. That is a normal, locking WAL reader: it sees each committed
  transaction, never blocks the bot's writer, and SQLite itself refuses any write on it
  ("attempt to write a readonly database"), even a statement that passes Datasette's own
  SELECT-only check (``WITH ... DELETE``). Datasette would open a writable connection only for
  a canned query marked ``"write": true`` or a write plugin; the metadata has neither.
* ``sql_time_limit_ms`` is kept short: a long read in WAL mode holds back checkpoints, and the
  WAL file grows until it ends.

It binds to 127.0.0.1 by default; reach it from elsewhere through an SSH tunnel
(``ssh -L 8001:127.0.0.1:8001 host``) rather than exposing it: it shows every chat and story.

Datasette runs as a child process of the same Python (``sys.executable -m datasette serve``),
so its event loop, threads and settings stay apart from the CLI. SIGINT and SIGTERM to
``newsbot dashboard`` are forwarded to the child as SIGTERM, which uvicorn handles by finishing
open requests and exiting; the command then returns.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import signal
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
SQL_TIME_LIMIT_MS = 2000
STOP_TIMEOUT_SECONDS = 15.0
# newsbot is installed from its source folder (there is no package on an index): `make dashboard`
# there installs Datasette at the locked version and starts the dashboard.
INSTALL_HINT = (
    "make dashboard (in the newsbot folder), or pip install -c constraints.txt -e '.[dashboard]'"
)
# The database key used inside the packaged metadata file; replaced by the real database name.
METADATA_DATABASE_KEY = "newsbot"


def datasette_available() -> bool:
    """Datasette is an optional extra; the rest of the bot never needs it."""
    return importlib.util.find_spec("datasette") is not None


def database_name(db_path: Path) -> str:
    """The name Datasette gives a database file: its file name without the extension."""
    return db_path.stem


def load_metadata(db_path: Path) -> dict[str, Any]:
    """The packaged metadata, with its database section keyed by this database's name.

    Datasette attaches canned queries to a database by name, and the name comes from the file
    (``NEWSBOT_DB`` may be ``/var/lib/newsbot/live.db``), so the key is set at start.
    """
    text = resources.files("bot").joinpath("data/dashboard/metadata.json").read_text("utf-8")
    metadata: dict[str, Any] = json.loads(text)
    databases = metadata.get("databases", {})
    section = databases.pop(METADATA_DATABASE_KEY, {})
    databases[database_name(db_path)] = section
    metadata["databases"] = databases
    return metadata


def datasette_command(db_path: Path, metadata_path: Path, *, host: str, port: int) -> list[str]:
    """The ``datasette serve`` command line (read-only ``mode=ro`` connections: see above)."""
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(db_path),
        "--metadata",
        str(metadata_path),
        "--host",
        host,
        "--port",
        str(port),
        "--setting",
        "sql_time_limit_ms",
        str(SQL_TIME_LIMIT_MS),
    ]


def serve_dashboard(
    db_path: Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    err: TextIO | None = None,
) -> int:
    """Serve the dashboard until SIGINT/SIGTERM; return the exit code for the CLI.

    Returns 1 with a message when Datasette is not installed or the database does not exist
    (a wrong ``NEWSBOT_DB`` should not silently show an empty dashboard).
    """
    err = err or sys.stderr
    if not datasette_available():
        print(
            f"error: the dashboard needs Datasette, which is not installed.\n"
            f"install it with: {INSTALL_HINT}",
            file=err,
        )
        return 1
    if not db_path.is_file():
        print(
            f"error: no database at {db_path} (set NEWSBOT_DB, or run the bot once first)",
            file=err,
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="newsbot-dashboard-") as tmp:
        metadata_path = Path(tmp) / "metadata.json"
        metadata_path.write_text(json.dumps(load_metadata(db_path)), encoding="utf-8")
        command = datasette_command(db_path, metadata_path, host=host, port=port)
        print(
            f"newsbot dashboard: http://{host}:{port}/{database_name(db_path)} "
            f"(read-only; Ctrl-C stops it)",
            file=err,
            flush=True,
        )
        return _run_until_signalled(command)


def _run_until_signalled(command: list[str]) -> int:
    """Run ``command``; SIGINT/SIGTERM here become one SIGTERM to it, then wait for it."""
    child = subprocess.Popen(command)
    stop_requested = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        if not stop_requested and child.poll() is None:
            stop_requested = True
            child.send_signal(signal.SIGTERM)

    previous = {
        signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        code = child.wait()
        if stop_requested:
            return 0 if code in (0, -signal.SIGTERM) else code
        return code
    finally:
        if child.poll() is None:
            # Reached only if waiting itself failed: never leave a server behind.
            child.terminate()
            try:
                child.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
