"""What sends an alert: the one interface rules (budgets, operations, the price refresh) publish
through, so that they need not know where alerts go (SNS, a local file, Slack: marginlens.alerts)."""

from __future__ import annotations

from typing import Any, Protocol


class AlertPublisher(Protocol):
    def publish(self, kind: str, subject: str, detail: dict[str, Any]) -> None: ...
