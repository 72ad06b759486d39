"""EventBridge schedules: the daily upstream price refresh."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# Daily at 03:15 UTC (off the hour, away from the top-of-the-hour rush of scheduled jobs).
PRICE_REFRESH_SCHEDULE = events.Schedule.cron(minute="15", hour="3")


class Schedules(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, refresh_prices: lambda_.Function) -> None:
        super().__init__(scope, construct_id)

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
