"""The api function's resolver: every router, so that one spec documents the whole API.

API Gateway still sends POST /v1/usage, the price refresh, the Stripe webhook and the budget
evaluation to their own functions (see marginlens.api.routes); this resolver serves the rest.
"""

from __future__ import annotations

from marginlens.api.app import MarginLensResolver, create_app
from marginlens.api.routers import (
    budget_evaluation,
    budgets,
    keys,
    models,
    price_refresh,
    reports,
    reprice,
    revenue,
    simulation,
    stripe_backfill,
    stripe_webhook,
    usage,
)


def public_api() -> MarginLensResolver:
    routers = [
        usage.router,
        reports.router,
        models.router,
        price_refresh.router,
        reprice.router,
        keys.router,
        revenue.router,
        stripe_backfill.router,
        stripe_webhook.router,
        budgets.router,
        budget_evaluation.router,
        simulation.router,
    ]
    return create_app(routers, docs=True)
