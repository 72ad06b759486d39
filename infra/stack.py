"""MarginLensStack: composes the per-concern constructs; no resources of its own but outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from genai_prices.update_prices import DEFAULT_UPDATE_URL

from infra.constructs.alerts import Alerts, parse_emails
from infra.constructs.api import Aggregation, Api, Throttle
from infra.constructs.data import Data
from infra.constructs.schedules import DEFAULT_BUDGET_CHECK_MINUTES, Schedules
from infra.constructs.secrets import Secrets
from marginlens.api import routes


class MarginLensStack(Stack):
    """Environment-agnostic (no account/region): synthesizes without credentials.

    Context read: `adminKeySha256` (hex SHA-256 of the bootstrap admin key, never the key),
    `throttleBurst`, `throttleRate` (default stage throttling), `aggregateBatchSize`,
    `aggregateBatchWindowSeconds` (the aggregator's stream batches; 1000 records, 5 s), `alertEmails`
    (comma-separated e-mail subscribers of the alerts topic), `pricesUrl` (the genai-prices data file
    the daily refresh fetches; default: genai-prices' own URL on GitHub), `stripeCustomerMetadataKey`
    (the Stripe customer metadata key naming the MarginLens customer; default `customer_id`),
    `stripeRefundSource` (`charge` or `refund`, default `charge`; see marginlens.revenue.stripe_events),
    `stripeLivemode` (`true`, the default: live-mode Stripe events are revenue; `false` for a stack fed
    by Stripe's test mode). Unset Stripe options keep the functions' own defaults. `budgetCheckMinutes`
    (how often the budgets are evaluated, default 5). `reconcileVariancePct` (the % by which a day's
    recorded cost may differ from a provider's bill before a `cost_variance` alert, > 0, default 5),
    `reconcileMinCost` (USD; days where both bill and record are below it are never flagged, >= 0,
    default 1.00); unset, the reconcile_costs function keeps its own defaults.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lambda_code_dir: str,
        env_name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        # Production data outlives a stack deletion; dev stacks clean up after themselves.
        removal_policy = RemovalPolicy.RETAIN if env_name == "prod" else RemovalPolicy.DESTROY

        data = Data(self, "Data", removal_policy=removal_policy)
        alerts = Alerts(self, "Alerts", emails=parse_emails(self.node.try_get_context("alertEmails")))
        secrets = Secrets(self, "Secrets", removal_policy=removal_policy)
        api = Api(
            self,
            "Api",
            table=data.table,
            lambda_code_dir=lambda_code_dir,
            env_name=env_name,
            removal_policy=removal_policy,
            throttle=self._throttle(),
            aggregation=self._aggregation(),
            alerts_topic=alerts.topic,
            prices_url=self.node.try_get_context("pricesUrl") or DEFAULT_UPDATE_URL,
            stripe_webhook_secret=secrets.stripe_webhook,
            slack_webhook_secret=secrets.slack_webhook,
            provider_admin_keys_secret=secrets.provider_admin_keys,
            reconcile_variance_pct=self._optional_text("reconcileVariancePct"),
            reconcile_min_cost=self._optional_text("reconcileMinCost"),
            stripe_customer_metadata_key=self._optional_text("stripeCustomerMetadataKey"),
            stripe_refund_source=self._optional_text("stripeRefundSource"),
            stripe_livemode=self._optional_text("stripeLivemode"),
            admin_key_sha256=self.node.try_get_context("adminKeySha256") or None,
        )
        minutes = self.node.try_get_context("budgetCheckMinutes")
        Schedules(
            self,
            "Schedules",
            refresh_prices=api.functions[routes.REFRESH_PRICES.name],
            check_budgets=api.functions[routes.CHECK_BUDGETS.name],
            reconcile_costs=api.functions[routes.RECONCILE_COSTS.name],
            budget_check_minutes=int(minutes) if minutes is not None else DEFAULT_BUDGET_CHECK_MINUTES,
        )
        # Every alert also goes to Slack (the notifier skips posting until its secret holds a URL).
        alerts.topic.add_subscription(
            subscriptions.LambdaSubscription(api.functions[routes.SLACK_NOTIFIER.name])
        )

        CfnOutput(self, "ApiUrl", value=api.stage.url, description="Base URL of the HTTP API")
        CfnOutput(self, "TableName", value=data.table.table_name, description="DynamoDB table")
        CfnOutput(self, "AlertsTopicArn", value=alerts.topic.topic_arn, description="SNS topic for alerts")
        CfnOutput(
            self,
            "StripeWebhookSecretArn",
            value=secrets.stripe_webhook.secret_arn,
            description="Put the Stripe webhook signing secret (whsec_...) in this secret",
        )
        CfnOutput(
            self,
            "SlackWebhookSecretArn",
            value=secrets.slack_webhook.secret_arn,
            description="Put the Slack incoming-webhook URL (https://hooks.slack.com/...) in this secret",
        )
        CfnOutput(
            self,
            "ProviderAdminKeysSecretArn",
            value=secrets.provider_admin_keys.secret_arn,
            description="Put the providers' admin API keys "
            '({"openai": "sk-admin-...", "anthropic": "sk-ant-admin-..."}) in this secret',
        )
        CfnOutput(
            self,
            "StripeWebhookUrl",
            # The $default stage URL ends with a slash.
            value=api.stage.url + routes.routes_for(routes.STRIPE_WEBHOOK)[0].path.lstrip("/"),
            description="The endpoint URL to register in Stripe (Developers > Webhooks)",
        )

    def _optional_text(self, key: str) -> str | None:
        value = self.node.try_get_context(key)
        text = str(value).strip() if value is not None else ""
        return text or None

    def _aggregation(self) -> Aggregation:
        default = Aggregation()
        size = self.node.try_get_context("aggregateBatchSize")
        window = self.node.try_get_context("aggregateBatchWindowSeconds")
        return Aggregation(
            batch_size=int(size) if size is not None else default.batch_size,
            window_s=int(window) if window is not None else default.window_s,
        )

    def _throttle(self) -> Throttle:
        # `-c key=value` arrives as a string; cdk.json values arrive as numbers.
        default = Throttle()
        burst = self.node.try_get_context("throttleBurst")
        rate = self.node.try_get_context("throttleRate")
        return Throttle(
            burst=int(burst) if burst is not None else default.burst,
            rate=float(rate) if rate is not None else default.rate,
        )
