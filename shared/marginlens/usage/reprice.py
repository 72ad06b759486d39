"""Repricing: recompute stored events' costs with today's price table, and move the difference
into the aggregates exactly once.

Each changed event is a compare-and-swap. Its Update is conditioned on the `revision` read
(absent on an event never repriced) and bumps it; the aggregate ADDs in the same transaction move
exactly the difference between the state read and the new one (when the model an event is
grouped under changes, its counters move from the old model's items to the new one's). So the
aggregates always equal the sum of what each event's current state contributes, however many
reprices run, one after another or at the same time: a reprice that lost a race sees its
condition fail, reads the event again and finds nothing left to do. Every change to an event's
price goes through here and bumps `revision`; nothing else updates event items.

Events are found through the table's GSIs, never a Scan: `by_day` for every event of a range, the
sparse `unpriced` for only the unpriced ones (see `ledger.index_keys`).
"""

from __future__ import annotations

import calendar
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from marginlens.core.money import money_str
from marginlens.pricing.book import PriceBook
from marginlens.pricing.types import Price
from marginlens.storage import schema
from marginlens.storage.dynamodb import (
    BY_DAY_INDEX,
    GSI1PK,
    GSI2PK,
    GSI2SK,
    PK,
    UNPRICED_INDEX,
    DynamoDBClient,
    day_bounds,
    from_item,
    to_item,
)
from marginlens.storage.table import ConditionFailed, Table
from marginlens.storage.transactions import BACKOFF_BASE_S, ConditionsFailed, TransactionWriter
from marginlens.usage.ledger import (
    EVENT_SK,
    MAX_TRANSACTION_ITEMS,
    MAX_WRITE_ATTEMPTS,
    LedgerUnavailable,
    _Increment,
    _update_action,
    aggregate_keys_for,
    counters_for,
    event_key,
    event_pk,
    index_keys,
    with_slot,
)

PAGE_SIZE = 100  # events read (and then written) per step: bounded memory and transactions
ZERO = Decimal(0)


@dataclass
class RepriceReport:
    first_day: date
    last_day: date
    only_unpriced: bool
    price_table: str  # the upstream snapshot version the book was built from
    repriced_at: datetime
    events_examined: int = 0
    events_changed: int = 0
    old_cost: Decimal = ZERO  # of the changed events, before (unpriced counts as zero)
    new_cost: Decimal = ZERO  # of the changed events, after
    unpriced_before: int = 0  # among the examined events
    unpriced_after: int = 0
    complete: bool = True  # False: stopped at the deadline; run again from `next_from`
    next_from: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()},
            "only_unpriced": self.only_unpriced,
            "price_table": self.price_table,
            "repriced_at": _iso(self.repriced_at),
            "events_examined": self.events_examined,
            "events_changed": self.events_changed,
            "old_cost": money_str(self.old_cost),
            "new_cost": money_str(self.new_cost),
            "cost_delta": money_str(self.new_cost - self.old_cost),
            "unpriced_before": self.unpriced_before,
            "unpriced_after": self.unpriced_after,
            "complete": self.complete,
            "next_from": self.next_from.isoformat() if self.next_from else None,
        }


@dataclass(frozen=True)
class _Change:
    """An event as read, and its price with today's table (which differs from the stored one)."""

    item: dict[str, Any]
    price: Price
    rereads: int = 0

    @property
    def request_id(self) -> str:
        return str(self.item["request_id"])

    @property
    def revision(self) -> int:
        return _revision(self.item)

    @property
    def moves_model(self) -> bool:
        return _model_key(self.item) != (self.price.ref or str(self.item["model"]).lower())


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _revision(item: dict[str, Any]) -> int:
    return int(item.get("revision", 0))


def _model_key(item: dict[str, Any]) -> str:
    """The model the event's aggregates are keyed by (as `PricedEvent.model_key` was at ingest)."""
    return str(item.get("model_ref") or str(item["model"]).lower())


def price_of(book: PriceBook, item: dict[str, Any]) -> Price:
    """A stored event's price with `book`, from its token buckets and time, as ingest prices it."""
    return book.price(
        str(item["model"]),
        item.get("provider"),
        input_tokens=int(item["prompt_tokens"]),
        output_tokens=int(item["completion_tokens"]),
        cache_read_tokens=int(item["cached_tokens"]),
        cache_write_tokens=int(item["cache_write_tokens"]),
        at=datetime.fromisoformat(str(item["timestamp"])),
        estimated=bool(item.get("estimated", False)),
    )


def is_current(item: dict[str, Any], price: Price) -> bool:
    """Whether the stored event already carries this price (cost, status and model)."""
    return (
        item.get("cost") == price.cost
        and item.get("price_status") == price.status
        and item.get("model_ref") == price.ref
    )


def _contribution(
    item: dict[str, Any], cost: Decimal | None, model: str
) -> tuple[list[Any], dict[str, Any], int | None]:
    day = str(item["timestamp"])[:10]
    keys = aggregate_keys_for(day, str(item["customer_id"]), str(item["feature"]), model)
    counters = counters_for(
        prompt_tokens=int(item["prompt_tokens"]),
        completion_tokens=int(item["completion_tokens"]),
        cached_tokens=int(item["cached_tokens"]),
        cache_write_tokens=int(item["cache_write_tokens"]),
        cost=cost,
        estimated=bool(item.get("estimated", False)),
    )
    # Events stored before slots were kept carry no `slot`: they count in none, before and after.
    slot = int(item["slot"]) if item.get("slot") is not None else None
    return keys, counters, slot


def _add_deltas(summed: dict[tuple[str, str], _Increment], change: _Change) -> None:
    """What the change moves: minus the stored state's contribution, plus the new one's."""
    old = _contribution(change.item, change.item.get("cost"), _model_key(change.item))
    new = _contribution(change.item, change.price.cost, change.price.ref or str(change.item["model"]).lower())
    for (keys, counters, slot), sign in ((old, -1), (new, 1)):
        for key in keys:
            increment = summed.setdefault((key.pk, key.sk), _Increment(dict(key.identity)))
            for name, value in with_slot(key, counters, slot).items():
                increment.counters[name] += sign * value


def aggregate_deltas(changes: Sequence[_Change]) -> dict[tuple[str, str], _Increment]:
    """Pre-summed per aggregate item (a transaction may touch an item once); no-op items left out."""
    summed: dict[tuple[str, str], _Increment] = {}
    for change in changes:
        _add_deltas(summed, change)
    for increment in summed.values():
        for name in [name for name, value in increment.counters.items() if value == 0]:
            del increment.counters[name]
    return {key: increment for key, increment in summed.items() if increment.counters}


def _distinct_items(change: _Change) -> set[tuple[str, str]]:
    summed: dict[tuple[str, str], _Increment] = {}
    _add_deltas(summed, change)
    return set(summed)


class Repricer:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        book: PriceBook,
        report: RepriceReport,
        *,
        page_size: int = PAGE_SIZE,
        max_write_attempts: int = MAX_WRITE_ATTEMPTS,
        backoff_base_s: float = BACKOFF_BASE_S,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.table = table
        self.book = book
        self.report = report
        self.page_size = page_size
        self.max_write_attempts = max_write_attempts  # also bounds the re-reads of one event
        self.writer = TransactionWriter(
            client, max_attempts=max_write_attempts, backoff_base_s=backoff_base_s
        )
        self.db = Table(client, table, writer=self.writer)
        self.deadline = deadline  # on `clock`: no new page is started after it
        self.clock = clock
        self.run_id = uuid.uuid4().hex  # marks our writes: a lost response is still recognised as ours

    # --- reading ------------------------------------------------------------------------------

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        report = self.report
        if report.only_unpriced:
            bounds = day_bounds(report.first_day.isoformat(), report.last_day.isoformat())
            for month in _months(report.first_day, report.last_day):
                yield from self._query(
                    UNPRICED_INDEX,
                    "#pk = :pk AND #sk BETWEEN :first AND :last",
                    {"#pk": GSI2PK, "#sk": GSI2SK},
                    {":pk": f"{schema.UNPRICED}{month}", **bounds},
                )
        else:
            day = report.first_day
            while day <= report.last_day:
                yield from self._query(
                    BY_DAY_INDEX, "#pk = :pk", {"#pk": GSI1PK}, {":pk": f"{schema.EVENTS_BY_DAY}{day}"}
                )
                day += timedelta(days=1)

    def _query(
        self, index: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> Iterator[list[dict[str, Any]]]:
        return self.db.query_index(index, condition, names, values, self.page_size)

    # --- one page -----------------------------------------------------------------------------

    def run(self) -> RepriceReport:
        for page in self.pages():
            if self.deadline is not None and self.clock() >= self.deadline:
                # Pages go in time order: everything before this event's day is done.
                self.report.complete = False
                self.report.next_from = date.fromisoformat(str(page[0]["timestamp"])[:10])
                break
            changes = []
            for item in page:
                self.report.events_examined += 1
                self.report.unpriced_before += item.get("price_status") == "unpriced"
                price = price_of(self.book, item)
                if is_current(item, price):
                    self._settled(item)
                else:
                    changes.append(_Change(item, price))
            self.apply(changes)
        return self.report

    def _settled(self, item: dict[str, Any]) -> None:
        """An examined event that needs no (more) change from us."""
        self.report.unpriced_after += item.get("price_status") == "unpriced"

    def _applied(self, change: _Change) -> None:
        self.report.events_changed += 1
        self.report.old_cost += change.item.get("cost") or ZERO
        self.report.new_cost += change.price.cost or ZERO
        self.report.unpriced_after += change.price.status == "unpriced"

    # --- writing ------------------------------------------------------------------------------

    def apply(self, changes: Sequence[_Change]) -> None:
        queue = deque(changes)
        while queue:
            group: list[_Change] = []
            touched: set[tuple[str, str]] = set()
            while queue:
                items = _distinct_items(queue[0])
                if group and len(group) + 1 + len(touched | items) > MAX_TRANSACTION_ITEMS:
                    break
                group.append(queue.popleft())
                touched |= items
            # Events whose condition failed come back re-read (or settled); the group is re-planned.
            queue.extendleft(reversed(self._write(group)))

    def _write(self, group: list[_Change]) -> list[_Change]:
        """Write the group in one transaction; the changes still to do if some event had moved on."""
        repriced_at = _iso(self.report.repriced_at)
        actions: list[Any] = [self._event_update(change, repriced_at) for change in group]
        actions += [
            _update_action(self.table, pk, sk, increment)
            for (pk, sk), increment in aggregate_deltas(group).items()
        ]
        try:
            # botocore fills in ClientRequestToken: its own retries of this call cannot apply it twice.
            self.writer.write(actions)
        except ConditionsFailed as failed:
            changed = {index for index in failed.failed() if index < len(group)}
            if not changed:  # only aggregates' conditions (there are none): nothing to re-read
                raise LedgerUnavailable("a reprice's condition failed on no event") from failed
            return self._reread(group, changed, failed.reasons)
        for change in group:
            self._applied(change)
        self._drop_emptied(group)
        return []

    def _reread(self, group: list[_Change], failed: set[int], reasons: list[dict[str, Any]]) -> list[_Change]:
        """Someone changed these events since we read them: start again from what is stored now."""
        again: list[_Change] = []
        for index, change in enumerate(group):
            if index not in failed:
                again.append(change)  # cancelled only because of the others: retried as it was
                continue
            reason = reasons[index]
            current = from_item(reason["Item"]) if reason.get("Item") else self._get(change.request_id)
            if current is None:  # events are never deleted; nothing to move if one were
                continue
            if current.get("repriced_by") == self.run_id and _revision(current) == change.revision + 1:
                self._applied(change)  # our own earlier attempt committed and its answer was lost
                continue
            price = price_of(self.book, current)
            if is_current(current, price):
                self._settled(current)  # another reprice did it
                continue
            if change.rereads + 1 >= self.max_write_attempts:
                raise LedgerUnavailable(f"event {change.request_id} kept changing while it was repriced")
            again.append(_Change(current, price, change.rereads + 1))
        return again

    def _get(self, request_id: str) -> dict[str, Any] | None:
        return self.db.get(event_pk(request_id), EVENT_SK)

    def _event_update(self, change: _Change, repriced_at: str) -> dict[str, Any]:
        item, price = change.item, change.price
        unpriced = price.cost is None
        names = {"#pk": PK, "#rev": "revision"}
        values: dict[str, Any] = {":next": change.revision + 1}
        sets = ["#rev = :next"]
        removes: list[str] = []
        index = index_keys(str(item["timestamp"]), change.request_id, unpriced=unpriced)
        fields: dict[str, Any] = {
            "cost": price.cost,
            "price_status": price.status,
            "price_source": price.source,
            "price_version": price.source,
            "unit_prices_per_mtok": price.unit_prices or None,
            "model_ref": price.ref,
            "repriced_at": repriced_at,
            "repriced_by": self.run_id,
            GSI2PK: index[GSI2PK],  # in the sparse `unpriced` index only while unpriced
            GSI2SK: index[GSI2SK],
        }
        for number, (name, value) in enumerate(fields.items()):
            names[f"#f{number}"] = name
            if value is None:
                removes.append(f"#f{number}")
            else:
                values[f":f{number}"] = value
                sets.append(f"#f{number} = :f{number}")
        if change.revision:
            condition = "attribute_exists(#pk) AND #rev = :rev"
            values[":rev"] = change.revision
        else:
            condition = "attribute_exists(#pk) AND attribute_not_exists(#rev)"
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        return {
            "Update": {
                "TableName": self.table,
                "Key": event_key(change.request_id),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _drop_emptied(self, group: list[_Change]) -> None:
        """Delete the old model's aggregate items the moved events left empty (events = 0).

        Conditional: an item another event counts in meanwhile stays; an event counted later
        simply creates it again. Without this, reports would list the old model with zeros.
        """
        candidates = {
            (key.pk, key.sk)
            for change in group
            if change.moves_model
            for key in aggregate_keys_for(
                str(change.item["timestamp"])[:10],
                str(change.item["customer_id"]),
                str(change.item["feature"]),
                _model_key(change.item),
            )
            if key.pk.startswith(
                (schema.AGG_FEATURE_MODEL_MONTH, schema.AGG_FEATURE_MODEL_DAY, schema.AGG_CUSTOMER_DETAIL)
            )
        }
        for pk, sk in sorted(candidates):
            with contextlib.suppress(ConditionFailed):  # counted in again meanwhile: it stays
                self.db.delete(
                    pk, sk, condition="#events = :zero", names={"#events": "events"}, values={":zero": 0}
                )


def _months(first_day: date, last_day: date) -> list[str]:
    months = []
    start = first_day.replace(day=1)
    while start <= last_day:
        months.append(start.strftime("%Y-%m"))
        start += timedelta(days=calendar.monthrange(start.year, start.month)[1])
    return months


def reprice(
    client: DynamoDBClient,
    table: str,
    book: PriceBook,
    *,
    first_day: date,
    last_day: date,
    only_unpriced: bool,
    now: datetime,
    page_size: int = PAGE_SIZE,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RepriceReport:
    """Reprice the events of `first_day`..`last_day` (UTC, inclusive), or only the unpriced ones.

    Safe to run again, or several times at once: each event's change reaches the aggregates once.
    Past `deadline` (a `clock` reading) no new page is started and the report says where to resume.
    """
    if last_day < first_day:
        raise ValueError("last_day must not be before first_day")
    report = RepriceReport(first_day, last_day, only_unpriced, book.info.version, now)
    return Repricer(client, table, book, report, page_size=page_size, deadline=deadline, clock=clock).run()
