"""Customers: display names, and which Stripe customer is which MarginLens customer.

Items:
  CUSTOMERS    {customer_id}        name, stripe_customer_id (as set with PUT /v1/customers/{id})
  STRIPECUST   {stripe_customer}    customer_id (or none yet), name, email, how it was mapped,
                                    the metadata's own customer id and the event time it is from

A mapping set through the API wins over one read from Stripe customer metadata: an operator's
explicit choice is not undone by the next `customer.updated` webhook. Between webhooks the newest
event decides (Stripe delivers in any order), its metadata absent meaning not mapped by metadata;
at an equal time the larger customer id wins, so any delivery order ends in the same mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from marginlens.storage import schema
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient
from marginlens.storage.table import ConditionFailed, Table

MappingSource = Literal["api", "metadata"]


@dataclass(frozen=True)
class StripeCustomer:
    stripe_customer_id: str
    customer_id: str | None
    name: str | None
    email: str | None
    mapped_by: MappingSource | None
    metadata_customer_id: str | None = None  # what the newest webhook's metadata said
    version_time: datetime | None = None  # that webhook's event time


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CustomerStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table
        self.db = Table(client, table)

    def put_customer(
        self, customer_id: str, name: str | None, stripe_customer_id: str | None
    ) -> dict[str, Any]:
        """Name a customer and (optionally) tie a Stripe customer to it."""
        previous = self.customer(customer_id)
        profile = {
            "customer_id": customer_id,
            "name": name if name is not None else (previous or {}).get("name"),
            "stripe_customer_id": stripe_customer_id or (previous or {}).get("stripe_customer_id"),
            "updated_at": _now(),
        }
        self.db.put({PK: schema.CUSTOMERS, SK: customer_id, **profile})
        if stripe_customer_id:
            known = self.stripe_customer(stripe_customer_id)
            self._put_stripe(
                StripeCustomer(
                    stripe_customer_id,
                    customer_id,
                    known.name if known else None,
                    known.email if known else None,
                    "api",
                    known.metadata_customer_id if known else None,
                    known.version_time if known else None,
                )
            )
        return profile

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        return self.db.get(schema.CUSTOMERS, customer_id, consistent=False)

    def names(self) -> dict[str, str]:
        return {item[SK]: item["name"] for item in self.db.query(schema.CUSTOMERS) if item.get("name")}

    def stripe_customer(self, stripe_customer_id: str) -> StripeCustomer | None:
        item = self.db.get(schema.STRIPE_CUSTOMERS, stripe_customer_id)
        return _stripe_customer(item) if item is not None else None

    def stripe_customers(self) -> list[StripeCustomer]:
        """Every Stripe customer known by a mapping or a customer webhook."""
        return [_stripe_customer(item) for item in self.db.query(schema.STRIPE_CUSTOMERS)]

    def record_from_stripe(
        self,
        stripe_customer_id: str,
        metadata_customer_id: str | None,
        name: str | None,
        email: str | None,
        version_time: datetime | None = None,
    ) -> StripeCustomer:
        """What a `customer.created`/`customer.updated` webhook of `version_time` says; an API
        mapping is kept, and an older webhook than the one recorded changes nothing."""
        for _ in range(3):
            known = self.stripe_customer(stripe_customer_id)
            if known is not None and _newer(known, metadata_customer_id, version_time):
                return known
            if known is not None and known.mapped_by == "api":
                mapped, customer_id = "api", known.customer_id
            elif metadata_customer_id:
                mapped, customer_id = "metadata", metadata_customer_id
            else:
                mapped, customer_id = None, None
            record = StripeCustomer(
                stripe_customer_id,
                customer_id,
                name,
                email,
                mapped,  # type: ignore[arg-type]
                metadata_customer_id,
                version_time,
            )
            try:
                self._put_stripe(record, not_newer_than=version_time)
            except ConditionFailed:
                continue  # a newer webhook was recorded meanwhile: judge against it
            return record
        known = self.stripe_customer(stripe_customer_id)
        assert known is not None
        return known

    def _put_stripe(self, record: StripeCustomer, not_newer_than: datetime | None = None) -> None:
        item = {
            PK: schema.STRIPE_CUSTOMERS,
            SK: record.stripe_customer_id,
            "customer_id": record.customer_id,
            "name": record.name,
            "email": record.email,
            "mapped_by": record.mapped_by,
            "metadata_customer_id": record.metadata_customer_id,
            "version_time": _iso(record.version_time) if record.version_time else None,
            "updated_at": _now(),
        }
        if not_newer_than is None:
            self.db.put(item)
            return
        self.db.put(
            item,
            condition="attribute_not_exists(#v) OR #v <= :v",
            names={"#v": "version_time"},
            values={":v": _iso(not_newer_than)},
        )


def _stripe_customer(item: dict[str, Any]) -> StripeCustomer:
    version = item.get("version_time")
    return StripeCustomer(
        item[SK],
        item.get("customer_id"),
        item.get("name"),
        item.get("email"),
        item.get("mapped_by"),
        item.get("metadata_customer_id"),
        datetime.fromisoformat(version) if version else None,
    )


def _iso(moment: datetime) -> str:
    # Fixed width (microseconds always shown), so stored times compare as strings in time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _newer(known: StripeCustomer, metadata_customer_id: str | None, version_time: datetime | None) -> bool:
    """Whether the recorded webhook state wins over one of `version_time`."""
    if known.version_time is None or version_time is None:
        return False
    if known.version_time != version_time:
        return known.version_time > version_time
    return (known.metadata_customer_id or "") > (metadata_customer_id or "")
