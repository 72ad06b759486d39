"""The reconciliation routes' bodies: the provider's bill beside MarginLens's record."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from marginlens.api.schemas.common import Money, Schema

Cause = Literal["unpriced_events", "missing_traffic", "stale_price", "not_billed"]


class ReconciliationRow(Schema):
    day: str
    model: str = Field(description="`provider/model` as the P&L names it, `*` on a day's total")
    line_items: list[str] = Field(description="The provider's line items in this row")
    billed: Money
    recorded: Money
    variance: Money = Field(description="recorded - billed")
    variance_pct: str | None = Field(description="variance / billed in %; null when nothing was billed")
    events: int
    unpriced_events: int
    cause: Cause | None = Field(description="The likely cause of a variance, where one can be told")


class ReconciliationDay(ReconciliationRow):
    flagged: bool = Field(description="Beyond the threshold on at least the minimum volume: alerted once")
    cause_detail: str | None


class ProviderReconciliation(Schema):
    model_config = ConfigDict(extra="ignore")

    month: str
    provider: str
    currency: str | None = None
    billed: Money | None = None
    recorded: Money | None = None
    variance_pct: str | None = None
    threshold_pct: str | None = None
    min_cost: Money | None = None
    source: Literal["api", "csv"] | None = Field(None, description="The provider's cost API or a CSV import")
    reconciled_at: str | None = Field(None, description="When this result was computed")
    last_attempt_at: str | None = None
    last_error: str | None = Field(
        None, description="The last fetch's error; the result above is the last good one"
    )
    days: list[ReconciliationDay] = Field(default_factory=list)
    rows: list[ReconciliationRow] = Field(default_factory=list)


class ReconciliationOut(Schema):
    month: str
    providers: list[ProviderReconciliation]


class RunIn(Schema):
    model_config = ConfigDict(extra="forbid")

    month: str | None = Field(None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; default: yesterday's")


class ProviderRun(Schema):
    status: Literal["ok", "error"]
    error: str | None = None
    flagged_days: int | None = None
    alerts_sent: int | None = None


class RunOut(Schema):
    month: str
    configured: list[str] = Field(description="Providers with an admin key configured")
    providers: dict[str, ProviderRun]


class ImportIn(Schema):
    model_config = ConfigDict(extra="forbid")

    csv: str = Field(
        min_length=1, description="The cost export: date,provider,model,amount[,line_item,currency]"
    )
    provider: str | None = Field(None, description="The provider, when the file has no provider column")


class ImportedBill(Schema):
    provider: str
    month: str
    lines: int
    flagged_days: int


class ImportOut(Schema):
    imported: list[ImportedBill]
