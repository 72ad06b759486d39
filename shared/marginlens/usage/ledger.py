"""The usage ledger on DynamoDB: events, exactly once, and the aggregates reports read.

Ingest writes each event with one conditional Put (`attribute_not_exists`), the events of a batch
concurrently: one write unit per new event, nothing shared between events, so nothing is hot. A
failed condition answers with the stored event (`ReturnValuesOnConditionCheckFailure`), which
tells a duplicate (same content) from a conflict, and our own write whose answer was lost (its
`write_id`) from both. The aggregates follow from the table's stream
(`marginlens.usage.aggregator`): seconds behind, exactly once.

Items (single table, `pk`/`sk`):
  EVENT#{request_id}           EVENT                         one per call, kept permanently
  AGG#CM#{month}               {customer}                    customer per month
  AGG#CD#{month}               {day}#{customer}              customer per day
  AGG#FM#{month}               {feature}#{model}             feature and model per month
  AGG#FD#{month}               {day}#{feature}#{model}       feature and model per day
  AGG#CFD#{month}#{customer}   {day}#{feature}#{model}       one customer's day x feature x model

Day x feature x model items (FD, CFD) also count tokens per half-hour of the day (`s{NN}_{counter}`),
so the simulator prices time-of-day prices at the hour the tokens were used.

Event items also carry GSI keys (see `index_keys`): `by_day` (EVDAY#{day}) on every event, and
the sparse `unpriced` (UNPRICED#{month}) while an event has no cost; repricing reads those.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from marginlens.pricing.types import Price, PriceStatus
from marginlens.storage import schema
from marginlens.storage.dynamodb import (
    GSI1PK,
    GSI1SK,
    GSI2PK,
    GSI2SK,
    PK,
    SK,
    DynamoDBClient,
    backoff,
    day_bounds,
    to_item,
)
from marginlens.storage.table import ConditionFailed, Table
from marginlens.storage.transactions import (
    BACKOFF_BASE_S,
    MAX_ATTEMPTS,
    TransactionWriter,
    Unavailable,
    is_retryable,
)
from marginlens.usage.events import AcceptedEvent

MAX_TRANSACTION_ITEMS = 100
MAX_WRITE_ATTEMPTS = MAX_ATTEMPTS
MAX_CONCURRENT_PUTS = 16  # a batch's Puts in flight at once
# Counters every aggregate item carries; `cost` only ever grows by priced events.
COUNTERS = (
    "events",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cost",
    "unpriced_events",
    "estimated_events",
    "estimated_cost",
    "reported_events",
    "reported_cost",
    "reported_priced_cost",
    "reported_computed_cost",
    "reported_unpriced_events",
)
UNIT_PREFIX = "u_"
SUMMED = (*COUNTERS, "computed_cost")  # `computed_cost`: set on rows read for a report (with_cost_source)

WriteStatus = Literal["created", "duplicate", "conflict"]


# DynamoDB kept refusing a write (throttling, a busy service): that write did not happen.
LedgerUnavailable = Unavailable


@dataclass(frozen=True)
class PricedEvent:
    event: AcceptedEvent
    price: Price

    @property
    def request_id(self) -> str:
        return self.event.request_id

    @property
    def model_key(self) -> str:
        """The model as reports group it: the resolved `provider/model`, else the name as sent."""
        return self.price.ref or self.event.wire.model.lower()


@dataclass(frozen=True)
class WriteOutcome:
    status: WriteStatus
    cost: Decimal | None
    price_status: PriceStatus


@dataclass(frozen=True)
class AggregateKey:
    pk: str
    sk: str
    identity: tuple[tuple[str, str], ...]
    by_slot: bool = False  # also counts tokens per time-of-day slot (the simulator's inputs)


# Time-of-day slots of the day x feature x model items: prices that change with the hour (DeepSeek's
# off-peak hours, on half-hour boundaries) are simulated at the time the tokens were used.
SLOT_MINUTES = 30
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
SLOT_COUNTERS = ("events", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens")


def slot_of(moment: datetime) -> int:
    """The UTC time-of-day slot of `moment`: 0 for 00:00-00:29, 33 for 16:30-16:59."""
    utc = moment.astimezone(UTC)
    return (utc.hour * 60 + utc.minute) // SLOT_MINUTES


def slot_counter(slot: int, counter: str) -> str:
    return f"s{slot:02d}_{counter}"


def with_slot(
    key: AggregateKey, counters: dict[str, Decimal | int], slot: int | None
) -> dict[str, Decimal | int]:
    """What an event adds to one aggregate item: its counters, and on slotted items its slot's too.
    `slot` None: an event stored before slots were kept, counted in no slot."""
    if not key.by_slot or slot is None:
        return counters
    return {
        **counters,
        **{slot_counter(slot, name): value for name, value in counters.items() if value and _by_slot(name)},
    }


def _by_slot(name: str) -> bool:
    """Whether a counter is also kept per slot: the buckets and units, a price tier's too."""
    tier = parse_tier_counter(name)
    name = tier[1] if tier else name
    return name in SLOT_COUNTERS or name.startswith(UNIT_PREFIX)


@dataclass
class Increment:
    identity: dict[str, str]
    counters: dict[str, Decimal | int] = field(default_factory=lambda: defaultdict(int))


def model_key_of(item: dict[str, Any]) -> str:
    """The model a stored event's aggregates are keyed by (as `PricedEvent.model_key` was)."""
    return str(item.get("model_ref") or str(item["model"]).lower())


def month_of(day: date | datetime) -> str:
    return day.strftime("%Y-%m")


EVENT_SK = "EVENT"


def event_pk(request_id: str) -> str:
    return f"{schema.EVENT}{request_id}"


def event_key(request_id: str) -> dict[str, Any]:
    """An event's key as a transaction action writes it (DynamoDB's typed JSON)."""
    return to_item({PK: event_pk(request_id), SK: EVENT_SK})


def aggregate_keys(priced: PricedEvent) -> list[AggregateKey]:
    event = priced.event
    return aggregate_keys_for(
        event.occurred_at.date().isoformat(), event.customer_id, event.wire.feature, priced.model_key
    )


def aggregate_keys_for(day: str, customer: str, feature: str, model: str) -> list[AggregateKey]:
    """The five aggregate items an event of that day, customer, feature and model counts in."""
    month = day[:7]
    who = (("customer_id", customer),)
    what = (("feature", feature), ("model", model))
    when = (("day", day),)
    return [
        AggregateKey(f"{schema.AGG_CUSTOMER_MONTH}{month}", customer, (("month", month), *who)),
        AggregateKey(f"{schema.AGG_CUSTOMER_DAY}{month}", f"{day}#{customer}", when + who),
        AggregateKey(
            f"{schema.AGG_FEATURE_MODEL_MONTH}{month}", f"{feature}#{model}", (("month", month), *what)
        ),
        AggregateKey(
            f"{schema.AGG_FEATURE_MODEL_DAY}{month}", f"{day}#{feature}#{model}", when + what, by_slot=True
        ),
        AggregateKey(
            f"{schema.AGG_CUSTOMER_DETAIL}{month}#{customer}",
            f"{day}#{feature}#{model}",
            when + who + what,
            by_slot=True,
        ),
    ]


def counters_of(priced: PricedEvent) -> dict[str, Decimal | int]:
    event = priced.event
    return counters_for(
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        cached_tokens=event.cached_tokens,
        cache_write_tokens=event.cache_write_tokens,
        cost=priced.price.cost,
        estimated=event.estimated,
        units=event.units,
        price_context=event.price_context,
        provider_cost=event.provider_cost,
    )


def unit_counter(key: str) -> str:
    """The aggregate counter of a billable unit beyond the four buckets (`u_web_searches`)."""
    return f"{UNIT_PREFIX}{key}"


def tier_tag(context: Mapping[str, str]) -> str:
    """A price tier as counters name it: `processing=batch`, `service_tier=flex`."""
    return "+".join(f"{key}={value}" for key, value in sorted(context.items()))


def tier_counter(tag: str, counter: str) -> str:
    """A counter of the events of one price tier only (`t[processing=batch]prompt_tokens`)."""
    return f"t[{tag}]{counter}"


def parse_tier_counter(name: str) -> tuple[str, str] | None:
    if not name.startswith("t[") or "]" not in name:
        return None
    tag, _, counter = name[2:].partition("]")
    return tag, counter


def tier_context(tag: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in tag.split("+") if "=" in part)


def counters_for(
    *,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    cache_write_tokens: int,
    cost: Decimal | None,
    estimated: bool,
    units: Mapping[str, Decimal | int] | None = None,
    price_context: Mapping[str, str] | None = None,
    provider_cost: Decimal | None = None,
) -> dict[str, Decimal | int]:
    """What one event adds to each of its aggregate items (`cost` None: unpriced).

    Units beyond the four buckets count in `u_{key}`; the usage of a price tier (batch, a service
    tier) also counts in `t[{tier}]{counter}`, so the simulator prices each tier with its own
    prices; a cost the provider reported counts in `reported_*` beside the computed one."""
    counters: dict[str, Decimal | int] = {
        "events": 1,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cached_tokens": cached_tokens,
        "cache_write_tokens": cache_write_tokens,
    }
    for key, value in (units or {}).items():
        counters[unit_counter(key)] = value
    if price_context:
        tag = tier_tag(price_context)
        for name in [*SLOT_COUNTERS, *(unit_counter(key) for key in units or {})]:
            counters[tier_counter(tag, name)] = counters[name]
    if cost is None:
        counters["unpriced_events"] = 1
    else:
        counters["cost"] = cost
    if estimated:
        counters["estimated_events"] = 1
        if cost is not None:
            counters["estimated_cost"] = cost
    if provider_cost is not None:
        counters["reported_events"] = 1
        counters["reported_cost"] = provider_cost
        if cost is None:
            counters["reported_unpriced_events"] = 1
        else:  # both figures of the events priced both ways: their difference is like for like
            counters["reported_priced_cost"] = provider_cost
            counters["reported_computed_cost"] = cost
    return counters


CostSource = Literal["computed", "provider"]


def with_cost_source(row: dict[str, Any], source: CostSource) -> dict[str, Any]:
    """An aggregate row whose `cost` is the one `source` says (COST_SOURCE), `computed_cost` ours:
    with `provider`, an event the provider reported a cost for counts at the provider's figure."""
    computed = Decimal(row.get("cost", 0))
    if source == "computed":
        return {**row, "computed_cost": computed}
    reported = Decimal(row.get("reported_cost", 0))
    return {
        **row,
        "computed_cost": computed,
        "cost": computed - Decimal(row.get("reported_computed_cost", 0)) + reported,
        "unpriced_events": int(row.get("unpriced_events", 0)) - int(row.get("reported_unpriced_events", 0)),
    }


def index_keys(timestamp: str, request_id: str, *, unpriced: bool) -> dict[str, str | None]:
    """An event's GSI keys: `by_day` always, `unpriced` (sparse) only while it has no cost."""
    sort_key = f"{timestamp}#{request_id}"
    return {
        GSI1PK: f"{schema.EVENTS_BY_DAY}{timestamp[:10]}",
        GSI1SK: sort_key,
        GSI2PK: f"{schema.UNPRICED}{timestamp[:7]}" if unpriced else None,
        GSI2SK: sort_key if unpriced else None,
    }


def event_item(
    priced: PricedEvent, write_id: str, received_at: datetime, key_id: str | None
) -> dict[str, Any]:
    event, price, wire = priced.event, priced.price, priced.event.wire
    timestamp = event.occurred_at.isoformat().replace("+00:00", "Z")
    return {
        PK: event_pk(event.request_id),
        SK: EVENT_SK,
        **index_keys(timestamp, event.request_id, unpriced=price.cost is None),
        "request_id": event.request_id,
        "customer_id": event.customer_id,
        "model": wire.model,
        "provider": wire.provider,
        "model_ref": price.ref,
        "price_version": price.source,
        "feature": wire.feature,
        "timestamp": timestamp,
        "timestamp_given": wire.timestamp is not None,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "cached_tokens": event.cached_tokens,
        "cache_write_tokens": event.cache_write_tokens,
        "estimated": event.estimated,
        "cost": price.cost,
        "currency": "USD",
        "price_status": price.status,
        "price_source": price.source,
        "unit_prices_per_mtok": price.unit_prices or None,
        "revenue_amount": wire.revenue_amount,
        "revenue_currency": wire.revenue_currency.upper() if wire.revenue_currency else None,
        "metadata": wire.metadata or None,
        "units": event.units or None,
        "price_context": event.price_context or None,
        "provider_cost": event.provider_cost,
        "unpriced_units": list(price.unpriced_units) or None,
        "api_flavor": event.api_flavor,
        "usage": wire.usage if event.api_flavor else None,  # the provider's object, for audit
        "content_hash": event.content_hash,
        "slot": slot_of(event.occurred_at),  # its tokens count in this slot of its day items
        "write_id": write_id,
        "received_at": received_at.isoformat().replace("+00:00", "Z"),
        "key_id": key_id,
    }


def update_action(table: str, pk: str, sk: str, increment: Increment) -> dict[str, Any]:
    # Few clauses on purpose: the identity goes in one map; the caller leaves out what nothing moved.
    names: dict[str, str] = {"#dims": "dims"}
    values: dict[str, Any] = {":dims": increment.identity}
    adds = []
    for index, (name, value) in enumerate(increment.counters.items()):
        names[f"#c{index}"] = name
        values[f":c{index}"] = value
        adds.append(f"#c{index} :c{index}")
    return {
        "Update": {
            "TableName": table,
            "Key": to_item({PK: pk, SK: sk}),
            "UpdateExpression": f"SET #dims = :dims ADD {', '.join(adds)}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
    }


class Ledger:
    """`before_read`: called before each aggregate read; what lets a caller see its own writes in
    the aggregates (the local stack and tests catch the aggregator up; see `usage.freshness`)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        max_write_attempts: int = MAX_WRITE_ATTEMPTS,
        backoff_base_s: float = BACKOFF_BASE_S,
        before_read: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.max_write_attempts = max_write_attempts
        self.backoff_base_s = backoff_base_s
        self.writer = TransactionWriter(
            client, max_attempts=max_write_attempts, backoff_base_s=backoff_base_s
        )
        self.db = Table(client, table, writer=self.writer)
        self.before_read = before_read

    # --- writes -------------------------------------------------------------------------------

    def record(
        self, events: Sequence[PricedEvent], key_id: str | None = None, arrived_at: datetime | None = None
    ) -> list[WriteOutcome]:
        """Write each event once (one conditional Put each, concurrently). Outcomes in input order.
        `arrived_at`: when the request reached the API; each event keeps its `ingest_ms` from then
        to its Put (usage.latency)."""
        write_id = uuid.uuid4().hex
        received_at = datetime.now(UTC)
        arrived_at = arrived_at or received_at
        first_index: dict[str, int] = {}
        repeats: list[int] = []
        for index, priced in enumerate(events):
            if priced.request_id in first_index:
                repeats.append(index)
            else:
                first_index[priced.request_id] = index
        unique = [events[index] for index in first_index.values()]

        def put(priced: PricedEvent) -> WriteOutcome:
            return self._put(priced, write_id, received_at, key_id, arrived_at)

        written = [put(unique[0])] if len(unique) == 1 else list(_executor().map(put, unique))
        outcomes = {
            first_index[priced.request_id]: outcome for priced, outcome in zip(unique, written, strict=True)
        }
        for index in repeats:  # the same request_id twice in one batch: judged against what is stored
            stored = self.get_event(events[index].request_id)
            outcomes[index] = self._judge(events[index], stored, write_id=None)
        return [outcomes[index] for index in range(len(events))]

    def _put(
        self,
        priced: PricedEvent,
        write_id: str,
        received_at: datetime,
        key_id: str | None,
        arrived_at: datetime,
    ) -> WriteOutcome:
        item = event_item(priced, write_id, received_at, key_id)
        item["ingest_ms"] = max(0, round((datetime.now(UTC) - arrived_at).total_seconds() * 1000))
        attempt = 0
        while True:
            try:
                self.db.put(item, condition="attribute_not_exists(pk)", return_old=True)
                return WriteOutcome("created", priced.price.cost, priced.price.status)
            except ConditionFailed as failed:
                stored = failed.item if failed.item is not None else self.get_event(priced.request_id)
                return self._judge(priced, stored, write_id)
            except Exception as error:
                if not is_retryable(error):
                    raise
                attempt += 1
                if attempt >= self.max_write_attempts:
                    raise LedgerUnavailable(
                        f"DynamoDB refused event {priced.request_id} {attempt} times"
                    ) from error
                backoff(attempt, self.backoff_base_s)

    @staticmethod
    def _judge(priced: PricedEvent, stored: dict[str, Any] | None, write_id: str | None) -> WriteOutcome:
        if stored is None:  # cannot happen after a failed condition; refuse rather than guess
            raise LedgerUnavailable(f"event {priced.request_id} vanished after a conditional failure")
        cost = stored.get("cost")
        status: PriceStatus = stored["price_status"]
        if write_id is not None and stored.get("write_id") == write_id:
            # Our own earlier attempt committed and its response was lost: it is ours, created once.
            return WriteOutcome("created", cost, status)
        if stored.get("content_hash") in (priced.event.content_hash, priced.event.wire.legacy_content_hash()):
            return WriteOutcome("duplicate", cost, status)
        return WriteOutcome("conflict", cost, status)

    # --- reads --------------------------------------------------------------------------------

    def get_event(self, request_id: str) -> dict[str, Any] | None:
        return self.db.get(event_pk(request_id), EVENT_SK)

    def _aggregates(self, pk: str, **extra: Any) -> list[dict[str, Any]]:
        """Aggregate rows with their identity (`dims`) flattened into the row."""
        if self.before_read is not None:
            self.before_read()
        return [{**row.pop("dims", {}), **row} for row in self.db.query(pk, **extra)]

    def customer_month(self, month: str) -> list[dict[str, Any]]:
        return self._aggregates(f"{schema.AGG_CUSTOMER_MONTH}{month}")

    def customer_days(self, month: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
        return self._days(f"{schema.AGG_CUSTOMER_DAY}{month}", first_day, last_day)

    def feature_model_month(self, month: str) -> list[dict[str, Any]]:
        return self._aggregates(f"{schema.AGG_FEATURE_MODEL_MONTH}{month}")

    def feature_model_days(self, month: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
        return self._days(f"{schema.AGG_FEATURE_MODEL_DAY}{month}", first_day, last_day)

    def customer_detail_days(
        self, month: str, customer_id: str, first_day: str, last_day: str
    ) -> list[dict[str, Any]]:
        return self._days(f"{schema.AGG_CUSTOMER_DETAIL}{month}#{customer_id}", first_day, last_day)

    def latency_days(self, month: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
        """Ingestion-latency histograms of the days (usage.latency)."""
        return self._days(f"{schema.AGG_INGEST_LATENCY}{month}", first_day, last_day)

    def _days(self, pk: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
        return self._aggregates(
            pk,
            and_sk=" AND #sk BETWEEN :first AND :last",
            names={"#sk": SK},
            values=day_bounds(first_day, last_day),
        )


def sum_counters(rows: Iterable[dict[str, Any]]) -> dict[str, Decimal]:
    totals = dict.fromkeys(SUMMED, Decimal(0))
    for row in rows:
        for name in SUMMED:
            totals[name] += Decimal(row.get(name, 0))
    return totals


_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One pool per process for the Puts of a batch (boto3 clients are safe across threads)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(MAX_CONCURRENT_PUTS, thread_name_prefix="ledger-put")
        return _EXECUTOR
