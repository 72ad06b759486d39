"""The simulator and the recommendations."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from marginlens.api.schemas.common import Day, Money, Schema
from marginlens.api.schemas.models import QualityScoreOut
from marginlens.core.identifiers import CustomerId, ModelName


class SimulationIn(Schema):
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


class SimulationRow(Schema):
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
    unpriced_units: list[str] = Field(
        default_factory=list,
        description="Units of the usage (web_searches, input_audio_tokens...) the target has no price for",
    )
    notes: list[str]


class SimulationTotals(Schema):
    events: int
    unpriced_events: int
    rows_compared: int = Field(description="Rows with a savings figure; the amounts below sum those")
    cost: Money
    simulated_cost: Money
    savings: Money
    savings_pct: str | None


class SimulatedModel(Schema):
    requested: str
    id: str
    name: str | None
    price_source: str


class SimulationResponse(Schema):
    period: dict[str, str]
    currency: str
    customer_id: str | None
    to_model: SimulatedModel
    rows: list[SimulationRow]
    totals: SimulationTotals


class RecommendedModel(Schema):
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
    unpriced_units: list[str] = Field(
        default_factory=list,
        description="Units of the usage (web_searches, input_audio_tokens...) the target has no price for",
    )
    margin_after: Money | None = Field(None, description="With customer_id: the customer's margin after")
    margin_pct_after: str | None = None


class RecommendationGroup(Schema):
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


class QualityIndexOut(Schema):
    id: str
    name: str
    scale: str
    url: str
    source: str
    source_url: str
    date: str


class CustomerSwap(Schema):
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


class RecommendationResponse(Schema):
    period: dict[str, str]
    currency: str
    quality_index: QualityIndexOut
    tolerance_pct: str
    min_cost: Money
    customer: CustomerSwap | None
    groups: list[RecommendationGroup]
    below_min_cost: int = Field(description="Groups under min_cost, left out")
