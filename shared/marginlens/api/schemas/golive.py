"""Go-live checks and the test alert."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from marginlens.api.schemas.common import Schema


class CheckOut(Schema):
    id: Literal["stripe_revenue", "usage_attributed", "budget_alert", "price_sync", "ingest_latency"]
    title: str
    status: Literal["pass", "fail"]
    detail: str = Field(description="What was found")
    missing: list[str] = Field(description="What to do for the check to pass (empty when it passes)")


class ChecksOut(Schema):
    checked_at: str
    passed: int
    total: int
    checks: list[CheckOut]


class TestAlertOut(Schema):
    kind: Literal["test_alert"]
    subject: str
    time: str
    channels: list[str] = Field(description="Where it was published (`sns`: the topic's email and Slack)")
