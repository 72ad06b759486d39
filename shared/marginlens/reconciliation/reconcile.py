"""The provider's bill beside what MarginLens recorded: per day, provider and model, with a cause.

Recorded costs come from the day x feature x model aggregates (`AGG#FD`), whose model key is the
resolved `provider/model`; billed lines name models as the provider bills them
(`gpt-4o-2024-08-06`, `claude-sonnet-4-20250514`) and are resolved with the same price book, so
both sides meet on one key. Lines with no model (OpenAI's "web search tool calls", Anthropic's
web search) count in their day and provider's totals, as rows of their own.

A day and provider whose recorded cost differs from the bill by more than the threshold (default
5 %, the seed's canary tolerance), on at least the minimum volume, is flagged with its likely cause:
- `unpriced_events`: under the bill, and MarginLens holds events it could not price;
- `missing_traffic`: under the bill, with calls the provider billed that MarginLens never saw (or
  fewer of them);
- `stale_price`: over the bill: MarginLens's price for the model is above what the provider charged
  (the price changed, or a discount such as a committed-use rate applies);
- `not_billed`: MarginLens recorded cost for a model the provider billed nothing for that day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from marginlens.core.money import ZERO, money_str, pct, pct_str
from marginlens.pricing.book import PriceBook
from marginlens.reconciliation.provider_reports import BilledLine
from marginlens.storage import schema
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient
from marginlens.storage.table import Table
from marginlens.usage.ledger import Ledger

Cause = Literal["unpriced_events", "missing_traffic", "stale_price", "not_billed"]
HUNDRED = Decimal(100)


@dataclass
class Side:
    billed: Decimal = ZERO
    recorded: Decimal = ZERO
    events: int = 0
    unpriced_events: int = 0
    line_items: set[str] = field(default_factory=set)

    @property
    def variance(self) -> Decimal:
        return self.recorded - self.billed

    @property
    def variance_pct(self) -> Decimal | None:
        """Recorded against billed, in %: negative when MarginLens recorded less than the bill."""
        return pct(self.variance, self.billed) if self.billed else None


def cause_of(side: Side) -> Cause | None:
    if side.variance == 0:
        return None
    if side.variance < 0:
        return "unpriced_events" if side.unpriced_events else "missing_traffic"
    return "not_billed" if side.billed == 0 else "stale_price"


CAUSE_TEXT: dict[str, str] = {
    "unpriced_events": "MarginLens holds events it could not price: add a price or alias, then reprice",
    "missing_traffic": "the provider billed calls MarginLens did not receive (an app not instrumented?)",
    "stale_price": "MarginLens's price is above what the provider charged: refresh prices or set an override",
    "not_billed": "MarginLens recorded cost the provider did not bill that day",
}


@dataclass(frozen=True)
class Thresholds:
    variance_pct: Decimal  # beyond this, either way, a day and provider is flagged
    min_cost: Decimal  # days where both bill and record are below this are never flagged


def model_key(book: PriceBook, line: BilledLine) -> str:
    """The key MarginLens's aggregates use for the billed model (`provider/model`), else the line
    item under its provider."""
    if line.model:
        resolved = book.resolve(line.model, line.provider)
        if resolved is not None:
            return resolved.ref
        return f"{line.provider}/{line.model.lower()}"
    return f"{line.provider}/({line.line_item})"


def provider_of(model: str) -> str | None:
    return model.split("/", 1)[0] if "/" in model else None


def compare(
    month: str,
    provider: str,
    billed: Iterable[BilledLine],
    recorded_rows: Iterable[Mapping[str, Any]],
    book: PriceBook,
    thresholds: Thresholds,
) -> dict[str, Any]:
    """The month's reconciliation for one provider: rows per day and model, and per day."""
    rows: dict[tuple[str, str], Side] = defaultdict(Side)
    unknown_unpriced: dict[str, int] = defaultdict(int)  # unresolved models: no provider to tell
    for line in billed:
        if line.provider != provider or line.day.strftime("%Y-%m") != month:
            continue
        side = rows[line.day.isoformat(), model_key(book, line)]
        side.billed += line.amount
        side.line_items.add(line.line_item)
    for row in recorded_rows:
        model = str(row["model"])
        owner = provider_of(model)
        if owner is None:
            unknown_unpriced[str(row["day"])] += int(row.get("unpriced_events", 0))
            continue
        if owner != provider:
            continue
        side = rows[str(row["day"]), model]
        side.recorded += Decimal(row.get("cost", 0))
        side.events += int(row.get("events", 0))
        side.unpriced_events += int(row.get("unpriced_events", 0))

    days: dict[str, Side] = defaultdict(Side)
    for (day, _), side in rows.items():
        total = days[day]
        total.billed += side.billed
        total.recorded += side.recorded
        total.events += side.events
        total.unpriced_events += side.unpriced_events
    for day, count in unknown_unpriced.items():
        if day in days:
            days[day].unpriced_events += count

    def row_out(day: str, model: str, side: Side) -> dict[str, Any]:
        return {
            "day": day,
            "model": model,
            "line_items": sorted(side.line_items),
            "billed": money_str(side.billed),
            "recorded": money_str(side.recorded),
            "variance": money_str(side.variance),
            "variance_pct": pct_str(side.variance_pct),
            "events": side.events,
            "unpriced_events": side.unpriced_events,
            "cause": cause_of(side),
        }

    day_rows = []
    for day in sorted(days):
        side = days[day]
        flagged = is_flagged(side, thresholds)
        worst = max(
            ((model, s) for (d, model), s in rows.items() if d == day),
            key=lambda item: (abs(item[1].variance), item[0]),
        )
        cause = cause_of(side if side.unpriced_events and side.variance < 0 else worst[1])
        day_rows.append(
            {
                **row_out(day, "*", side),
                "flagged": flagged,
                "cause": cause if flagged or side.variance else None,
                "cause_detail": f"{worst[0]}: {CAUSE_TEXT[cause]}" if cause else None,
            }
        )
    totals = Side()
    for side in days.values():
        totals.billed += side.billed
        totals.recorded += side.recorded
    return {
        "month": month,
        "provider": provider,
        "currency": "USD",
        "billed": money_str(totals.billed),
        "recorded": money_str(totals.recorded),
        "variance_pct": pct_str(totals.variance_pct),
        "threshold_pct": format(thresholds.variance_pct, "f"),
        "min_cost": money_str(thresholds.min_cost),
        "days": day_rows,
        "rows": [row_out(day, model, rows[day, model]) for day, model in sorted(rows)],
    }


def is_flagged(side: Side, thresholds: Thresholds) -> bool:
    if max(side.billed, side.recorded) < thresholds.min_cost:
        return False
    if side.billed == 0:
        return True  # recorded cost on a day with no bill at all, above the minimum volume
    return abs(side.variance) * HUNDRED > thresholds.variance_pct * side.billed


def recorded_rows(ledger: Ledger, month: str, first: date, last: date) -> list[dict[str, Any]]:
    return ledger.feature_model_days(month, first.isoformat(), last.isoformat())


# --- the stored results -------------------------------------------------------------------------


class ReconciliationStore:
    """The last reconciliation of each provider and month (`RECON#{month}` / `{provider}`). A failed
    fetch keeps the last good result and records the error beside it."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.db = Table(client, table)

    def save(self, result: dict[str, Any], source: str, at: datetime) -> None:
        self.db.put(
            {
                PK: f"{schema.RECONCILIATION}{result['month']}",
                SK: result["provider"],
                **result,
                "source": source,
                "reconciled_at": _iso(at),
                "last_attempt_at": _iso(at),
                "last_error": None,
            }
        )

    def save_error(self, month: str, provider: str, error: str, at: datetime) -> None:
        stored = self.db.get(f"{schema.RECONCILIATION}{month}", provider)
        kept = dict(stored) if stored else {PK: f"{schema.RECONCILIATION}{month}", SK: provider}
        kept.update({"month": month, "provider": provider, "last_attempt_at": _iso(at), "last_error": error})
        self.db.put(kept)

    def month(self, month: str) -> list[dict[str, Any]]:
        items = self.db.query(f"{schema.RECONCILIATION}{month}", ConsistentRead=True)
        return [
            {key: value for key, value in item.items() if key not in (PK, SK)}
            for item in sorted(items, key=lambda item: str(item[SK]))
        ]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def flagged_days(result: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return [day for day in result.get("days", ()) if day.get("flagged")]
