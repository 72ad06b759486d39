"""Ingestion: validate each event, price it, write the batch once, and say what happened to each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from marginlens.core.money import money_str
from marginlens.core.observability import logger, metrics
from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceBook
from marginlens.usage.events import MAX_BATCH, AcceptedEvent, FieldError, accept
from marginlens.usage.ledger import Ledger, PricedEvent
from marginlens.usage.revenue import stored_time, usage_document, usage_revenue_error

if TYPE_CHECKING:
    from marginlens.revenue.ledger import RevenueLedger


class BatchTooLarge(Exception):
    pass


class NotAnEventPayload(Exception):
    def __init__(self, error: FieldError) -> None:
        super().__init__(error.detail)
        self.error = error


@dataclass(frozen=True)
class IngestResult:
    single: bool
    results: list[dict[str, Any]]
    field_errors: list[FieldError]

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result["status"] == status)

    @property
    def status_code(self) -> int:
        if self.single:
            return {"created": 200, "duplicate": 200, "conflict": 409}.get(self.results[0]["status"], 422)
        return 200 if self.count("created") or self.count("duplicate") else 422

    def body(self) -> dict[str, Any]:
        return {
            "created": self.count("created"),
            "duplicates": self.count("duplicate"),
            "conflicts": self.count("conflict"),
            "rejected": self.count("rejected"),
            "results": self.results,
        }

    def errors(self) -> list[dict[str, str]]:
        return [error.as_dict() for error in self.field_errors]


def split_payload(payload: Any) -> tuple[list[Any], bool, str]:
    """The raw events, whether it was a single event, and the pointer prefix of each event."""
    if isinstance(payload, dict) and "events" in payload:
        events = payload["events"]
        if not isinstance(events, list):
            raise NotAnEventPayload(FieldError("/events", "events must be an array of event objects"))
        if set(payload) != {"events"}:
            extra = sorted(set(payload) - {"events"})[0]
            raise NotAnEventPayload(FieldError(f"/{extra}", "a batch holds only `events`"))
        if not events:
            raise NotAnEventPayload(FieldError("/events", "events must hold at least one event"))
        if len(events) > MAX_BATCH:
            raise BatchTooLarge(f"a batch holds at most {MAX_BATCH} events; got {len(events)}")
        return events, False, "/events"
    if isinstance(payload, dict):
        return [payload], True, ""
    raise NotAnEventPayload(FieldError("", 'the body must be an event object or {"events": [...]}'))


def price_event(book: PriceBook, event: AcceptedEvent) -> PricedEvent:
    wire = event.wire
    price = book.price(
        wire.model,
        wire.provider,
        input_tokens=event.prompt_tokens,
        output_tokens=event.completion_tokens,
        cache_read_tokens=event.cached_tokens,
        cache_write_tokens=event.cache_write_tokens,
        at=event.occurred_at,
        estimated=event.estimated,
        units=event.units,
        context=event.price_context,
    )
    return PricedEvent(event, price)


def ingest(
    payload: Any,
    *,
    settings: Settings,
    ledger: Ledger,
    prices: PriceBook,
    now: datetime,
    key_id: str | None,
    revenue: RevenueLedger | None = None,
    arrived_at: datetime | None = None,
) -> IngestResult:
    """`revenue` books events' `revenue_amount`; default: the revenue ledger in the ledger's table.
    `arrived_at`: when the request reached the API (its ingestion latency is measured from then)."""
    raw_events, single, prefix = split_payload(payload)
    results: dict[int, dict[str, Any]] = {}
    field_errors: list[FieldError] = []
    priced: list[tuple[int, PricedEvent]] = []
    for index, raw in enumerate(raw_events):
        event_prefix = prefix if single else f"{prefix}/{index}"
        accepted, errors = accept(raw, settings, now, event_prefix)
        revenue_error = usage_revenue_error(accepted.wire) if accepted else None
        if accepted is not None and revenue_error is not None:
            accepted, errors = None, [FieldError(f"{event_prefix}/revenue_amount", revenue_error)]
        if accepted is None:
            request_id = raw.get("request_id") if isinstance(raw, dict) else None
            results[index] = {
                "index": index,
                "request_id": request_id if isinstance(request_id, str) else None,
                "status": "rejected",
                "error": errors[0].as_dict(),
            }
            field_errors += errors
        else:
            priced.append((index, price_event(prices, accepted)))

    outcomes = (
        ledger.record([event for _, event in priced], key_id=key_id, arrived_at=arrived_at) if priced else []
    )
    for (index, event), outcome in zip(priced, outcomes, strict=True):
        results[index] = {
            "index": index,
            "request_id": event.request_id,
            "status": outcome.status,
            "cost": money_str(outcome.cost) if outcome.cost is not None else None,
            "currency": "USD",
            "price_status": outcome.price_status,
        }
        if outcome.status == "created":
            logger.info(
                "usage event recorded",
                request_id=event.request_id,
                customer_id=event.event.customer_id,
                model=event.event.wire.model,
                model_ref=event.price.ref,
                feature=event.event.wire.feature,
                prompt_tokens=event.event.prompt_tokens,
                completion_tokens=event.event.completion_tokens,
                cost=results[index]["cost"],
                price_status=outcome.price_status,
            )
    # Per-event revenue: one revenue document per event (`usage:{request_id}`), upserted by state, so
    # a duplicate of the event is the same document. Duplicates are upserted too (on the stored
    # event's day): that repairs a document lost if the function stopped right after the events.
    for (_, event), outcome in zip(priced, outcomes, strict=True):
        if event.event.wire.revenue_amount is None or outcome.status not in ("created", "duplicate"):
            continue
        at = stored_time(ledger.get_event(event.request_id)) if outcome.status == "duplicate" else None
        document = usage_document(event.event, at)
        if document is not None:
            if revenue is None:  # the revenue area loads with the first event that carries revenue
                from marginlens.revenue.customers import CustomerStore
                from marginlens.revenue.ledger import RevenueLedger

                revenue = RevenueLedger(
                    ledger.client, ledger.table, CustomerStore(ledger.client, ledger.table)
                )
            revenue.upsert(document)
    ordered = [results[index] for index in range(len(raw_events))]
    result = IngestResult(single, ordered, field_errors)
    for status, name in (
        ("created", "EventsCreated"),
        ("duplicate", "EventsDuplicate"),
        ("conflict", "EventsConflict"),
        ("rejected", "EventsRejected"),
    ):
        if result.count(status):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=result.count(status))
    unpriced = sum(1 for r in ordered if r["status"] == "created" and r.get("price_status") == "unpriced")
    if unpriced:
        metrics.add_metric(name="UnpricedEvents", unit=MetricUnit.Count, value=unpriced)
    return result
