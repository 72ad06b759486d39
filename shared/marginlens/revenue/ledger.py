"""The revenue ledger: each document's current state, and what it recognises month by month.

A document is upserted by its own id; what it recognises is *replaced*, never added to, so a
duplicate, a retry or any arrival order ends in the same place. One transaction writes the
document (guarded by its revision) with its month items, so readers never see half a change.

Items:
  REVDOC#{key}          DOC                               the document's state, revision, months
  REV#M#{month}         {customer}#{currency}#{key}       its runs in that month (per-day amounts)
  REVUNMAPPED           {stripe customer}#{key}           while its Stripe customer is unmapped
  REVPENDING#{invoice}  {key}                             a refund or credit waiting for its invoice
  STRIPEEVT#{event id}  EVT                               Stripe events already handled (30 days)

Reports read the month partitions of a period: one query per month, items per document, never
per usage event.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from marginlens.customer_ids import UNMAPPED_PREFIX
from marginlens.db import PK, SK, DynamoDBClient, from_item, query_all, to_item
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.recognition import Run, month_key, recognise_against, sum_range

MAX_ATTEMPTS = 8
EVENT_MEMORY_DAYS = 30
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
        "lines": [
            {
                "amount_minor": line.amount_minor,
                "period_start": line.period_start.isoformat() if line.period_start else None,
                "period_end": line.period_end.isoformat() if line.period_end else None,
            }
            for line in doc.lines
        ],
        "occurred_at": _iso(doc.occurred_at),
        "status": doc.status,
        "related_id": doc.related_id,
        "version_time": _iso(doc.version_time),
    }


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
            )
            for line in item["lines"]
        ),
        occurred_at=datetime.fromisoformat(item["occurred_at"]),
        status=item["status"],
        related_id=item.get("related_id"),
        version_time=datetime.fromisoformat(item["version_time"]) if item.get("version_time") else None,
    )


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
        key = (f"REV#M#{month}", f"{customer}#{doc.currency}#{doc.key}")
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


class RevenueLedger:
    def __init__(self, client: DynamoDBClient, table: str, customers: CustomerStore) -> None:
        self.client = client
        self.table = table
        self.customers = customers

    # --- writes ---------------------------------------------------------------------------------

    def upsert(self, doc: RevenueDocument) -> UpsertResult:
        """Make `doc` the document's state (unless a later state is already stored)."""
        result = self._upsert_once(doc)
        if doc.kind == "invoice" and result.status in ("created", "updated"):
            self._release_pending(doc.key)
        return result

    def _upsert_once(self, doc: RevenueDocument) -> UpsertResult:
        for _ in range(MAX_ATTEMPTS):
            stored = self._get(f"REVDOC#{doc.key}", "DOC")
            stored_time = stored.get("version_time") if stored else None
            if (
                stored
                and stored_time
                and doc.version_time
                and datetime.fromisoformat(stored_time) > doc.version_time
            ):
                return UpsertResult("stale", self._customer_of(stored["attributed_to"]))
            attributed = self._attribute(doc)
            original_key = _original_key(doc)
            original_item = self._get(f"REVDOC#{original_key}", "DOC") if original_key else None
            original = document_from_item(original_item) if original_item else None
            recognition = recognise_against(doc, original)
            items = _month_items(doc, attributed, list(recognition.runs))
            fields = _document_fields(doc)
            fingerprint = _fingerprint(fields, attributed, items)
            customer = self._customer_of(attributed)
            if stored and stored.get("fingerprint") == fingerprint:
                return UpsertResult("unchanged", customer, recognition.awaiting_original)
            try:
                self._write(
                    doc, stored, fields, attributed, items, fingerprint, recognition.awaiting_original
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                    continue  # another writer moved the document on: read it again
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
        guard: dict[str, Any] = (
            {
                "ConditionExpression": "#rev = :rev",
                "ExpressionAttributeNames": {"#rev": "revision"},
                "ExpressionAttributeValues": to_item({":rev": revision}),
            }
            if stored
            else {"ConditionExpression": "attribute_not_exists(pk)"}
        )
        document = {
            PK: f"REVDOC#{doc.key}",
            SK: "DOC",
            **fields,
            "attributed_to": attributed,
            "revision": revision + 1,
            "fingerprint": fingerprint,
            "month_items": [list(key) for key in items],
            "awaiting_original": awaiting_original,
            "updated_at": _iso(datetime.now(UTC)),
        }
        actions: list[Any] = [{"Put": {"TableName": self.table, "Item": to_item(document), **guard}}]
        old_keys = {tuple(key) for key in (stored or {}).get("month_items", [])}
        for pk, sk in old_keys - set(items):
            actions.append({"Delete": {"TableName": self.table, "Key": to_item({PK: pk, SK: sk})}})
        for (pk, sk), item in items.items():
            actions.append({"Put": {"TableName": self.table, "Item": to_item({PK: pk, SK: sk, **item})}})
        unmapped_key = to_item({PK: "REVUNMAPPED", SK: f"{doc.customer_ref}#{doc.key}"})
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
            pending_key = to_item({PK: f"REVPENDING#{original_key}", SK: doc.key})
            if awaiting_original:
                actions.append({"Put": {"TableName": self.table, "Item": pending_key}})
            elif stored and stored.get("awaiting_original"):
                actions.append({"Delete": {"TableName": self.table, "Key": pending_key}})
        if len(actions) > 100:
            raise ValueError(f"revenue document {doc.key} spans too many months to write at once")
        self.client.transact_write_items(TransactItems=actions)

    def _release_pending(self, invoice_key: str) -> None:
        """Refunds and credits that arrived before their invoice: recognise them against it now."""
        for pending in query_all(self.client, self.table, f"REVPENDING#{invoice_key}"):
            stored = self._get(f"REVDOC#{pending[SK]}", "DOC")
            if stored:
                self._upsert_once(document_from_item(stored))

    def remap(self, stripe_customer_id: str) -> int:
        """Re-attribute every document of a Stripe customer that just got mapped; how many moved."""
        moved = 0
        for listing in query_all(
            self.client,
            self.table,
            "REVUNMAPPED",
            and_sk=" AND begins_with(#sk, :prefix)",
            names={"#sk": SK},
            values={":prefix": f"{stripe_customer_id}#"},
        ):
            stored = self._get(f"REVDOC#{listing['document']}", "DOC")
            if stored and self._upsert_once(document_from_item(stored)).status == "updated":
                moved += 1
        return moved

    def first_sighting(self, event_id: str) -> bool:
        """True the first time a Stripe event id is seen (then remembered for 30 days)."""
        expires = int((datetime.now(UTC) + timedelta(days=EVENT_MEMORY_DAYS)).timestamp())
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item({PK: f"STRIPEEVT#{event_id}", SK: "EVT", "expires_at": expires}),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # --- reads ----------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self.client.get_item(TableName=self.table, Key=to_item({PK: pk, SK: sk}), ConsistentRead=True)
        return from_item(found["Item"]) if "Item" in found else None

    def _attribute(self, doc: RevenueDocument) -> str:
        if doc.source != "stripe":
            return doc.customer_ref
        known = self.customers.stripe_customer(doc.customer_ref) if doc.customer_ref else None
        return known.customer_id if known and known.customer_id else f"{UNMAPPED_PREFIX}{doc.customer_ref}"

    @staticmethod
    def _customer_of(attributed: str) -> str | None:
        return None if attributed.startswith(UNMAPPED_PREFIX) else attributed

    def document(self, key: str) -> dict[str, Any] | None:
        return self._get(f"REVDOC#{key}", "DOC")

    def unmapped(self) -> list[dict[str, Any]]:
        return query_all(self.client, self.table, "REVUNMAPPED")

    def recognised(self, first: date, last: date) -> list[dict[str, Any]]:
        """Month items touching `first`..`last`, each with `amount_minor` cut to the period."""
        rows = []
        month = first.replace(day=1)
        while month <= last:
            for item in query_all(self.client, self.table, f"REV#M#{month_key(month)}"):
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
