"""The PostgreSQL test server itself: a real server answers, and each test gets its own database."""

from __future__ import annotations

import psycopg

from benchmarks.pgserver import TemporaryPostgres


def test_server_answers_and_databases_are_separate(postgres_server: TemporaryPostgres) -> None:
    first = postgres_server.create_database()
    second = postgres_server.create_database()
    assert first != second
    with psycopg.connect(first, autocommit=True) as connection:
        connection.execute("CREATE TABLE only_here (x int)")
        version = connection.execute("SHOW server_version_num").fetchone()
    assert version is not None and int(version[0]) >= 150000
    with psycopg.connect(second, autocommit=True) as connection:
        row = connection.execute("SELECT to_regclass('only_here')").fetchone()
    assert row == (None,)
