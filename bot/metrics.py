"""Prometheus metrics, in a registry per running bot (never the global one, so tests and two
bots in one process do not collide)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.stories_ingested = Counter(
            "newsbot_stories_ingested", "New stories stored", registry=r
        )
        self.duplicates = Counter(
            "newsbot_duplicates",
            "Stories skipped as exact duplicates or stored as reprints",
            ["kind"],
            registry=r,
        )
        self.alerts_sent = Counter(
            "newsbot_alerts_sent", "Alerts delivered", ["transport"], registry=r
        )
        self.alerts_failed = Counter(
            "newsbot_alerts_failed", "Alert sends that failed", ["transport", "kind"], registry=r
        )
        self.images_refused = Counter(
            "newsbot_images_refused",
            "Alerts sent again without their image because the platform refused it",
            ["transport"],
            registry=r,
        )
        self.fetch_errors = Counter(
            "newsbot_fetch_errors", "Failed source polls", ["source"], registry=r
        )
        self.queue_depth = Gauge(
            "newsbot_queue_depth",
            "Outbox rows by transport and status",
            ["transport", "status"],
            registry=r,
        )
        self.ingest_to_alert = Histogram(
            "newsbot_ingest_to_alert_seconds",
            "From storing a story to its alert being sent",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
