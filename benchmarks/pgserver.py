"""A real PostgreSQL server in a temporary folder, for the tests and the scale-out benchmark.

Nothing is mocked: ``initdb`` makes a fresh cluster, ``pg_ctl`` starts it on a free loopback
port (TCP only, no shared socket folder), and :meth:`TemporaryPostgres.create_database` hands
each test its own empty database. ``initdb`` refuses to run as root, so when the tests run as
root (CI containers do) the server runs as the unprivileged ``postgres`` account that Debian's
package creates, through ``setpriv``; its folder is made in ``/tmp`` and handed to that account.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# Where Debian's postgresql package puts the server (one folder per major version).
SERVER_GLOB = "/usr/lib/postgresql/*/bin"
SUPERUSER = "newsbot"
SUPERUSER_PASSWORD = "newsbot-test"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (the message says how to get them)."""


def find_server_bin() -> Path:
    """The newest ``…/bin`` folder holding ``initdb`` and ``pg_ctl``; ``NEWSBOT_PG_BIN`` wins."""
    override = os.environ.get("NEWSBOT_PG_BIN")
    candidates = [override] if override else sorted(glob.glob(SERVER_GLOB), reverse=True)
    for candidate in candidates:
        folder = Path(candidate)
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on "
        "PATH: install the Debian package 'postgresql' or set NEWSBOT_PG_BIN"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TemporaryPostgres:
    """One PostgreSQL cluster for the life of this object: ``start()``, then ``stop()``."""

    def __init__(self, *, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_server_bin()
        self.port = 0
        self.folder: Path | None = None
        self._run_as: tuple[int, int] | None = None
        self._database_counter = 0

    # -- running the server's own programs ------------------------------------------------
    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        if self._run_as is None:
            return command
        uid, gid = self._run_as
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            self._command(program, *args), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} failed: {result.stderr.strip() or result.stdout.strip()}"
            )

    def start(self) -> TemporaryPostgres:
        folder = Path(tempfile.mkdtemp(prefix="newsbot-pg-"))
        self.folder = folder
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                account = pwd.getpwnam("nobody")
            self._run_as = (account.pw_uid, account.pw_gid)
            os.chown(folder, account.pw_uid, account.pw_gid)
        data = folder / "data"
        password_file = folder / "password"
        password_file.write_text(SUPERUSER_PASSWORD + "\n", encoding="utf-8")
        if self._run_as is not None:
            os.chown(password_file, *self._run_as)
        self._run(
            "initdb",
            "-D", str(data),
            "-U", SUPERUSER,
            "--pwfile", str(password_file),
            "--auth", "scram-sha-256",
            "--encoding", "UTF8",
            # Byte-order text sorting (as SQLite's) and Unicode-aware case folding: under
            # plain C, full-text search would lower-case ASCII letters only.
            "--locale", "C", "--lc-ctype", "C.UTF-8",
            "--no-sync",
        )  # fmt: skip
        self.port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        self._run(
            "pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        if self.folder is None:
            return
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    # -- databases ---------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{SUPERUSER_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "newsbot_test") -> str:
        """A new empty database; returns its ``postgresql://`` URL."""
        import psycopg

        self._database_counter += 1
        name = f"{prefix}_{os.getpid()}_{self._database_counter}_{time.monotonic_ns() % 10**6}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
