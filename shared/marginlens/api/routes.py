"""The one route table: the CDK stack and the local router both read it, so they cannot drift.

Paths use API Gateway's `{param}` syntax; `scope` is the API-key scope a caller needs
(`any`: a valid key of any scope; None: public, no key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Scope = Literal["ingest", "read", "admin"]
RouteScope = Literal["ingest", "read", "admin", "any"]


@dataclass(frozen=True)
class Function:
    name: str  # CDK construct id and local name
    handler: str  # module:function, importable from the Lambda package root
    memory_mb: int = 512
    timeout_s: int = 29


INGEST_USAGE = Function("ingest_usage", "functions.ingest_usage.handler.lambda_handler")
API = Function("api", "functions.api.handler.lambda_handler")

REFRESH_PRICES = Function("refresh_prices", "functions.refresh_prices.handler.lambda_handler", timeout_s=120)

# Reconciliation against the providers' bills: the daily schedule and its two routes (it calls the
# providers' cost APIs, page after page).
RECONCILE_COSTS = Function(
    "reconcile_costs", "functions.reconcile_costs.handler.lambda_handler", timeout_s=120
)

STRIPE_WEBHOOK = Function("stripe_webhook", "functions.stripe_webhook.handler.lambda_handler")

CHECK_BUDGETS = Function("check_budgets", "functions.check_budgets.handler.lambda_handler", timeout_s=60)
# Subscribed to the alerts topic; no HTTP route.
SLACK_NOTIFIER = Function("slack_notifier", "functions.slack_notifier.handler.lambda_handler", memory_mb=256)

# The table's stream (usage events only) -> the aggregates; no HTTP route.
AGGREGATE_USAGE = Function(
    "aggregate_usage", "functions.aggregate_usage.handler.lambda_handler", timeout_s=60
)

FUNCTIONS: tuple[Function, ...] = (
    INGEST_USAGE,
    AGGREGATE_USAGE,
    API,
    REFRESH_PRICES,
    RECONCILE_COSTS,
    STRIPE_WEBHOOK,
    CHECK_BUDGETS,
    SLACK_NOTIFIER,
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: Function
    scope: RouteScope | None

    @property
    def route_key(self) -> str:
        """API Gateway HTTP API route key, e.g. `GET /v1/usage/{request_id}`."""
        return f"{self.method} {self.path}"

    @property
    def powertools_rule(self) -> str:
        """The same path in Powertools Event Handler syntax (`<param>`)."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if `method path` is this route, else None."""
        if method != self.method:
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/usage", INGEST_USAGE, "ingest"),
    # OTLP/HTTP traces: OpenTelemetry GenAI spans as usage events (OTLP's `/v1/traces` under `/v1/otlp`).
    Route("POST", "/v1/otlp/v1/traces", INGEST_USAGE, "ingest"),
    Route("GET", "/v1/usage/{request_id}", API, "read"),
    Route("GET", "/v1/pnl", API, "read"),
    Route("GET", "/v1/customers/{customer_id}/pnl", API, "read"),
    Route("GET", "/v1/models", API, "read"),
    Route("GET", "/v1/models/{model_ref}", API, "read"),
    Route("PUT", "/v1/models/{model_ref}/quality", API, "admin"),
    Route("DELETE", "/v1/models/{model_ref}/quality/{index}", API, "admin"),
    Route("GET", "/v1/prices", API, "read"),
    Route("GET", "/v1/unpriced-models", API, "read"),
    Route("PUT", "/v1/prices/{model}", API, "admin"),
    Route("PUT", "/v1/model-aliases/{alias}", API, "admin"),
    Route("POST", "/v1/prices/refresh", REFRESH_PRICES, "admin"),
    Route("POST", "/v1/reprice", API, "admin"),
    Route("GET", "/v1/reconciliation", API, "read"),
    Route("POST", "/v1/reconciliation/run", RECONCILE_COSTS, "admin"),
    Route("POST", "/v1/reconciliation/import", RECONCILE_COSTS, "admin"),
    Route("POST", "/v1/stripe/webhook", STRIPE_WEBHOOK, None),  # Stripe's signature, not an API key
    Route("POST", "/v1/revenue", API, "admin"),
    Route("POST", "/v1/stripe/backfill", API, "admin"),
    Route("PUT", "/v1/customers/{customer_id}", API, "admin"),
    Route("GET", "/v1/revenue/unmapped", API, "read"),
    Route("POST", "/v1/simulations", API, "read"),
    Route("GET", "/v1/recommendations", API, "read"),
    Route("GET", "/v1/budgets", API, "read"),
    Route("PUT", "/v1/budgets/{budget_id}", API, "admin"),
    Route("DELETE", "/v1/budgets/{budget_id}", API, "admin"),
    Route("GET", "/v1/budgets/blocklist", API, "ingest"),
    Route("POST", "/v1/budgets/evaluate", CHECK_BUDGETS, "admin"),
    Route("GET", "/v1/alerts", API, "read"),
    Route("POST", "/v1/alerts/test", API, "admin"),
    Route("GET", "/v1/checks", API, "read"),
    Route("POST", "/v1/keys", API, "admin"),
    Route("GET", "/v1/keys", API, "admin"),
    Route("DELETE", "/v1/keys/{key_id}", API, "admin"),
    Route("GET", "/v1/whoami", API, "any"),
    Route("GET", "/openapi.json", API, None),
    Route("GET", "/docs", API, None),
    # The dashboard: a client of the routes above, served by the api function on the same origin.
    Route("GET", "/", API, None),
    Route("GET", "/dashboard", API, None),
    Route("GET", "/dashboard/{name}", API, None),
)

SCOPE_BY_ROUTE_KEY: dict[str, RouteScope | None] = {route.route_key: route.scope for route in ROUTES}


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None


def routes_for(function: Function) -> list[Route]:
    return [route for route in ROUTES if route.function == function]
