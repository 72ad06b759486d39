"""The api function's resolver: every router, so that one spec documents the whole API.

API Gateway still sends POST /v1/usage, the price refresh, the Stripe webhook and the budget
evaluation to their own functions (see marginlens.api.routes); this resolver serves the rest.
"""

from __future__ import annotations

from marginlens.api import (
    budget_evaluate_routes,
    budget_routes,
    key_routes,
    model_routes,
    price_refresh_routes,
    report_routes,
    reprice_routes,
    revenue_routes,
    simulator_routes,
    stripe_backfill_routes,
    stripe_routes,
    usage_routes,
)
from marginlens.api.app import MarginLensResolver, create_app


def public_api() -> MarginLensResolver:
    routers = [
        usage_routes.router,
        report_routes.router,
        model_routes.router,
        price_refresh_routes.router,
        reprice_routes.router,
        key_routes.router,
        revenue_routes.router,
        stripe_backfill_routes.router,
        stripe_routes.router,
        budget_routes.router,
        budget_evaluate_routes.router,
        simulator_routes.router,
    ]
    return create_app(routers, docs=True)
