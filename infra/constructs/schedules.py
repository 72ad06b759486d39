"""EventBridge schedules: the daily upstream price refresh, the budget check and the daily
reconciliation against the providers' bills."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# Daily at 03:15 UTC (off the hour, away from the top-of-the-hour rush of scheduled jobs).
PRICE_REFRESH_SCHEDULE = events.Schedule.cron(minute="15", hour="3")
DEFAULT_BUDGET_CHECK_MINUTES = 5
# Daily at 04:30 UTC: after the price refresh, and once the providers have billed the day just over
# (their cost reports settle a few hours after midnight UTC).
RECONCILIATION_SCHEDULE = events.Schedule.cron(minute="30", hour="4")


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        refresh_prices: lambda_.Function,
        check_budgets: lambda_.Function,
        reconcile_costs: lambda_.Function,
        budget_check_minutes: int = DEFAULT_BUDGET_CHECK_MINUTES,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= budget_check_minutes <= 1440:
            raise ValueError(f"budgetCheckMinutes must be 1..1440, not {budget_check_minutes}")

        self.price_refresh = events.Rule(
            self,
            "DailyPriceRefresh",
            description="MarginLens: fetch the newest genai-prices data (refresh_prices function)",
            schedule=PRICE_REFRESH_SCHEDULE,
            # EventBridge retries failed deliveries only. A refused refresh returns normally after its
            # one alert, so nothing re-runs it: tomorrow's run is the retry.
            targets=[targets.LambdaFunction(refresh_prices, retry_attempts=2)],
        )
        # Lambda's async retries off too: a re-run after a crash could alert twice (errors are logged).
        refresh_prices.configure_async_invoke(retry_attempts=0)

        # Budgets: alert claims make each alert exactly-once, so a retried or overlapping run is safe.
        self.budget_check = events.Rule(
            self,
            "BudgetCheck",
            description="MarginLens: evaluate budgets and alert crossed thresholds (check_budgets function)",
            schedule=events.Schedule.rate(Duration.minutes(budget_check_minutes)),
            targets=[targets.LambdaFunction(check_budgets, retry_attempts=2)],
        )

        # Reconciliation: each cost_variance alert is claimed (per provider and day), so a retried run
        # alerts exactly once; a provider's API error is stored and logged, never raised.
        self.reconciliation = events.Rule(
            self,
            "DailyCostReconciliation",
            description="MarginLens: reconcile recorded costs with the providers' bills (reconcile_costs "
            "function)",
            schedule=RECONCILIATION_SCHEDULE,
            targets=[targets.LambdaFunction(reconcile_costs, retry_attempts=2)],
        )
