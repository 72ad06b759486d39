"""Cold starts, measured side by side in one run: each Lambda function's import time and first
request, in fresh processes, next to a baseline process that imports only boto3, pydantic and the
Powertools resolver (what any function of this stack must load).

    python bench/coldstart.py --runs 7 --out docs/BENCHMARKS-coldstart.md

Each figure is the median of `--runs` fresh interpreters, each seeing only the bundle that
`infra/build_lambda.py --host` builds into build/coldstart-bundle (what Lambda sees, for this
machine's Python). The first request runs against a local DynamoDB engine (moto's server) started
here, with a table holding nothing but what the requests write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench_env  # the repo on sys.path, a local-only environment

from infra.build_lambda import Target, build, runtime_target_here
from marginlens.api.routes import FUNCTIONS

ROOT = bench_env.ROOT
ADMIN_KEY = "bench-coldstart-admin-key-0123456789"
SECRET = "whsec_bench"

# pydantic 2 loads lazily: `import pydantic` alone runs almost none of it, so the baseline imports
# BaseModel, what any module defining a model loads. The bare `import pydantic` is reported beside it.
BASELINE = (
    "import boto3\nfrom pydantic import BaseModel\n"
    "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver"
)
INGEST_IMPORT = "from functions.ingest_usage.handler import lambda_handler as handler"
BARE_BASELINE = (
    "import boto3, pydantic\nfrom aws_lambda_powertools.event_handler import APIGatewayHttpResolver"
)

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
sys.path.insert(0, BUNDLE)


class Context:  # the attributes Powertools reads from a Lambda context
    function_name, memory_limit_in_mb, aws_request_id = NAME, 512, "bench"
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:" + NAME
    function_version, log_group_name, log_stream_name = "$LATEST", "bench", "bench"

    def get_remaining_time_in_millis(self):
        return 30_000


started = time.perf_counter()
exec(compile(IMPORT, "<import>", "exec"))
imported = time.perf_counter() - started
first = None
if EVENT is not None:
    started = time.perf_counter()
    handler(json.loads(EVENT), Context())
    first = time.perf_counter() - started
print(json.dumps({"import": imported, "first": first, "modules": sorted(sys.modules)}))
"""


def _signed_webhook(run: int) -> tuple[dict[str, str], str]:
    body = json.dumps(
        {
            "id": f"evt_bench_{run}",
            "object": "event",
            "type": "invoice.paid",
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": f"in_bench_{run}",
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


def _event(name: str, run: int) -> str | None:
    """The function's first request, as the JSON event Lambda would hand it (None: import only); a
    new event id each run, so every run does the work of a first delivery, not of a duplicate."""
    from marginlens.local.gateway import build_event

    request = FIRST_REQUEST.get(name)
    if request is None:
        return None
    method, target = request
    if method == "scheduled":
        return json.dumps(
            {"source": "aws.events", "detail-type": "Scheduled Event", "id": "bench", "detail": {}}
        )
    if method == "sns":
        message = json.dumps({"kind": "bench", "subject": "s", "detail": {}})
        return json.dumps({"Records": [{"Sns": {"Message": message}}]})
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    body = ""
    if name == "ingest_usage":
        body = json.dumps(
            {
                "request_id": f"bench_{run}",
                "customer_id": "c",
                "model": "gpt-4o-mini",
                "prompt_tokens": 100,
                "completion_tokens": 10,
            }
        )
    if name == "stripe_webhook":
        headers, body = _signed_webhook(run)
    event, _ = build_event(method, target, headers, body.encode())
    return json.dumps(event)


def _probe(
    target: Target,
    env: dict[str, str],
    bundle: Path,
    name: str,
    import_line: str,
    event: str | None,
    *,
    flags: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One fresh interpreter that sees the bundle and nothing else (`-I -S`: no site-packages, as on
    Lambda): how long `import_line` takes, then the function's first request."""
    script = (
        f"BUNDLE = {str(bundle)!r}\nIMPORT = {import_line!r}\nEVENT = {event!r}\nNAME = {name!r}\n" + PROBE
    )
    out = subprocess.run(
        [target.interpreter or sys.executable, "-I", "-S", *flags, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=bundle,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _size(path: Path, *, bytecode: bool = True) -> int:
    return sum(
        f.stat().st_size
        for f in path.rglob("*")
        if f.is_file() and (bytecode or "__pycache__" not in f.parts)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from marginlens.core.settings import Settings
    from marginlens.local.engine import LocalDynamoDB
    from marginlens.storage.dynamodb import create_table, make_client

    target = runtime_target_here()
    bundle = build(ROOT / "build" / "coldstart-bundle", target)
    with LocalDynamoDB() as engine:
        table = "marginlens-coldstart"
        create_table(
            make_client(Settings(MARGINLENS_DYNAMODB_ENDPOINT=engine.endpoint, MARGINLENS_TABLE=table)), table
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            **{name: value for name, value in os.environ.items() if name.startswith(("AWS_", "POWERTOOLS_"))},
            "MARGINLENS_DYNAMODB_ENDPOINT": engine.endpoint,
            "MARGINLENS_TABLE": table,
            "MARGINLENS_ADMIN_KEY_SHA256": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "STRIPE_LIVEMODE": "false",
            "MARGINLENS_ALERTS_FILE": str(ROOT / ".marginlens" / "bench-alerts.jsonl"),
        }
        # Rounds, each a baseline and then every function, so that the machine's drift over the run
        # reaches the baseline and the functions alike; a function's ratio is the median of its rounds'.
        probes: dict[str, list[dict[str, Any]]] = {"baseline": [], "bare": []}
        ratios: dict[str, list[float]] = {}
        for run in range(args.runs):
            base_run = _probe(target, env, bundle, "baseline", BASELINE, None)
            probes["baseline"].append(base_run)
            probes["bare"].append(_probe(target, env, bundle, "baseline", BARE_BASELINE, None))
            for function in FUNCTIONS:
                module, attribute = function.handler.rsplit(".", 1)
                import_line = f"from {module} import {attribute} as handler"
                result = _probe(target, env, bundle, function.name, import_line, _event(function.name, run))
                probes.setdefault(function.name, []).append(result)
                ratios.setdefault(function.name, []).append(result["import"] / base_run["import"])
        base = statistics.median(r["import"] for r in probes["baseline"])
        bare = statistics.median(r["import"] for r in probes["bare"])
        # The same bundle without its bytecode, as it was built before: read-only, as /var/task is
        # (`-B`), so every run compiles every module it imports.
        source_only = ROOT / "build" / "coldstart-bundle-source-only"
        shutil.rmtree(source_only, ignore_errors=True)
        shutil.copytree(bundle, source_only, ignore=shutil.ignore_patterns("__pycache__"))
        for run in range(max(3, args.runs // 3)):
            probes.setdefault("baseline, no bytecode", []).append(
                _probe(target, env, source_only, "baseline", BASELINE, None, flags=("-B",))
            )
            ingest = _event("ingest_usage", 1000 + run)
            probes.setdefault("ingest_usage, no bytecode", []).append(
                _probe(target, env, source_only, "ingest_usage", INGEST_IMPORT, ingest, flags=("-B",))
            )
        rows = []
        for function in FUNCTIONS:
            runs = probes[function.name]
            firsts = [r["first"] for r in runs if r["first"] is not None]
            rows.append(
                (
                    function.name,
                    statistics.median(r["import"] for r in runs),
                    statistics.median(ratios[function.name]),
                    statistics.median(firsts) if firsts else None,
                )
            )

    ours = _size(bundle / "marginlens", bytecode=False) + _size(bundle / "functions", bytecode=False)
    lines = [
        "# Cold start: import time and first request, per function",
        "",
        f"Medians of {args.runs} rounds, each a fresh interpreter per process, measured in one run by",
        "`bench/coldstart.py`; a ratio is the median of the rounds' ratios to that round's baseline.",
        f"Each interpreter (Python {target.python_version}, the Lambda runtime's when it is installed here)",
        "sees the bundle `infra/build_lambda.py --host` builds, bytecode included, and nothing else: no",
        "site-packages, no dev dependencies. The first request runs against the local DynamoDB engine,",
        "on a table holding only what the requests write.",
        "",
        "| process | import (ms) | x baseline | first request (ms) |",
        "|---|---:|---:|---:|",
        f"| baseline: boto3, pydantic's `BaseModel`, the Powertools resolver | {base * 1000:.0f} "
        "| 1.00 | - |",
        f"| (the same with a bare `import pydantic`, which loads almost none of it) | {bare * 1000:.0f} "
        f"| {bare / base:.2f} | - |",
    ]
    for name, imported, ratio, first in rows:
        shown = f"{first * 1000:.0f}" if first is not None else "- (needs the internet)"
        lines.append(f"| `{name}` | {imported * 1000:.0f} | {ratio:.2f} | {shown} |")
    plain_base = statistics.median(r["import"] for r in probes["baseline, no bytecode"])
    plain_ingest = probes["ingest_usage, no bytecode"]
    lines += [
        "",
        "The same bundle without bytecode, as `infra/build_lambda.py` built it before (`--no-compile`;",
        "Lambda's /var/task is read-only, so every cold start compiled every module it imported; the",
        "first priced event compiled genai-prices' 1.6 MB data module):",
        "",
        "| process, no bytecode | import (ms) | first request (ms) |",
        "|---|---:|---:|",
        f"| baseline | {plain_base * 1000:.0f} | - |",
        f"| `ingest_usage` | {statistics.median(r['import'] for r in plain_ingest) * 1000:.0f} "
        f"| {statistics.median(r['first'] for r in plain_ingest) * 1000:.0f} |",
    ]
    lines += [
        "",
        f"Bundle: our own code (`marginlens` without `cli/` and `local/`, and `functions/`) "
        f"{ours / 1024:.0f} KiB; with the runtime dependencies {_size(bundle) / 1_048_576:.1f} MiB.",
        "All functions share one bundle (one asset), so its size is each function's.",
        "",
        "## Machine",
        "",
        *(
            f"- {key}: {value}"
            for key, value in bench_env.machine(("boto3", "pydantic", "aws-lambda-powertools"))
        ),
        f"- Python of the probes: {target.python_version} ({target.interpreter})",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
