"""Prometheus metrics, one registry per runtime so tests and several apps never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhook_accepted = Counter(
            "madoguchi_webhook_deliveries_total",
            "Webhook deliveries committed",
            registry=self.registry,
        )
        self.webhook_rejected = Counter(
            "madoguchi_webhook_rejected_total",
            "Webhook deliveries refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.ingest_batch_size = Histogram(
            "madoguchi_ingest_batch_size",
            "Deliveries committed per transaction",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.sends = Counter(
            "madoguchi_outbound_sends_total",
            "Outbound sends by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.media_downloads = Counter(
            "madoguchi_media_downloads_total",
            "Inbound media downloads by outcome",
            ["outcome"],
            registry=self.registry,
        )
