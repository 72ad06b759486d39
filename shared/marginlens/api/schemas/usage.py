"""POST /v1/usage: the request body's schema and the per-event results."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from marginlens.api.schemas.common import JsonSchemaOf, Money, Schema
from marginlens.usage.events import UsageEventIn


class UsageBatchIn(Schema):
    events: list[UsageEventIn] = Field(min_length=1, max_length=100)


# The body POST /v1/usage documents: one event or a batch (the route reads it itself, exactly).
USAGE_REQUEST_SCHEMA = JsonSchemaOf(UsageEventIn | UsageBatchIn)


class FieldErrorOut(Schema):
    pointer: str
    detail: str


class UsageResult(Schema):
    index: int
    request_id: str | None
    status: Literal["created", "duplicate", "conflict", "rejected"]
    cost: Money | None = None
    currency: str | None = None
    price_status: Literal["priced", "estimated", "unpriced"] | None = None
    error: FieldErrorOut | None = None


class UsageResponse(Schema):
    created: int
    duplicates: int
    conflicts: int
    rejected: int
    results: list[UsageResult]
