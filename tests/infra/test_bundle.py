"""The Lambda bundle as a function sees it: built by infra/build_lambda.py (for this machine's
Python), then imported by an interpreter that sees nothing else (`-I -S`: no site-packages, no
dev dependencies), as on Lambda. A handler that needs a package the bundle lacks fails here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.build_lambda import build, host_target
from marginlens.api.routes import FUNCTIONS, Function

pytestmark = pytest.mark.infra

# What a function must not load at import time (its routes never need it, or only on first use).
NOT_AT_IMPORT = {
    "ingest_usage": (
        "stripe",
        "genai_prices",  # the price book loads on the first priced event
        "marginlens.simulation",
        "marginlens.budgets",
        "marginlens.alerts",
        "marginlens.reports",
        "aws_lambda_powertools.event_handler.openapi.models",  # the spec's models
        "aws_xray_sdk",
        "opentelemetry",  # the OTLP route decodes with the first export
        "google.protobuf",
    ),
    "aggregate_usage": (
        "stripe",
        "genai_prices",  # the aggregator sums what ingest priced
        "marginlens.simulation",
        "aws_lambda_powertools.event_handler.openapi.models",
        "aws_xray_sdk",
    ),
    "api": ("stripe", "genai_prices", "aws_lambda_powertools.event_handler.openapi.models", "aws_xray_sdk"),
    "stripe_webhook": ("genai_prices", "marginlens.simulation", "marginlens.budgets", "aws_xray_sdk"),
    "check_budgets": ("stripe", "marginlens.simulation", "aws_xray_sdk"),
    "refresh_prices": ("stripe", "marginlens.simulation", "aws_xray_sdk"),
    "reconcile_costs": ("stripe", "genai_prices", "marginlens.simulation", "aws_xray_sdk"),
    "slack_notifier": ("stripe", "genai_prices", "marginlens.usage", "aws_xray_sdk"),
}

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
module, attribute = sys.argv[2].rsplit(".", 1)
handler = getattr(__import__(module, fromlist=[attribute]), attribute)
assert callable(handler)
print(json.dumps(sorted(sys.modules)))
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("bundle") / "lambda", host_target())


def _run_in_bundle(bundle: Path, script: str, *args: str) -> str:
    """`script` in an interpreter that sees only the bundle (`-I -S`); its standard output."""
    env = {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true"}
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(bundle), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=bundle,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _imported(bundle: Path, handler: str) -> list[str]:
    modules: list[str] = json.loads(_run_in_bundle(bundle, PROBE, handler).strip().splitlines()[-1])
    return modules


def test_the_bundle_holds_no_cli_no_local_stack_and_no_dev_tool(bundle: Path) -> None:
    top = {path.name for path in bundle.iterdir()}
    assert {"marginlens", "functions", "boto3", "pydantic", "stripe", "genai_prices"} <= top
    assert not {"moto", "typer", "rich", "pytest", "hypothesis", "aws_cdk"} & top
    assert not (bundle / "marginlens" / "cli").exists()
    assert not (bundle / "marginlens" / "local").exists()


def test_the_bundle_carries_bytecode_for_its_interpreter(bundle: Path) -> None:
    """Lambda's /var/task is read-only: without .pyc files every cold start compiles every module."""
    tag = sys.implementation.cache_tag
    assert list((bundle / "marginlens" / "usage" / "__pycache__").glob(f"ingest.{tag}.pyc"))
    assert list((bundle / "botocore" / "__pycache__").glob(f"client.{tag}.pyc"))


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda function: function.name)
def test_each_handler_imports_from_the_bundle_alone_and_loads_only_what_it_serves(
    bundle: Path, function: Function
) -> None:
    modules = _imported(bundle, function.handler)
    loaded = [
        forbidden
        for forbidden in NOT_AT_IMPORT[function.name]
        if any(name == forbidden or name.startswith(forbidden + ".") for name in modules)
    ]
    assert loaded == [], f"{function.name} imports {loaded} at import time"


SERVE_PAGE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from functions.api.handler import lambda_handler

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "api", 512, "probe"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:api"
    def get_remaining_time_in_millis(self):
        return 29000

def get(path, route_key, params=None):
    event = {
        "version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": "",
        "headers": {"accept-encoding": "gzip"}, "pathParameters": params,
        "requestContext": {"http": {"method": "GET", "path": path}, "requestId": "probe",
                           "routeKey": route_key, "stage": "$default", "timeEpoch": 0},
        "isBase64Encoded": False,
    }
    answer = lambda_handler(event, Context())
    return {"status": answer["statusCode"], "headers": answer.get("headers", {})}

print(json.dumps([
    get("/dashboard/index.html", "GET /dashboard/{name}", {"name": "index.html"}),
    get("/", "GET /"),
]))
"""


def test_the_bundle_carries_the_built_dashboard_and_the_api_serves_it(bundle: Path) -> None:
    static = bundle / "marginlens" / "dashboard" / "static"
    index = (static / "index.html").read_text()
    scripts = re.findall(r'src="([^"]+\.js)"', index)
    assert scripts and all((static / name).is_file() for name in scripts), scripts
    assert "http://" not in index and "https://" not in index  # nothing from another origin

    page, home = json.loads(_run_in_bundle(bundle, SERVE_PAGE).splitlines()[-1])
    assert page["status"] == 200 and page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert page["headers"]["Content-Encoding"] == "gzip"
    assert "script-src 'self'" in page["headers"]["Content-Security-Policy"]
    assert home["status"] == 302 and home["headers"]["Location"] == "dashboard/index.html"


DECODE_OTLP = """
import sys
sys.path.insert(0, sys.argv[1])
from marginlens.usage.otlp import JSON, PROTOBUF, decode, encode_response, ExportOutcome
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans
request = decode(b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "0102030405060708"}]}]}]}', JSON)
assert request.resource_spans[0].scope_spans[0].spans[0].span_id == bytes(range(1, 9))
assert decode(request.SerializeToString(), PROTOBUF) == request
assert encode_response(ExportOutcome(), PROTOBUF) == b""
print("ok")
"""


def test_the_bundle_carries_what_the_otlp_route_loads_on_first_use(bundle: Path) -> None:
    """opentelemetry-proto and protobuf are imported with the first export, not at import time, so the
    import probe above cannot see them missing: decode an export with the bundle alone."""
    assert _run_in_bundle(bundle, DECODE_OTLP).strip().splitlines()[-1] == "ok"
