"""Customers: display names, and which Stripe customer is which MarginLens customer.

Items:
  CUSTOMERS    {customer_id}        name, stripe_customer_id (as set with PUT /v1/customers/{id})
  STRIPECUST   {stripe_customer}    customer_id (or none yet), name, email, how it was mapped

A mapping set through the API wins over one read from Stripe customer metadata: an operator's
explicit choice is not undone by the next `customer.updated` webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from marginlens.db import PK, SK, DynamoDBClient, from_item, query_all, to_item

MappingSource = Literal["api", "metadata"]


@dataclass(frozen=True)
class StripeCustomer:
    stripe_customer_id: str
    customer_id: str | None
    name: str | None
    email: str | None
    mapped_by: MappingSource | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CustomerStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

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
        self.client.put_item(
            TableName=self.table, Item=to_item({PK: "CUSTOMERS", SK: customer_id, **profile})
        )
        if stripe_customer_id:
            known = self.stripe_customer(stripe_customer_id)
            self._put_stripe(
                StripeCustomer(
                    stripe_customer_id,
                    customer_id,
                    known.name if known else None,
                    known.email if known else None,
                    "api",
                )
            )
        return profile

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        found = self.client.get_item(TableName=self.table, Key=to_item({PK: "CUSTOMERS", SK: customer_id}))
        return from_item(found["Item"]) if "Item" in found else None

    def names(self) -> dict[str, str]:
        return {
            item[SK]: item["name"]
            for item in query_all(self.client, self.table, "CUSTOMERS")
            if item.get("name")
        }

    def stripe_customer(self, stripe_customer_id: str) -> StripeCustomer | None:
        found = self.client.get_item(
            TableName=self.table, Key=to_item({PK: "STRIPECUST", SK: stripe_customer_id}), ConsistentRead=True
        )
        if "Item" not in found:
            return None
        item = from_item(found["Item"])
        return StripeCustomer(
            stripe_customer_id,
            item.get("customer_id"),
            item.get("name"),
            item.get("email"),
            item.get("mapped_by"),
        )

    def record_from_stripe(
        self, stripe_customer_id: str, metadata_customer_id: str | None, name: str | None, email: str | None
    ) -> StripeCustomer:
        """What a `customer.created`/`customer.updated` webhook says; an API mapping is kept."""
        known = self.stripe_customer(stripe_customer_id)
        if known is not None and known.mapped_by == "api":
            mapped, customer_id = "api", known.customer_id
        elif metadata_customer_id:
            mapped, customer_id = "metadata", metadata_customer_id
        else:
            mapped, customer_id = None, known.customer_id if known else None
        record = StripeCustomer(stripe_customer_id, customer_id, name, email, mapped)  # type: ignore[arg-type]
        self._put_stripe(record)
        return record

    def _put_stripe(self, record: StripeCustomer) -> None:
        self.client.put_item(
            TableName=self.table,
            Item=to_item(
                {
                    PK: "STRIPECUST",
                    SK: record.stripe_customer_id,
                    "customer_id": record.customer_id,
                    "name": record.name,
                    "email": record.email,
                    "mapped_by": record.mapped_by,
                    "updated_at": _now(),
                }
            ),
        )
