"""Cold starts, measured side by side in one run: each Lambda function's import time and first
request, in fresh processes, next to a baseline process that imports only boto3, pydantic and the
Powertools resolver (what any function of this stack must load).

    python bench/coldstart.py --runs 7 --out docs/BENCHMARKS-coldstart.md

Each figure is the median of `--runs` fresh interpreters. The first request runs against a local
DynamoDB engine (moto's server) started here, with a table holding nothing but what the request
writes. The bundle size is what `infra/build_lambda.py` copies of our own code (and, once built,
the whole `build/lambda` folder with its dependencies).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_env  # the repo on sys.path, a local-only environment

from marginlens.api.routes import FUNCTIONS

ROOT = bench_env.ROOT
ADMIN_KEY = "bench-coldstart-admin-key-0123456789"
SECRET = "whsec_bench"

BASELINE = "import boto3, pydantic\nfrom aws_lambda_powertools.event_handler import APIGatewayHttpResolver"

# A representative first request per function (None: import only).
FIRST_REQUEST = {
    "ingest_usage": ("POST", "/v1/usage"),
    "api": ("GET", "/v1/pnl?month=2026-11"),
    "stripe_webhook": ("POST", "/v1/stripe/webhook"),
    "check_budgets": ("scheduled", ""),
    "refresh_prices": None,  # its first request fetches the price file from the internet
    "slack_notifier": ("sns", ""),
}

PROBE = r"""
import json, sys, time
started = time.perf_counter()
exec(compile(IMPORT, "<import>", "exec"))
imported = time.perf_counter() - started
first = None
if REQUEST is not None:
    from marginlens.local.gateway import LambdaContext, build_event
    method, target = REQUEST
    if method == "scheduled":
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "id": "bench", "detail": {}}
    elif method == "sns":
        message = json.dumps({"kind": "bench", "subject": "s", "detail": {}})
        event = {"Records": [{"Sns": {"Message": message}}]}
    else:
        event, _ = build_event(method, target, HEADERS, BODY.encode())
    started = time.perf_counter()
    handler(event, LambdaContext(NAME, 512, 30, "bench"))
    first = time.perf_counter() - started
print(json.dumps({"import": imported, "first": first}))
"""


def _signed_webhook() -> tuple[dict[str, str], str]:
    body = json.dumps(
        {
            "id": "evt_bench",
            "object": "event",
            "type": "invoice.paid",
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": "in_bench",
                    "object": "invoice",
                    "customer": "cus_bench",
                    "currency": "usd",
                    "status": "paid",
                    "created": int(time.time()),
                    "status_transitions": {"paid_at": int(time.time())},
                    "lines": {"data": [{"id": "il_1", "amount": 1000, "period": {"start": 0, "end": 86400}}]},
                }
            },
        }
    )
    stamp = int(time.time())
    import hmac

    signature = hmac.new(SECRET.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}, body


def _request(name: str) -> tuple[tuple[str, str] | None, dict[str, str], str]:
    request = FIRST_REQUEST.get(name)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    body = ""
    if name == "ingest_usage":
        body = json.dumps(
            {
                "request_id": "bench_1",
                "customer_id": "c",
                "model": "gpt-4o-mini",
                "prompt_tokens": 100,
                "completion_tokens": 10,
            }
        )
    if name == "stripe_webhook":
        headers, body = _signed_webhook()
    return request, headers, body


def _probe(env: dict[str, str], name: str, import_line: str, with_request: bool) -> dict[str, float | None]:
    """One fresh interpreter: how long `import_line` takes, then the function's first request."""
    request, headers, body = _request(name) if with_request else (None, {}, "")
    script = (
        f"IMPORT = {import_line!r}\nREQUEST = {request!r}\nHEADERS = {headers!r}\n"
        f"BODY = {body!r}\nNAME = {name!r}\n" + PROBE
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    result: dict[str, float | None] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _size(path: Path, skip: tuple[str, ...] = ()) -> int:
    return sum(
        f.stat().st_size
        for f in path.rglob("*")
        if f.is_file() and "__pycache__" not in f.parts and not any(part in skip for part in f.parts)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from marginlens.core.settings import Settings
    from marginlens.local.engine import LocalDynamoDB
    from marginlens.storage.dynamodb import create_table, make_client

    with LocalDynamoDB() as engine:
        table = "marginlens-coldstart"
        create_table(
            make_client(Settings(MARGINLENS_DYNAMODB_ENDPOINT=engine.endpoint, MARGINLENS_TABLE=table)), table
        )
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}",
            "MARGINLENS_DYNAMODB_ENDPOINT": engine.endpoint,
            "MARGINLENS_TABLE": table,
            "MARGINLENS_ADMIN_KEY_SHA256": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "STRIPE_LIVEMODE": "false",
            "MARGINLENS_ALERTS_FILE": str(ROOT / ".marginlens" / "bench-alerts.jsonl"),
        }
        rows = []
        baseline = [_probe(env, "baseline", BASELINE, False)["import"] for _ in range(args.runs)]
        base = statistics.median(x for x in baseline if x is not None)
        for function in FUNCTIONS:
            module, attribute = function.handler.rsplit(".", 1)
            import_line = f"from {module} import {attribute} as handler"
            runs = [_probe(env, function.name, import_line, True) for _ in range(args.runs)]
            imported = statistics.median(r["import"] for r in runs if r["import"] is not None)
            firsts = [r["first"] for r in runs if r["first"] is not None]
            first = statistics.median(firsts) if firsts else None
            rows.append((function.name, imported, imported / base, first))

    ours = _size(ROOT / "shared" / "marginlens", skip=("cli", "local")) + _size(ROOT / "functions")
    built = ROOT / "build" / "lambda"
    lines = [
        "# Cold start: import time and first request, per function",
        "",
        f"Medians of {args.runs} fresh interpreters each, measured in one run by `bench/coldstart.py`.",
        "",
        "| process | import (ms) | x baseline | first request (ms) |",
        "|---|---:|---:|---:|",
        f"| baseline: boto3 + pydantic + Powertools resolver | {base * 1000:.0f} | 1.00 | - |",
    ]
    for name, imported, ratio, first in rows:
        shown = f"{first * 1000:.0f}" if first is not None else "- (needs the internet)"
        lines.append(f"| `{name}` | {imported * 1000:.0f} | {ratio:.2f} | {shown} |")
    lines += [
        "",
        f"Bundle, our own code (`shared/marginlens` without `cli/` and `local/`, and `functions/`): "
        f"{ours / 1024:.0f} KiB"
        + (
            f"; the whole built bundle `build/lambda`: {_size(built) / 1_048_576:.1f} MiB."
            if built.exists()
            else "."
        ),
        "All functions share one bundle (one asset), so its size is each function's.",
        "",
        "## Machine",
        "",
        *(
            f"- {key}: {value}"
            for key, value in bench_env.machine(("boto3", "pydantic", "aws-lambda-powertools"))
        ),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
