"""The api function's resolver: the routes it serves, and the spec of the whole API.

API Gateway sends POST /v1/usage and the OTLP traces, the price refresh, the reconciliation runs, the
Stripe webhook and the budget evaluation to their own functions (see marginlens.api.routes); this
resolver serves the rest,
and includes those routers only when it first builds the OpenAPI document, so one spec describes
them all.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools.event_handler.api_gateway import Router

from marginlens.api.app import MarginLensResolver, create_app
from marginlens.api.routers import (
    budgets,
    dashboard,
    golive,
    keys,
    models,
    reconciliation,
    reports,
    reprice,
    revenue,
    simulation,
    stripe_backfill,
)


def served_by_other_functions() -> Iterable[Router]:
    from marginlens.api.routers import (
        budget_evaluation,
        otlp,
        price_refresh,
        reconciliation,
        stripe_webhook,
        usage,
    )

    return [
        usage.router,
        otlp.router,
        price_refresh.router,
        reconciliation.runs,
        stripe_webhook.router,
        budget_evaluation.router,
    ]


def public_api() -> MarginLensResolver:
    routers = [
        reports.router,
        models.router,
        reprice.router,
        reconciliation.router,
        keys.router,
        revenue.router,
        stripe_backfill.router,
        budgets.router,
        simulation.router,
        golive.router,
        dashboard.router,
    ]
    app = create_app(routers, docs=True)
    app.documented_elsewhere = served_by_other_functions
    return app
