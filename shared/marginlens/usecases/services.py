"""Per-process singletons the routes use, built on first use (keeps cold starts and imports lean)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from marginlens.alerts.publishers import publisher_from_settings
from marginlens.auth.keys import KeyStore
from marginlens.core.alerting import AlertPublisher
from marginlens.core.settings import Settings, get_settings
from marginlens.pricing.quality import QualityStore
from marginlens.pricing.store import PriceStore
from marginlens.reports.pnl import PnlReport
from marginlens.reports.revenue import LedgerRevenue
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.ledger import RevenueLedger
from marginlens.storage.dynamodb import DynamoDBClient, make_client
from marginlens.usage.ledger import Ledger


@dataclass(frozen=True)
class Services:
    settings: Settings
    client: DynamoDBClient
    ledger: Ledger
    keys: KeyStore
    pnl: PnlReport
    prices: PriceStore
    customers: CustomerStore
    revenue: RevenueLedger
    quality: QualityStore


@lru_cache(maxsize=1)
def services() -> Services:
    settings = get_settings()
    client = make_client(settings)
    ledger = Ledger(client, settings.table_name)
    keys = KeyStore(
        client,
        settings.table_name,
        cache_seconds=settings.key_cache_seconds,
        bootstrap_admin_sha256=settings.admin_key_sha256,
    )
    prices = PriceStore(client, settings.table_name, cache_seconds=settings.price_cache_seconds)
    customers = CustomerStore(client, settings.table_name)
    revenue = RevenueLedger(client, settings.table_name, customers)
    pnl = PnlReport(
        ledger,
        healthy_pct=settings.healthy_margin_pct,
        currency=settings.reporting_currency,
        revenue=LedgerRevenue(revenue, settings.rates()),
        names=customers.names,
    )
    quality = QualityStore(client, settings.table_name)
    return Services(settings, client, ledger, keys, pnl, prices, customers, revenue, quality)


@lru_cache(maxsize=1)
def alert_publisher() -> AlertPublisher:
    """One publisher (and SNS client) per process, built on first use: the schedules' alerts."""
    return publisher_from_settings(services().settings)


def reset() -> None:
    """Forget settings and clients (tests and the local stack change the environment)."""
    get_settings.cache_clear()
    services.cache_clear()
    alert_publisher.cache_clear()
