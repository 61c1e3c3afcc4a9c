"""Schema migrations, registered with sqlite-utils' ``Migrations`` and applied at start.

Never edit a migration that has shipped: add a new one. Table names are a public contract
(Datasette, backups and outside checks read them): ``sources``, ``stories``, ``chats``,
``subscriptions``, ``deliveries`` (the outbox) and ``audit_log``.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("newsbot")


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
def m006_coordination(db: Database) -> None:
    """Several processes on one database: outbox claims with a lease (``claimed_by``,
    ``claimed_until``), the ingest leader's epoch, the shared send budget; on PostgreSQL also
    the NOTIFY triggers and the budget's reservation function (see storage/coordination.py)."""
    from storage.coordination import create_schema

    create_schema(db)
