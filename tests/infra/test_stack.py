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
from marginlens import routes

from infra.constructs import api as api_construct
from infra.stack import MarginLensStack

pytestmark = [
    pytest.mark.infra,
    pytest.mark.skipif(shutil.which("node") is None, reason="CDK synth needs Node.js"),
]


ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "ml_admin_test-plaintext-key"
ADMIN_KEY_SHA256 = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
# The least-privilege contract, spelled out so that widening a grant means editing this test.
EXPECTED_TABLE_ACTIONS = {
    "ingest_usage": {"GetItem", "PutItem", "UpdateItem", "ConditionCheckItem"},
    "api": {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "ConditionCheckItem"},
}
NEVER_GRANTED = {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*"}


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
    dynamodb_statements = [
        st
        for st in _role_statements(resources, function_id)
        if any(a.startswith("dynamodb:") for a in _actions(st))
    ]
    granted = set().union(*(_actions(st) for st in dynamodb_statements))

    assert granted == set(api_construct.TABLE_ACTIONS[fn.name])
    assert granted == {f"dynamodb:{action}" for action in EXPECTED_TABLE_ACTIONS[fn.name]}
    assert not granted & NEVER_GRANTED
    for st in dynamodb_statements:
        assert st["Effect"] == "Allow"
        assert st["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}


def test_ingest_cannot_read_in_bulk(resources: dict[str, dict[str, Any]]) -> None:
    function_id = _function_ids(resources)[routes.INGEST_USAGE.name]
    actions = set().union(*(_actions(st) for st in _role_statements(resources, function_id)))
    for forbidden in ("dynamodb:Query", "dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"):
        assert forbidden not in actions


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
