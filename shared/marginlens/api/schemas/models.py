"""Models, prices, overrides, aliases, snapshots and quality scores."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field, field_validator

from marginlens.api.schemas.common import Day, Money, Schema
from marginlens.core.bounds import PricePerMtok, QualityScore, year_error
from marginlens.core.identifiers import NO_CONTROL, ModelName, ProviderName


class ModelPrices(Schema):
    input: Money | None = None
    output: Money | None = None
    cache_read: Money | None = None
    cache_write: Money | None = None


class QualityScoreOut(Schema):
    index: Literal["arena_text", "aa_intelligence", "aider_polyglot", "arena_code"]
    score: str = Field(description="The score as published (exact decimal), higher is better")
    source: str
    source_url: str | None
    date: str = Field(description="When the source published it, or the date a user gave")
    origin: Literal["published", "user"]
    listed_as: str | None = Field(None, description="The name the source lists the model under")


class ModelOut(Schema):
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


class ModelList(Schema):
    total: int
    data: list[ModelOut]
    next_cursor: str | None


class SnapshotOut(Schema):
    version: str
    source: str
    fetched_at: str | None = Field(
        description="When it was fetched; null for the data bundled with the package"
    )
    model_count: int


class OverrideIn(Schema):
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


class OverrideOut(Schema):
    model: str
    key: str
    provider: str | None
    effective_from: str
    prices_per_mtok: dict[str, Money]


class AliasIn(Schema):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(description="The model this deployment runs")


class AliasOut(Schema):
    alias: str
    model: str
    resolves_to: str | None


class AliasRow(Schema):
    alias: str
    model: str


class IgnoredOverride(Schema):
    model: str
    key: str
    effective_from: str
    reason: str = Field(description="Why it prices nothing: stored out of bounds, before the bounds existed")


class PriceSyncOut(Schema):
    last_attempt_at: str | None = Field(description="The last refresh run in the 7 days (UTC)")
    last_success_at: str | None = Field(description="The last refresh that left the table current")
    last_status: Literal["refreshed", "unchanged", "refused"] | None
    last_reason: str | None = Field(description="Why the last run was refused")
    attempts_7d: int
    successes_7d: int
    success_rate_7d: str | None = Field(description="Successful runs over the 7 days, in %")


class PricesOut(Schema):
    current: SnapshotOut
    sync: PriceSyncOut = Field(
        description="The refresh runs (the daily schedule's and POST /v1/prices/refresh)"
    )
    history: list[SnapshotOut]
    overrides: list[OverrideOut]
    ignored_overrides: list[IgnoredOverride] = Field(
        description="Overrides stored out of bounds: events are priced as if they did not exist"
    )
    aliases: list[AliasRow]


QualityIndexName = Literal["arena_text", "aa_intelligence", "aider_polyglot", "arena_code"]


class QualityIn(Schema):
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


class ModelQualityOut(Schema):
    model: str = Field(description="The model as MarginLens resolves it")
    quality: list[QualityScoreOut]


ModelOut.model_rebuild()  # it names SnapshotOut, defined after it


class UnpricedModelRow(Schema):
    model: str = Field(description="The model name as events sent it (lowercased)")
    feature: str
    events: int
    unpriced_events: int


class UnpricedModelsOut(Schema):
    month: str
    data: list[UnpricedModelRow]
    unpriced_events: int
