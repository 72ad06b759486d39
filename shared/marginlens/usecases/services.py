"""Per-process singletons the routes use, each built on first use, so that a function imports and
builds only what its routes touch (the ingest function never loads the P&L, quality or alerts)."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from marginlens.core.settings import Settings, get_settings
from marginlens.storage.dynamodb import DynamoDBClient, make_client

if TYPE_CHECKING:
    from marginlens.auth.keys import KeyStore
    from marginlens.core.alerting import AlertPublisher
    from marginlens.pricing.quality import QualityStore
    from marginlens.pricing.store import PriceStore
    from marginlens.reports.pnl import PnlReport
    from marginlens.revenue.customers import CustomerStore
    from marginlens.revenue.ledger import RevenueLedger
    from marginlens.storage.streams import Stream
    from marginlens.usage.freshness import FreshnessCheck
    from marginlens.usage.ledger import Ledger


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def client(self) -> DynamoDBClient:
        return make_client(self.settings)

    @cached_property
    def ledger(self) -> Ledger:
        from marginlens.usage.ledger import Ledger

        before_read = self._wait_for_aggregates if self.settings.reports_wait_seconds > 0 else None
        return Ledger(self.client, self.settings.table_name, before_read=before_read)

    def _wait_for_aggregates(self) -> None:
        self.freshness.wait(self.settings.reports_wait_seconds)

    @cached_property
    def stream(self) -> Stream:
        from marginlens.storage.streams import Stream, make_streams_client

        return Stream(
            self.client,
            make_streams_client(self.settings),
            self.settings.table_name,
            self.settings.stream_arn,
        )

    @cached_property
    def freshness(self) -> FreshnessCheck:
        from marginlens.usage.aggregator import Aggregator
        from marginlens.usage.freshness import FreshnessCheck

        return FreshnessCheck(self.stream, Aggregator(self.client, self.settings.table_name))

    @cached_property
    def keys(self) -> KeyStore:
        from marginlens.auth.keys import KeyStore

        return KeyStore(
            self.client,
            self.settings.table_name,
            cache_seconds=self.settings.key_cache_seconds,
            bootstrap_admin_sha256=self.settings.admin_key_sha256,
        )

    @cached_property
    def prices(self) -> PriceStore:
        from marginlens.pricing.store import PriceStore

        return PriceStore(
            self.client, self.settings.table_name, cache_seconds=self.settings.price_cache_seconds
        )

    @cached_property
    def customers(self) -> CustomerStore:
        from marginlens.revenue.customers import CustomerStore

        return CustomerStore(self.client, self.settings.table_name)

    @cached_property
    def revenue(self) -> RevenueLedger:
        from marginlens.revenue.ledger import RevenueLedger

        return RevenueLedger(self.client, self.settings.table_name, self.customers)

    @cached_property
    def pnl(self) -> PnlReport:
        from marginlens.reports.pnl import PnlReport
        from marginlens.reports.revenue import LedgerRevenue

        return PnlReport(
            self.ledger,
            healthy_pct=self.settings.healthy_margin_pct,
            currency=self.settings.reporting_currency,
            revenue=LedgerRevenue(self.revenue, self.settings.rates()),
            names=self.customers.names,
            cost_source=self.settings.cost_source,
        )

    @cached_property
    def quality(self) -> QualityStore:
        from marginlens.pricing.quality import QualityStore

        return QualityStore(self.client, self.settings.table_name)


@lru_cache(maxsize=1)
def services() -> Services:
    return Services(get_settings())


@lru_cache(maxsize=1)
def alert_publisher() -> AlertPublisher:
    """One publisher (and SNS client) per process, built on first use: the schedules' alerts."""
    from marginlens.alerts.publishers import publisher_from_settings

    return publisher_from_settings(services().settings)


def reset() -> None:
    """Forget settings and clients (tests and the local stack change the environment)."""
    get_settings.cache_clear()
    services.cache_clear()
    alert_publisher.cache_clear()
