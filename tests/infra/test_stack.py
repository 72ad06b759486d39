"""Synthesizes MarginLensStack (no build, no Docker, no AWS) and checks it against the route table."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import aws_cdk
import pytest
from aws_cdk import assertions
from cdk_nag import AwsSolutionsChecks

from infra.constructs import api as api_construct
from infra.stack import MarginLensStack
from marginlens.api import routes

pytestmark = [
    pytest.mark.infra,
    pytest.mark.skipif(shutil.which("node") is None, reason="CDK synth needs Node.js"),
]


ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "ml_admin_test-plaintext-key"
ADMIN_KEY_SHA256 = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
# The least-privilege contract, spelled out so that widening a grant means editing this test.
EXPECTED_TABLE_ACTIONS = {
    # Writes only on its partitions (EXPECTED_PARTITION_WRITES): never an aggregate.
    "ingest_usage": {"GetItem"},
    # Reads checkpoints and budgets' aggregates; writes only on its partitions.
    "aggregate_usage": {"GetItem"},
    "api": {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "ConditionCheckItem", "DeleteItem"},
    "refresh_prices": {"GetItem", "PutItem"},
    # RevenueLedger + CustomerStore: Get/Put, and transactions' Put/Delete items (no Update, no
    # ConditionCheck: the ledger guards its Puts with conditions instead).
    "stripe_webhook": {"GetItem", "PutItem", "DeleteItem"},
    # Budget evaluation: aggregate rows (Get), alert claims and history (Put), released claims (Delete).
    "check_budgets": {"GetItem", "PutItem", "DeleteItem"},
    # Reconciliation: price pointer, results, claims, keys (Get); writes only on its partitions.
    "reconcile_costs": {"GetItem"},
    "slack_notifier": set(),  # no table access at all
}
# Query limited to these partitions (dynamodb:LeadingKeys), on top of the table actions above.
EXPECTED_PARTITION_QUERIES = {
    "ingest_usage": {"PRICESNAP#*", "PRICEOVR", "MODELALIAS"},
    "stripe_webhook": {"REVUNMAPPED", "REVPENDING#*", "REVSTRIPECUST#*"},
    "check_budgets": {
        "BUDGETS",
        "ALERTCLAIM#*",
        "AGG#CM#*",
        "AGG#FM#*",
        "AGG#CD#*",
        "AGG#FD#*",
        "AGG#CFD#*",
        "REV#M#*",
        "CUSTOMERS",
    },
    # The price book (to resolve billed models) and the feature x model per day aggregates only.
    "reconcile_costs": {"PRICESNAP#*", "PRICEOVR", "MODELALIAS", "AGG#FD#*"},
}
# Writes limited to these partitions (dynamodb:LeadingKeys), one statement each.
INGEST_PARTITIONS = {
    "EVENT#*",
    "REVDOC#*",
    "REV#M#*",
    "REVUNMAPPED",
    "REVPENDING#*",
    "REVSTRIPECUST#*",
    "CUSTOMERS",
    "KEYS",
}
EXPECTED_PARTITION_WRITES = {
    "ingest_usage": [({"PutItem", "UpdateItem", "ConditionCheckItem"}, INGEST_PARTITIONS)],
    "aggregate_usage": [
        (
            {"UpdateItem", "DeleteItem"},
            {"AGG#CM#*", "AGG#CD#*", "AGG#FM#*", "AGG#FD#*", "AGG#CFD#*", "AGG#LAT#*", "AGGSHARD#*"},
        ),
        ({"PutItem", "DeleteItem"}, {"ALERTCLAIM#*", "ALERTS#*"}),
    ],
    # Results, cost_variance claims and their history; a claim released after a failed publish.
    "reconcile_costs": [
        ({"PutItem"}, {"RECON#*", "ALERTCLAIM#*", "OPSALERTS#*"}),
        ({"DeleteItem"}, {"ALERTCLAIM#*"}),
    ],
}
EXPECTED_PARTITION_QUERIES["aggregate_usage"] = EXPECTED_PARTITION_QUERIES["check_budgets"]
STREAM_READS = {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"}
STREAM_READERS = {"api", "aggregate_usage"}  # reports' freshness; the stream mapping
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
NEVER_GRANTED = {"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:*"}
INDEX_QUERIES = {"api"}  # functions that page through the event indexes (repricing)


def _context(**extra: Any) -> dict[str, Any]:
    # Same feature flags as `cdk synth`/`make synth`, so the test sees the deployed template.
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.pop("env", None)
    return {**context, "aws:cdk:bundling-stacks": [], **extra}


def _stack(code_dir: Path, env_name: str = "dev", **context: Any) -> MarginLensStack:
    app = aws_cdk.App(context=_context(**context))
    return MarginLensStack(app, f"MarginLens-{env_name}", lambda_code_dir=str(code_dir), env_name=env_name)


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lambda")
    (path / "placeholder.txt").write_text("stands in for build/lambda\n")
    return path


@pytest.fixture(scope="module")
def stack(code_dir: Path) -> MarginLensStack:
    return _stack(code_dir, adminKeySha256=ADMIN_KEY_SHA256)


@pytest.fixture(scope="module")
def template(stack: MarginLensStack) -> assertions.Template:
    return assertions.Template.from_stack(stack)


@pytest.fixture(scope="module")
def resources(template: assertions.Template) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = template.to_json()["Resources"]
    return resources


def _of_type(resources: dict[str, dict[str, Any]], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in resources.items() if res["Type"] == cfn_type}


def _function_ids(resources: dict[str, dict[str, Any]]) -> dict[str, str]:
    """routes.Function name -> logical id of its AWS::Lambda::Function (matched by handler)."""
    by_handler = {
        res["Properties"]["Handler"]: lid for lid, res in _of_type(resources, "AWS::Lambda::Function").items()
    }
    return {fn.name: by_handler[fn.handler] for fn in routes.FUNCTIONS}


def _role_statements(resources: dict[str, dict[str, Any]], function_id: str) -> list[dict[str, Any]]:
    role_id = resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for policy in _of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def _only(resources: dict[str, dict[str, Any]], cfn_type: str) -> tuple[str, dict[str, Any]]:
    (found,) = _of_type(resources, cfn_type).items()
    return found


def _named(resources: dict[str, dict[str, Any]], cfn_type: str, name: str) -> tuple[str, dict[str, Any]]:
    """The one resource of `cfn_type` whose logical id contains `name`."""
    (found,) = [(lid, res) for lid, res in _of_type(resources, cfn_type).items() if name in lid]
    return found


def _rule_for(resources: dict[str, dict[str, Any]], name: str) -> tuple[str, dict[str, Any]]:
    return _named(resources, "AWS::Events::Rule", name)


# --- DynamoDB -----------------------------------------------------------------------------------


def test_one_table_with_pk_sk_on_demand_pitr(template: assertions.Template) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": assertions.Match.array_with(
                [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ]
            ),
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )


def test_dev_table_is_destroyed_prod_table_retained(template: assertions.Template, code_dir: Path) -> None:
    template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Delete"})
    prod = assertions.Template.from_stack(_stack(code_dir, "prod"))
    prod.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


# --- Lambda -------------------------------------------------------------------------------------


def test_one_lambda_per_route_table_function(template: assertions.Template) -> None:
    template.resource_count_is("AWS::Lambda::Function", len(routes.FUNCTIONS))
    for fn in routes.FUNCTIONS:
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": fn.handler,
                "Runtime": assertions.Match.string_like_regexp(r"^python3\.1\d$"),
                "Architectures": ["arm64"],
                "MemorySize": fn.memory_mb,
                "Timeout": fn.timeout_s,
                "TracingConfig": {"Mode": "Active"},
                "Environment": {
                    "Variables": {
                        "MARGINLENS_TABLE": {"Ref": assertions.Match.any_value()},
                        "POWERTOOLS_SERVICE_NAME": "marginlens",
                        "POWERTOOLS_METRICS_NAMESPACE": "MarginLens",
                        "LOG_LEVEL": "INFO",
                        "MARGINLENS_ADMIN_KEY_SHA256": ADMIN_KEY_SHA256,
                    }
                },
            },
        )


def test_each_function_has_its_own_role_and_log_group(
    resources: dict[str, dict[str, Any]], template: assertions.Template
) -> None:
    functions = [resources[lid] for lid in _function_ids(resources).values()]
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in functions}
    log_groups = {fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for fn in functions}
    assert len(roles) == len(log_groups) == len(routes.FUNCTIONS)
    for role_id in roles:
        assert "ManagedPolicyArns" not in resources[role_id]["Properties"]
    # Function log groups plus the API access log group, all with a finite retention.
    template.resource_count_is("AWS::Logs::LogGroup", len(routes.FUNCTIONS) + 1)
    for log_group in _of_type(resources, "AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == 30


@pytest.mark.parametrize("fn", routes.FUNCTIONS, ids=lambda fn: fn.name)
def test_role_grants_only_listed_table_actions(
    resources: dict[str, dict[str, Any]], fn: routes.Function
) -> None:
    function_id = _function_ids(resources)[fn.name]
    table_id = next(iter(_of_type(resources, "AWS::DynamoDB::Table")))
    all_dynamodb = [
        st
        for st in _role_statements(resources, function_id)
        if any(a.startswith("dynamodb:") for a in _actions(st))
    ]
    index_statements = [st for st in all_dynamodb if isinstance(st["Resource"], list)]
    stream_statements = [
        st for st in all_dynamodb if _actions(st) & (STREAM_READS | {"dynamodb:ListStreams"})
    ]
    dynamodb_statements = [st for st in all_dynamodb if st not in index_statements + stream_statements]
    if fn.name in STREAM_READERS:
        read = {a for st in stream_statements for a in _actions(st) if a.startswith("dynamodb:")}
        assert STREAM_READS <= read <= STREAM_READS | {"dynamodb:ListStreams"}
        for st in stream_statements:  # the stream only (ListStreams takes no resource)
            on_stream = "StreamArn" in json.dumps(st["Resource"])
            assert on_stream or _actions(st) <= XRAY_ACTIONS | {"dynamodb:ListStreams"}
    else:
        assert stream_statements == []
    if fn.name in INDEX_QUERIES:
        (index_query,) = index_statements
        assert _actions(index_query) == {"dynamodb:Query"}
        rendered = json.dumps(index_query["Resource"])
        assert "/index/by_day" in rendered and "/index/unpriced" in rendered and "*" not in rendered
    else:
        assert index_statements == []
    unconditional = [st for st in dynamodb_statements if "Condition" not in st]
    conditional = [st for st in dynamodb_statements if "Condition" in st]
    granted = set().union(*(_actions(st) for st in unconditional))

    assert granted == set(api_construct.TABLE_ACTIONS[fn.name])
    assert granted == {f"dynamodb:{action}" for action in EXPECTED_TABLE_ACTIONS[fn.name]}
    assert not granted & NEVER_GRANTED
    for st in dynamodb_statements:
        assert st["Effect"] == "Allow"
        assert st["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}

    writes = [st for st in conditional if "dynamodb:Query" not in _actions(st)]
    assert sorted(
        (sorted(_actions(st)), sorted(st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]))
        for st in writes
    ) == sorted(
        (sorted(f"dynamodb:{action}" for action in actions), sorted(partitions))
        for actions, partitions in EXPECTED_PARTITION_WRITES.get(fn.name, [])
    )
    queries = [st for st in conditional if st not in writes]
    expected_partitions = EXPECTED_PARTITION_QUERIES.get(fn.name)
    if expected_partitions is None:
        assert queries == []
    else:
        (query,) = queries
        assert _actions(query) == {"dynamodb:Query"}
        assert set(api_construct.PARTITION_QUERIES[fn.name]) == expected_partitions
        leading_keys = query["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        assert set(leading_keys) == expected_partitions and len(query["Condition"]) == 1


def test_ingest_cannot_read_in_bulk(resources: dict[str, dict[str, Any]]) -> None:
    """Ingest reads the price book (PriceStore.book()) and nothing else in bulk: its one Query is
    limited to the price book's partitions, never the ledger's."""
    function_id = _function_ids(resources)[routes.INGEST_USAGE.name]
    statements = _role_statements(resources, function_id)
    actions = set().union(*(_actions(st) for st in statements))
    for forbidden in (
        "dynamodb:Scan",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:BatchGetItem",
    ):
        assert forbidden not in actions
    (query,) = [st for st in statements if "dynamodb:Query" in _actions(st)]
    partitions = query["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert not any(p.startswith(("EVENT", "AGG", "KEY", "CUST", "REV")) or p == "*" for p in partitions)


def test_missing_table_actions_entry_fails_synth(code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(api_construct.TABLE_ACTIONS, routes.API.name)
    with pytest.raises(KeyError, match=routes.API.name):
        _stack(code_dir)


# --- Admin key ----------------------------------------------------------------------------------


def test_no_plaintext_admin_key_in_template(template: assertions.Template) -> None:
    assert ADMIN_KEY not in json.dumps(template.to_json())


def test_plaintext_admin_key_in_context_is_rejected(code_dir: Path) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        _stack(code_dir, adminKeySha256=ADMIN_KEY)


# --- HTTP API -----------------------------------------------------------------------------------


def test_http_api_with_logged_throttled_default_stage(template: assertions.Template) -> None:
    template.resource_count_is("AWS::ApiGatewayV2::Api", 1)
    template.has_resource_properties("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP"})
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "AccessLogSettings": {
                "DestinationArn": assertions.Match.any_value(),
                "Format": assertions.Match.string_like_regexp(r"\$context\.requestId"),
            },
            "DefaultRouteSettings": {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100},
        },
    )


def test_one_route_per_route_table_entry(
    template: assertions.Template, resources: dict[str, dict[str, Any]]
) -> None:
    template.resource_count_is("AWS::ApiGatewayV2::Route", len(routes.ROUTES))
    route_keys = {
        res["Properties"]["RouteKey"] for res in _of_type(resources, "AWS::ApiGatewayV2::Route").values()
    }
    assert route_keys == {route.route_key for route in routes.ROUTES}


def test_each_route_targets_its_function(resources: dict[str, dict[str, Any]]) -> None:
    function_ids = _function_ids(resources)
    for route in routes.ROUTES:
        (cfn_route,) = [
            res
            for res in _of_type(resources, "AWS::ApiGatewayV2::Route").values()
            if res["Properties"]["RouteKey"] == route.route_key
        ]
        integration_id = cfn_route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
        integration = resources[integration_id]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [function_ids[route.function.name], "Arn"]}


def test_outputs(template: assertions.Template) -> None:
    template.has_output("ApiUrl", {})
    template.has_output("TableName", {})
    template.has_output("AlertsTopicArn", {})
    template.has_output("StripeWebhookSecretArn", {})
    template.has_output("StripeWebhookUrl", {})


# --- Price refresh: schedule, alerts topic, permissions ------------------------------------------


def test_daily_schedule_targets_the_refresh_function(resources: dict[str, dict[str, Any]]) -> None:
    function_id = _function_ids(resources)[routes.REFRESH_PRICES.name]
    rule_id, rule = _rule_for(resources, "DailyPriceRefresh")
    properties = rule["Properties"]
    assert properties["ScheduleExpression"] == "cron(15 3 * * ? *)"  # daily, 03:15 UTC
    assert properties["State"] == "ENABLED" and "EventPattern" not in properties
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}

    (permission,) = [
        res["Properties"]
        for res in _of_type(resources, "AWS::Lambda::Permission").values()
        if res["Properties"]["Principal"] == "events.amazonaws.com"
        and res["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}

    # A refusal alerts once and returns normally; a function error is not retried (no re-alerts).
    _, invoke_config = _only(resources, "AWS::Lambda::EventInvokeConfig")
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": function_id}
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 0


def test_alerts_topic_is_encrypted_and_ssl_only(resources: dict[str, dict[str, Any]]) -> None:
    topic_id, topic = _only(resources, "AWS::SNS::Topic")
    assert "alerts" in topic_id.lower()
    key = json.dumps(topic["Properties"]["KmsMasterKeyId"])
    assert key.endswith(':alias/aws/sns"]]}')
    _, policy = _only(resources, "AWS::SNS::TopicPolicy")
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == {"Ref": topic_id}
    # No alertEmails in context: the Slack notifier is the only subscriber.
    (subscription,) = [res["Properties"] for res in _of_type(resources, "AWS::SNS::Subscription").values()]
    assert subscription["Protocol"] == "lambda"


def test_alert_emails_subscribe_to_the_topic(code_dir: Path) -> None:
    resources = assertions.Template.from_stack(
        _stack(code_dir, alertEmails="ops@example.com, finance@example.com")
    ).to_json()["Resources"]
    topic_id, _ = _only(resources, "AWS::SNS::Topic")
    subscriptions = [
        res["Properties"]
        for res in _of_type(resources, "AWS::SNS::Subscription").values()
        if res["Properties"]["Protocol"] != "lambda"  # the Slack notifier
    ]
    assert sorted(sub["Endpoint"] for sub in subscriptions) == ["finance@example.com", "ops@example.com"]
    for sub in subscriptions:
        assert sub["Protocol"] == "email" and sub["TopicArn"] == {"Ref": topic_id}


def test_bad_alert_email_or_prices_url_is_rejected(code_dir: Path) -> None:
    with pytest.raises(ValueError, match="alertEmails"):
        _stack(code_dir, alertEmails="ops@example.com,not-an-address")
    with pytest.raises(ValueError, match="pricesUrl"):
        _stack(code_dir, pricesUrl="file:///etc/passwd")


def test_refresh_function_environment(resources: dict[str, dict[str, Any]], code_dir: Path) -> None:
    from genai_prices.update_prices import DEFAULT_UPDATE_URL

    topic_id, _ = _only(resources, "AWS::SNS::Topic")
    function_ids = _function_ids(resources)
    variables = resources[function_ids[routes.REFRESH_PRICES.name]]["Properties"]["Environment"]["Variables"]
    assert variables["MARGINLENS_ALERTS_TOPIC_ARN"] == {"Ref": topic_id}
    assert variables["MARGINLENS_PRICES_URL"] == DEFAULT_UPDATE_URL
    ingest = resources[function_ids[routes.INGEST_USAGE.name]]["Properties"]["Environment"]["Variables"]
    assert "MARGINLENS_ALERTS_TOPIC_ARN" not in ingest and "MARGINLENS_PRICES_URL" not in ingest
    api = resources[function_ids[routes.API.name]]["Properties"]["Environment"]["Variables"]
    assert api["MARGINLENS_ALERTS_TOPIC_ARN"] == {"Ref": topic_id}  # the go-live page's test alert
    assert "MARGINLENS_PRICES_URL" not in api

    mirror = "https://prices.example.com/genai-prices/v2/data.json"
    custom = assertions.Template.from_stack(_stack(code_dir, pricesUrl=mirror))
    custom.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": routes.REFRESH_PRICES.handler,
            "Environment": {"Variables": {"MARGINLENS_PRICES_URL": mirror}},
        },
    )


def test_refresh_function_has_only_the_permissions_it_needs(resources: dict[str, dict[str, Any]]) -> None:
    function_ids = _function_ids(resources)
    function_id = function_ids[routes.REFRESH_PRICES.name]
    table_id, _ = _only(resources, "AWS::DynamoDB::Table")
    topic_id, _ = _only(resources, "AWS::SNS::Topic")
    log_group_id = resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]

    granted = sorted(
        (sorted(_actions(st)), json.dumps(st["Resource"], sort_keys=True), st["Effect"], "Condition" in st)
        for st in _role_statements(resources, function_id)
    )
    expected = sorted(
        [
            (["dynamodb:GetItem", "dynamodb:PutItem"], {"Fn::GetAtt": [table_id, "Arn"]}),
            (["sns:Publish"], {"Ref": topic_id}),
            (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [log_group_id, "Arn"]}),
            (sorted(XRAY_ACTIONS), "*"),
        ]
    )
    assert granted == sorted(
        (actions, json.dumps(resource, sort_keys=True), "Allow", False) for actions, resource in expected
    )

    # Ingest never publishes alerts (the api does only for POST /v1/alerts/test).
    ingest = _role_statements(resources, function_ids[routes.INGEST_USAGE.name])
    assert not any(action.startswith("sns:") for action in set().union(*(_actions(st) for st in ingest)))


def test_no_wildcard_resources_but_xray(resources: dict[str, dict[str, Any]]) -> None:
    for name, function_id in _function_ids(resources).items():
        # The stream mapping's role lists the streams (ListStreams has no resource-level permission).
        allowed = XRAY_ACTIONS | ({"dynamodb:ListStreams"} if name == routes.AGGREGATE_USAGE.name else set())
        for st in _role_statements(resources, function_id):
            if st["Resource"] == "*" or (isinstance(st["Resource"], str) and "*" in st["Resource"]):
                assert _actions(st) <= allowed


def test_ingest_can_no_longer_write_an_aggregate(resources: dict[str, dict[str, Any]]) -> None:
    """Ingest writes one Put per event: every write it may make is limited to partitions that are
    not aggregates (the aggregator owns those)."""
    function_id = _function_ids(resources)[routes.INGEST_USAGE.name]
    for st in _role_statements(resources, function_id):
        if _actions(st) & {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}:
            partitions = st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            assert partitions and not any(p.startswith("AGG") or p == "*" for p in partitions)


def test_the_aggregator_reads_the_tables_stream_with_its_checkpoint_contract(
    resources: dict[str, dict[str, Any]], code_dir: Path
) -> None:
    (table,) = _of_type(resources, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    (mapping,) = _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": _function_ids(resources)[routes.AGGREGATE_USAGE.name]}
    assert props["StartingPosition"] == "TRIM_HORIZON" and props["BatchSize"] == 1000
    assert props["MaximumBatchingWindowInSeconds"] == 5
    assert props["BisectBatchOnFunctionError"] is True and props["ParallelizationFactor"] == 1
    assert props["TumblingWindowInSeconds"] > 0  # puts shardId in the event: the checkpoint's key
    (queue_id,) = _of_type(resources, "AWS::SQS::Queue")
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    (pattern,) = props["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"]) == {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "EVENT#"}]}}}}

    tuned = assertions.Template.from_stack(
        _stack(code_dir, "tuned", aggregateBatchSize=500, aggregateBatchWindowSeconds=2)
    ).to_json()["Resources"]
    (mapping,) = _of_type(tuned, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["BatchSize"] == 500
    assert mapping["Properties"]["MaximumBatchingWindowInSeconds"] == 2


# --- Stripe webhook: function, secret, route, permissions ----------------------------------------


def test_stripe_webhook_secret_is_a_generated_placeholder(
    resources: dict[str, dict[str, Any]], template: assertions.Template, code_dir: Path
) -> None:
    secret_id, secret = _named(resources, "AWS::SecretsManager::Secret", "StripeWebhookSecret")
    assert "StripeWebhookSecret" in secret_id
    generated = secret["Properties"]["GenerateSecretString"]
    # The function reads {"secrets": []} as "not configured yet": the placeholder signs nothing.
    assert json.loads(generated["SecretStringTemplate"]) == {"secrets": []}
    assert generated["GenerateStringKey"] != "secrets"
    assert "SecretString" not in secret["Properties"]  # no value in the template
    assert "Name" not in secret["Properties"]  # a fixed name would block re-creating a dev stack
    assert "KmsKeyId" not in secret["Properties"]  # AWS-managed key: no KMS grant needed
    assert secret["DeletionPolicy"] == "Delete"
    prod = assertions.Template.from_stack(_stack(code_dir, "prod"))
    prod_secrets = _of_type(prod.to_json()["Resources"], "AWS::SecretsManager::Secret")
    assert {res["DeletionPolicy"] for res in prod_secrets.values()} == {"Retain"}
    template.has_output("StripeWebhookSecretArn", {"Value": {"Ref": secret_id}})
    api_id, _ = _only(resources, "AWS::ApiGatewayV2::Api")
    url_parts = template.to_json()["Outputs"]["StripeWebhookUrl"]["Value"]["Fn::Join"][1]
    assert url_parts[-1] == "/v1/stripe/webhook" and {"Ref": api_id} in url_parts


def test_stripe_webhook_function_environment(resources: dict[str, dict[str, Any]], code_dir: Path) -> None:
    secret_id, _ = _named(resources, "AWS::SecretsManager::Secret", "StripeWebhookSecret")
    function_ids = _function_ids(resources)
    variables = resources[function_ids[routes.STRIPE_WEBHOOK.name]]["Properties"]["Environment"]["Variables"]
    assert variables["STRIPE_WEBHOOK_SECRET_NAME"] == {"Ref": secret_id}
    # Never the secret itself; options unset keep the function's defaults (marginlens.core.settings).
    assert "STRIPE_WEBHOOK_SECRET" not in variables
    assert "STRIPE_CUSTOMER_METADATA_KEY" not in variables and "STRIPE_REFUND_SOURCE" not in variables
    assert "STRIPE_LIVEMODE" not in variables  # live mode, the functions' default
    for fn in routes.FUNCTIONS:
        if fn not in (routes.STRIPE_WEBHOOK, routes.API):
            others = resources[function_ids[fn.name]]["Properties"]["Environment"]["Variables"]
            assert not any(name.startswith("STRIPE_") for name in others), fn.name

    custom = assertions.Template.from_stack(
        _stack(
            code_dir,
            stripeCustomerMetadataKey="marginlens_id",
            stripeRefundSource="refund",
            stripeLivemode="false",
        )
    )
    # The webhook and the API (whose backfill route applies Stripe objects the same way) alike.
    for function in (routes.STRIPE_WEBHOOK, routes.API):
        custom.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": function.handler,
                "Environment": {
                    "Variables": {
                        "STRIPE_CUSTOMER_METADATA_KEY": "marginlens_id",
                        "STRIPE_REFUND_SOURCE": "refund",
                        "STRIPE_LIVEMODE": "false",
                    }
                },
            },
        )
    with pytest.raises(ValueError, match="stripeRefundSource"):
        _stack(code_dir, stripeRefundSource="invoice")
    with pytest.raises(ValueError, match="stripeLivemode"):
        _stack(code_dir, stripeLivemode="sometimes")


def test_stripe_webhook_has_only_the_permissions_it_needs(resources: dict[str, dict[str, Any]]) -> None:
    function_ids = _function_ids(resources)
    function_id = function_ids[routes.STRIPE_WEBHOOK.name]
    table_id, _ = _only(resources, "AWS::DynamoDB::Table")
    secret_id, _ = _named(resources, "AWS::SecretsManager::Secret", "StripeWebhookSecret")
    log_group_id = resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]

    granted = sorted(
        (sorted(_actions(st)), json.dumps(st["Resource"], sort_keys=True), st["Effect"], st.get("Condition"))
        for st in _role_statements(resources, function_id)
    )
    table = {"Fn::GetAtt": [table_id, "Arn"]}
    leading_keys = {
        "ForAllValues:StringLike": {
            "dynamodb:LeadingKeys": ["REVUNMAPPED", "REVPENDING#*", "REVSTRIPECUST#*"]
        }
    }
    expected = [
        (["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"], table, None),
        (["dynamodb:Query"], table, leading_keys),
        (["secretsmanager:GetSecretValue"], {"Ref": secret_id}, None),
        (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [log_group_id, "Arn"]}, None),
        (sorted(XRAY_ACTIONS), "*", None),
    ]
    assert granted == sorted(
        (actions, json.dumps(resource, sort_keys=True), "Allow", condition)
        for actions, resource, condition in expected
    )

    # No other function may read the secret (the Slack notifier and the reconciliation read only
    # their own).
    for fn in routes.FUNCTIONS:
        if fn not in (routes.STRIPE_WEBHOOK, routes.SLACK_NOTIFIER, routes.RECONCILE_COSTS):
            statements = _role_statements(resources, function_ids[fn.name])
            actions = set().union(*(_actions(st) for st in statements))
            assert not any(action.startswith("secretsmanager:") for action in actions), fn.name
        statements = _role_statements(resources, function_ids[fn.name])
        if fn != routes.STRIPE_WEBHOOK:
            assert {"Ref": secret_id} not in [st["Resource"] for st in statements], fn.name


def test_stripe_webhook_route_is_public_and_served_by_its_own_function(
    resources: dict[str, dict[str, Any]],
) -> None:
    # Stripe cannot present an API key: no scope in the route table, no authorizer in API Gateway;
    # the function verifies Stripe-Signature itself.
    assert routes.SCOPE_BY_ROUTE_KEY["POST /v1/stripe/webhook"] is None
    assert [route.route_key for route in routes.routes_for(routes.STRIPE_WEBHOOK)] == [
        "POST /v1/stripe/webhook"
    ]
    function_id = _function_ids(resources)[routes.STRIPE_WEBHOOK.name]
    (cfn_route,) = [
        res["Properties"]
        for res in _of_type(resources, "AWS::ApiGatewayV2::Route").values()
        if res["Properties"]["RouteKey"] == "POST /v1/stripe/webhook"
    ]
    assert cfn_route.get("AuthorizationType", "NONE") == "NONE" and "AuthorizerId" not in cfn_route
    integration_id = cfn_route["Target"]["Fn::Join"][1][1]["Ref"]
    integration = resources[integration_id]["Properties"]
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert integration["PayloadFormatVersion"] == "2.0"
    # Only API Gateway may invoke it (no function URL, no other principal).
    assert _of_type(resources, "AWS::Lambda::Url") == {}
    principals = {
        res["Properties"]["Principal"]
        for res in _of_type(resources, "AWS::Lambda::Permission").values()
        if res["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    }
    assert principals == {"apigateway.amazonaws.com"}


# --- Budgets: schedule, alerts; Slack notifier: secret, subscription, permissions ----------------


def test_budget_schedule_targets_check_budgets(resources: dict[str, dict[str, Any]], code_dir: Path) -> None:
    function_id = _function_ids(resources)[routes.CHECK_BUDGETS.name]
    rule_id, rule = _rule_for(resources, "BudgetCheck")
    properties = rule["Properties"]
    assert properties["ScheduleExpression"] == "rate(5 minutes)"
    assert properties["State"] == "ENABLED" and "EventPattern" not in properties
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    (permission,) = [
        res["Properties"]
        for res in _of_type(resources, "AWS::Lambda::Permission").values()
        if res["Properties"]["Principal"] == "events.amazonaws.com"
        and res["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}

    custom = assertions.Template.from_stack(_stack(code_dir, budgetCheckMinutes="15")).to_json()
    _, rule = _rule_for(custom["Resources"], "BudgetCheck")
    assert rule["Properties"]["ScheduleExpression"] == "rate(15 minutes)"
    with pytest.raises(ValueError, match="budgetCheckMinutes"):
        _stack(code_dir, budgetCheckMinutes=0)


def test_check_budgets_has_only_the_permissions_it_needs(resources: dict[str, dict[str, Any]]) -> None:
    function_ids = _function_ids(resources)
    function_id = function_ids[routes.CHECK_BUDGETS.name]
    table_id, _ = _only(resources, "AWS::DynamoDB::Table")
    topic_id, _ = _only(resources, "AWS::SNS::Topic")
    log_group_id = resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    variables = resources[function_id]["Properties"]["Environment"]["Variables"]
    assert variables["MARGINLENS_ALERTS_TOPIC_ARN"] == {"Ref": topic_id}

    granted = sorted(
        (sorted(_actions(st)), json.dumps(st["Resource"], sort_keys=True), st["Effect"], st.get("Condition"))
        for st in _role_statements(resources, function_id)
    )
    table = {"Fn::GetAtt": [table_id, "Arn"]}
    partitions = [
        "BUDGETS",
        "ALERTCLAIM#*",
        "AGG#CM#*",
        "AGG#FM#*",
        "AGG#CD#*",
        "AGG#FD#*",
        "AGG#CFD#*",
        "REV#M#*",
        "CUSTOMERS",
    ]
    expected = [
        (["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"], table, None),
        (["dynamodb:Query"], table, {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": partitions}}),
        (["sns:Publish"], {"Ref": topic_id}, None),
        (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [log_group_id, "Arn"]}, None),
        (sorted(XRAY_ACTIONS), "*", None),
    ]
    assert granted == sorted(
        (actions, json.dumps(resource, sort_keys=True), "Allow", condition)
        for actions, resource, condition in expected
    )


def test_slack_webhook_secret_is_a_generated_placeholder(
    resources: dict[str, dict[str, Any]], template: assertions.Template
) -> None:
    secret_id, secret = _named(resources, "AWS::SecretsManager::Secret", "SlackWebhookSecret")
    assert "GenerateSecretString" in secret["Properties"]  # a random placeholder, no URL
    assert "SecretString" not in secret["Properties"] and "Name" not in secret["Properties"]
    assert "KmsKeyId" not in secret["Properties"]
    template.has_output("SlackWebhookSecretArn", {"Value": {"Ref": secret_id}})


def test_slack_notifier_is_subscribed_to_the_alerts_topic(resources: dict[str, dict[str, Any]]) -> None:
    function_id = _function_ids(resources)[routes.SLACK_NOTIFIER.name]
    topic_id, _ = _only(resources, "AWS::SNS::Topic")
    (subscription,) = [
        res["Properties"]
        for res in _of_type(resources, "AWS::SNS::Subscription").values()
        if res["Properties"]["Protocol"] == "lambda"
    ]
    assert subscription["TopicArn"] == {"Ref": topic_id}
    assert subscription["Endpoint"] == {"Fn::GetAtt": [function_id, "Arn"]}
    principals = {
        res["Properties"]["Principal"]: res["Properties"].get("SourceArn")
        for res in _of_type(resources, "AWS::Lambda::Permission").values()
        if res["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    }
    assert principals == {"sns.amazonaws.com": {"Ref": topic_id}}  # no HTTP route, no schedule
    assert routes.routes_for(routes.SLACK_NOTIFIER) == []


def test_slack_notifier_has_only_the_secret_grant(resources: dict[str, dict[str, Any]]) -> None:
    function_ids = _function_ids(resources)
    function_id = function_ids[routes.SLACK_NOTIFIER.name]
    secret_id, _ = _named(resources, "AWS::SecretsManager::Secret", "SlackWebhookSecret")
    log_group_id = resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    variables = resources[function_id]["Properties"]["Environment"]["Variables"]
    assert variables["SLACK_WEBHOOK_SECRET_NAME"] == {"Ref": secret_id}
    assert "SLACK_WEBHOOK_URL" not in variables and "MARGINLENS_ALERTS_TOPIC_ARN" not in variables

    statements = _role_statements(resources, function_id)
    actions = set().union(*(_actions(st) for st in statements))
    assert not any(action.startswith(("dynamodb:", "sns:")) for action in actions)
    granted = sorted(
        (sorted(_actions(st)), json.dumps(st["Resource"], sort_keys=True), st["Effect"], "Condition" in st)
        for st in statements
    )
    expected = [
        (["secretsmanager:GetSecretValue"], {"Ref": secret_id}),
        (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [log_group_id, "Arn"]}),
        (sorted(XRAY_ACTIONS), "*"),
    ]
    assert granted == sorted(
        (actions, json.dumps(resource, sort_keys=True), "Allow", False) for actions, resource in expected
    )
    # No other function reads the Slack secret.
    for fn in routes.FUNCTIONS:
        if fn != routes.SLACK_NOTIFIER:
            others = _role_statements(resources, function_ids[fn.name])
            assert {"Ref": secret_id} not in [st["Resource"] for st in others], fn.name


# --- Reconciliation: schedule, secret, environment, permissions ----------------------------------


def test_reconciliation_schedule_targets_reconcile_costs(resources: dict[str, dict[str, Any]]) -> None:
    function_id = _function_ids(resources)[routes.RECONCILE_COSTS.name]
    rule_id, rule = _rule_for(resources, "DailyCostReconciliation")
    properties = rule["Properties"]
    assert properties["ScheduleExpression"] == "cron(30 4 * * ? *)"  # daily, 04:30 UTC
    assert properties["State"] == "ENABLED" and "EventPattern" not in properties
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    # Claims make each cost_variance alert exactly-once: a retried delivery is safe.
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    (permission,) = [
        res["Properties"]
        for res in _of_type(resources, "AWS::Lambda::Permission").values()
        if res["Properties"]["Principal"] == "events.amazonaws.com"
        and res["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
    # Its two routes are admin-only, served by it; GET /v1/reconciliation is the api function's.
    assert sorted(route.route_key for route in routes.routes_for(routes.RECONCILE_COSTS)) == [
        "POST /v1/reconciliation/import",
        "POST /v1/reconciliation/run",
    ]
    assert {route.scope for route in routes.routes_for(routes.RECONCILE_COSTS)} == {"admin"}


def test_provider_admin_keys_secret_is_a_placeholder(
    resources: dict[str, dict[str, Any]],
    template: assertions.Template,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aws_lambda_powertools.utilities import parameters

    from marginlens.core.settings import Settings
    from marginlens.usecases.reconciliation import admin_keys

    secret_id, secret = _named(resources, "AWS::SecretsManager::Secret", "ProviderAdminKeysSecret")
    generated = secret["Properties"]["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {}
    assert generated["GenerateStringKey"] not in ("openai", "anthropic")
    assert "SecretString" not in secret["Properties"]  # no key in the template
    assert "Name" not in secret["Properties"]  # a fixed name would block re-creating a dev stack
    assert "KmsKeyId" not in secret["Properties"]  # AWS-managed key: no KMS grant needed
    assert secret["DeletionPolicy"] == "Delete"
    template.has_output("ProviderAdminKeysSecretArn", {"Value": {"Ref": secret_id}})

    # What the function makes of the placeholder: no provider's key, so nothing is fetched.
    placeholder = json.dumps({generated["GenerateStringKey"]: "Gx7randomPlaceholder"})
    monkeypatch.setattr(parameters, "get_secret", lambda name, **_: placeholder)
    settings = Settings(
        PROVIDER_ADMIN_KEYS_SECRET_NAME="arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys",
        OPENAI_ADMIN_KEY=None,
        ANTHROPIC_ADMIN_KEY=None,
    )
    assert admin_keys(settings) == {}


def test_reconcile_costs_environment(resources: dict[str, dict[str, Any]], code_dir: Path) -> None:
    from marginlens.core.settings import Settings

    topic_id, _ = _only(resources, "AWS::SNS::Topic")
    secret_id, _ = _named(resources, "AWS::SecretsManager::Secret", "ProviderAdminKeysSecret")
    function_ids = _function_ids(resources)
    variables = resources[function_ids[routes.RECONCILE_COSTS.name]]["Properties"]["Environment"]["Variables"]
    assert variables["MARGINLENS_ALERTS_TOPIC_ARN"] == {"Ref": topic_id}
    assert variables["PROVIDER_ADMIN_KEYS_SECRET_NAME"] == {"Ref": secret_id}
    # Never a key itself; thresholds unset keep the function's defaults (marginlens.core.settings).
    assert "OPENAI_ADMIN_KEY" not in variables and "ANTHROPIC_ADMIN_KEY" not in variables
    assert "RECONCILE_VARIANCE_PCT" not in variables and "RECONCILE_MIN_COST" not in variables
    assert "OPENAI_COSTS_URL" not in variables and "ANTHROPIC_COSTS_URL" not in variables
    for fn in routes.FUNCTIONS:
        if fn != routes.RECONCILE_COSTS:
            others = resources[function_ids[fn.name]]["Properties"]["Environment"]["Variables"]
            assert not any(name.startswith(("RECONCILE_", "PROVIDER_ADMIN")) for name in others), fn.name

    custom = assertions.Template.from_stack(
        _stack(code_dir, reconcileVariancePct="2.5", reconcileMinCost=0)
    ).to_json()["Resources"]
    function_id = _function_ids(custom)[routes.RECONCILE_COSTS.name]
    tuned = custom[function_id]["Properties"]["Environment"]["Variables"]
    assert tuned["RECONCILE_VARIANCE_PCT"] == "2.5" and tuned["RECONCILE_MIN_COST"] == "0"
    settings = Settings(
        RECONCILE_VARIANCE_PCT=tuned["RECONCILE_VARIANCE_PCT"], RECONCILE_MIN_COST=tuned["RECONCILE_MIN_COST"]
    )
    assert str(settings.reconcile_variance_pct) == "2.5" and str(settings.reconcile_min_cost) == "0"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("reconcileVariancePct", 0),
        ("reconcileVariancePct", "-1"),
        ("reconcileVariancePct", "five"),
        ("reconcileVariancePct", "NaN"),
        ("reconcileMinCost", "-0.01"),
        ("reconcileMinCost", "Infinity"),
        ("reconcileMinCost", "1,00"),
    ],
)
def test_bad_reconcile_thresholds_are_rejected(code_dir: Path, key: str, value: Any) -> None:
    with pytest.raises(ValueError, match=key):
        _stack(code_dir, **{key: value})


def test_reconcile_costs_has_only_the_permissions_it_needs(resources: dict[str, dict[str, Any]]) -> None:
    function_ids = _function_ids(resources)
    function_id = function_ids[routes.RECONCILE_COSTS.name]
    table_id, _ = _only(resources, "AWS::DynamoDB::Table")
    topic_id, _ = _only(resources, "AWS::SNS::Topic")
    secret_id, _ = _named(resources, "AWS::SecretsManager::Secret", "ProviderAdminKeysSecret")
    log_group_id = resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]

    granted = sorted(
        (sorted(_actions(st)), json.dumps(st["Resource"], sort_keys=True), st["Effect"], st.get("Condition"))
        for st in _role_statements(resources, function_id)
    )
    table = {"Fn::GetAtt": [table_id, "Arn"]}

    def leading_keys(*partitions: str) -> dict[str, Any]:
        return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(partitions)}}

    expected = [
        (["dynamodb:GetItem"], table, None),
        (["dynamodb:Query"], table, leading_keys("PRICESNAP#*", "PRICEOVR", "MODELALIAS", "AGG#FD#*")),
        (["dynamodb:PutItem"], table, leading_keys("RECON#*", "ALERTCLAIM#*", "OPSALERTS#*")),
        (["dynamodb:DeleteItem"], table, leading_keys("ALERTCLAIM#*")),
        (["sns:Publish"], {"Ref": topic_id}, None),
        (["secretsmanager:GetSecretValue"], {"Ref": secret_id}, None),
        (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [log_group_id, "Arn"]}, None),
        (sorted(XRAY_ACTIONS), "*", None),
    ]
    assert granted == sorted(
        (actions, json.dumps(resource, sort_keys=True), "Allow", condition)
        for actions, resource, condition in expected
    )

    # No other function reads the admin keys.
    for fn in routes.FUNCTIONS:
        if fn != routes.RECONCILE_COSTS:
            others = _role_statements(resources, function_ids[fn.name])
            assert {"Ref": secret_id} not in [st["Resource"] for st in others], fn.name


# --- cdk-nag ------------------------------------------------------------------------------------


def test_cdk_nag_aws_solutions_has_no_unacknowledged_errors(stack: MarginLensStack) -> None:
    # cdk-nag v3 is a policy-validation plugin (no annotations): run the pack directly.
    report = AwsSolutionsChecks().validate_scope(stack)
    errors = [
        f"{v.rule_name}: {v.description} @ {[r.construct_path for r in v.violating_resources]}"
        for v in report.violations
        if v.severity == "error"
    ]
    assert errors == []


def test_no_cdk_error_annotations(stack: MarginLensStack, template: assertions.Template) -> None:
    errors = assertions.Annotations.from_stack(stack).find_error("*", assertions.Match.any_value())
    assert errors == []


def test_the_lambda_bundle_holds_no_cli_no_local_stack_and_no_dev_dependency(tmp_path: Path) -> None:
    """What infra/build_lambda.py copies and installs: the functions' code and runtime dependencies only."""
    from infra.build_lambda import copy_sources, runtime_dependencies

    copy_sources(tmp_path)
    files = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*.py")}
    assert "marginlens/api/app.py" in files and "functions/ingest_usage/handler.py" in files
    assert not [name for name in files if name.startswith(("marginlens/cli", "marginlens/local/"))]
    dependencies = " ".join(runtime_dependencies()).lower()
    for dev_only in ("moto", "typer", "rich", "pytest", "hypothesis", "schemathesis", "aws-cdk-lib"):
        assert dev_only not in dependencies, dev_only


def test_the_dashboard_is_served_by_the_api_function_on_the_apis_own_origin(
    resources: dict[str, dict[str, Any]],
) -> None:
    # No bucket, no CDN, no second origin: the api function serves the page and its bundle through
    # the same HTTP API, public (the page signs in with an API key, kept in the browser's session).
    dashboard_routes = ("GET /", "GET /dashboard", "GET /dashboard/{name}")
    api_id = _function_ids(resources)[routes.API.name]
    cfn_routes = {
        res["Properties"]["RouteKey"]: res["Properties"]
        for res in _of_type(resources, "AWS::ApiGatewayV2::Route").values()
    }
    for route_key in dashboard_routes:
        assert routes.SCOPE_BY_ROUTE_KEY[route_key] is None
        cfn_route = cfn_routes[route_key]
        assert cfn_route.get("AuthorizationType", "NONE") == "NONE"
        integration = resources[cfn_route["Target"]["Fn::Join"][1][1]["Ref"]]["Properties"]
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [api_id, "Arn"]}
    assert (
        _of_type(resources, "AWS::S3::Bucket") == {}
        and _of_type(resources, "AWS::CloudFront::Distribution") == {}
    )
