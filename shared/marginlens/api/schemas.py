"""Response shapes, for the generated OpenAPI spec and to check what handlers return."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
)

from marginlens.core.bounds import PricePerMtok, QualityScore, year_error
from marginlens.core.identifiers import NO_CONTROL, CustomerId, ModelName, ProviderName
from marginlens.usage.events import UsageEventIn

Money = str  # an exact decimal, e.g. "0.000066"


def _day(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date, YYYY-MM-DD")
    error = year_error(date.fromisoformat(value).year)  # a ValueError names an impossible date
    if error is not None:
        raise ValueError(error)
    return value


# A UTC calendar day on the wire: validated, kept as the string the client sent.
Day = Annotated[str, AfterValidator(_day), WithJsonSchema({"type": "string", "format": "date"})]


class UsageBatchIn(BaseModel):
    events: list[UsageEventIn] = Field(min_length=1, max_length=100)


def inline_schema(schema_type: Any) -> dict[str, Any]:
    """A JSON schema with its `$defs` inlined, to embed anywhere in the OpenAPI document."""
    schema = TypeAdapter(schema_type).json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


USAGE_REQUEST_SCHEMA = inline_schema(UsageEventIn | UsageBatchIn)


class FieldErrorOut(BaseModel):
    pointer: str
    detail: str


class UsageResult(BaseModel):
    index: int
    request_id: str | None
    status: Literal["created", "duplicate", "conflict", "rejected"]
    cost: Money | None = None
    currency: str | None = None
    price_status: Literal["priced", "estimated", "unpriced"] | None = None
    error: FieldErrorOut | None = None


class UsageResponse(BaseModel):
    created: int
    duplicates: int
    conflicts: int
    rejected: int
    results: list[UsageResult]


class StoredEvent(BaseModel):
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


class Figures(BaseModel):
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


class PnlResponse(BaseModel):
    period: dict[str, str]
    currency: str
    totals: PnlTotals
    customers: list[CustomerRow]


class CostFigures(BaseModel):
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
    by_feature: list[FeatureBreakdown]
    by_model: list[ModelBreakdown]
    daily: list[DailyPoint]


class ModelPrices(BaseModel):
    input: Money | None = None
    output: Money | None = None
    cache_read: Money | None = None
    cache_write: Money | None = None


class QualityScoreOut(BaseModel):
    index: Literal["arena_text", "aa_intelligence", "aider_polyglot", "arena_code"]
    score: str = Field(description="The score as published (exact decimal), higher is better")
    source: str
    source_url: str | None
    date: str = Field(description="When the source published it, or the date a user gave")
    origin: Literal["published", "user"]
    listed_as: str | None = Field(None, description="The name the source lists the model under")


class ModelOut(BaseModel):
    id: str
    provider: str
    model: str
    name: str | None
    prices_per_mtok: ModelPrices
    tiered: bool
    price_source: str
    snapshot: SnapshotOut
    deprecated: bool
    quality: list[QualityScoreOut] = Field(
        description="Its scores, each with source and date; an index missing here is unscored, never zero"
    )


class ModelList(BaseModel):
    total: int
    data: list[ModelOut]
    next_cursor: str | None


class KeyOut(BaseModel):
    id: str
    name: str
    scope: Literal["ingest", "read", "admin"]
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown once, never stored")


class KeyCreateIn(BaseModel):
    scope: Literal["ingest", "read", "admin"]
    name: Annotated[str, NO_CONTROL] = Field(min_length=1, max_length=100)


class KeyList(BaseModel):
    data: list[KeyOut]


class SnapshotOut(BaseModel):
    version: str
    source: str
    fetched_at: str | None = Field(
        description="When it was fetched; null for the data bundled with the package"
    )
    model_count: int


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_per_mtok: PricePerMtok
    output_per_mtok: PricePerMtok
    cache_read_per_mtok: PricePerMtok | None = None
    cache_write_per_mtok: PricePerMtok | None = None
    effective_from: AwareDatetime | None = Field(None, description="Default: now")

    @field_validator("effective_from")
    @classmethod
    def _plausible_year(cls, value: datetime | None) -> datetime | None:
        if value is not None and (error := year_error(value.year)) is not None:
            raise ValueError(error)
        return value

    provider: ProviderName | None = Field(None, description="The provider you are billed by")


class OverrideOut(BaseModel):
    model: str
    key: str
    provider: str | None
    effective_from: str
    prices_per_mtok: dict[str, Money]


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(description="The model this deployment runs")


class AliasOut(BaseModel):
    alias: str
    model: str
    resolves_to: str | None


class AliasRow(BaseModel):
    alias: str
    model: str


class IgnoredOverride(BaseModel):
    model: str
    key: str
    effective_from: str
    reason: str = Field(description="Why it prices nothing: stored out of bounds, before the bounds existed")


class PricesOut(BaseModel):
    current: SnapshotOut
    history: list[SnapshotOut]
    overrides: list[OverrideOut]
    ignored_overrides: list[IgnoredOverride] = Field(
        description="Overrides stored out of bounds: events are priced as if they did not exist"
    )
    aliases: list[AliasRow]


QualityIndexName = Literal["arena_text", "aa_intelligence", "aider_polyglot", "arena_code"]


class QualityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: QualityIndexName = Field("arena_text", description="The index this score is on")
    score: QualityScore = Field(
        description="On the index's own scale (Elo for the arenas, 0-100 for the others)"
    )
    source: Annotated[str, NO_CONTROL] = Field(
        "set by user", min_length=1, max_length=200, description="Where it comes from"
    )
    source_url: Annotated[str, NO_CONTROL] | None = Field(None, max_length=500)
    date: Day | None = Field(None, description="When it was measured; default: today")


class ModelQualityOut(BaseModel):
    model: str = Field(description="The model as MarginLens resolves it")
    quality: list[QualityScoreOut]


class SimulationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    month: str | None = Field(None, pattern=r"^\d{4}-\d{2}$", description="UTC month; default: this one")
    from_: Day | None = Field(None, alias="from", description="Or a range: first day (inclusive)")
    to: Day | None = Field(None, description="Last day (inclusive)")
    to_model: ModelName = Field(description="The model to re-price usage on")
    feature: str | None = Field(
        None, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$", description="Only this feature"
    )
    from_model: ModelName | None = Field(None, description="Only usage on this model")
    customer_id: CustomerId | None = Field(None, description="Only this customer's usage")


class SimulationRow(BaseModel):
    feature: str
    current_model: str
    events: int
    cost: Money
    simulated_model: str
    simulated_cost: Money | None = Field(description="null: the target has no per-token price then")
    savings: Money | None = Field(description="null when cost or simulated cost is incomplete")
    savings_pct: str | None
    unpriced_events: int
    cache_priced_as_input: bool
    tiered_prices_at_base: bool
    time_of_day_approximate: bool = Field(
        description="The target's prices change with the time of day and some usage has no known half-hour"
    )
    notes: list[str]


class SimulationTotals(BaseModel):
    events: int
    unpriced_events: int
    rows_compared: int = Field(description="Rows with a savings figure; the amounts below sum those")
    cost: Money
    simulated_cost: Money
    savings: Money
    savings_pct: str | None


class SimulatedModel(BaseModel):
    requested: str
    id: str
    name: str | None
    price_source: str


class SimulationResponse(BaseModel):
    period: dict[str, str]
    currency: str
    customer_id: str | None
    to_model: SimulatedModel
    rows: list[SimulationRow]
    totals: SimulationTotals


class RecommendedModel(BaseModel):
    rank: int | None = Field(description="1 = best quality per dollar; null in `unscored`")
    model: str
    name: str | None
    quality: QualityScoreOut | None
    quality_change_pct: str | None = Field(
        None, description="Its score against the current model's, in % (negative: what you give up)"
    )
    quality_per_dollar: str | None = Field(description="Score / simulated cost; null if unscored or free")
    simulated_cost: Money
    savings: Money
    savings_pct: str | None
    cache_priced_as_input: bool
    tiered_prices_at_base: bool
    time_of_day_approximate: bool = Field(
        description="The target's prices change with the time of day and some usage has no known half-hour"
    )
    margin_after: Money | None = Field(None, description="With customer_id: the customer's margin after")
    margin_pct_after: str | None = None


class RecommendationGroup(BaseModel):
    feature: str
    current_model: str
    events: int
    cost: Money
    unpriced_events: int
    status: Literal["ok", "current_unscored", "cost_incomplete", "no_cheaper_candidate"]
    current_quality: QualityScoreOut | None
    min_quality: str | None = Field(
        description="Lowest score a candidate may have: current x (1 - tolerance)"
    )
    candidates: list[RecommendedModel]
    more_candidates: int
    unscored: list[RecommendedModel] = Field(description="Cheaper models with no score here: never ranked")
    more_unscored: int


class QualityIndexOut(BaseModel):
    id: str
    name: str
    scale: str
    url: str
    source: str
    source_url: str
    date: str


class CustomerSwap(BaseModel):
    customer_id: str
    name: str | None
    revenue: Money
    cost: Money
    margin: Money
    margin_pct: str | None
    action: Literal["reprice_or_throttle", "monitor", "healthy"]
    best_savings: Money = Field(description="The top candidate of every group, applied to the period")
    margin_after_best: Money
    margin_pct_after_best: str | None


class RecommendationResponse(BaseModel):
    period: dict[str, str]
    currency: str
    quality_index: QualityIndexOut
    tolerance_pct: str
    min_cost: Money
    customer: CustomerSwap | None
    groups: list[RecommendationGroup]
    below_min_cost: int = Field(description="Groups under min_cost, left out")


ModelOut.model_rebuild()
