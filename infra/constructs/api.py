"""The Lambda functions and the HTTP API in front of them, both driven by marginlens.routes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import jsii
from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw_v1  # AccessLogFormat lives in the v1 module
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as lambda_event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from infra.build_lambda import PYTHON_VERSION
from marginlens.api import routes
from marginlens.storage import schema
from marginlens.storage.dynamodb import BY_DAY_INDEX, UNPRICED_INDEX
from marginlens.storage.streams import EVENT_RECORD_FILTER
from marginlens.usage.aggregator import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_WINDOW_S

# DynamoDB actions each function may call on the table, nothing more. A function in the
# route table without an entry fails the synth (KeyError) rather than getting a default.
# TransactWriteItems is authorised per item through Put/Update/ConditionCheck.
TABLE_ACTIONS: dict[str, tuple[str, ...]] = {
    # Reads keys and prices; writes only through PARTITION_WRITES (never an aggregate).
    routes.INGEST_USAGE.name: ("dynamodb:GetItem",),
    # Reads its checkpoints and the budgets' aggregates; writes through PARTITION_WRITES.
    routes.AGGREGATE_USAGE.name: ("dynamodb:GetItem",),
    routes.API.name: (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",  # budgets, quality scores, aliases
    ),
    # PriceStore: read the CURRENT pointer (GetItem), write a snapshot's chunks and lineage (PutItem).
    routes.REFRESH_PRICES.name: (
        "dynamodb:GetItem",
        "dynamodb:PutItem",
    ),
    # RevenueLedger and CustomerStore: read documents, mappings and handled event ids (GetItem);
    # write them (PutItem, also each Put of the ledger's transactions); a transaction's Delete drops
    # a month item, unmapped listing or pending marker a new state no longer has (DeleteItem).
    routes.STRIPE_WEBHOOK.name: (
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    ),
    # marginlens.budgets.evaluate: read a customer's aggregate row (GetItem); claim an alert, take
    # over an expired lease and mark it sent with conditional Puts, and record it in the history
    # (PutItem); release a claim whose publish failed (DeleteItem). Its Queries are limited to
    # marginlens.storage.schema.BUDGET_PARTITIONS.
    routes.CHECK_BUDGETS.name: (
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    ),
    # marginlens.usecases.reconciliation: GetItem reads the price book's CURRENT pointer, a month's
    # last result before an error is recorded beside it (ReconciliationStore.save_error), an alert
    # claim whose condition failed (storage.claims) and the API key of a request. Its writes are in
    # PARTITION_WRITES only: PutItem for results, claims and history, DeleteItem to release a claim.
    routes.RECONCILE_COSTS.name: ("dynamodb:GetItem",),
    # Reads nothing from the table: an empty entry means no DynamoDB statement at all.
    routes.SLACK_NOTIFIER.name: (),
}

# Partitions a function may Query although TABLE_ACTIONS gives it no Query (IAM condition
# dynamodb:LeadingKeys), named by the storage schema itself so that a new partition cannot be
# forgotten here (see marginlens.storage.schema).
PARTITION_QUERIES: dict[str, tuple[str, ...]] = {
    routes.INGEST_USAGE.name: schema.PRICE_BOOK_PARTITIONS,
    routes.AGGREGATE_USAGE.name: schema.BUDGET_PARTITIONS,
    routes.STRIPE_WEBHOOK.name: schema.REVENUE_WAITING_PARTITIONS,
    routes.CHECK_BUDGETS.name: schema.BUDGET_PARTITIONS,
    routes.RECONCILE_COSTS.name: schema.RECONCILIATION_PARTITIONS,
}

# Writes a function may make only on the partitions named (IAM dynamodb:LeadingKeys): ingest
# writes events and their revenue, never an aggregate; the aggregator writes aggregates, its
# checkpoints and the budget alerts it sends (TransactWriteItems is authorised per item); the
# reconciliation writes its results and its cost_variance alerts, never an aggregate or a price.
PARTITION_WRITES: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]] = {
    routes.INGEST_USAGE.name: (
        (
            ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"),
            schema.INGEST_WRITE_PARTITIONS,
        ),
    ),
    routes.AGGREGATE_USAGE.name: (
        (("dynamodb:UpdateItem", "dynamodb:DeleteItem"), schema.AGGREGATE_PARTITIONS),
        (("dynamodb:PutItem", "dynamodb:DeleteItem"), schema.BUDGET_ALERT_PARTITIONS),
    ),
    routes.RECONCILE_COSTS.name: (
        # ReconciliationStore (RECON#{month}); claims (claimed, taken over, sent: conditional Puts
        # of the whole item, under ALERTCLAIM#ops#cost_variance) and the history (OPSALERTS#{month}).
        (
            ("dynamodb:PutItem",),
            (
                schema.every(schema.RECONCILIATION),
                schema.every(schema.ALERT_CLAIM),
                schema.every(schema.OPS_ALERTS),
            ),
        ),
        # A claim released when its publish failed, so that the next run retries it.
        (("dynamodb:DeleteItem",), (schema.every(schema.ALERT_CLAIM),)),
    ),
}

# Where Stripe refunds are counted (marginlens.revenue.stripe_events.RefundSource).
REFUND_SOURCES = ("charge", "refund")

# Lambda runtime in lockstep with the wheels infra/build_lambda.py installs.
RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + PYTHON_VERSION.replace(".", "_"))

LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# HTTP API access-log fields (JSON, so Logs Insights can query them).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
    "userAgent": "$context.identity.userAgent",
}

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Throttle:
    burst: int = 200
    rate: float = 100


@dataclass(frozen=True)
class Aggregation:
    """The aggregator's stream mapping: records per batch, and how long Lambda gathers them."""

    batch_size: int = DEFAULT_BATCH_SIZE
    window_s: int = DEFAULT_BATCH_WINDOW_S

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError(f"aggregateBatchSize must be 1 to 10000, not {self.batch_size}")
        if not 0 <= self.window_s <= 300:
            raise ValueError(f"aggregateBatchWindowSeconds must be 0 to 300, not {self.window_s}")


def _decimal_option(key: str, value: str | None, *, positive: bool) -> str | None:
    """A context value read as a decimal number: > 0 (`positive`) or >= 0; None when unset."""
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number < 0 or (positive and number == 0):
        bound = "greater than 0" if positive else "0 or more"
        raise ValueError(f"{key} must be a number {bound}, not {value!r}")
    return format(number, "f")


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class Api(Construct):
    """One Lambda (own role, own log group) per routes.FUNCTIONS, one route per routes.ROUTES."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        lambda_code_dir: str,
        env_name: str,
        removal_policy: RemovalPolicy,
        throttle: Throttle,
        alerts_topic: sns.ITopic,
        aggregation: Aggregation | None = None,
        prices_url: str,
        stripe_webhook_secret: secretsmanager.ISecret,
        slack_webhook_secret: secretsmanager.ISecret,
        provider_admin_keys_secret: secretsmanager.ISecret,
        reconcile_variance_pct: str | None = None,
        reconcile_min_cost: str | None = None,
        stripe_customer_metadata_key: str | None = None,
        stripe_refund_source: str | None = None,
        stripe_livemode: str | None = None,
        admin_key_sha256: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        if admin_key_sha256 is not None and not _SHA256_HEX.fullmatch(admin_key_sha256):
            # Guards against a plaintext key ending up in the function configuration.
            raise ValueError("adminKeySha256 must be the lowercase hex SHA-256 of the admin key")

        environment = {
            "MARGINLENS_TABLE": table.table_name,
            "POWERTOOLS_SERVICE_NAME": "marginlens",
            "POWERTOOLS_METRICS_NAMESPACE": "MarginLens",
            "LOG_LEVEL": "INFO",
        }
        if admin_key_sha256:
            environment["MARGINLENS_ADMIN_KEY_SHA256"] = admin_key_sha256

        if urlsplit(prices_url).scheme not in ("https", "http") or not urlsplit(prices_url).netloc:
            raise ValueError(f"pricesUrl must be an http(s) URL, not {prices_url!r}")
        if stripe_refund_source is not None and stripe_refund_source not in REFUND_SOURCES:
            raise ValueError(
                f"stripeRefundSource must be one of {REFUND_SOURCES}, not {stripe_refund_source!r}"
            )
        if stripe_livemode is not None and stripe_livemode.lower() not in ("true", "false"):
            raise ValueError(f"stripeLivemode must be true or false, not {stripe_livemode!r}")
        # Options left unset keep marginlens.core.settings' defaults (metadata key customer_id, refunds
        # counted from charges, live mode). Both functions that apply Stripe events get them: the
        # webhook, and the API (POST /v1/stripe/backfill takes the same path).
        stripe_options = {
            name: value
            for name, value in {
                "STRIPE_CUSTOMER_METADATA_KEY": stripe_customer_metadata_key,
                "STRIPE_REFUND_SOURCE": stripe_refund_source,
                "STRIPE_LIVEMODE": stripe_livemode.lower() if stripe_livemode else None,
            }.items()
            if value
        }
        # Thresholds left unset keep marginlens.core.settings' defaults (5 %, 1.00 USD).
        reconcile_options = {
            name: value
            for name, value in {
                "RECONCILE_VARIANCE_PCT": _decimal_option(
                    "reconcileVariancePct", reconcile_variance_pct, positive=True
                ),
                "RECONCILE_MIN_COST": _decimal_option("reconcileMinCost", reconcile_min_cost, positive=False),
            }.items()
            if value
        }

        # What a function gets beyond the table: the refresh fetches prices, publishes alerts; the
        # budget check and the api (its test alert) publish alerts; the Stripe webhook and the
        # Slack notifier read their secret (by ARN, through Powertools Parameters); the reconciliation
        # reads the providers' admin keys (the same way) and publishes cost_variance alerts.
        extra_environment: dict[str, dict[str, str]] = {
            routes.REFRESH_PRICES.name: {
                "MARGINLENS_ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
                "MARGINLENS_PRICES_URL": prices_url,
            },
            routes.STRIPE_WEBHOOK.name: {
                "STRIPE_WEBHOOK_SECRET_NAME": stripe_webhook_secret.secret_arn,
                **stripe_options,
            },
            routes.API.name: {
                **stripe_options,
                "MARGINLENS_STREAM_ARN": table.table_stream_arn or "",
                "MARGINLENS_ALERTS_TOPIC_ARN": alerts_topic.topic_arn,  # the go-live page's test alert
            },
            routes.AGGREGATE_USAGE.name: {
                "MARGINLENS_ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
                "MARGINLENS_STREAM_ARN": table.table_stream_arn or "",
            },
            routes.CHECK_BUDGETS.name: {"MARGINLENS_ALERTS_TOPIC_ARN": alerts_topic.topic_arn},
            routes.RECONCILE_COSTS.name: {
                "MARGINLENS_ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
                "PROVIDER_ADMIN_KEYS_SECRET_NAME": provider_admin_keys_secret.secret_arn,
                **reconcile_options,
            },
            routes.SLACK_NOTIFIER.name: {"SLACK_WEBHOOK_SECRET_NAME": slack_webhook_secret.secret_arn},
        }
        extra_statements: dict[str, list[iam.PolicyStatement]] = {
            routes.REFRESH_PRICES.name: [
                iam.PolicyStatement(actions=["sns:Publish"], resources=[alerts_topic.topic_arn])
            ],
            # GetSecretValue only (not grant_read's DescribeSecret); the secret uses the AWS-managed
            # key of Secrets Manager, so no KMS grant is needed.
            routes.STRIPE_WEBHOOK.name: [
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[stripe_webhook_secret.secret_arn]
                )
            ],
            routes.CHECK_BUDGETS.name: [
                iam.PolicyStatement(actions=["sns:Publish"], resources=[alerts_topic.topic_arn])
            ],
            routes.AGGREGATE_USAGE.name: [
                iam.PolicyStatement(actions=["sns:Publish"], resources=[alerts_topic.topic_arn])
            ],
            # Reports say how far behind the aggregates are: they read the stream after each checkpoint.
            routes.API.name: [
                iam.PolicyStatement(
                    actions=["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"],
                    resources=[table.table_stream_arn or ""],
                ),
                # POST /v1/alerts/test: an alert through the real channels.
                iam.PolicyStatement(actions=["sns:Publish"], resources=[alerts_topic.topic_arn]),
            ],
            routes.SLACK_NOTIFIER.name: [
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[slack_webhook_secret.secret_arn]
                )
            ],
            # cost_variance alerts; the admin keys secret only (GetSecretValue, AWS-managed key).
            routes.RECONCILE_COSTS.name: [
                iam.PolicyStatement(actions=["sns:Publish"], resources=[alerts_topic.topic_arn]),
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[provider_admin_keys_secret.secret_arn],
                ),
            ],
        }

        code = lambda_.Code.from_asset(lambda_code_dir)
        self.functions: dict[str, lambda_.Function] = {}
        for fn in routes.FUNCTIONS:
            self.functions[fn.name] = self._function(
                fn,
                code=code,
                table=table,
                environment={**environment, **extra_environment.get(fn.name, {})},
                statements=extra_statements.get(fn.name, []),
                removal_policy=removal_policy,
            )

        self.aggregate_failures = self._aggregate_from_stream(
            table, aggregation or Aggregation(), removal_policy
        )

        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            api_name=f"marginlens-{env_name}",
            description="MarginLens per-customer AI P&L API",
            # The default stage is created below, with access logging and throttling.
            create_default_stage=False,
        )
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=removal_policy
        )
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(burst_limit=throttle.burst, rate_limit=throttle.rate),
            access_log_settings=_AccessLogSettings(access_logs),
        )

        integrations = {
            name: HttpLambdaIntegration(
                f"{_pascal(name)}Integration",
                handler,
                payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0,
            )
            for name, handler in self.functions.items()
        }
        for route in routes.ROUTES:
            (http_route,) = self.http_api.add_routes(
                path=route.path,
                methods=[apigw.HttpMethod[route.method]],
                integration=integrations[route.function.name],
            )
            _acknowledge_no_authorizer(http_route, route)

    def _aggregate_from_stream(
        self, table: dynamodb.ITable, aggregation: Aggregation, removal_policy: RemovalPolicy
    ) -> sqs.Queue:
        """The aggregator on the table's stream: usage-event records only, batches bisected on error
        and retried (the checkpoint makes a retry harmless), what still fails to a queue."""
        failures = sqs.Queue(
            self,
            "AggregateFailures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        Validations.of(failures).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the aggregator mapping's on-failure destination: it holds the "
                "shard and sequence range of a batch that kept failing, for a rebuild of those days.",
            )
        )
        self.functions[routes.AGGREGATE_USAGE.name].add_event_source(
            lambda_event_sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=aggregation.batch_size,
                max_batching_window=Duration.seconds(aggregation.window_s),
                bisect_batch_on_error=True,
                retry_attempts=10_000,
                on_failure=lambda_event_sources.SqsDlq(failures),
                parallelization_factor=1,  # one batch per shard at a time: the checkpoint needs it
                # The event then carries `shardId`, which the checkpoint is kept by.
                tumbling_window=Duration.seconds(60),
                filters=[lambda_.FilterCriteria.filter(EVENT_RECORD_FILTER)],
            )
        )
        return failures

    def _function(
        self,
        fn: routes.Function,
        *,
        code: lambda_.Code,
        table: dynamodb.ITable,
        environment: Mapping[str, str],
        statements: Sequence[iam.PolicyStatement],
        removal_policy: RemovalPolicy,
    ) -> lambda_.Function:
        actions = TABLE_ACTIONS[fn.name]  # KeyError by design: no silent default permissions
        construct_id = _pascal(fn.name)

        # Own role without managed policies: only the grants below (least privilege, per function).
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"MarginLens {fn.name} function",
        )
        log_group = logs.LogGroup(
            self, f"{construct_id}Logs", retention=LOG_RETENTION, removal_policy=removal_policy
        )
        function = lambda_.Function(
            self,
            f"{construct_id}Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=fn.handler,
            code=code,
            memory_size=fn.memory_mb,
            timeout=Duration.seconds(fn.timeout_s),
            environment=dict(environment),
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            # Route keys would overflow Lambda's 256-character description as the table grows.
            description=f"MarginLens {fn.name} ({len(routes.routes_for(fn))} routes)",
        )
        if actions:  # an empty entry (the Slack notifier): no DynamoDB statement at all
            role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=[table.table_arn]))
        if "dynamodb:Query" in actions:  # repricing pages through the event indexes, by name
            indexes = [f"{table.table_arn}/index/{name}" for name in (BY_DAY_INDEX, UNPRICED_INDEX)]
            role.add_to_policy(iam.PolicyStatement(actions=["dynamodb:Query"], resources=indexes))
        for write_actions, write_partitions in PARTITION_WRITES.get(fn.name, ()):
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=list(write_actions),
                    resources=[table.table_arn],
                    conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(write_partitions)}},
                )
            )
        partitions = PARTITION_QUERIES.get(fn.name)
        if partitions:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:Query"],
                    resources=[table.table_arn],
                    conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(partitions)}},
                )
            )
        for statement in statements:
            role.add_to_policy(statement)
        log_group.grant_write(role)

        Validations.of(function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason=f"Runtime pinned to python{PYTHON_VERSION} to match the wheels "
                "infra/build_lambda.py installs; bump PYTHON_VERSION there to move both.",
            )
        )
        default_policy = role.node.find_child("DefaultPolicy")
        Validations.of(default_policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support no "
                "resource-level permissions; the DynamoDB, SNS and Logs statements are resource-scoped.",
            )
        )
        return function


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogSettings:
    """JSON access logs to a CloudWatch log group (HttpStage takes an interface, not a struct)."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)
        self._format = apigw_v1.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT))

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return self._format


def _acknowledge_no_authorizer(http_route: apigw.HttpRoute, route: routes.Route) -> None:
    if route.function == routes.STRIPE_WEBHOOK:
        reason = (
            "Called by Stripe, which cannot present an API key: the function verifies the "
            "Stripe-Signature HMAC over the raw body (and a 5-minute window) before writing anything."
        )
    elif route.scope is None:
        reason = "Public by design (API description and docs page); no API key needed."
    else:
        reason = (
            f"The Lambda authenticates the API key itself (scope '{route.scope}'): keys are "
            "stored hashed in DynamoDB with scopes, no API Gateway authorizer or Cognito pool."
        )
    Validations.of(http_route).acknowledge(Acknowledgment(id="AwsSolutions-APIG4", reason=reason))
