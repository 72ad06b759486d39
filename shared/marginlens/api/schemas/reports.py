"""The P&L and stored-event reads."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from marginlens.api.schemas.common import Money, Schema


class StoredEvent(Schema):
    request_id: str
    customer_id: str
    model: str
    model_ref: str | None = None  # None (left out of the item) for a model no price list knows
    provider: str | None = None
    feature: str
    timestamp: str
    received_at: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    estimated: bool
    cost: Money | None
    currency: str
    price_status: Literal["priced", "estimated", "unpriced"]
    price_source: str
    unit_prices_per_mtok: dict[str, Money]
    metadata: dict[str, Any] | None = None
    units: dict[str, int | str] | None = Field(
        None, description="Billable units beyond the token buckets, by genai-prices usage key"
    )
    price_context: dict[str, str] | None = Field(None, description="The price tier: processing, service_tier")
    unpriced_units: list[str] | None = Field(None, description="Units no price covers, left out of `cost`")
    provider_cost: Money | None = Field(None, description="The cost the provider reported, USD")
    api_flavor: str | None = None
    usage: dict[str, Any] | None = Field(
        None,
        description="The provider's usage object as posted (fractions, such as a cost, as exact strings)",
    )


UnconvertedRevenue = Annotated[
    dict[str, Money],
    Field(
        description=(
            "Revenue in currencies without a configured exchange rate (MARGINLENS_EXCHANGE_RATES), "
            'per ISO 4217 code, exact at the currency\'s own decimals (`{"EUR": "120.00", "JPY": "500"}`); '
            "in no revenue, margin or total. Empty when every currency converts."
        )
    ),
]


class Figures(Schema):
    revenue: Money = Field(description="Recognised revenue in the reporting currency")
    revenue_unconverted: UnconvertedRevenue
    cost: Money
    margin: Money
    margin_pct: str | None
    events: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    unpriced_events: int
    estimated_events: int
    estimated_cost: Money
    computed_cost: Money = Field(description="MarginLens's own cost of the events (prices x usage)")
    provider_cost: Money = Field(description="The cost providers reported, over the events that carry one")
    provider_cost_events: int = Field(description="Events with a provider-reported cost")
    provider_cost_difference: Money = Field(
        description="Provider's figure minus MarginLens's, over the events both priced"
    )


class CustomerRow(Figures):
    customer_id: str
    name: str | None
    action: Literal["reprice_or_throttle", "monitor", "healthy"]
    negative_margin_months: int


class PnlTotals(Figures):
    unmapped_revenue: Money = Field(
        description=(
            "Stripe revenue recognised in the period whose Stripe customer is not mapped to a customer "
            "yet (GET /v1/revenue/unmapped lists it): in no row and not in `revenue`"
        )
    )
    unmapped_revenue_unconverted: UnconvertedRevenue


class AggregatesFreshness(Schema):
    caught_up: bool = Field(description="Every usage event stored so far is in these figures")
    oldest_pending_change: str | None = Field(
        description="When the oldest change to an event not yet in the figures was made, ISO 8601 UTC"
    )
    lag_seconds: float = Field(description="How far behind the figures are, in seconds (0: caught up)")


class PnlResponse(Schema):
    period: dict[str, str]
    currency: str
    cost_source: Literal["computed", "provider"] = Field(
        description="COST_SOURCE: whose figure `cost` counts for events a provider reported a cost for"
    )
    totals: PnlTotals
    customers: list[CustomerRow]
    aggregates: AggregatesFreshness


class CostFigures(Schema):
    cost: Money
    events: int
    prompt_tokens: int
    completion_tokens: int
    unpriced_events: int
    estimated_cost: Money


class FeatureBreakdown(CostFigures):
    feature: str


class ModelBreakdown(CostFigures):
    model: str


class DailyPoint(CostFigures):
    day: str
    revenue: Money = Field(description="Revenue recognised that day, in the reporting currency")
    revenue_unconverted: UnconvertedRevenue


class CustomerPnlResponse(CustomerRow):
    period: dict[str, str]
    currency: str
    aggregates: AggregatesFreshness
    by_feature: list[FeatureBreakdown]
    by_model: list[ModelBreakdown]
    daily: list[DailyPoint]
