"""Schema migrations: one ordered list, applied at start on SQLite and on PostgreSQL.

Never edit a migration that has shipped: add a new one. Table names are a public contract
(Datasette, backups and outside checks read them): ``sources``, ``stories``, ``chats``,
``subscriptions``, ``deliveries`` (the outbox) and ``audit_log``.

On SQLite the list runs through sqlite-utils' ``Migrations`` exactly as it always has (names
recorded in ``_sqlite_migrations``). On PostgreSQL :func:`apply_postgres` runs the same list,
in order, each migration in its own transaction under a ``pg_advisory_xact_lock`` (two
processes starting at once take turns; the second finds nothing pending), recorded in
``_newsbot_migrations``. The function receives a :class:`PostgresMigrationDb`, which accepts
the part of the sqlite-utils API migrations use and translates SQLite's DDL.

How to write a migration that runs on both:

- ``db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, ...)")``: ``INTEGER PRIMARY KEY``
  becomes a ``BIGINT`` identity column on PostgreSQL, every other ``INTEGER`` a ``BIGINT``,
  ``REAL`` ``DOUBLE PRECISION`` and ``BLOB`` ``BYTEA``. Keep to these types plus ``TEXT``;
  timestamps are ISO 8601 UTC ``TEXT``, JSON is ``TEXT``, booleans are ``INTEGER`` 0/1.
- ``db.execute("ALTER TABLE t ADD COLUMN c TEXT")``, ``CREATE [UNIQUE] INDEX ...``, or
  ``db.table("t").add_column("c", str, not_null_default="x")`` / ``.create_index([...])``.
- No SQLite-only statements (``PRAGMA``, ``INSERT OR IGNORE``, ``datetime('now')``, table
  rebuilds with ``transform``); where an engine needs its own SQL, branch on
  ``getattr(db, "dialect", "sqlite") == "postgresql"`` inside the migration.
- Data changes use ``?`` placeholders (converted for PostgreSQL).
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from storage.engine import PostgresStore, identifier


class _OrderedMigrations(Migrations):
    """sqlite-utils' ``Migrations`` that also keeps its functions in order, in public, for the
    PostgreSQL runner (``@MIGRATIONS()`` is used exactly as before)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.functions: list[tuple[str, Callable[[Any], None]]] = []

    def __call__(  # type: ignore[override]
        self, *, name: str | None = None, transactional: bool = True
    ) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
        register = super().__call__(name=name, transactional=transactional)

        def inner(func: Callable[[Any], None]) -> Callable[[Any], None]:
            registered = register(func)  # raises on a duplicate name before we record it
            self.functions.append((name or func.__name__, func))
            return registered

        return inner


MIGRATIONS = _OrderedMigrations("newsbot")
log = logging.getLogger(__name__)


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    """The first schema: sources, stories with FTS5, chats, subscriptions, outbox, audit log."""
    db.execute(
        """
        CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'feed',          -- feed | page | inbox | push | file
            interval_minutes INTEGER NOT NULL DEFAULT 15,
            etag TEXT,
            last_modified TEXT,
            consecutive_errors INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_fetch_at TEXT,
            last_success_at TEXT,
            next_check_at TEXT,
            state TEXT NOT NULL DEFAULT 'active',       -- active | paused | error
            state_reason TEXT,
            fetch_full_text INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            source_id INTEGER REFERENCES sources(id) ON DELETE SET NULL,
            source_name TEXT NOT NULL DEFAULT '',
            url TEXT,
            canonical_url TEXT,
            guid TEXT,
            title TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            published_at TEXT,
            fetched_at TEXT NOT NULL,
            language TEXT,
            content_hash TEXT NOT NULL UNIQUE,
            summary TEXT NOT NULL DEFAULT '',
            topics TEXT NOT NULL DEFAULT '[]',          -- JSON list, best first
            cluster_id INTEGER,                         -- id of the first story of its cluster
            duplicate_of INTEGER                        -- set for reprints (never alerted)
        )
        """
    )
    db.execute("CREATE INDEX idx_stories_canonical_url ON stories(canonical_url)")
    db.execute("CREATE INDEX idx_stories_cluster ON stories(cluster_id)")
    db.execute("CREATE INDEX idx_stories_fetched ON stories(fetched_at)")
    db.table("stories").enable_fts(
        ["title", "text", "summary"], create_triggers=True, tokenize="unicode61 remove_diacritics 2"
    )
    db.execute(
        """
        CREATE TABLE chats (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,                     -- telegram | slack | console
            external_id TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT 'private',       -- private | group | channel
            state TEXT NOT NULL DEFAULT 'active',       -- active | paused | dormant | banned
            state_reason TEXT,
            mode TEXT NOT NULL DEFAULT 'instant',       -- instant | digest
            digest_schedule TEXT NOT NULL DEFAULT 'daily 08:00',
            timezone TEXT NOT NULL DEFAULT 'UTC',
            quiet_hours TEXT,                           -- "22:00-07:00" or NULL
            hourly_cap INTEGER NOT NULL DEFAULT 20,
            summary_chars INTEGER NOT NULL DEFAULT 400,
            language TEXT,                              -- only stories in this language, or NULL
            created_at TEXT NOT NULL,
            last_seen_at TEXT,
            UNIQUE(platform, external_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE subscriptions (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            kind TEXT NOT NULL DEFAULT 'query',         -- query | mute
            query TEXT NOT NULL,                        -- as typed
            canonical TEXT NOT NULL,                    -- as understood
            thread_id TEXT,                             -- forum topic / Slack thread target
            created_at TEXT NOT NULL,
            UNIQUE(chat_id, kind, canonical)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
            cluster_id INTEGER NOT NULL,
            platform TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',     -- pending | held | sent | dead
            reasons TEXT NOT NULL DEFAULT '[]',         -- JSON list: why it matched
            subscription_ids TEXT NOT NULL DEFAULT '[]',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE(chat_id, cluster_id)
        )
        """
    )
    db.execute("CREATE INDEX idx_deliveries_due ON deliveries(status, platform, next_attempt_at)")
    db.execute(
        """
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            chat_id TEXT,
            action TEXT NOT NULL,
            arguments TEXT NOT NULL DEFAULT '',
            result TEXT NOT NULL DEFAULT ''
        )
        """
    )


@MIGRATIONS()
def m002_understanding_and_threads(db: Database) -> None:
    """Story scores and key terms; outbox message references for cluster updates; service state."""
    db.table("stories").add_column("topic_scores", str, not_null_default="{}")
    db.table("stories").add_column("key_terms", str, not_null_default="[]")
    db.table("deliveries").add_column("message_ref", str)  # platform message id / Slack ts
    db.table("deliveries").add_column("thread_id", str)
    db.table("deliveries").add_column("sources_count", int, not_null_default=1)
    db.table("deliveries").add_column("updated_sources_count", int, not_null_default=1)
    db.table("deliveries").add_column("kind", str, not_null_default="alert")  # alert | digest-item
    db.execute(
        """
        CREATE TABLE service_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )


@MIGRATIONS()
def m003_story_images(db: Database) -> None:
    """A story's lead image URL (never fetched by us), and each chat's choice to show images."""
    db.table("stories").add_column("image_url", str)
    db.table("chats").add_column("images", int, not_null_default=1)


@MIGRATIONS()
def m004_chat_languages(db: Database) -> None:
    """Each chat's interface language. ``chats.language`` stays the story-language filter, now
    a comma-separated list (a single code, as stored before, is a list of one)."""
    db.execute("ALTER TABLE chats ADD COLUMN locale TEXT")


@MIGRATIONS()
def m005_slack_installations(db: Database) -> None:
    """Slack apps installed in several workspaces through the OAuth flow: the bot token of each
    workspace, each installer's installation, and the one-time ``state`` values of flows in
    progress. A workspace is its team id, or the enterprise id for an org-wide install."""
    db.execute(
        """
        CREATE TABLE slack_bots (
            id INTEGER PRIMARY KEY,
            client_id TEXT NOT NULL,
            workspace TEXT NOT NULL,                    -- team id, or enterprise id (org-wide)
            enterprise_id TEXT,
            team_id TEXT,
            data TEXT NOT NULL,                         -- JSON: bolt's Bot, tokens included
            installed_at TEXT NOT NULL,
            UNIQUE(client_id, workspace)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE slack_installations (
            id INTEGER PRIMARY KEY,
            client_id TEXT NOT NULL,
            workspace TEXT NOT NULL,
            enterprise_id TEXT,
            team_id TEXT,
            user_id TEXT NOT NULL,                      -- who installed
            data TEXT NOT NULL,                         -- JSON: bolt's Installation
            installed_at TEXT NOT NULL,
            UNIQUE(client_id, workspace, user_id)
        )
        """
    )
    db.execute(
        "CREATE INDEX idx_slack_installations_latest "
        "ON slack_installations(client_id, workspace, installed_at)"
    )
    db.execute(
        """
        CREATE TABLE slack_oauth_states (
            state TEXT PRIMARY KEY,
            expires_at TEXT NOT NULL
        )
        """
    )


@MIGRATIONS()
def m006_coordination(db: Any) -> None:
    """Several processes on one database: outbox claims with a lease (``claimed_by``,
    ``claimed_until``), the ingest leader's epoch, the shared send budget; on PostgreSQL also
    the NOTIFY triggers and the budget's reservation function (see storage/coordination.py)."""
    from storage.coordination import create_schema

    create_schema(db)


# -- PostgreSQL ------------------------------------------------------------------------------

PG_MIGRATIONS_TABLE = "_newsbot_migrations"
# Any constant shared by every newsbot process: the key of the advisory lock migrations take.
PG_MIGRATION_LOCK = 7_160_914_002

# Full-text weights: A title, B summary, C text, matching the bm25 weights 5 / 2 / 1 of FTS5
# with ts_rank_cd's weight array {D, C, B, A} = {0.1, 0.2, 0.4, 1.0} (C : B : A = 1 : 2 : 5).
PG_FTS_WEIGHTS = {"title": "A", "summary": "B", "text": "C"}
PG_FTS_CONFIG = "newsbot_search"

_TYPE_WORDS = (
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b", re.I),
     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b", re.I), "BIGINT"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
)  # fmt: skip
# SQLite's table options (``) WITHOUT ROWID, STRICT``) mean nothing to PostgreSQL.
_TABLE_OPTIONS = re.compile(r"\)\s*(?:(?:WITHOUT\s+ROWID|STRICT)\s*,?\s*)+;?\s*$", re.I)
_PY_TYPES = {str: "TEXT", int: "BIGINT", float: "DOUBLE PRECISION", bytes: "BYTEA"}


def translate_ddl(sql: str) -> str:
    """SQLite DDL as PostgreSQL DDL: the few type spellings that differ (see the docstring)."""
    if not re.match(r"\s*(CREATE|ALTER)\b", sql, re.I):
        return sql
    for pattern, replacement in _TYPE_WORDS:
        sql = pattern.sub(replacement, sql)
    return _TABLE_OPTIONS.sub(")", sql)


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class PostgresMigrationDb:
    """What a migration function receives on PostgreSQL: ``execute`` (DDL translated),
    ``table(name)`` with ``add_column`` / ``create_index`` / ``enable_fts``, and ``dialect``."""

    dialect = "postgresql"

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.store.execute(translate_ddl(sql), params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.store.query(sql, params)

    def table(self, name: str) -> _PostgresMigrationTable:
        return _PostgresMigrationTable(self, name)

    __getitem__ = table


class _PostgresMigrationTable:
    def __init__(self, db: PostgresMigrationDb, name: str) -> None:
        self.db = db
        self.name = name

    def add_column(
        self,
        col_name: str,
        col_type: object = None,
        *,
        not_null_default: object = None,
    ) -> _PostgresMigrationTable:
        if isinstance(col_type, str):
            sql_type = translate_ddl(f"CREATE {col_type}")[len("CREATE ") :]
        else:
            sql_type = _PY_TYPES.get(col_type, "TEXT")  # type: ignore[call-overload]
        sql = f"ALTER TABLE {identifier(self.name)} ADD COLUMN {identifier(col_name)} {sql_type}"
        if not_null_default is not None:
            sql += f" NOT NULL DEFAULT {_literal(not_null_default)}"
        self.db.store.execute(sql)
        return self

    def create_index(
        self,
        columns: Sequence[str],
        index_name: str | None = None,
        unique: bool = False,
        if_not_exists: bool = False,
    ) -> _PostgresMigrationTable:
        name = index_name or f"idx_{self.name}_{'_'.join(columns)}"
        self.db.store.execute(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX {'IF NOT EXISTS ' if if_not_exists else ''}"
            f"{identifier(name)} ON {identifier(self.name)} "
            f"({', '.join(identifier(c) for c in columns)})"
        )
        return self

    def insert(self, record: dict[str, Any]) -> _PostgresMigrationTable:
        """Seed one row (the sqlite-utils call ``db["t"].insert({...})``)."""
        self.insert_all([record])
        return self

    def insert_all(self, records: Sequence[dict[str, Any]]) -> _PostgresMigrationTable:
        for record in records:
            columns = ", ".join(identifier(c) for c in record)
            marks = ", ".join("?" for _ in record)
            self.db.store.execute(
                f"INSERT INTO {identifier(self.name)} ({columns}) VALUES ({marks})",
                list(record.values()),
            )
        return self

    def enable_fts(self, columns: Sequence[str], **_sqlite_options: object) -> None:
        """FTS5 on SQLite; here a generated, weighted ``tsvector`` column with a GIN index.

        The text search configuration folds accents with the ``unaccent`` dictionary when the
        extension can be created (it ships with Debian's PostgreSQL; a database owner may
        create it since PostgreSQL 13); without it search still works, accents then count.
        """
        store = self.db.store
        ensure_search_config(store)
        parts = [
            f"setweight(to_tsvector('{PG_FTS_CONFIG}', coalesce({identifier(c)}, '')), "
            f"'{PG_FTS_WEIGHTS.get(c, 'D')}')"
            for c in columns
        ]
        store.execute(
            f"ALTER TABLE {identifier(self.name)} ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({' || '.join(parts)}) STORED"
        )
        store.execute(
            f"CREATE INDEX {identifier('idx_' + self.name + '_search')} "
            f"ON {identifier(self.name)} USING GIN (search_vector)"
        )


def ensure_search_config(store: PostgresStore) -> bool:
    """Create the text search configuration; True when it folds accents (``unaccent``)."""
    exists = store.execute(
        "SELECT 1 FROM pg_ts_config WHERE cfgname = ?", [PG_FTS_CONFIG]
    ).fetchone()
    folded = False
    try:
        with store.atomic():  # a savepoint: a refused CREATE EXTENSION leaves the rest intact
            store.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        folded = True
    except Exception as exc:  # no contrib files, or no right to create extensions
        log.warning(
            "event=pg_unaccent_unavailable error=%r (search will not fold accents)", str(exc)
        )
    if store.execute("SELECT lower('ÄЖ') = 'äж'").fetchone()[0] is not True:
        log.warning(
            "event=pg_ctype_ascii_only (the database's LC_CTYPE folds only ASCII letters: search "
            "will be case-sensitive beyond them; create it with a UTF-8 LC_CTYPE such as C.UTF-8)"
        )
    if exists:
        return folded
    store.execute(f"CREATE TEXT SEARCH CONFIGURATION {PG_FTS_CONFIG} (COPY = simple)")
    if folded:
        store.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {PG_FTS_CONFIG} "
            "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple"
        )
    return folded


def _pg_applied(store: PostgresStore) -> list[str]:
    rows = store.execute(
        f"SELECT name FROM {PG_MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY id",
        [MIGRATIONS.name],
    ).fetchall()
    return [row[0] for row in rows]


def _ensure_pg_migrations_table(store: PostgresStore) -> None:
    store.execute(
        f"CREATE TABLE IF NOT EXISTS {PG_MIGRATIONS_TABLE} ("
        "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, migration_set TEXT NOT NULL, "
        "name TEXT NOT NULL, applied_at TEXT NOT NULL, UNIQUE (migration_set, name))"
    )


def pending_postgres(store: PostgresStore) -> list[str]:
    exists = store.execute("SELECT to_regclass(?)", [PG_MIGRATIONS_TABLE]).fetchone()[0]
    done = set(_pg_applied(store)) if exists else set()
    return [name for name, _ in MIGRATIONS.functions if name not in done]


def apply_postgres(store: PostgresStore) -> list[str]:
    """Apply pending migrations in order; returns the names applied by this call."""
    applied: list[str] = []
    with store.atomic():
        store.execute("SELECT pg_advisory_xact_lock(?)", [PG_MIGRATION_LOCK])
        _ensure_pg_migrations_table(store)
    for name, function in MIGRATIONS.functions:
        with store.atomic():
            # Taken per migration and held to its commit: a second process waits here, then
            # sees the record and skips.
            store.execute("SELECT pg_advisory_xact_lock(?)", [PG_MIGRATION_LOCK])
            if name in _pg_applied(store):
                continue
            function(PostgresMigrationDb(store))
            store.execute(
                f"INSERT INTO {PG_MIGRATIONS_TABLE} (migration_set, name, applied_at) "
                "VALUES (?, ?, ?)",
                [MIGRATIONS.name, name, str(datetime.datetime.now(datetime.UTC))],
            )
            applied.append(name)
    return applied
