"""The revenue ledger: each document's current state, and what it recognises month by month.

A document is upserted by its own id; what it recognises is *replaced*, never added to, so a
duplicate, a retry or any arrival order ends in the same place. One transaction writes the
document (guarded by its revision) with its month items, so readers never see half a change.

Items:
  REVDOC#{key}           DOC                  the document's state, revision, months
  REV#M#{month}          {key}                its runs in that month (per-day amounts), customer
  REVUNMAPPED            {stripe customer}#{key}  while its Stripe customer is unmapped
  REVPENDING#{invoice}   {key}                a refund or credit waiting for its invoice
  REVSTRIPECUST#{stripe customer}  {key}      every document of a Stripe customer, and whom it is
                                              attributed to: a remap moves all of them
  STRIPEEVT#{event id}   EVT                  Stripe events already handled (30 days)

Reports read the month partitions of a period: one query per month, items per document, never
per usage event. (Month items written before 0.2 have the sort key `{customer}#{currency}#{key}`;
the document lists its items' keys, so the next write of the document replaces them.)

Which state wins: a later source time (`version_time`), and at an equal one the state further
along its lifecycle (`RevenueDocument.progress`), then the larger content digest, so any arrival
order of the same states ends in the same place.

Long documents: a write is one transaction when it fits DynamoDB's 100 actions. A longer one (a
service period of years, re-attributed) is written in several, fenced by the document's revision:
the document is first stored with `writing` set and the keys of both its old and new month items,
each further transaction is fenced by that revision, and the last write clears `writing`. Another writer that
comes meanwhile deletes every listed item it does not keep, so nothing stale survives; a write
interrupted half-way is finished by the next upsert of the document (a redelivery), which does
not take a `writing` document for `unchanged`.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from marginlens.core.identifiers import UNMAPPED_PREFIX
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.recognition import Run, month_key, recognise_against, sum_range
from marginlens.storage import schema
from marginlens.storage.dynamodb import (
    PK,
    RETRYABLE_ERRORS,
    SK,
    DynamoDBClient,
    backoff,
    to_item,
)
from marginlens.storage.table import ConditionFailed, Table
from marginlens.storage.transactions import ConditionsFailed

MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 0.025
EVENT_MEMORY_DAYS = 30
MAX_TRANSACTION_ACTIONS = 100
LINES_INLINE_BYTES = 64 * 1024  # more lines than this (as JSON) are stored compressed
MAX_PACKED_LINES_BYTES = 300 * 1024  # leaves room in the 400 KB item for the rest of the document
UpsertStatus = Literal["created", "updated", "unchanged", "stale"]


@dataclass(frozen=True)
class UpsertResult:
    status: UpsertStatus
    customer_id: str | None  # None while the Stripe customer is unmapped
    awaiting_original: bool = False


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _document_fields(doc: RevenueDocument) -> dict[str, Any]:
    return {
        "source": doc.source,
        "kind": doc.kind,
        "id": doc.id,
        "customer_ref": doc.customer_ref,
        "currency": doc.currency,
        "lines": [_line_fields(line) for line in doc.lines],
        "occurred_at": _iso(doc.occurred_at),
        "status": doc.status,
        "related_id": doc.related_id,
        "version_time": _iso(doc.version_time),
    }


def _line_fields(line: RevenueLine) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "amount_minor": line.amount_minor,
        "period_start": line.period_start.isoformat() if line.period_start else None,
        "period_end": line.period_end.isoformat() if line.period_end else None,
    }
    # Only when present: documents stored before lines had ids keep their fingerprints.
    if line.id is not None:
        fields["id"] = line.id
    if line.credits_line is not None:
        fields["credits_line"] = line.credits_line
    return fields


def _content_digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def supersedes(new: RevenueDocument, stored: RevenueDocument) -> bool:
    """Whether `new` may replace `stored`: the rule that makes any delivery order converge."""
    if new.version_time is None or stored.version_time is None:
        return True  # no source clock (pushed entries): the last commit is the state
    if new.version_time != stored.version_time:
        return new.version_time > stored.version_time
    if new.progress != stored.progress:
        return new.progress > stored.progress
    return _content_digest(_document_fields(new)) >= _content_digest(_document_fields(stored))


def _stored_lines(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    packed = item.get("lines_gz")
    if packed is None:
        return list(item["lines"])
    return list(json.loads(zlib.decompress(bytes(packed))))  # a boto3 Binary gives its bytes


def _pack_lines(document: dict[str, Any]) -> dict[str, Any]:
    """A document item within DynamoDB's 400 KB: many lines (an invoice of thousands) are stored
    zlib-compressed; one still too large is refused on purpose (`DocumentTooLarge`)."""
    text = json.dumps(document["lines"], separators=(",", ":"))
    if len(text) <= LINES_INLINE_BYTES:
        return document
    packed = zlib.compress(text.encode(), 9)
    if len(packed) > MAX_PACKED_LINES_BYTES:
        raise DocumentTooLarge(
            f"revenue document {document['pk'][7:]} has {len(document['lines'])} lines, "
            f"{len(packed)} bytes compressed: over the {MAX_PACKED_LINES_BYTES} bytes a document may hold"
        )
    return {**{k: v for k, v in document.items() if k != "lines"}, "lines_gz": packed}


class DocumentTooLarge(ValueError):
    """A document whose lines cannot be stored even compressed: refused, never half-written."""


def document_from_item(item: dict[str, Any]) -> RevenueDocument:
    return RevenueDocument(
        source=item["source"],
        kind=item["kind"],
        id=item["id"],
        customer_ref=item["customer_ref"],
        currency=item["currency"],
        lines=tuple(
            RevenueLine(
                int(line["amount_minor"]),
                date.fromisoformat(line["period_start"]) if line.get("period_start") else None,
                date.fromisoformat(line["period_end"]) if line.get("period_end") else None,
                id=line.get("id"),
                credits_line=line.get("credits_line"),
            )
            for line in _stored_lines(item)
        ),
        occurred_at=datetime.fromisoformat(item["occurred_at"]),
        status=item["status"],
        related_id=item.get("related_id"),
        version_time=datetime.fromisoformat(item["version_time"]) if item.get("version_time") else None,
    )


def _revision_condition(revision: int | None) -> dict[str, Any]:
    """The condition that a document is still at `revision` (None: that it does not exist yet), as
    `Table.put` takes it."""
    if revision is None:
        return {"condition": "attribute_not_exists(pk)"}
    return {"condition": "#rev = :rev", "names": {"#rev": "revision"}, "values": {":rev": revision}}


def _revision_guard(revision: int | None) -> dict[str, Any]:
    """`_revision_condition` as a transaction action's fields."""
    guard = _revision_condition(revision)
    fields: dict[str, Any] = {"ConditionExpression": guard["condition"]}
    if "names" in guard:
        fields["ExpressionAttributeNames"] = guard["names"]
        fields["ExpressionAttributeValues"] = to_item(guard["values"])
    return fields


def _original_key(doc: RevenueDocument) -> str | None:
    return f"{doc.source}:invoice:{doc.related_id}" if doc.related_id else None


def _month_items(
    doc: RevenueDocument, customer: str, runs: list[Run]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The document's runs cut at month boundaries: one item per month it recognises revenue in."""
    by_month: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        start = run.first
        while start <= run.last:
            next_month = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
            end = min(run.last, next_month - timedelta(days=1))
            by_month[month_key(start)].append(Run(start, end, run.daily_minor))
            start = end + timedelta(days=1)
    items = {}
    for month, month_runs in by_month.items():
        # Keyed by the document alone: re-attributing it overwrites each month item in place.
        key = (f"{schema.REVENUE_MONTH}{month}", doc.key)
        items[key] = {
            "customer_id": customer,
            "currency": doc.currency,
            "document": doc.key,
            "amount_minor": sum(run.total_minor for run in month_runs),
            "runs": [[run.first.isoformat(), run.last.isoformat(), run.daily_minor] for run in month_runs],
        }
    return items


def _fingerprint(fields: dict[str, Any], customer: str, items: dict[tuple[str, str], dict[str, Any]]) -> str:
    state = {"doc": fields, "customer": customer, "items": sorted((list(k), v) for k, v in items.items())}
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class StripeLinks:
    customers: set[str]  # customers at least one Stripe invoice is attributed to
    mapped_invoices: int


class RevenueLedger:
    def __init__(self, client: DynamoDBClient, table: str, customers: CustomerStore) -> None:
        self.client = client
        self.table = table
        self.customers = customers
        self.db = Table(client, table)
        self.writer = self.db.writer

    # --- writes ---------------------------------------------------------------------------------

    def upsert(self, doc: RevenueDocument) -> UpsertResult:
        """Make `doc` the document's state (unless a later state is already stored)."""
        result = self._upsert_once(doc)
        if doc.kind == "invoice":
            # Whatever the status: a first delivery that stored the invoice and stopped before this
            # leaves its redelivery `unchanged`, and the waiting refunds must still follow it.
            self._release_pending(doc.key)
        return result

    def _upsert_once(self, doc: RevenueDocument) -> UpsertResult:
        for attempt in range(MAX_ATTEMPTS):
            stored = self._get(f"{schema.REVENUE_DOCUMENT}{doc.key}", "DOC")
            if stored and not supersedes(doc, document_from_item(stored)):
                return UpsertResult("stale", self._customer_of(stored["attributed_to"]))
            attributed = self._attribute(doc)
            original_key = _original_key(doc)
            original_item = (
                self._get(f"{schema.REVENUE_DOCUMENT}{original_key}", "DOC") if original_key else None
            )
            original = document_from_item(original_item) if original_item else None
            recognition = recognise_against(doc, original)
            items = _month_items(doc, attributed, list(recognition.runs))
            fields = _document_fields(doc)
            fingerprint = _fingerprint(fields, attributed, items)
            customer = self._customer_of(attributed)
            if stored and stored.get("fingerprint") == fingerprint and not stored.get("writing"):
                return UpsertResult("unchanged", customer, recognition.awaiting_original)
            try:
                self._write(
                    doc, stored, fields, attributed, items, fingerprint, recognition.awaiting_original
                )
            except (ConditionsFailed, ConditionFailed):
                continue  # another writer moved the document on: read it again
            except ClientError as error:  # the last, single Put of a long write
                if error.response.get("Error", {}).get("Code", "") in RETRYABLE_ERRORS:
                    backoff(attempt, BACKOFF_BASE_S)  # DynamoDB is busy: nothing was written
                    continue
                raise
            return UpsertResult("updated" if stored else "created", customer, recognition.awaiting_original)
        raise RuntimeError(f"revenue document {doc.key} kept changing under {MAX_ATTEMPTS} attempts")

    def _write(
        self,
        doc: RevenueDocument,
        stored: dict[str, Any] | None,
        fields: dict[str, Any],
        attributed: str,
        items: dict[tuple[str, str], dict[str, Any]],
        fingerprint: str,
        awaiting_original: bool,
    ) -> None:
        revision = int(stored["revision"]) if stored else 0
        document = {
            PK: f"{schema.REVENUE_DOCUMENT}{doc.key}",
            SK: "DOC",
            **fields,
            "attributed_to": attributed,
            "revision": revision + 1,
            "fingerprint": fingerprint,
            "month_items": [list(key) for key in items],
            "awaiting_original": awaiting_original,
            "updated_at": _iso(datetime.now(UTC)),
        }
        document = _pack_lines(document)
        old_keys = {tuple(key) for key in (stored or {}).get("month_items", [])}
        others: list[Any] = [
            {"Delete": {"TableName": self.table, "Key": to_item({PK: pk, SK: sk})}}
            for pk, sk in sorted(old_keys - set(items))
        ]
        others += [
            {"Put": {"TableName": self.table, "Item": to_item({PK: pk, SK: sk, **item})}}
            for (pk, sk), item in items.items()
        ]
        others += self._listings(doc, stored, attributed, awaiting_original)
        guard = _revision_guard(revision if stored else None)
        if 1 + len(others) <= MAX_TRANSACTION_ACTIONS:
            put: Any = {"Put": {"TableName": self.table, "Item": to_item(document), **guard}}
            self.writer.write([put, *others])
            return
        # Too long for one transaction: fenced by the new revision (see the module docstring).
        writing = {
            **document,
            "writing": True,
            "month_items": [list(key) for key in sorted(old_keys | set(items))],
        }
        step = MAX_TRANSACTION_ACTIONS - 1
        put = {"Put": {"TableName": self.table, "Item": to_item(writing), **guard}}
        self.writer.write([put, *others[:step]])
        # The fence re-puts the same `writing` state under its own revision (a guarded Put rather
        # than a ConditionCheck: the webhook function's role grants Put, Get and Delete only).
        fence: Any = {
            "Put": {"TableName": self.table, "Item": to_item(writing), **_revision_guard(revision + 1)}
        }
        for start in range(step, len(others), step):
            self.writer.write([fence, *others[start : start + step]])
        self.db.put(document, **_revision_condition(revision + 1))

    def _listings(
        self, doc: RevenueDocument, stored: dict[str, Any] | None, attributed: str, awaiting_original: bool
    ) -> list[Any]:
        """The index items a document's state keeps: unmapped, waiting for its invoice, by Stripe customer."""
        actions: list[Any] = []
        unmapped_key = to_item({PK: schema.REVENUE_UNMAPPED, SK: f"{doc.customer_ref}#{doc.key}"})
        if attributed.startswith(UNMAPPED_PREFIX) and doc.status == "active":
            total = sum(line.amount_minor for line in doc.lines)
            listing = {
                "stripe_customer_id": doc.customer_ref,
                "document": doc.key,
                "kind": doc.kind,
                "id": doc.id,
                "currency": doc.currency,
                "amount_minor": total,
                "occurred_at": _iso(doc.occurred_at),
            }
            actions.append({"Put": {"TableName": self.table, "Item": {**unmapped_key, **to_item(listing)}}})
        elif stored and str(stored.get("attributed_to", "")).startswith(UNMAPPED_PREFIX):
            actions.append({"Delete": {"TableName": self.table, "Key": unmapped_key}})
        original_key = _original_key(doc)
        if original_key:
            pending_key = to_item({PK: f"{schema.REVENUE_PENDING}{original_key}", SK: doc.key})
            if awaiting_original:
                actions.append({"Put": {"TableName": self.table, "Item": pending_key}})
            elif stored and stored.get("awaiting_original"):
                actions.append({"Delete": {"TableName": self.table, "Key": pending_key}})
        if doc.source == "stripe" and doc.customer_ref:
            by_customer = {
                PK: f"{schema.REVENUE_BY_STRIPE_CUSTOMER}{doc.customer_ref}",
                SK: doc.key,
                "document": doc.key,
                "attributed_to": attributed,
            }
            actions.append({"Put": {"TableName": self.table, "Item": to_item(by_customer)}})
        return actions

    def _release_pending(self, invoice_key: str) -> None:
        """Refunds and credits that arrived before their invoice: recognise them against it now."""
        for pending in self.db.query(f"{schema.REVENUE_PENDING}{invoice_key}"):
            stored = self._get(f"{schema.REVENUE_DOCUMENT}{pending[SK]}", "DOC")
            if stored:
                self._upsert_once(document_from_item(stored))

    def stripe_links(self, enough_invoices: int) -> StripeLinks:
        """Stripe invoices attributed to a customer, and which customers: read per Stripe customer
        until `enough_invoices` are found (a go-live check, not a report: it stops early)."""
        links = StripeLinks(set(), 0)
        for record in self.customers.stripe_customers():
            for row in self.db.query(f"{schema.REVENUE_BY_STRIPE_CUSTOMER}{record.stripe_customer_id}"):
                if not str(row["document"]).startswith("stripe:invoice:"):
                    continue
                target = str(row.get("attributed_to") or "")
                if target and not target.startswith(UNMAPPED_PREFIX):
                    links.customers.add(target)
                    links.mapped_invoices += 1
            if links.mapped_invoices >= enough_invoices:
                break
        return links

    def remap(self, stripe_customer_id: str) -> int:
        """Re-attribute every document of a Stripe customer to its current mapping; how many moved.

        All of them, not only the unmapped ones: correcting a mapping moves the revenue already
        attributed too. Each moves once (its upsert replaces what it recognises, under its revision).
        """
        known = self.customers.stripe_customer(stripe_customer_id)
        target = (
            known.customer_id if known and known.customer_id else f"{UNMAPPED_PREFIX}{stripe_customer_id}"
        )
        by_customer = self.db.query(f"{schema.REVENUE_BY_STRIPE_CUSTOMER}{stripe_customer_id}")
        unmapped = self.db.query(  # documents written before the by-customer listing existed
            schema.REVENUE_UNMAPPED,
            and_sk=" AND begins_with(#sk, :prefix)",
            names={"#sk": SK},
            values={":prefix": f"{stripe_customer_id}#"},
        )
        keys = {row["document"] for row in by_customer if row.get("attributed_to") != target}
        keys |= {row["document"] for row in unmapped}
        moved = 0
        for key in sorted(keys):
            stored = self._get(f"{schema.REVENUE_DOCUMENT}{key}", "DOC")
            if stored and self._upsert_once(document_from_item(stored)).status == "updated":
                moved += 1
        return moved

    def first_sighting(self, event_id: str) -> bool:
        """True the first time a Stripe event id is seen (then remembered for 30 days)."""
        expires = int((datetime.now(UTC) + timedelta(days=EVENT_MEMORY_DAYS)).timestamp())
        try:
            self.db.put(
                {PK: f"{schema.STRIPE_EVENT}{event_id}", SK: "EVT", "expires_at": expires},
                condition="attribute_not_exists(pk)",
            )
        except ConditionFailed:
            return False
        return True

    def handled_before(self, event_id: str) -> bool:
        """Whether `first_sighting(event_id)` has recorded this event (the same item it writes)."""
        return self.db.get(f"{schema.STRIPE_EVENT}{event_id}", "EVT", attributes=(PK,)) is not None

    # --- reads ----------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.db.get(pk, sk)

    def _attribute(self, doc: RevenueDocument) -> str:
        if doc.source != "stripe":
            return doc.customer_ref
        known = self.customers.stripe_customer(doc.customer_ref) if doc.customer_ref else None
        return known.customer_id if known and known.customer_id else f"{UNMAPPED_PREFIX}{doc.customer_ref}"

    @staticmethod
    def _customer_of(attributed: str) -> str | None:
        return None if attributed.startswith(UNMAPPED_PREFIX) else attributed

    def document(self, key: str) -> dict[str, Any] | None:
        return self._get(f"{schema.REVENUE_DOCUMENT}{key}", "DOC")

    def unmapped(self) -> list[dict[str, Any]]:
        return self.db.query(schema.REVENUE_UNMAPPED)

    def recognised(self, first: date, last: date) -> list[dict[str, Any]]:
        """Month items touching `first`..`last`, each with `amount_minor` cut to the period."""
        rows = []
        month = first.replace(day=1)
        while month <= last:
            for item in self.db.query(f"{schema.REVENUE_MONTH}{month_key(month)}"):
                runs = [Run(date.fromisoformat(a), date.fromisoformat(b), int(m)) for a, b, m in item["runs"]]
                rows.append({**item, "runs": runs, "amount_minor": sum_range(runs, first, last)})
            month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        return rows

    def totals(self, first: date, last: date) -> dict[str, dict[str, int]]:
        """Recognised minor units per customer and currency; unmapped revenue under `unmapped:cus_...`."""
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in self.recognised(first, last):
            totals[row["customer_id"]][row["currency"]] += row["amount_minor"]
        return {customer: dict(currencies) for customer, currencies in totals.items()}
