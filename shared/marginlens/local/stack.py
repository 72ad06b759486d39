"""`marginlens dev` / `make run`: the whole stack on loopback, no AWS account needed.

A DynamoDB engine (moto's server, requests serialised, data snapshotted to disk), the same Lambda
handlers behind a local API Gateway built from the shared route table, and demo data sent through
the real ingest path.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from marginlens.auth.keys import BOOTSTRAP_MIN_LENGTH

DEFAULT_PORT = 8787
DATA_DIR = Path(".marginlens")
LOCAL_TABLE = "marginlens-local"


class StackError(Exception):
    pass


class BudgetTimer:
    """Runs the check_budgets handler with a scheduled event every `interval` seconds (the first run
    one interval after start), in its warm container, as EventBridge would."""

    def __init__(self, gateway: Any, interval: float) -> None:
        self.gateway = gateway
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="budget-check", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def run_once(self) -> dict[str, Any]:
        import uuid

        from marginlens.api.routes import CHECK_BUDGETS
        from marginlens.core.observability import metrics
        from marginlens.local.gateway import LambdaContext

        now, event_id = datetime.now(UTC), str(uuid.uuid4())
        event: dict[str, Any] = {
            "version": "0",
            "id": event_id,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": os.environ.get("AWS_REGION", "us-east-1"),
            "resources": ["arn:aws:events:local:000000000000:rule/check-budgets"],
            "detail": {},
        }
        context = LambdaContext(
            CHECK_BUDGETS.name, CHECK_BUDGETS.memory_mb, CHECK_BUDGETS.timeout_s, event_id
        )
        try:
            with self.gateway.containers[CHECK_BUDGETS.name]:
                result: dict[str, Any] = self.gateway.handlers[CHECK_BUDGETS.name](event, context)
        finally:
            metrics.clear_metrics()  # as the gateway does after each invocation
        return result

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception as error:  # keep the timer alive: the next run retries, as a schedule would
                print(f"budget check failed: {error!r}", file=sys.stderr)


def stream_poller(gateway: Any) -> Any:
    """A poller of the local table's stream that invokes the aggregate_usage handler, in its warm
    container, with the events Lambda's mapping would send."""
    import uuid

    from marginlens.api.routes import AGGREGATE_USAGE
    from marginlens.core.observability import metrics
    from marginlens.local.gateway import LambdaContext
    from marginlens.local.streams import StreamPoller
    from marginlens.usecases.services import services

    def deliver(event: dict[str, Any]) -> Any:
        context = LambdaContext(
            AGGREGATE_USAGE.name, AGGREGATE_USAGE.memory_mb, AGGREGATE_USAGE.timeout_s, str(uuid.uuid4())
        )
        try:
            with gateway.containers[AGGREGATE_USAGE.name]:
                return gateway.handlers[AGGREGATE_USAGE.name](event, context)
        finally:
            metrics.clear_metrics()

    return StreamPoller(services().stream, deliver)


@dataclass
class LocalStack:
    port: int = DEFAULT_PORT
    admin_key: str | None = None
    data_dir: Path | None = DATA_DIR
    table: str = LOCAL_TABLE
    dynamodb_endpoint: str | None = None  # reuse a running engine instead of starting one
    aggregate: bool = True  # poll the table's stream into the aggregator, as Lambda's mapping does
    _engine: Any = field(default=None, init=False)
    _server: Any = field(default=None, init=False)
    url: str = field(default="", init=False)
    admin_key_generated: bool = field(default=False, init=False)
    _alerts_file_set: bool = field(default=False, init=False)
    _budget_timer: BudgetTimer | None = field(default=None, init=False)
    _stream_poller: Any = field(default=None, init=False)
    _gateway: Any = field(default=None, init=False)

    def start(self) -> str:
        from marginlens.local.engine import LocalDynamoDB

        if self.admin_key is None:
            self.admin_key = "mla_" + secrets.token_urlsafe(24)
            self.admin_key_generated = True
        if len(self.admin_key) < BOOTSTRAP_MIN_LENGTH:
            raise StackError(f"MARGINLENS_ADMIN_KEY must be at least {BOOTSTRAP_MIN_LENGTH} characters")

        endpoint = self.dynamodb_endpoint
        if endpoint is None:
            data_file = self.data_dir / "dynamodb.json" if self.data_dir else None
            if data_file:
                data_file.parent.mkdir(parents=True, exist_ok=True)
            self._engine = LocalDynamoDB(data_file=data_file)
            endpoint = self._engine.start()
        os.environ.update(
            {
                "MARGINLENS_DYNAMODB_ENDPOINT": endpoint,
                "MARGINLENS_TABLE": self.table,
                "MARGINLENS_ADMIN_KEY_SHA256": hashlib.sha256(self.admin_key.encode()).hexdigest(),
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
                "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
                "POWERTOOLS_METRICS_DISABLED": "true",  # no CloudWatch here: keep stdout for logs
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        os.environ.pop("MARGINLENS_ADMIN_KEY", None)  # handlers only ever see the hash
        os.environ.setdefault("STRIPE_LIVEMODE", "false")  # locally, the Stripe CLI's test events count
        # Reports wait (a few seconds at most) for the aggregator: a curl then a report shows the event.
        os.environ.setdefault("MARGINLENS_REPORTS_WAIT_SECONDS", "5")
        if "MARGINLENS_ALERTS_FILE" not in os.environ:
            # Alerts (e.g. price_sync_failed) are printed and appended here; SNS is for AWS.
            # No daily price refresh runs locally (no internet assumed): `marginlens prices refresh`
            # or POST /v1/prices/refresh runs it, and MARGINLENS_PRICES_URL can name a mirror.
            alerts_dir = self.data_dir or Path(tempfile.mkdtemp(prefix="marginlens-alerts-"))
            os.environ["MARGINLENS_ALERTS_FILE"] = str(alerts_dir / "alerts.jsonl")
            self._alerts_file_set = True

        from marginlens.core.settings import get_settings
        from marginlens.local.gateway import GatewayServer, LocalGateway
        from marginlens.storage.dynamodb import create_table, make_client
        from marginlens.usecases.services import reset

        reset()
        create_table(make_client(get_settings()), self.table)
        gateway = LocalGateway()
        self._gateway = gateway
        self._server = GatewayServer(gateway, port=self.port)
        self.url = self._server.start()
        # What Lambda's stream mapping does on AWS: the aggregator gets each change to an event.
        if self.aggregate:
            self._stream_poller = stream_poller(gateway)
            self._stream_poller.start()
        # What the check_budgets schedule does on AWS: evaluate every budget, alert once per threshold.
        interval = get_settings().budget_check_seconds
        if interval > 0:
            self._budget_timer = BudgetTimer(gateway, interval)
            self._budget_timer.start()
        return self.url

    def stop_serving(self) -> None:
        """Close the HTTP port, as an outage would (the engine and the aggregator keep running)."""
        if self._server:
            self._server.stop()
            self._server = None

    def serve_again(self) -> None:
        """Open the same port again after `stop_serving()`."""
        from marginlens.local.gateway import GatewayServer

        if self._server is None and self._gateway is not None:
            port = int(self.url.rsplit(":", 1)[1])
            self._server = GatewayServer(self._gateway, port=port)
            self._server.start()

    def stop(self) -> None:
        if self._stream_poller:
            self._stream_poller.stop()
            self._stream_poller = None
        if self._budget_timer:
            self._budget_timer.stop()
            self._budget_timer = None
        if self._server:
            self._server.stop()
        if self._engine:
            self._engine.stop()
        if self._alerts_file_set:  # set by start(): the next stack picks its own
            os.environ.pop("MARGINLENS_ALERTS_FILE", None)
            self._alerts_file_set = False

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def seed_demo(
    url: str,
    admin_key: str,
    progress: Callable[[int, int], None] | None = None,
    *,
    webhook_secret: str | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Send the demo's story (`marginlens.local.demo`) through the public API, as the apps and
    billing systems of a real SaaS would: name the customers (and map three Stripe customers),
    deliver the Stripe customers and invoices as signed webhooks, push the revenue billed outside
    Stripe (POST /v1/revenue), create the `image_generation` budget, then send the usage through
    POST /v1/usage in batches of 100 (the admin key holds the ingest scope; using it leaves no
    throwaway key behind on each run); wait (60 s at most) for the aggregates to hold it all and
    evaluate the budgets, as the schedule would.

    The webhooks are signed with `webhook_secret`, else the first STRIPE_WEBHOOK_SECRET of this
    process (the local stack's, `marginlens dev` sets one); with neither, the Stripe invoices are
    pushed through POST /v1/revenue instead and the unmapped Stripe customer is left out.
    """
    import time

    import httpx

    from marginlens.local import demo

    now = now or datetime.now(UTC)
    secret = webhook_secret or next(
        (part.strip() for part in os.environ.get("STRIPE_WEBHOOK_SECRET", "").split(",") if part.strip()),
        None,
    )
    counts = {"created": 0, "duplicates": 0, "conflicts": 0, "rejected": 0}
    headers = {"Authorization": f"Bearer {admin_key}"}

    def tally(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    with httpx.Client(base_url=url, timeout=60) as client:

        def deliver(event: dict[str, Any]) -> None:
            assert secret is not None
            body = demo.stripe_body(event)
            signature = demo.stripe_signature(body, secret, int(datetime.now(UTC).timestamp()))
            response = client.post(
                "/v1/stripe/webhook",
                content=body,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
            response.raise_for_status()
            tally("stripe_duplicates" if response.json().get("duplicate") else "stripe_applied")

        for customer_id, body in demo.demo_customers():
            client.put(f"/v1/customers/{customer_id}", json=body, headers=headers).raise_for_status()
            tally("customers")
        # Revenue before usage: no month is ever seen with its cost and without its revenue.
        if secret:
            for event in [*demo.stripe_customer_events(), *demo.stripe_invoice_events(now)]:
                deliver(event)
        for entry in demo.demo_revenue(now, stripe=secret is not None):
            response = client.post("/v1/revenue", json=entry, headers=headers)
            response.raise_for_status()
            tally(f"revenue_{response.json()['status']}")

        # The budget before usage: the current month's renders cross its thresholds as they arrive.
        listed = client.get("/v1/budgets", headers=headers)
        listed.raise_for_status()
        if any(demo.is_image_budget(budget) for budget in listed.json()["data"]):
            tally("budget_unchanged")
        else:
            client.put(
                f"/v1/budgets/{demo.IMAGE_BUDGET_ID}", json=demo.IMAGE_BUDGET, headers=headers
            ).raise_for_status()
            tally("budget_set")

        events = [event.payload() for event in demo.demo_events(now)]
        for start in range(0, len(events), 100):
            response = client.post("/v1/usage", json={"events": events[start : start + 100]}, headers=headers)
            response.raise_for_status()
            body = response.json()
            for name in ("created", "duplicates", "conflicts", "rejected"):
                counts[name] += body[name]
            if progress:
                progress(min(start + 100, len(events)), len(events))

        # Every event is stored; wait until the aggregates hold them all, then judge the budgets.
        first, last = demo_period(now)
        deadline = time.monotonic() + 60
        while True:
            report = client.get(
                "/v1/pnl", params={"from": first, "to": last, "consistent": "true"}, headers=headers
            )
            report.raise_for_status()
            if report.json()["aggregates"]["caught_up"] or time.monotonic() > deadline:
                break
        client.post("/v1/budgets/evaluate", headers=headers).raise_for_status()
    return counts


def demo_period(now: datetime) -> tuple[str, str]:
    """The demo's story month: the last complete UTC month before `now` (first and last day)."""
    from marginlens.local.demo import month_bounds, story_month

    first, last = month_bounds(story_month(now))
    return first.isoformat(), last.isoformat()


def serve_forever(stop: threading.Event | None = None) -> None:
    (stop or threading.Event()).wait()
