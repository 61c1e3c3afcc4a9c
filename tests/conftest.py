"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.common import find_shared_data
from benchmarks.pgserver import PostgresUnavailable, TemporaryPostgres
from storage.db import open_store
from storage.engine import Store
from tests.fakes.slack_api import FakeSlack


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The evaluation data in ../shared/data; tests that need it skip with the reason when absent."""
    found = find_shared_data()
    if found is None:
        pytest.skip("../shared/data is absent (a user's clone has none); CI provides it")
    return found


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TemporaryPostgres]:
    """One real PostgreSQL server for the whole run, started in a temporary folder.

    Skips with the reason only where no server binaries exist; CI installs them (``.ci/run``),
    and ``NEWSBOT_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) turns that skip into a failure.
    """
    try:
        server = TemporaryPostgres()
    except PostgresUnavailable as exc:
        if os.environ.get("NEWSBOT_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(str(exc))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: TemporaryPostgres) -> str:
    """A fresh, empty PostgreSQL database for one test: its ``postgresql://`` URL."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``NEWSBOT_DB`` for one test, once per engine: a SQLite file, then a fresh PostgreSQL
    database on the session's server (skipped where no server binaries exist)."""
    if request.param == "sqlite":
        return str(tmp_path / "newsbot.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An opened, migrated :class:`~storage.engine.Store` on each engine."""
    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A fake Slack Web API on 127.0.0.1 (port 0) that records every call. A test file that
    needs workspaces or an OAuth app set up first defines its own ``slack``."""
    with FakeSlack() as fake:
        yield fake
