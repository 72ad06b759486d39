"""EventBridge schedules: the daily upstream price refresh and the budget check."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# Daily at 03:15 UTC (off the hour, away from the top-of-the-hour rush of scheduled jobs).
PRICE_REFRESH_SCHEDULE = events.Schedule.cron(minute="15", hour="3")
DEFAULT_BUDGET_CHECK_MINUTES = 5


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        refresh_prices: lambda_.Function,
        check_budgets: lambda_.Function,
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
