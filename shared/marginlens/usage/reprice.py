"""Repricing: recompute stored events' costs with today's price table. Only events are rewritten:
the aggregator (`marginlens.usage.aggregator`) moves the difference between each event's old and
new state into the aggregates, exactly once, from the stream.

Each changed event is a compare-and-swap. Its Update is conditioned on the `revision` read
(absent on an event never repriced) and bumps it, so however many reprices run, one after another
or at the same time, a reprice that lost a race sees its condition fail, reads the event again and
finds nothing left to do. Every change to an event's price goes through here and bumps
`revision`; nothing else updates event items.

Events are found through the table's GSIs, never a Scan: `by_day` for every event of a range, the
sparse `unpriced` for only the unpriced ones (see `ledger.index_keys`).
"""

from __future__ import annotations

import calendar
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
)
from marginlens.storage.table import ConditionFailed, Table
from marginlens.storage.transactions import BACKOFF_BASE_S, TransactionWriter
from marginlens.usage.ledger import (
    EVENT_SK,
    MAX_WRITE_ATTEMPTS,
    LedgerUnavailable,
    event_pk,
    index_keys,
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


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _revision(item: dict[str, Any]) -> int:
    return int(item.get("revision", 0))


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
        units=item.get("units") or None,
        context=item.get("price_context") or None,
    )


def is_current(item: dict[str, Any], price: Price) -> bool:
    """Whether the stored event already carries this price (cost, status and model)."""
    return (
        item.get("cost") == price.cost
        and item.get("price_status") == price.status
        and item.get("model_ref") == price.ref
    )


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
            change = queue.popleft()
            again = self._write(change)
            if again is not None:  # the event moved on since it was read: re-planned from its state
                queue.appendleft(again)

    def _write(self, change: _Change) -> _Change | None:
        """Write one event's new price; the change still to do if the event had moved on."""
        update = self._event_update(change, _iso(self.report.repriced_at))
        try:
            self.db.update(event_pk(change.request_id), EVENT_SK, **update, return_old=True)
        except ConditionFailed as failed:
            return self._reread(change, failed.item)
        self._applied(change)
        return None

    def _reread(self, change: _Change, current: dict[str, Any] | None) -> _Change | None:
        """Someone changed this event since we read it: start again from what is stored now."""
        if current is None:
            current = self._get(change.request_id)
        if current is None:  # events are never deleted; nothing to do if one were
            return None
        if current.get("repriced_by") == self.run_id and _revision(current) == change.revision + 1:
            self._applied(change)  # our own earlier attempt committed and its answer was lost
            return None
        price = price_of(self.book, current)
        if is_current(current, price):
            self._settled(current)  # another reprice did it
            return None
        if change.rereads + 1 >= self.max_write_attempts:
            raise LedgerUnavailable(f"event {change.request_id} kept changing while it was repriced")
        return _Change(current, price, change.rereads + 1)

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
            "unpriced_units": list(price.unpriced_units) or None,
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
        return {"expression": expression, "condition": condition, "names": names, "values": values}


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
