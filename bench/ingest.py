"""Ingest benchmark: MarginLens's write path against a bare boto3 baseline, on the same local engine.

    .venv/bin/python bench/ingest.py [--events N] [--events-single M] [--out docs/BENCHMARKS.md]

Three paths write the same kind of events into a fresh table each, at batch sizes 1 and 100:

* baseline: `transact_write_items` with one guarded Put per event (`attribute_not_exists`), as many
  per call as the batch holds, nothing else: the least any exactly-once writer must do;
* MarginLens in-process: `ingest()` (validate, price, `Ledger.record`: one guarded Put per event,
  sent concurrently; the aggregates follow from the stream, see bench/scale.py), what POST
  /v1/usage runs;
* MarginLens over HTTP: POST /v1/usage on the local stack (gateway, Lambda handler, key auth), with
  an ingest key.

The engine is moto's DynamoDB server in Python, in this process: absolute numbers say little about
DynamoDB on AWS. The ratio to the baseline on the same engine, and the DynamoDB requests per event,
are what carry over. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bench_env  # first: the repo on sys.path, a local-only environment
import httpx

from marginlens.core.observability import logger as powertools_logger
from marginlens.core.observability import metrics as powertools_metrics
from marginlens.core.settings import Settings
from marginlens.local.engine import LocalDynamoDB
from marginlens.local.streams import StreamPoller
from marginlens.pricing.store import PriceStore
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.ledger import RevenueLedger
from marginlens.storage.dynamodb import PK, SK, DynamoDBClient, create_table, make_client, query_all, to_item
from marginlens.storage.streams import Stream, batch_of, make_streams_client
from marginlens.usage.aggregator import Aggregator
from marginlens.usage.ingest import ingest
from marginlens.usage.ledger import Ledger

SCALE_BEGIN, SCALE_END = "<!-- scale:begin -->", "<!-- scale:end -->"  # bench/scale.py's section

DEFAULT_EVENTS = 2000  # batch 100
DEFAULT_EVENTS_SINGLE = 300  # batch 1
BATCH_SIZES = (1, 100)
ADMIN_KEY = "mla_bench-admin-key-0123456789"
GATEWAY_PROBES = 20

# (feature, model, provider hint or None, typical prompt tokens, typical completion tokens)
Mix = tuple[tuple[str, str, str | None, int, int], ...]
CUSTOMERS: dict[str, Mix] = {
    "plexo": (
        ("summarize", "gpt-4o", "openai", 6000, 700),
        ("translate", "claude-3-5-sonnet-20240620", "anthropic", 2500, 2200),
    ),
    "helix": (
        ("summarize", "gpt-4o-mini", None, 5000, 600),
        ("translate", "gemini-1.5-flash", "google", 2000, 1800),
        ("chat", "gpt-4o", None, 900, 300),
    ),
    "northwind": (
        ("translate", "openai/gpt-4o-mini", None, 1500, 1400),
        ("summarize", "anthropic.claude-3-haiku-20240307-v1:0", None, 4000, 500),
    ),
    "acme": (
        ("summarize", "claude-3-5-sonnet-20240620", "anthropic", 12000, 900),
        ("translate", "acme-finetune-v2", None, 1000, 900),  # in no price list: unpriced
    ),
    "quanta": (("chat", "gemini-1.5-flash", None, 3000, 400),),
    "umbra": (
        ("chat", "gpt-4o-mini", "openai", 800, 250),
        ("summarize", "gpt-4o-mini", "openai", 4000, 450),
    ),
}


# --- events ------------------------------------------------------------------------------------


def make_events(count: int, seed: int) -> list[dict[str, Any]]:
    """Usage events as an app server sends them: recent, several customers, features and models."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    events = []
    names = list(CUSTOMERS)
    for number in range(count):
        customer = rng.choice(names)
        feature, model, provider, prompt, completion = rng.choice(CUSTOMERS[customer])
        prompt_tokens = max(1, int(rng.lognormvariate(0, 0.35) * prompt))
        event: dict[str, Any] = {
            "request_id": f"bench-{run}-{number:07d}",
            "customer_id": customer,
            "model": model,
            "feature": feature,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": max(1, int(rng.lognormvariate(0, 0.35) * completion)),
            # Recent, but never across midnight UTC: one day's aggregates, as a live app server's batches.
            "timestamp": max(
                now - timedelta(seconds=rng.randint(1, 600)),
                now.replace(hour=0, minute=0, second=0, microsecond=0),
            )
            .isoformat()
            .replace("+00:00", "Z"),
        }
        if provider:
            event["provider"] = provider
        if rng.random() < 0.4:
            event["cached_tokens"] = prompt_tokens // 3
        if model.startswith("claude") and rng.random() < 0.2:
            event["cache_write_tokens"] = prompt_tokens // 10
        if rng.random() < 0.3:
            event["metadata"] = {"plan": rng.choice(["free", "pro", "team"]), "region": "eu-west-1"}
        events.append(event)
    return events


def batches(events: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def payload_of(batch: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """Batch size 1 sends the bare event (the single-event form), larger ones `{"events": [...]}`."""
    return batch[0] if size == 1 else {"events": batch}


# --- counting DynamoDB requests -----------------------------------------------------------------


@dataclass
class RequestCounter:
    """What a client sends: HTTP requests (retries included) by operation, items per transaction, and
    the time spent inside its DynamoDB calls (serialising, the round trip, the engine, parsing)."""

    requests: Counter[str] = field(default_factory=Counter)
    transaction_items: list[int] = field(default_factory=list)
    dynamodb_seconds: float = 0.0
    active: bool = False
    _call_started: float = 0.0

    def attach(self, client: DynamoDBClient) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb.*", self._on_call_start)
        events.register("before-parameter-build.dynamodb.TransactWriteItems", self._on_transaction)
        events.register("before-send.dynamodb.*", self._on_send)
        events.register("after-call.dynamodb.*", self._on_call_end)
        events.register("after-call-error.dynamodb.*", self._on_call_end)

    def _on_call_start(self, **_: Any) -> None:
        self._call_started = time.perf_counter()

    def _on_call_end(self, **_: Any) -> None:
        if self.active:
            self.dynamodb_seconds += time.perf_counter() - self._call_started

    def _on_send(self, event_name: str, **_: Any) -> None:
        if self.active:
            self.requests[event_name.rsplit(".", 1)[-1]] += 1

    def _on_transaction(self, params: dict[str, Any], **_: Any) -> None:
        if self.active:
            self.transaction_items.append(len(params.get("TransactItems", [])))

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        self.requests.clear()
        self.transaction_items.clear()
        self.dynamodb_seconds = 0.0
        self.active = True
        try:
            yield
        finally:
            self.active = False

    def result(self, path: str, batch: int, events: int, seconds: float) -> Result:
        return Result(
            path,
            batch,
            events,
            seconds,
            Counter(self.requests),
            list(self.transaction_items),
            self.dynamodb_seconds,
        )


@dataclass
class Result:
    path: str
    batch: int
    events: int
    seconds: float
    requests: Counter[str]
    transaction_items: list[int]
    dynamodb_seconds: float
    baseline_rate: float | None = None
    gateway_ms: float | None = None  # an empty round trip through the local gateway (HTTP path only)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def batches(self) -> int:
        return -(-self.events // self.batch)

    @property
    def requests_per_event(self) -> float:
        return sum(self.requests.values()) / self.events

    @property
    def transactions_per_batch(self) -> float:
        return self.requests["TransactWriteItems"] / self.batches

    @property
    def items_per_transaction(self) -> float:
        return sum(self.transaction_items) / len(self.transaction_items) if self.transaction_items else 0.0

    @property
    def items_per_event(self) -> float:
        return sum(self.transaction_items) / self.events

    @property
    def own_ms_per_event(self) -> float:
        """Time outside DynamoDB calls: validation, pricing, building items, logging (and HTTP, if any)."""
        return (self.seconds - self.dynamodb_seconds) * 1000 / self.events

    @property
    def ratio(self) -> float | None:
        return self.rate / self.baseline_rate if self.baseline_rate else None


# --- scenarios ----------------------------------------------------------------------------------


def fresh_table(client: DynamoDBClient, label: str) -> str:
    name = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    create_table(client, name)
    return name


def check_counted(
    client: DynamoDBClient, table: str, events: list[dict[str, Any]], settings: Settings
) -> None:
    """The per-customer aggregates must add up to the events written, once the aggregator has read
    the stream (not timed: the aggregator is measured by bench/scale.py)."""
    aggregator = Aggregator(client, table)
    stream = Stream(client, make_streams_client(settings), table)
    StreamPoller(stream, lambda event: aggregator.apply(batch_of(event))).drain(300)
    month = events[0]["timestamp"][:7]  # every event is on the same UTC day
    counted = sum(int(row.get("events", 0)) for row in query_all(client, table, f"AGG#CM#{month}"))
    if counted != len(events):
        raise SystemExit(f"{table}: aggregates count {counted} events, expected {len(events)}")


def run_baseline(
    client: DynamoDBClient, counter: RequestCounter, events: list[dict[str, Any]], size: int
) -> Result:
    table = fresh_table(client, f"baseline-{size}")
    with counter.counting():
        started = time.perf_counter()
        for batch in batches(events, size):
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": to_item({PK: f"EVENT#{event['request_id']}", SK: "EVENT", **event}),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                    for event in batch
                ]
            )
        seconds = time.perf_counter() - started
    return counter.result("boto3 baseline (Puts only)", size, len(events), seconds)


def run_in_process(
    client: DynamoDBClient,
    counter: RequestCounter,
    settings: Settings,
    events: list[dict[str, Any]],
    size: int,
) -> Result:
    table = fresh_table(client, f"inproc-{size}")
    ledger = Ledger(client, table)
    revenue = RevenueLedger(client, table, CustomerStore(client, table))
    prices = PriceStore(client, table).book()
    statuses: Counter[str] = Counter()
    with counter.counting():
        started = time.perf_counter()
        for batch in batches(events, size):
            result = ingest(
                payload_of(batch, size),
                settings=settings,
                ledger=ledger,
                revenue=revenue,
                prices=prices,
                now=datetime.now(UTC),
                key_id="bench",
            )
            # What the handler's @log_metrics does after each invocation (publishing is disabled here).
            powertools_metrics.clear_metrics()
            statuses.update(item["status"] for item in result.results)
        seconds = time.perf_counter() - started
    if statuses != Counter(created=len(events)):
        raise SystemExit(f"in-process batch {size}: expected every event created, got {dict(statuses)}")
    check_counted(client, table, events, settings)
    return counter.result("MarginLens `ingest()` in-process", size, len(events), seconds)


def run_http(endpoint: str, events: list[dict[str, Any]], size: int) -> Result:
    from marginlens.local.stack import LocalStack
    from marginlens.usecases.services import services

    table = f"bench-http-{size}-{uuid.uuid4().hex[:8]}"
    # Without its stream poller: what is counted is the ingest path (the aggregator: bench/scale.py).
    stack = LocalStack(
        port=0, admin_key=ADMIN_KEY, data_dir=None, table=table, dynamodb_endpoint=endpoint, aggregate=False
    )
    statuses: Counter[str] = Counter()
    with stack, httpx.Client(base_url=stack.url, timeout=60) as http:
        created = http.post(
            "/v1/keys",
            json={"scope": "ingest", "name": "bench"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        created.raise_for_status()
        headers = {"Authorization": f"Bearer {created.json()['key']}"}
        # The gateway's own round trip: an unknown route is answered without invoking a function.
        http.get("/bench/no-such-route")
        started = time.perf_counter()
        for _ in range(GATEWAY_PROBES):
            http.get("/bench/no-such-route")
        gateway_ms = (time.perf_counter() - started) * 1000 / GATEWAY_PROBES
        # The handlers run in this process and share this client: count what they send.
        client = services().client
        counter = RequestCounter()
        counter.attach(client)
        with counter.counting():
            started = time.perf_counter()
            for batch in batches(events, size):
                response = http.post("/v1/usage", json=payload_of(batch, size), headers=headers)
                response.raise_for_status()
                body = response.json()
                statuses.update(item["status"] for item in body["results"])
            seconds = time.perf_counter() - started
        if statuses != Counter(created=len(events)):
            raise SystemExit(f"HTTP batch {size}: expected every event created, got {dict(statuses)}")
        check_counted(client, table, events, services().settings)
    result = counter.result("MarginLens POST /v1/usage over HTTP", size, len(events), seconds)
    result.gateway_ms = gateway_ms
    return result


# --- report -------------------------------------------------------------------------------------


def table_markdown(results: list[Result]) -> str:
    lines = [
        "| Path | Batch | Events | Time (s) | Events/s | vs baseline | DynamoDB requests/event "
        "| TransactWriteItems/batch | Items/TransactWriteItems | Items written/event "
        "| Time outside DynamoDB (ms/event) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "1.00x"
        lines.append(
            f"| {r.path} | {r.batch} | {r.events:,} | {r.seconds:.2f} | {r.rate:,.1f} | {ratio} "
            f"| {r.requests_per_event:.3f} | {r.transactions_per_batch:.2f} | {r.items_per_transaction:.1f} "
            f"| {r.items_per_event:.2f} | {r.own_ms_per_event:.2f} |"
        )
    return "\n".join(lines)


def breakdown_markdown(results: list[Result]) -> str:
    lines = []
    for r in results:
        parts = ", ".join(f"{name} {count:,}" for name, count in sorted(r.requests.items()))
        lines.append(f"- {r.path}, batch {r.batch}: {parts}")
    return "\n".join(lines)


def ratio_summary(results: list[Result]) -> str:
    lines = []
    for size in BATCH_SIZES:
        for r in results:
            if r.batch == size and r.ratio is not None:
                lines.append(
                    f"- batch {size}, {r.path}: {r.ratio:.2f}x the baseline's events/s "
                    f"({1 / r.ratio:.1f}x the time per event)"
                )
    return "\n".join(lines)


def gateway_summary(results: list[Result]) -> str:
    probes = [r.gateway_ms for r in results if r.gateway_ms is not None]
    if not probes:
        return ""
    return (
        f"An empty round trip through the local gateway (GET of an unknown route, answered without "
        f"invoking a function) took {sum(probes) / len(probes):.1f} ms on average: part of every HTTP "
        f"request above, and no part of API Gateway on AWS."
    )


def scale_section(path: Path) -> str:
    """The section bench/scale.py writes into the same file, to keep when this one rewrites it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if SCALE_BEGIN in text and SCALE_END in text:
        return "\n" + SCALE_BEGIN + text.split(SCALE_BEGIN, 1)[1].split(SCALE_END, 1)[0] + SCALE_END + "\n"
    return ""


def document(results: list[Result], command: str, total_seconds: float) -> str:
    machine_lines = "\n".join(f"- {name}: {value}" for name, value in bench_env.machine(("moto", "boto3")))
    return f"""# Ingest benchmark

Generated by `bench/ingest.py` in {total_seconds:.0f} s; rerun it rather than edit this file:

    .venv/bin/python {command}

The numbers move from run to run by several per cent, more on a busy machine.

The other benchmarks: each function's cold start in `docs/BENCHMARKS-coldstart.md`, the
simulator's reads and cost in `docs/BENCHMARKS-simulator.md` (all three by `make bench`).

## What is measured

Each path writes freshly generated usage events (six customers, four features, six models of which
one is unpriced; some with cached or cache-write tokens, some with metadata; all timestamped within
the last ten minutes of the same UTC day) into a new table of its own, at batch sizes 1 and 100:

- **boto3 baseline**: `transact_write_items` with one Put per event, guarded by
  `attribute_not_exists(pk)`, as many Puts per call as the batch holds, and nothing else: the least
  an exactly-once writer has to send.
- **MarginLens `ingest()` in-process**: what POST /v1/usage runs: validate each event, price it,
  then `Ledger.record`, which sends the events' guarded Puts together with the aggregate Updates in
  TransactWriteItems (five aggregate items per event, summed per item so that events sharing one
  update it once).
- **MarginLens over HTTP**: POST /v1/usage on the local stack (local gateway, the ingest Lambda
  handler, API-key auth) with an ingest key made through POST /v1/keys, sent with httpx, one request
  at a time. Batch size 1 sends the single-event body, 100 the `{{"events": [...]}}` body.

DynamoDB requests are counted with a botocore `before-send` hook, so a retry would count; the HTTP
path counts the handlers' own client, key authentication included (a GetItem per key every 30 s
and an UpdateItem of its last use at most once a minute, per process). "Time outside DynamoDB" is the
wall time not spent inside a DynamoDB call: validation, pricing, building items, logging, and for
the HTTP path the HTTP client, gateway and handler too.

## Why the ratio is the figure that matters

All three paths talk to the same engine: the local stack's DynamoDB, which is moto's server, written
in Python and run in this process, one request at a time. Its absolute numbers say little about
DynamoDB on AWS, where a transaction's latency is network and service time and the limit is
capacity. What carries over is the **ratio to the baseline** on the same engine (what MarginLens
adds to the least possible write), the **requests and items per event**, and the **time outside
DynamoDB**. On AWS every item of a transaction consumes two write units per KB, so "items written
per event" times two is about the write units an event costs (event and aggregate items are under
1 KB). moto handles an Update (parsing and validating its update expression in Python) much more
slowly than a Put, so on this engine the ratio overstates what the aggregates cost on DynamoDB.

## Results

{table_markdown(results)}

"vs baseline" is events/s divided by the baseline's events/s at the same batch size:

{ratio_summary(results)}

DynamoDB requests by operation:

{breakdown_markdown(results)}

{gateway_summary(results)}

Reading the table: at batch size 1 each event is one transaction of six items (its Put and five
aggregate Updates). A batch of 100 can never be one transaction: TransactWriteItems takes at most
100 items and the aggregate Updates count, so 100 events take at least two, more the more distinct
customer/feature/model combinations the batch holds (up to seven when every event has its own).

## Machine

{machine_lines}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events per batch-100 scenario")
    parser.add_argument(
        "--events-single", type=int, default=DEFAULT_EVENTS_SINGLE, help="events per batch-1 scenario"
    )
    parser.add_argument("--out", type=Path, default=None, help="rewrite this markdown file with the results")
    args = parser.parse_args(argv)
    counts = {1: args.events_single, 100: args.events}

    # One JSON log line per created event: keep the formatting cost, drop the output.
    devnull = open(os.devnull, "w")  # noqa: SIM115 (open for the whole run)
    handler = powertools_logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(devnull)

    # The handler's @log_metrics warns when an invocation (POST /v1/keys here) adds no metric.
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    total_started = time.perf_counter()
    results: list[Result] = []
    # With metrics disabled, Powertools never clears the handler's metric set, and prints it as EMF
    # (disabled or not) once a metric holds 100 values: keep stdout for the results.
    with contextlib.redirect_stdout(devnull), LocalDynamoDB() as engine:
        os.environ["MARGINLENS_DYNAMODB_ENDPOINT"] = engine.endpoint
        settings = Settings()
        client = make_client(settings)
        counter = RequestCounter()
        counter.attach(client)

        # Warm-up (not reported): imports, price resolution, connection pool, moto's first tables.
        warm = make_events(200, seed=0)
        run_baseline(client, counter, warm, 100)
        run_in_process(client, counter, settings, warm, 100)

        steps: list[tuple[str, Callable[[list[dict[str, Any]], int], Result]]] = [
            ("baseline", lambda events, size: run_baseline(client, counter, events, size)),
            ("in-process", lambda events, size: run_in_process(client, counter, settings, events, size)),
            ("http", lambda events, size: run_http(engine.endpoint, events, size)),
        ]
        for size in BATCH_SIZES:
            baseline_rate: float | None = None
            for label, step in steps:
                print(f"  {label}, batch {size}, {counts[size]:,} events ...", file=sys.stderr, flush=True)
                result = step(make_events(counts[size], seed=size), size)
                if baseline_rate is None:
                    baseline_rate = result.rate
                else:
                    result.baseline_rate = baseline_rate
                results.append(result)
    total_seconds = time.perf_counter() - total_started

    print(table_markdown(results))
    print()
    print(ratio_summary(results))
    print()
    print(breakdown_markdown(results))
    print()
    print(gateway_summary(results))
    if args.out is not None:
        shown = ["bench/ingest.py", *(argv if argv is not None else sys.argv[1:])]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        kept = scale_section(args.out)  # bench/scale.py's section of the same file stays
        args.out.write_text(document(results, " ".join(shown), total_seconds) + kept, encoding="utf-8")
        print(f"\nwrote {args.out}", file=sys.stderr)
    devnull.close()


if __name__ == "__main__":
    main()
