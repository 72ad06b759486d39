"""Scale model: what each usage event costs in DynamoDB writes, before and after the stream aggregator.

    .venv/bin/python bench/scale.py [--events N] [--out docs/BENCHMARKS.md]

Side by side in one run, on the same local engine, for batch sizes 1, 10 and 100 and four workload
shapes (the ingest bench's mixed workload of six customers; one customer; 1,000 customers; one hot
feature and model):

* before: the previous ledger (git 801fd79, loaded from git into this process), which wrote each
  request's events and their five aggregate items in one TransactWriteItems;
* after: this ledger (one conditional Put per event), then the aggregator on the table's stream
  with its default batch (`marginlens.usage.aggregator.DEFAULT_BATCH_SIZE`).

Counted from the requests each client sends (botocore hooks): write requests, items written, and
write units. A write unit is DynamoDB's: 1 per KB of item written, twice that inside a
transaction; an item's size is computed with DynamoDB's sizing rules from the items as stored at
the end of the run (an update is charged the item's final size: an upper bound). The cost per
million events applies AWS list prices (us-east-1, on-demand) to those counts. The result is
written between markers into docs/BENCHMARKS.md; timings are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import random
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import bench_env  # first: the repo on sys.path, a local-only environment
from ingest import make_events

from marginlens.core.observability import metrics as powertools_metrics
from marginlens.core.settings import Settings
from marginlens.local.engine import LocalDynamoDB
from marginlens.local.streams import StreamPoller
from marginlens.pricing.book import PriceBook
from marginlens.storage.dynamodb import DynamoDBClient, create_table, from_item, make_client
from marginlens.storage.streams import Stream, batch_of, make_streams_client
from marginlens.usage.aggregator import DEFAULT_BATCH_SIZE, Aggregator
from marginlens.usage.ingest import ingest
from marginlens.usage.ledger import Ledger

ROOT = bench_env.ROOT
BEFORE_COMMIT = "801fd79"  # the last ledger that wrote aggregates on the ingest path
BATCH_SIZES = (1, 10, 100)
MARKER_BEGIN, MARKER_END = "<!-- scale:begin -->", "<!-- scale:end -->"

# AWS list prices, us-east-1, on-demand (USD).
PRICE_PER_MILLION_WRITE_UNITS = Decimal("0.625")  # DynamoDB on-demand write request units
PRICE_PER_MILLION_LAMBDA_REQUESTS = Decimal("0.20")
PRICE_PER_GB_SECOND_ARM = Decimal("0.0000133334")  # Lambda arm64
PRICE_PER_MILLION_HTTP_API_REQUESTS = Decimal("1.00")  # API Gateway HTTP API, first 300 million
# Assumed durations (not measured here: this engine is not DynamoDB): 512 MB functions.
INGEST_SECONDS_PER_REQUEST = Decimal("0.1")
AGGREGATOR_SECONDS_PER_BATCH = Decimal("0.3")
FUNCTION_GB = Decimal("0.5")
ITEM_WRITE_LIMIT = 1000  # write units a second one DynamoDB item (partition) takes


def workload(shape: str, count: int, seed: int) -> list[dict[str, Any]]:
    if shape == "mixed":
        return make_events(count, seed)
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    run = uuid.uuid4().hex[:8]
    events = []
    for number in range(count):
        if shape == "1 customer":
            customer, feature, model = (
                "solo",
                rng.choice(["chat", "summarize", "search"]),
                rng.choice(["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20240620", "gemini-1.5-flash"]),
            )
        elif shape == "1,000 customers":
            customer = f"cust{rng.randrange(1000):04d}"
            feature = rng.choice(["chat", "summarize", "search", "translate"])
            model = rng.choice(["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20240620", "gemini-1.5-flash"])
        else:  # one hot feature and model, many customers
            customer, feature, model = f"cust{rng.randrange(50):02d}", "summarize", "gpt-4o-mini"
        events.append(
            {
                "request_id": f"scale-{run}-{number:07d}",
                "customer_id": customer,
                "model": model,
                "feature": feature,
                "prompt_tokens": rng.randint(200, 8000),
                "completion_tokens": rng.randint(20, 900),
                "timestamp": (now + timedelta(seconds=rng.randint(0, 3000)))
                .isoformat()
                .replace("+00:00", "Z"),
            }
        )
    return events


# --- counting -------------------------------------------------------------------------------------


@dataclass
class Writes:
    """Write requests and the items they write, as a client sends them."""

    requests: Counter[str] = field(default_factory=Counter)
    items: list[tuple[str, str, bool]] = field(default_factory=list)  # (pk, sk, transactional)

    def attach(self, client: DynamoDBClient) -> None:
        client.meta.events.register("provide-client-params.dynamodb.*", self._on_call)

    def _on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name == "TransactWriteItems":
            self.requests[name] += 1
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                key = body.get("Key") or body.get("Item")
                if kind != "ConditionCheck":
                    self.items.append((key["pk"]["S"], key["sk"]["S"], True))
        elif name in ("PutItem", "UpdateItem", "DeleteItem"):
            self.requests[name] += 1
            key = params.get("Key") or params["Item"]
            self.items.append((key["pk"]["S"], key["sk"]["S"], False))


def attribute_size(value: Any) -> int:
    """An attribute value's size by DynamoDB's rules (numbers approximated by their digits)."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | Decimal | float):
        digits = len(str(value).lstrip("-").replace(".", "").lstrip("0")) or 1
        return 1 + math.ceil(digits / 2)
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(len(k.encode()) + 1 + attribute_size(v) for k, v in value.items())
    if isinstance(value, list | set | tuple):
        return 3 + sum(1 + attribute_size(v) for v in value)
    return len(str(value).encode())


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def scan_sizes(client: DynamoDBClient, table: str) -> dict[tuple[str, str], int]:
    sizes: dict[tuple[str, str], int] = {}
    arguments: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**arguments)
        for raw in page["Items"]:
            item = from_item(raw)
            sizes[(item["pk"], item["sk"])] = item_size(item)
        if "LastEvaluatedKey" not in page:
            return sizes
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def write_units(writes: Writes, sizes: dict[tuple[str, str], int]) -> int:
    total = 0
    for pk, sk, transactional in writes.items:
        units = max(1, math.ceil(sizes.get((pk, sk), 1) / 1024))
        total += units * (2 if transactional else 1)
    return total


@dataclass(frozen=True)
class Row:
    design: str
    shape: str
    batch: int
    events: int
    ingest_requests: int
    ingest_items: int
    ingest_units: int
    aggregate_items: int  # written by the aggregator (after) or on the ingest path (before)
    aggregate_units: int
    aggregator_batches: int
    hottest_item_writes: int  # writes to the most written item

    def per_event(self, value: int) -> float:
        return value / self.events

    @property
    def total_units(self) -> int:
        return self.ingest_units + self.aggregate_units


# --- the two designs ------------------------------------------------------------------------------


def before_ledger_module() -> ModuleType:
    """The previous ledger's source, from git, as a module of its own in this process."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE_COMMIT}:shared/marginlens/usage/ledger.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    spec = importlib.util.spec_from_loader("marginlens_before_ledger", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # before its dataclasses are made: they look their module up
    exec(compile(source, f"{BEFORE_COMMIT}:ledger.py", "exec"), module.__dict__)
    sys.modules[spec.name] = module
    return module


def send(settings: Settings, ledger: Any, events: list[dict[str, Any]], size: int) -> None:
    book = PriceBook.baseline()
    for start in range(0, len(events), size):
        batch = events[start : start + size]
        result = ingest(
            batch[0] if size == 1 else {"events": batch},
            settings=settings,
            ledger=ledger,
            prices=book,
            now=datetime.now(UTC),
            key_id="bench",
        )
        powertools_metrics.clear_metrics()
        if result.count("created") != len(batch):
            raise SystemExit(f"expected every event created, got {result.body()}")


def aggregate_count(writes: Writes) -> tuple[int, int]:
    """Items written that are aggregates (checkpoints included) and writes to the hottest one."""
    aggregates = [(pk, sk) for pk, sk, _ in writes.items if pk.startswith("AGG")]
    hottest = max(Counter(aggregates).values(), default=0)
    return len(aggregates), hottest


def run_before(module: ModuleType, endpoint: str, shape: str, events: list[dict[str, Any]], size: int) -> Row:
    settings, client, table = _fresh(endpoint, f"before-{size}")
    writes = Writes()
    writes.attach(client)
    send(settings, module.Ledger(client, table), events, size)
    sizes = scan_sizes(client, table)
    events_only = Writes(items=[item for item in writes.items if item[0].startswith("EVENT#")])
    aggregates = Writes(items=[item for item in writes.items if item[0].startswith("AGG")])
    count, hottest = aggregate_count(writes)
    return Row(
        "before",
        shape,
        size,
        len(events),
        sum(writes.requests.values()),
        len(writes.items),
        write_units(events_only, sizes),
        count,
        write_units(aggregates, sizes),
        0,
        hottest,
    )


def run_after(endpoint: str, shape: str, events: list[dict[str, Any]], size: int, batch_size: int) -> Row:
    settings, client, table = _fresh(endpoint, f"after-{size}")
    ingest_writes, aggregator_writes = Writes(), Writes()
    ingest_writes.attach(client)
    send(settings, Ledger(client, table), events, size)
    own = make_client(settings)
    aggregator_writes.attach(own)
    aggregator = Aggregator(own, table)
    delivered: list[int] = []

    def deliver(event: dict[str, Any]) -> None:
        delivered.append(len(event["Records"]))
        aggregator.apply(batch_of(event))

    StreamPoller(Stream(own, make_streams_client(settings), table), deliver, batch_size=batch_size).drain(300)
    sizes = scan_sizes(client, table)
    count, hottest = aggregate_count(aggregator_writes)
    return Row(
        "after",
        shape,
        size,
        len(events),
        sum(ingest_writes.requests.values()),
        len(ingest_writes.items),
        write_units(ingest_writes, sizes),
        count,
        write_units(aggregator_writes, sizes),
        len(delivered),
        hottest,
    )


def _fresh(endpoint: str, label: str) -> tuple[Settings, DynamoDBClient, str]:
    table = f"scale-{label}-{uuid.uuid4().hex[:8]}"
    settings = Settings(MARGINLENS_DYNAMODB_ENDPOINT=endpoint, MARGINLENS_TABLE=table)
    client = make_client(settings)
    create_table(client, table)
    return settings, client, table


# --- the report -----------------------------------------------------------------------------------


def cost_per_million(row: Row, batch_size: int) -> dict[str, Decimal]:
    """USD per million events at list prices, from the counted write units and requests."""
    scale = Decimal(1_000_000) / row.events
    requests = Decimal(1_000_000) / row.batch  # API requests = ingest invocations
    costs = {
        "DynamoDB writes": Decimal(row.total_units) * scale * PRICE_PER_MILLION_WRITE_UNITS / 1_000_000,
        "API Gateway": requests * PRICE_PER_MILLION_HTTP_API_REQUESTS / 1_000_000,
        "Lambda ingest": requests
        * (
            PRICE_PER_MILLION_LAMBDA_REQUESTS / 1_000_000
            + INGEST_SECONDS_PER_REQUEST * FUNCTION_GB * PRICE_PER_GB_SECOND_ARM
        ),
    }
    if row.design == "after":
        invocations = Decimal(1_000_000) / batch_size  # stream reads by Lambda's mapping are free
        costs["Lambda aggregator"] = invocations * (
            PRICE_PER_MILLION_LAMBDA_REQUESTS / 1_000_000
            + AGGREGATOR_SECONDS_PER_BATCH * FUNCTION_GB * PRICE_PER_GB_SECOND_ARM
        )
    return costs


def report(rows: list[Row], batch_size: int, events: int) -> str:
    lines = [
        MARKER_BEGIN,
        "## Scale model: writes per event, before and after the stream aggregator",
        "",
        f"Generated by `bench/scale.py` ({events} events per run); rerun it rather than edit this section.",
        "Per event, counted from the requests each client sent (see the script's docstring for how write",
        "units are sized). Before: events and their aggregates in one transaction per request. After: one",
        f"conditional Put per event, then the aggregator on the stream in batches of {batch_size}.",
        "",
        "| design | workload | batch | write requests | items | write units (ingest) "
        "| aggregate items | aggregate write units | total write units | hottest item's writes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.design} | {row.shape} | {row.batch} | {row.per_event(row.ingest_requests):.3f} "
            f"| {row.per_event(row.ingest_items):.3f} | {row.per_event(row.ingest_units):.3f} "
            f"| {row.per_event(row.aggregate_items):.3f} | {row.per_event(row.aggregate_units):.3f} "
            f"| {row.per_event(row.total_units):.3f} | {row.hottest_item_writes} of {row.events} |"
        )
    mixed = {row.design: row for row in rows if row.shape == "mixed" and row.batch == 100}
    costs = {design: cost_per_million(row, batch_size) for design, row in mixed.items()}
    lines += [
        "",
        "### Cost per million events (mixed workload, batch 100, AWS list prices, us-east-1)",
        "",
        "| | " + " | ".join(costs) + " |",
        "|---|" + "---:|" * len(costs),
    ]
    parts = sorted({name for cost in costs.values() for name in cost})
    for name in parts:
        lines.append(
            f"| {name} | "
            + " | ".join(f"${cost.get(name, Decimal(0)):.2f}" for cost in costs.values())
            + " |"
        )
    totals = {design: sum(cost.values(), Decimal(0)) for design, cost in costs.items()}
    lines.append("| **total** | " + " | ".join(f"**${total:.2f}**" for total in totals.values()) + " |")
    if "before" in totals and "after" in totals:
        lines += ["", f"After / before: {totals['after'] / totals['before'] * 100:.0f} %."]
    hot = {(row.design, row.batch): row for row in rows if row.shape == "hot feature/model"}
    lines += [
        "",
        "### The hot item",
        "",
        f"One DynamoDB item takes at most {ITEM_WRITE_LIMIT} write units a second. On the hot workload (one",
        "feature and model, 50 customers) the feature+model items are written by every request before,",
        "and once per aggregator transaction after. The highest event rate before that item saturates,",
        "from the measured writes to it (events per write x the item's write units a second):",
        "",
        "| design | batch | events per write of the hot item | units per write "
        "| events a second, at the limit |",
        "|---|---:|---:|---:|---:|",
    ]
    for (design, size), row in sorted(hot.items()):
        per_write = row.events / max(1, row.hottest_item_writes)
        units = 2  # a transactional write of an item under 1 KB (the hot items' size here)
        lines.append(
            f"| {design} | {size} | {per_write:.0f} | {units} | {ITEM_WRITE_LIMIT / units * per_write:,.0f} |"
        )
    lines += [
        "",
        "Before, concurrent requests also conflict on the hot item long before its limit",
        "(TransactionConflict, retried). After, ingest writes nothing shared (each event is its own item),",
        "the aggregator is the hot item's only writer (one batch per stream shard at a time), and",
        "DynamoDB adds stream shards as the table's write rate grows.",
        "",
        "Assumptions behind the Lambda figures (not measured here): 512 MB functions, "
        f"{INGEST_SECONDS_PER_REQUEST * 1000:.0f} ms per ingest request, "
        f"{AGGREGATOR_SECONDS_PER_BATCH * 1000:.0f} ms per aggregator batch. Stream reads by Lambda's "
        "mapping are free; reads of the ingest path (keys, prices) are cached per function and left out.",
        MARKER_END,
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    if MARKER_BEGIN in text and MARKER_END in text:
        head, rest = text.split(MARKER_BEGIN, 1)
        text = head + section + rest.split(MARKER_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    batch_size = DEFAULT_BATCH_SIZE
    module = before_ledger_module()
    rows: list[Row] = []
    with LocalDynamoDB() as engine:
        for shape in ("mixed", "1 customer", "1,000 customers", "hot feature/model"):
            events = workload(shape, args.events, seed=13)
            for size in BATCH_SIZES:
                count = events if size > 1 else events[: max(100, args.events // 5)]
                rows.append(run_before(module, engine.endpoint, shape, count, size))
                rows.append(run_after(engine.endpoint, shape, count, size, batch_size))
                print(f"{shape}, batch {size}: done", file=sys.stderr)
    section = report(rows, batch_size, args.events)
    print(section)
    if args.out:
        write_section(args.out, section)


if __name__ == "__main__":
    main()
