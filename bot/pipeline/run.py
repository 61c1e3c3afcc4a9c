"""The one place the stages are joined: clean -> exact dedup -> understand -> cluster -> store ->
match -> queue deliveries.

Each stage is a small pure module; this runner owns the order, the transaction and the state the
stages keep between stories (the reprint index, the compiled subscriptions). It is synchronous
and runs on the database thread (or in the CLI process). A batch is stored in chunks of at most
``chunk_size`` stories, each one ``BEGIN IMMEDIATE`` transaction: a story, its cluster and its
outbox rows are stored together or not at all, and a second process (``newsbot ingest``,
``newsbot admin``) sharing the database waits only for the current chunk, never for a whole
10,000-story batch. Chunks are idempotent: after a crash mid-batch the same input is simply
given again, and the stories already stored are recognised as exact duplicates.

Alert rule for clusters: the first story of a cluster is alerted. A reprint never is. A later
member of the cluster is alerted only when the dedup stage says it adds substantial new
information; its outbox key is then its own id (so it is not swallowed by the UNIQUE
(chat, cluster) key), otherwise the chats that already had the cluster get an update ("+N more
sources") on the existing alert.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bot.alerts import DEFAULT_SUMMARY_CHARS
from bot.models import Chat, RawStory, Subscription
from bot.pipeline.classify import TopicModel
from bot.pipeline.dedup import Fingerprint, StoryIndex, release_free_memory
from bot.pipeline.language import detect_language, key_terms
from bot.pipeline.match import Matcher, MatchResult, StoryFeatures
from bot.pipeline.policy import story_language_allowed
from bot.pipeline.query import Query, QueryError, is_common_word, parse_query
from bot.pipeline.summarize import summarize
from bot.pipeline.text import normalize_whitespace, strip_boilerplate, strip_control_characters
from bot.pipeline.urls import canonical_url, public_image_url
from storage import chats as chat_store
from storage import deliveries as outbox
from storage import stories as story_store
from storage import subscriptions as sub_store
from storage.db import write_transaction
from storage.engine import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

SUMMARY_CHARS = DEFAULT_SUMMARY_CHARS
# Stories per transaction: at 10-15 ms a story, a chunk holds the write lock for 1-2 s
# (measured: 3,000 stories take the same total time in chunks of 50, 100 or all at once).
DEFAULT_CHUNK_STORIES = 100


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (at least one item each)."""
    size = max(1, size)
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class StoredStory:
    """One new story as reported by ``newsbot ingest`` and ``POST /ingest``."""

    id: int
    title: str
    source: str
    url: str | None
    topics: list[str]
    summary: str
    language: str
    cluster: int
    duplicate_of: int | None
    alerted_chats: int

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "url": self.url,
            "topics": self.topics,
            "summary": self.summary,
            "language": self.language,
            "cluster": self.cluster,
            "duplicate_of": self.duplicate_of,
            "alerted_chats": self.alerted_chats,
        }


@dataclass
class IngestReport:
    new: list[StoredStory] = field(default_factory=list)
    duplicates: int = 0  # exact duplicates: not stored again
    reprints: int = 0  # near-duplicates stored as cluster members, never alerted
    deliveries: int = 0
    seconds: float = 0.0

    def merge(self, other: IngestReport) -> None:
        self.new.extend(other.new)
        self.duplicates += other.duplicates
        self.reprints += other.reprints
        self.deliveries += other.deliveries
        self.seconds += other.seconds

    def summary_line(self) -> str:
        return (
            f"{len(self.new)} new, {self.duplicates} duplicates, {self.reprints} reprints, "
            f"{self.deliveries} alerts queued"
        )


_NOT_ALNUM = re.compile(r"[\W_]+")
# Stories restored into the reprint index per call when catching up with the database.
_RESTORE_BATCH = 256
# Catching up with at least this many stories (or compiling as many subscriptions) hands the
# freed heap back to the system after.
_RELEASE_AFTER_RESTORING = 1000


def content_hash(title: str, text: str) -> str:
    """Hash of the normalized text (the title when there is no text): same text, stored once."""
    basis = text if text.strip() else title
    folded = unicodedata.normalize("NFKC", basis).casefold()
    normalized = " ".join(_NOT_ALNUM.sub(" ", folded).split())
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def clean_raw(raw: RawStory) -> RawStory:
    """The one normalization at the ingest boundary: every ingested story, from any source,
    loses its terminal escapes, C0/C1 controls and bidi overrides here, before any stage
    sees it (title and text keep their line breaks; URL, guid and source name are one line)."""

    def one_line(value: str | None) -> str | None:
        return strip_control_characters(value, one_line=True) if value is not None else None

    return RawStory(
        title=strip_control_characters(raw.title),
        text=strip_control_characters(raw.text),
        url=one_line(raw.url) or None,
        published=raw.published,
        guid=one_line(raw.guid),
        source_name=one_line(raw.source_name) or "",
        image_url=public_image_url(raw.image_url),
    )


def _parsed(subscriptions: Iterable[Subscription]) -> Iterator[tuple[int, Query]]:
    """``(id, parsed query)`` of each subscription, in the given order, parsed one at a time;
    one stored before a grammar change that no longer parses is skipped and logged, not fatal."""
    for sub in subscriptions:
        try:
            parsed = parse_query(sub.query)
        except QueryError as exc:
            log.warning("event=subscription_unparsable id=%s error=%s", sub.id, exc)
            continue
        yield sub.id, parsed


@dataclass
class _CompiledSubscriptions:
    version: int
    matcher: Matcher
    mutes: Matcher
    subscriptions: dict[int, Subscription]
    chats: dict[int, Chat]


class Pipeline:
    """Processes batches of raw stories against one database."""

    def __init__(
        self,
        classifier: TopicModel,
        *,
        window_hours: float = 72.0,
        summary_chars: int = SUMMARY_CHARS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.classifier = classifier
        self.window = timedelta(hours=window_hours)
        self.summary_chars = summary_chars
        self.clock = clock
        self.index = StoryIndex(window_hours=window_hours)
        self._last_seen_id = 0
        self._compiled: _CompiledSubscriptions | None = None

    # -- state kept in step with the database (other processes write too) -----------------
    def _catch_up(self, db: Store) -> None:
        """Index stories stored since we last looked, by this process or another one."""
        since = self.clock() - self.window if self._last_seen_id == 0 else None
        stories = story_store.stories_after(db, self._last_seen_id, since=since)
        # In batches: the index works out the fingerprints of a batch at once.
        for start in range(0, len(stories), _RESTORE_BATCH):
            self.index.restore_many(
                [
                    (
                        str(story.id),
                        story.title,
                        story.text,
                        story.published_at or story.fetched_at,
                        str(story.cluster_id or story.id),
                    )
                    for story in stories[start : start + _RESTORE_BATCH]
                ]
            )
        if stories:
            self._last_seen_id = max(self._last_seen_id, max(story.id for story in stories))
        self._last_seen_id = max(self._last_seen_id, story_store.max_story_id(db))
        if len(stories) >= _RELEASE_AFTER_RESTORING:
            # The rows just indexed (at start-up every text of the window) are garbage now:
            # their memory goes back to the system instead of staying in the heap's holes.
            del stories
            release_free_memory()

    def refresh(self, db: Store) -> None:
        """Bring the reprint index and the compiled subscriptions up to date now, instead of at
        the next batch: a new ingest leader rebuilds its memory from the database at once, and a
        subscription change another process announced (NOTIFY) is compiled before it is needed.
        The query analyser's word list is loaded here too (a second or two on first use), so the
        first subscription compiled later does not pay for it."""
        is_common_word("the")
        self._catch_up(db)
        self.compiled(db)

    def compiled(self, db: Store) -> _CompiledSubscriptions:
        """The subscription index, rebuilt only when some process changed a subscription."""
        version = sub_store.subscriptions_version(db)
        if self._compiled is not None and self._compiled.version == version:
            return self._compiled
        subscriptions = {s.id: s for s in sub_store.active_subscriptions(db)}
        ordered = sorted(subscriptions.values(), key=lambda sub: sub.id)
        chats = {c.id: c for c in chat_store.list_chats(db, chat_state="active")}
        # Each query is parsed as the index reaches it and dropped right after: holding them
        # all while building would keep their heap pages (see Matcher.build_sorted).
        self._compiled = _CompiledSubscriptions(
            version,
            Matcher.build_sorted(_parsed(sub for sub in ordered if sub.kind != "mute")),
            Matcher.build_sorted(_parsed(sub for sub in ordered if sub.kind == "mute")),
            subscriptions,
            chats,
        )
        if len(subscriptions) >= _RELEASE_AFTER_RESTORING:
            # The parse garbage and the previous index are garbage now (see _catch_up).
            release_free_memory()
        return self._compiled

    # -- the stages, joined ------------------------------------------------------------------
    def process(
        self,
        db: Store,
        raws: Sequence[RawStory],
        *,
        source_id: int | None = None,
        source_name: str = "",
        chunk_size: int = DEFAULT_CHUNK_STORIES,
    ) -> IngestReport:
        """Store ``raws``, committing every ``chunk_size`` stories (see the module docstring).

        When a chunk fails, the chunks before it stay stored and the error is raised.
        """
        started = time.perf_counter()
        report = IngestReport()
        source_name = strip_control_characters(source_name, one_line=True)
        for chunk in chunked(raws, chunk_size):
            self._process_chunk(db, chunk, report, source_id, source_name)
        report.seconds = time.perf_counter() - started
        return report

    def _process_chunk(
        self,
        db: Store,
        chunk: Sequence[RawStory],
        report: IngestReport,
        source_id: int | None,
        source_name: str,
    ) -> None:
        raws = [clean_raw(raw) for raw in chunk]
        cleaned = [(normalize_whitespace(r.title), strip_boilerplate(r.text)) for r in raws]
        # The topic model is vectorised: one call for the chunk, before the write lock is taken.
        scores = self.classifier.classify_many(cleaned) if cleaned else []
        # Counted into the caller's report only once the chunk is committed.
        done = IngestReport()
        try:
            self._process_batch(db, raws, cleaned, scores, done, source_id, source_name)
        except BaseException:
            # The transaction rolled back, and SQLite will hand out the same ids again: forget
            # the in-memory index and rebuild it from what is really stored at the next batch.
            self.index = StoryIndex(window_hours=self.window.total_seconds() / 3600)
            self._last_seen_id = 0
            raise
        report.merge(done)

    def _process_batch(
        self,
        db: Store,
        raws: Sequence[RawStory],
        cleaned: list[tuple[str, str]],
        scores: list[list[tuple[str, float]]],
        report: IngestReport,
        source_id: int | None,
        source_name: str,
    ) -> None:
        with write_transaction(db):
            self._catch_up(db)
            compiled = self.compiled(db)
            prepared = self._prepare(db, compiled, raws, cleaned, scores, source_name)
            self._store(db, raws, cleaned, prepared, compiled, report, source_id, source_name)

    def _prepare(
        self,
        db: Store,
        compiled: _CompiledSubscriptions,
        raws: Sequence[RawStory],
        cleaned: list[tuple[str, str]],
        scores: list[list[tuple[str, float]]],
        source_name: str,
    ) -> list[_Prepared]:
        """Identity of every story of the batch; language, matches and fingerprint of the new.

        The matcher's batch call shares the fixed cost of each numpy step among the stories
        (at 100,000 subscriptions it is about 1.5x faster per story than one call per story),
        so it runs once here, for subscriptions and mutes, before the stories are processed
        one by one; so do the reprint index's fingerprints (shingles, signature, terms), for
        the same reason. Stories already stored verbatim are left out: a re-polled feed is
        mostly those. Reprints found later by the index are matched for nothing, which is cheap.
        """
        prepared: list[_Prepared] = []
        for raw, (title, text) in zip(raws, cleaned, strict=True):
            url = raw.url or None
            prepared.append(
                _Prepared(
                    url=url,
                    canonical=canonical_url(url) if url else None,
                    digest=content_hash(title, text),
                )
            )
        stored_hashes, stored_urls = story_store.stored_identities(
            db, [item.digest for item in prepared], [item.canonical or "" for item in prepared]
        )
        wanted: list[_Prepared] = []
        for raw, (title, text), scored, item in zip(raws, cleaned, scores, prepared, strict=True):
            if (not title and not text) or item.digest in stored_hashes:
                continue
            if item.canonical and item.canonical in stored_urls:
                continue
            language = detect_language(f"{title}. {text}")
            # The topic model cannot read every language: keep only its confident topics.
            item.scored = self.classifier.topics_for_language(scored, language)
            item.features = StoryFeatures(
                title=title,
                text=text,
                topics=tuple(t for t, _ in item.scored),
                source=raw.source_name or source_name,
                lang=language,
            )
            wanted.append(item)
        features = [item.features for item in wanted if item.features is not None]
        matches = compiled.matcher.match_many(features)
        mutes = compiled.mutes.match_many(features)
        fingerprints = self.index.fingerprints([(f.title, f.text) for f in features])
        for item, found, muted, fingerprint in zip(
            wanted, matches, mutes, fingerprints, strict=True
        ):
            item.matches, item.mutes, item.fingerprint = found, muted, fingerprint
        return prepared

    def _store(
        self,
        db: Store,
        raws: Sequence[RawStory],
        cleaned: list[tuple[str, str]],
        prepared: list[_Prepared],
        compiled: _CompiledSubscriptions,
        report: IngestReport,
        source_id: int | None,
        source_name: str,
    ) -> None:
        """Store the batch's new stories with their clusters, then their alerts, a few
        statements for the whole batch (not a round trip per story and per alert, which is
        what PostgreSQL ingest spent its time on).

        The outcome is that of storing the stories one by one: the ids are taken first (in
        story order), so the reprint index decides each story's cluster before its row is
        written; a cluster's sources are counted from those stored before the batch plus the
        batch's earlier stories; alerts are queued after all the stories, and clusters that
        grew are noted after the alerts (a cluster's alerts are queued only by its first story,
        and noting growth only ever raises a count, so the order changes nothing).
        """
        fresh: list[_Fresh] = []
        batch_hashes: set[str] = set()
        batch_urls: set[str] = set()
        for raw, (title, text), item in zip(raws, cleaned, prepared, strict=True):
            if not title and not text:
                continue
            # Stored before this batch (no features), or by an earlier story of this batch.
            if (
                item.features is None
                or item.digest in batch_hashes
                or (item.canonical and item.canonical in batch_urls)
            ):
                report.duplicates += 1
                continue
            batch_hashes.add(item.digest)
            if item.canonical:
                batch_urls.add(item.canonical)
            fresh.append(self._new_story(raw, title, text, item, source_id, source_name))
        if not fresh:
            return

        ids = story_store.reserve_story_ids(db, len(fresh))
        for story_id, new in zip(ids, fresh, strict=True):
            decision = self.index.add(
                str(story_id),
                new.story.title,
                new.story.text,
                new.story.published_at or new.story.fetched_at,
                fingerprint=new.prepared.fingerprint,
            )
            new.new_information = decision.new_information
            new.story = replace(
                new.story,
                cluster_id=int(decision.cluster),
                duplicate_of=int(decision.duplicate_of) if decision.duplicate_of else None,
            )
        own = set(ids)
        sources = story_store.cluster_source_keys(
            db, [n.cluster for n in fresh if n.cluster not in own]
        )
        story_store.insert_stories(db, [(i, new.story) for i, new in zip(ids, fresh, strict=True)])
        self._last_seen_id = max(self._last_seen_id, ids[-1])

        alert_rows: list[outbox.QueuedDelivery] = []
        owners: list[int] = []  # the position in ``fresh`` of each alert row's story
        growth: dict[int, int] = {}
        for position, (story_id, new) in enumerate(zip(ids, fresh, strict=True)):
            cluster_id = new.cluster
            keys = sources.setdefault(cluster_id, set())
            keys.add(story_store.source_key(story_id, new.story.source_name))
            sources_count = len(keys)
            if new.new_information and new.story.duplicate_of is None:
                alert_key = cluster_id if cluster_id == story_id else story_id
                rows = self._alert_rows(
                    compiled, new.prepared, story_id, alert_key, sources_count, new.story.language
                )
                alert_rows.extend(rows)
                owners.extend([position] * len(rows))
            if cluster_id != story_id:
                growth[cluster_id] = max(growth.get(cluster_id, 0), sources_count)
        alerted = [0] * len(fresh)
        for position, added in zip(
            owners, outbox.queue_delivery_rows(db, alert_rows, self.clock()), strict=True
        ):
            alerted[position] += added
        outbox.note_clusters_growth(db, growth)

        for story_id, new, alerts in zip(ids, fresh, alerted, strict=True):
            story = new.story
            if story.duplicate_of is not None:
                report.reprints += 1
            report.deliveries += alerts
            report.new.append(
                StoredStory(
                    id=story_id,
                    title=story.title,
                    source=story.source_name,
                    url=story.url,
                    topics=list(story.topics),
                    summary=story.summary,
                    language=story.language,
                    cluster=new.cluster,
                    duplicate_of=story.duplicate_of,
                    alerted_chats=alerts,
                )
            )

    def _new_story(
        self,
        raw: RawStory,
        title: str,
        text: str,
        prepared: _Prepared,
        source_id: int | None,
        source_name: str,
    ) -> _Fresh:
        """A new story's row, all but its id and cluster: summary, topics, key terms."""
        assert prepared.features is not None
        language = prepared.features.lang
        scored = prepared.scored
        summary = summarize(title, text, max_chars=self.summary_chars, language=language)
        story = story_store.NewStory(
            title=title,
            text=text,
            source_id=source_id,
            source_name=raw.source_name or source_name,
            url=prepared.url,
            canonical_url=prepared.canonical,
            guid=raw.guid,
            published_at=raw.published,
            fetched_at=self.clock(),
            content_hash=prepared.digest,
            language=language,
            summary=summary.text,
            topics=[t for t, _ in scored],
            topic_scores={t: round(s, 4) for t, s in scored},
            key_terms=key_terms(title, text, language=language),
            image_url=raw.image_url,
        )
        return _Fresh(story, prepared)

    def match(self, db: Store, features: StoryFeatures) -> dict[int, list[MatchResult]]:
        """Matches per chat after mutes, for a story (used by ingest and by /latest QUERY)."""
        compiled = self.compiled(db)
        return _per_chat(compiled, compiled.matcher.match(features), compiled.mutes.match(features))

    def _alert_rows(
        self,
        compiled: _CompiledSubscriptions,
        prepared: _Prepared,
        story_id: int,
        alert_key: int,
        sources_count: int,
        language: str,
    ) -> list[outbox.QueuedDelivery]:
        """The outbox rows of a story's matches: one per chat that may have it."""
        rows = []
        for chat_id, results in _per_chat(compiled, prepared.matches, prepared.mutes).items():
            chat = compiled.chats.get(chat_id)
            if chat is None:
                continue
            if not story_language_allowed(chat.language, language):
                continue
            reasons: list[str] = []
            for result in results:
                reasons.extend(r for r in result.reasons if r not in reasons)
            first_sub = compiled.subscriptions[results[0].subscription_id]
            rows.append(
                outbox.QueuedDelivery(
                    chat_id=chat_id,
                    story_id=story_id,
                    cluster_id=alert_key,
                    platform=chat.platform,
                    reasons=reasons[:8],
                    subscription_ids=[r.subscription_id for r in results],
                    thread_id=first_sub.thread_id,
                    sources_count=sources_count,
                )
            )
        return rows


@dataclass
class _Prepared:
    """What the batch step worked out for one story before it is processed: its identity
    (URL, canonical URL, content hash) and, unless it was already stored, its matcher
    features (with the language), the topics it keeps in that language, matches and mutes."""

    url: str | None
    canonical: str | None
    digest: str
    features: StoryFeatures | None = None
    scored: list[tuple[str, float]] = field(default_factory=list)  # topics kept, with scores
    matches: list[MatchResult] = field(default_factory=list)
    mutes: list[MatchResult] = field(default_factory=list)
    fingerprint: Fingerprint | None = None


@dataclass
class _Fresh:
    """A story of the batch that is stored: its row (cluster decided once its id is known)."""

    story: story_store.NewStory
    prepared: _Prepared
    new_information: bool = False

    @property
    def cluster(self) -> int:
        assert self.story.cluster_id is not None
        return self.story.cluster_id


def _per_chat(
    compiled: _CompiledSubscriptions,
    results: Sequence[MatchResult],
    mute_results: Sequence[MatchResult],
) -> dict[int, list[MatchResult]]:
    """Matches grouped per chat, leaving out the chats a mute of theirs matched."""
    muted_chats = {
        compiled.subscriptions[m.subscription_id].chat_id
        for m in mute_results
        if m.subscription_id in compiled.subscriptions
    }
    per_chat: dict[int, list[MatchResult]] = {}
    for result in results:
        sub = compiled.subscriptions.get(result.subscription_id)
        if sub is None or sub.chat_id in muted_chats:
            continue
        per_chat.setdefault(sub.chat_id, []).append(result)
    return per_chat
