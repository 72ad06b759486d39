"""Simulator benchmark: what POST /v1/simulations and GET /v1/recommendations read and how long they take.

    .venv/bin/python bench/simulator.py [--groups 1,10,40] [--events 1000,20000] [--runs 5]
        [--out docs/BENCHMARKS-simulator.md]

For each G (feature x model groups) a fresh table on one local stack gets usage spread evenly over the
first 30 days of the last complete month (five customers, each on two fifths of the groups), sent
through `ingest()` in batches of 100 in time order. It first holds the smallest E (events), then is
topped up to each larger E; after each step, and with no write in between, this is measured:

* over HTTP on the local stack (gateway, Lambda handler, key auth) with a read key, one request at a
  time: POST /v1/simulations (to gpt-4o-mini) and GET /v1/recommendations (`min_cost=0`: every group
  gets candidates), for the whole month and for one customer (`customer_id=`): DynamoDB requests and
  items read per call (by partition), and the median wall time of a few warm calls;
* in-process, on the same table: `load_groups`, building a `Recommender` (a `TargetModel` per scored
  model), `Recommender.recommend` alone (each candidate not ruled out by its score priced on every
  group) and `simulate`, with the number of candidates considered and priced.

Items read and requests should depend on G and the days with usage, not on E. The engine is moto's
DynamoDB server in Python, in this process: absolute times say little about DynamoDB on AWS; the
items and requests carry over, as does the compute time of `recommend` (pure Python, no I/O).
Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import cProfile
import logging
import os
import pstats
import statistics
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import bench_env  # first: the repo on sys.path, a local-only environment
import httpx

from marginlens.core.observability import logger as powertools_logger
from marginlens.core.observability import metrics as powertools_metrics
from marginlens.core.settings import Settings
from marginlens.local.engine import LocalDynamoDB
from marginlens.pricing.quality import DEFAULT_INDEX, QualityStore
from marginlens.pricing.store import PriceStore
from marginlens.reports.pnl import Period
from marginlens.simulation.simulator import (
    RecommendationSettings,
    Recommender,
    TargetModel,
    UsageGroup,
    load_groups,
    simulate,
)
from marginlens.storage.dynamodb import DynamoDBClient, make_client, query_all
from marginlens.usage.ingest import ingest
from marginlens.usage.ledger import Ledger

# Read when settings are first built (lazily, after these imports). No scheduled budget check firing
# into the counts while a call is measured, and the per-process caches of key lookups (30 s by
# default) and the price book (300 s) outlasting a G's measurements, so that every measured call is
# a warm one (the doc says what a cold one adds).
os.environ["MARGINLENS_BUDGET_CHECK_SECONDS"] = "0"
os.environ["MARGINLENS_KEY_CACHE_SECONDS"] = "3600"
os.environ["MARGINLENS_PRICE_CACHE_SECONDS"] = "900"

DEFAULT_GROUPS = (1, 10, 40)
# 1,200 = 30 days x 40 groups: every cell of the largest G has usage. Seeding on moto runs at a few
# hundred events/s, so only DEFAULT_GROW is topped up to the larger E, and that E is kept at 10,000
# to stay near 3 minutes in all (`--events 1200,20000` adds about a minute).
DEFAULT_EVENTS = (1200, 10000)
DEFAULT_GROW = (10,)
DEFAULT_RUNS = 5
DEFAULT_BUDGET_S = 2.0
DAYS = 30
BATCH = 100
ADMIN_KEY = "mla_bench-admin-key-0123456789"
TO_MODEL = "gpt-4o-mini"
CUSTOMERS = tuple(f"cust_{n}" for n in range(5))
MEASURED_CUSTOMER = CUSTOMERS[0]
# Groups are (feature g // 4, model g % 4): any G from 4 up holds every model. Scored, priced, and
# dearer than many scored models, so that every group has candidates to price and rank.
MODELS = ("gpt-4o", "claude-3-5-sonnet-20240620", "gemini-1.5-pro", "gpt-4.1")
FEATURES = tuple(f"feature_{n:02d}" for n in range(25))
MAX_GROUPS = len(FEATURES) * len(MODELS)


def bench_month(today: date) -> date:
    """The last complete month with at least 30 days (the usage sits on its days 1 to 30)."""
    month = today.replace(day=1)
    while True:
        month = (month - timedelta(days=1)).replace(day=1)
        if calendar.monthrange(month.year, month.month)[1] >= DAYS:
            return month


# --- usage --------------------------------------------------------------------------------------


def group_of(number: int) -> tuple[str, str]:
    return FEATURES[number // len(MODELS)], MODELS[number % len(MODELS)]


def make_events(groups: int, first: int, last: int, month: date, run: str) -> list[dict[str, Any]]:
    """Events `first` to `last - 1` of a deterministic stream: event n falls in cell n mod (30 x G),
    one cell per day and group, so any 30 x G consecutive events hold each cell once. Each group is
    used by two of the five customers, alternately. Returned in time order, as an app server sends."""
    events = []
    for n in range(first, last):
        cell = n % (DAYS * groups)
        day, group = divmod(cell, groups)
        feature, model = group_of(group)
        customer = CUSTOMERS[(group + day % 2) % len(CUSTOMERS)]
        at = datetime(month.year, month.month, 1 + day, tzinfo=UTC) + timedelta(seconds=(n * 7919) % 86_000)
        prompt = 1_000 + (n * 104_729) % 9_000
        event: dict[str, Any] = {
            "request_id": f"sim-{run}-{n:07d}",
            "customer_id": customer,
            "model": model,
            "feature": feature,
            "prompt_tokens": prompt,
            "completion_tokens": 100 + (n * 7_727) % 900,
            "timestamp": at.isoformat().replace("+00:00", "Z"),
        }
        if n % 3 == 0:
            event["cached_tokens"] = prompt // 2
        events.append(event)
    # By day, then group: a batch of 100 then shares its aggregate items (fewer Updates, which moto
    # is slow at). Only the seeding's speed depends on the order, not what is stored.
    events.sort(key=lambda event: (event["timestamp"][:10], event["feature"], event["model"]))
    return events


def seed(settings: Settings, ledger: Ledger, events: list[dict[str, Any]]) -> float:
    """Send the events through `ingest()` in batches of 100; the seconds it took."""
    prices = PriceStore(ledger.client, ledger.table).book()
    started = time.perf_counter()
    for start in range(0, len(events), BATCH):
        batch = events[start : start + BATCH]
        result = ingest(
            {"events": batch},
            settings=settings,
            ledger=ledger,
            prices=prices,
            now=datetime.now(UTC),
            key_id="bench",
        )
        powertools_metrics.clear_metrics()  # what the handler's @log_metrics does per invocation
        if result.count("created") != len(batch):
            raise SystemExit(f"seeding: expected {len(batch)} created, got {result.body()}")
    return time.perf_counter() - started


# --- counting DynamoDB requests and items read --------------------------------------------------


def partition_family(pk: str) -> str:
    """`AGG#CFD#2026-10#cust_0` -> `AGG#CFD`, `KEY#abc` -> `KEY`, `QUALITY` -> `QUALITY`."""
    parts = pk.split("#")
    return "#".join(parts[:2]) if parts[0] == "AGG" and len(parts) > 1 else parts[0]


def _pk_of(operation: str, params: dict[str, Any]) -> str | None:
    if operation == "Query":
        value = params.get("ExpressionAttributeValues", {}).get(":pk", {})
    else:
        value = params.get("Key", {}).get("pk", {})
    return value.get("S") if isinstance(value, dict) else None


@dataclass
class ReadCounter:
    """DynamoDB requests a client sends (retries included), by operation and by partition family, the
    items its reads get back (Query and Scan `Count`, a found GetItem, BatchGetItem responses), and the
    time spent inside its calls (serialising, the round trip, the engine, parsing)."""

    requests: Counter[str] = field(default_factory=Counter)
    partitions: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    active: bool = False
    _current: threading.local = field(default_factory=threading.local)

    def attach(self, client: DynamoDBClient) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb.*", self._on_params)
        events.register("before-send.dynamodb.*", self._on_send)
        events.register("after-call.dynamodb.*", self._on_after_call)
        events.register("after-call-error.dynamodb.*", self._on_call_error)

    def _on_params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        pk = _pk_of(model.name, params)
        # before-send gets no context: the partition of this thread's call in progress, then.
        self._current.partition = context["bench_partition"] = partition_family(pk) if pk else model.name
        context["bench_started"] = time.perf_counter()

    def _on_send(self, event_name: str, **_: Any) -> None:
        if self.active:
            self.requests[event_name.rsplit(".", 1)[-1]] += 1
            self.partitions[getattr(self._current, "partition", "?")] += 1

    def _on_call_error(self, context: dict[str, Any], **_: Any) -> None:
        if self.active and "bench_started" in context:
            self.seconds += time.perf_counter() - context["bench_started"]

    def _on_after_call(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.active:
            return
        self._on_call_error(context)
        partition = context.get("bench_partition", "?")
        if model.name in ("Query", "Scan"):
            self.items[partition] += int(parsed.get("Count", 0))
        elif model.name == "GetItem":
            self.items[partition] += 1 if "Item" in parsed else 0
        elif model.name == "BatchGetItem":
            self.items[partition] += sum(len(found) for found in parsed.get("Responses", {}).values())

    @contextlib.contextmanager
    def counting(self) -> Iterator[Reads]:
        self.requests.clear()
        self.partitions.clear()
        self.items.clear()
        self.seconds = 0.0
        reads = Reads()
        self.active = True
        try:
            yield reads
        finally:
            self.active = False
            reads.requests = Counter(self.requests)
            reads.partitions = Counter(self.partitions)
            reads.items = Counter(self.items)
            reads.seconds = self.seconds


@dataclass
class Reads:
    requests: Counter[str] = field(default_factory=Counter)
    partitions: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    @property
    def item_count(self) -> int:
        return sum(self.items.values())

    @property
    def aggregate_items(self) -> int:
        return sum(count for family, count in self.items.items() if family.startswith("AGG#"))

    def signature(self) -> tuple[int, int]:
        return self.request_count, self.item_count

    def by_partition(self) -> str:
        families = sorted(set(self.partitions) | set(self.items))
        return ", ".join(f"{family} {self.partitions[family]}/{self.items[family]}" for family in families)


def repeat(runs: int, budget_s: float, once: Callable[[], float]) -> list[float]:
    """Call `once` (it returns its own measured seconds) up to `runs` times, fewer once `budget_s`
    is spent, at least once."""
    times: list[float] = []
    spent = 0.0
    while len(times) < runs and (not times or spent < budget_s):
        seconds = once()
        times.append(seconds * 1000)
        spent += seconds
    return times


# --- results ------------------------------------------------------------------------------------


@dataclass
class HttpResult:
    groups: int
    events: int
    scope: str  # "month" or "customer"
    call: str
    rows: int  # groups in the answer
    reads: Reads  # of the last measured call
    times_ms: list[float]
    dynamodb_ms: list[float]  # of each measured call, the time inside DynamoDB calls
    stable: bool  # the same requests and items on every measured call

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def median_dynamodb_ms(self) -> float:
        return statistics.median(self.dynamodb_ms)


@dataclass
class ComputeResult:
    groups: int
    events: int
    scope: str
    rows: int  # groups loaded
    day_rows: int  # group x day with usage: the aggregate items behind them
    load_ms: float  # load_groups, DynamoDB included (one call)
    load_reads: Reads
    targets: int  # scored, known, not deprecated models a Recommender considers
    build_ms: list[float]  # Recommender(): a TargetModel (price resolution) per scored model
    recommend_ms: list[float]
    simulate_calls: int  # TargetModel.simulate calls in one recommend()
    price_calls: int  # price spans priced in one recommend() (a genai-prices calc_price each)
    ranked: int  # candidates shown ranked over all groups (at most `limit` each)
    simulate_ms: list[float]  # simulate(groups, TO_MODEL)

    @property
    def median_recommend_ms(self) -> float:
        return statistics.median(self.recommend_ms)

    @property
    def us_per_pricing(self) -> float:
        return self.median_recommend_ms * 1000 / self.simulate_calls if self.simulate_calls else 0.0


@dataclass
class Scenario:
    groups: int
    events: int
    added: int  # events sent in this step
    seed_seconds: float
    fd_items: int  # AGG#FD items in the month: one per day x feature x model with usage
    cfd_items: int  # the measured customer's AGG#CFD items
    customer_events: int
    http: list[HttpResult] = field(default_factory=list)
    compute: list[ComputeResult] = field(default_factory=list)


@dataclass
class Profile:
    groups: int
    events: int
    profiled_groups: int
    total_ms: float
    rows: list[tuple[str, int, float]]  # function, calls, own seconds
    simulate_s: float  # cumulative in TargetModel.simulate
    price_s: float  # cumulative in TargetModel._price: pricing the spans (genai-prices calc_price)
    simulate_calls: int
    recommend_s: float  # cumulative in Recommender.recommend (the whole profiled call)


# --- measuring ----------------------------------------------------------------------------------

Call = tuple[str, str, Callable[[], httpx.Response]]


def http_calls(http: httpx.Client, month: str) -> list[Call]:
    calls: list[Call] = []
    for scope, customer in (("month", None), ("customer", MEASURED_CUSTOMER)):
        body: dict[str, Any] = {"month": month, "to_model": TO_MODEL}
        params: dict[str, Any] = {"month": month, "min_cost": "0"}
        if customer is not None:
            body["customer_id"] = customer
            params["customer_id"] = customer

        def post(body: dict[str, Any] = body) -> httpx.Response:
            return http.post("/v1/simulations", json=body)

        def get(params: dict[str, Any] = params) -> httpx.Response:
            return http.get("/v1/recommendations", params=params)

        calls += [(scope, "POST /v1/simulations", post), (scope, "GET /v1/recommendations", get)]
    return calls


def measure_call(
    scope: str,
    call: str,
    send: Callable[[], httpx.Response],
    counter: ReadCounter,
    runs: int,
    budget_s: float,
    groups: int,
    events: int,
) -> HttpResult:
    signatures: set[tuple[int, int]] = set()
    dynamodb_ms: list[float] = []
    last = Reads()
    rows = 0

    def once() -> float:
        nonlocal last, rows
        with counter.counting() as reads:
            started = time.perf_counter()
            response = send()
            seconds = time.perf_counter() - started
        response.raise_for_status()
        answer = response.json()
        rows = len(answer["rows"] if "rows" in answer else answer["groups"])
        signatures.add(reads.signature())
        dynamodb_ms.append(reads.seconds * 1000)
        last = reads
        return seconds

    times = repeat(runs, budget_s, once)
    return HttpResult(groups, events, scope, call, rows, last, times, dynamodb_ms, len(signatures) == 1)


def measure_http(
    calls: list[Call], counter: ReadCounter, runs: int, budget_s: float, groups: int, events: int
) -> list[HttpResult]:
    return [
        measure_call(scope, call, send, counter, runs, budget_s, groups, events)
        for scope, call, send in calls
    ]


@contextlib.contextmanager
def counting_pricings() -> Iterator[Counter[str]]:
    """Count TargetModel.simulate and TargetModel._price calls: two Python frames more per call,
    against hundreds of microseconds per call (well under 1% of what is timed)."""
    calls: Counter[str] = Counter()
    original_simulate, original_price = TargetModel.simulate, TargetModel._price

    def counted_simulate(self: TargetModel, group: Any) -> Any:
        calls["simulate"] += 1
        return original_simulate(self, group)

    def counted_price(self: TargetModel, at: Any, tokens: Any) -> Any:
        calls["price"] += 1
        return original_price(self, at, tokens)

    TargetModel.simulate = counted_simulate  # type: ignore[method-assign]
    TargetModel._price = counted_price  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        TargetModel.simulate = original_simulate  # type: ignore[method-assign]
        TargetModel._price = original_price  # type: ignore[method-assign]


def recommendation_settings() -> RecommendationSettings:
    return RecommendationSettings(
        index=DEFAULT_INDEX, tolerance_pct=Decimal("3"), min_cost=Decimal(0), limit=5
    )


def measure_compute(
    client: DynamoDBClient,
    counter: ReadCounter,
    table: str,
    runs: int,
    budget_s: float,
    groups: int,
    events: int,
    period: Period,
) -> list[ComputeResult]:
    """What the routes run, without HTTP: the same price book, quality book and options."""
    ledger = Ledger(client, table)
    book = PriceStore(client, table).book()
    quality = QualityStore(client, table).book(book)
    options = recommendation_settings()
    target = TargetModel(book, TO_MODEL)

    def build() -> float:
        started = time.perf_counter()
        Recommender(book, quality, options)
        return time.perf_counter() - started

    results = []
    for scope, customer in (("month", None), ("customer", MEASURED_CUSTOMER)):
        with counter.counting() as load_reads:
            started = time.perf_counter()
            loaded = load_groups(ledger, period, customer)
            load_ms = (time.perf_counter() - started) * 1000
        build_ms = repeat(runs, budget_s, build)
        recommender = Recommender(book, quality, options)
        rows: list[dict[str, Any]] = []

        def recommend(recommender: Recommender = recommender, loaded: list[UsageGroup] = loaded) -> float:
            nonlocal rows
            started = time.perf_counter()
            rows, _below = recommender.recommend(loaded)
            return time.perf_counter() - started

        def simulate_once(loaded: list[UsageGroup] = loaded) -> float:
            started = time.perf_counter()
            simulate(loaded, target)
            return time.perf_counter() - started

        with counting_pricings() as pricings:
            recommend_ms = repeat(runs, budget_s, recommend)
        results.append(
            ComputeResult(
                groups=groups,
                events=events,
                scope=scope,
                rows=len(loaded),
                day_rows=sum(len(group.days) for group in loaded),
                load_ms=load_ms,
                load_reads=load_reads,
                targets=len(recommender.targets),
                build_ms=build_ms,
                recommend_ms=recommend_ms,
                simulate_calls=pricings["simulate"] // len(recommend_ms),
                price_calls=pricings["price"] // len(recommend_ms),
                ranked=sum(len(row["candidates"]) for row in rows),
                simulate_ms=repeat(runs, budget_s, simulate_once),
            )
        )
    return results


def profile_recommend(
    client: DynamoDBClient, table: str, period: Period, groups: int, events: int, limit: int
) -> Profile:
    """Where `recommend` spends its time: cProfile of one call on the month's first `limit` groups
    (every group costs alike: the same candidates priced on 30 days)."""
    book = PriceStore(client, table).book()
    recommender = Recommender(book, QualityStore(client, table).book(book), recommendation_settings())
    loaded = load_groups(Ledger(client, table), period)[:limit]
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(recommender.recommend, loaded)
    total_ms = (time.perf_counter() - started) * 1000
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = []
    cumulative: dict[str, float] = {}
    calls: dict[str, int] = {}
    for (filename, line, name), (_calls, ncalls, own, total, _callers) in stats.items():
        if filename.endswith("marginlens/simulation/simulator.py") and name in (
            "simulate",
            "_price",
            "recommend",
        ):
            cumulative[name], calls[name] = total, ncalls
        path = Path(filename)
        if "site-packages" in path.parts:
            where = "/".join(path.parts[path.parts.index("site-packages") + 1 :])
        elif "marginlens" in path.parts:
            where = "/".join(path.parts[path.parts.index("marginlens") :])
        else:
            where = path.name
        label = f"{name} ({where}:{line})" if line else name
        rows.append((label, ncalls, own))
    rows.sort(key=lambda row: -row[2])
    return Profile(
        groups,
        events,
        len(loaded),
        total_ms,
        rows,
        cumulative.get("simulate", 0.0),
        cumulative.get("_price", 0.0),
        calls.get("simulate", 0),
        cumulative.get("recommend", 0.0),
    )


def run_groups(
    engine_endpoint: str,
    settings: Settings,
    groups: int,
    event_counts: tuple[int, ...],
    runs: int,
    budget_s: float,
    month: date,
    profile_groups: int,
) -> tuple[list[Scenario], Profile | None]:
    from marginlens.local.stack import LocalStack
    from marginlens.usecases.services import services

    table = f"bench-sim-{groups}-{uuid.uuid4().hex[:8]}"
    stack = LocalStack(
        port=0, admin_key=ADMIN_KEY, data_dir=None, table=table, dynamodb_endpoint=engine_endpoint
    )
    month_name = month.strftime("%Y-%m")
    period = Period.parse(month_name, None, None)
    run = uuid.uuid4().hex[:8]
    scenarios = []
    profile = None
    with stack, httpx.Client(base_url=stack.url, timeout=300) as admin:
        created = admin.post(
            "/v1/keys",
            json={"scope": "read", "name": "bench"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        created.raise_for_status()
        # The handlers run in this process and share this client: count what they send.
        handler_counter = ReadCounter()
        handler_counter.attach(services().client)
        own_client = make_client(settings)
        own_counter = ReadCounter()
        own_counter.attach(own_client)
        ledger = Ledger(own_client, table)
        headers = {"Authorization": f"Bearer {created.json()['key']}"}
        with httpx.Client(base_url=stack.url, timeout=300, headers=headers) as http:
            calls = http_calls(http, month_name)
            # Warm (on the empty table, not measured): the key lookup, the price book, quality data.
            for _scope, _call, send in calls:
                send().raise_for_status()
            seeded = 0
            for events in event_counts:
                print(f"  G={groups}: seeding to {events:,} events ...", file=sys.stderr, flush=True)
                seconds = seed(settings, ledger, make_events(groups, seeded, events, month, run))
                added, seeded = events - seeded, events
                fd_items = len(query_all(own_client, table, f"AGG#FD#{month_name}"))
                cfd = query_all(own_client, table, f"AGG#CFD#{month_name}#{MEASURED_CUSTOMER}")
                scenario = Scenario(
                    groups,
                    events,
                    added,
                    seconds,
                    fd_items,
                    len(cfd),
                    sum(int(row.get("events", 0)) for row in cfd),
                )
                print(
                    f"  G={groups}, E={events:,}: seeded in {seconds:.0f} s, measuring ...",
                    file=sys.stderr,
                    flush=True,
                )
                measuring = time.perf_counter()
                scenario.http = measure_http(calls, handler_counter, runs, budget_s, groups, events)
                scenario.compute = measure_compute(
                    own_client, own_counter, table, runs, budget_s, groups, events, period
                )
                scenarios.append(scenario)
                print(f"  measured in {time.perf_counter() - measuring:.0f} s", file=sys.stderr, flush=True)
            if profile_groups:
                profile = profile_recommend(own_client, table, period, groups, seeded, profile_groups)
    return scenarios, profile


# --- report -------------------------------------------------------------------------------------


def data_table(scenarios: list[Scenario]) -> str:
    lines = [
        "| G | E | `AGG#FD` items in the month | Customer's events | Customer's `AGG#CFD` items "
        "| Seeding: events sent, s (events/s) |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for s in scenarios:
        lines.append(
            f"| {s.groups} | {s.events:,} | {s.fd_items:,} | {s.customer_events:,} | {s.cfd_items:,} "
            f"| {s.added:,}, {s.seed_seconds:.1f} ({s.added / s.seed_seconds:,.0f}) |"
        )
    return "\n".join(lines)


def http_table(scenarios: list[Scenario]) -> str:
    lines = [
        "| G | E | Scope | Call | Groups answered | DynamoDB requests | Items read "
        "| of which aggregates | Median ms | of which in DynamoDB | Calls timed |",
        "|--:|--:|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for scenario in scenarios:
        for r in scenario.http:
            flag = "" if r.stable else " (varied)"
            lines.append(
                f"| {r.groups} | {r.events:,} | {r.scope} | {r.call} | {r.rows} "
                f"| {r.reads.request_count}{flag} | {r.reads.item_count:,} | {r.reads.aggregate_items:,} "
                f"| {r.median_ms:,.0f} | {r.median_dynamodb_ms:,.0f} | {len(r.times_ms)} |"
            )
    return "\n".join(lines)


def e_independence(scenarios: list[Scenario]) -> str:
    """Per G measured at several E: the requests and items read of each call, E after E."""
    lines = []
    for groups in sorted({s.groups for s in scenarios}):
        steps = [s for s in scenarios if s.groups == groups]
        if len(steps) < 2:
            continue
        events = " -> ".join(f"{s.events:,}" for s in steps)
        fd = " -> ".join(f"{s.fd_items:,}" for s in steps)
        lines.append(f"- G={groups}, E {events} (`AGG#FD` items in the month {fd}):")
        for index, r in enumerate(steps[0].http):
            values = [(s.http[index].reads.request_count, s.http[index].reads.item_count) for s in steps]
            shown = " -> ".join(f"{requests} requests / {items:,} items" for requests, items in values)
            verdict = "unchanged" if len(set(values)) == 1 else "changed"
            times = " -> ".join(
                f"{s.http[index].median_ms:,.0f} ms ({s.http[index].median_dynamodb_ms:,.0f} in DynamoDB)"
                for s in steps
            )
            lines.append(f"  - {r.scope}, {r.call}: {shown} ({verdict}); {times}")
    return "\n".join(lines)


def breakdown(scenarios: list[Scenario]) -> str:
    """Requests/items by partition family for each call, at the largest E of each G."""
    lines = []
    for scenario in scenarios:
        if scenario.events != max(s.events for s in scenarios if s.groups == scenario.groups):
            continue
        for r in scenario.http:
            lines.append(f"- G={r.groups}, E={r.events:,}, {r.scope}, {r.call}: {r.reads.by_partition()}")
    return "\n".join(lines)


def compute_table(scenarios: list[Scenario]) -> str:
    lines = [
        "| G | E | Scope | Groups | Group-days | `load_groups` ms (items read) | `Recommender()` ms "
        "| Candidates | Pricings (spans) | `recommend` ms | µs per pricing | Ranked shown "
        "| `simulate` ms | Runs |",
        "|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for scenario in scenarios:
        for r in scenario.compute:
            lines.append(
                f"| {r.groups} | {r.events:,} | {r.scope} | {r.rows} | {r.day_rows:,} "
                f"| {r.load_ms:,.0f} ({r.load_reads.item_count:,}) | {statistics.median(r.build_ms):.1f} "
                f"| {r.targets} | {r.simulate_calls:,} ({r.price_calls:,}) | {r.median_recommend_ms:,.0f} "
                f"| {r.us_per_pricing:.0f} | {r.ranked} | {statistics.median(r.simulate_ms):.1f} "
                f"| {len(r.recommend_ms)} |"
            )
    return "\n".join(lines)


def profile_markdown(profile: Profile | None, top: int = 12) -> str:
    if profile is None:
        return "Not profiled in this run (`--profile-groups 0`)."
    own_total = sum(own for _label, _calls, own in profile.rows) or 1.0
    lines = [
        f"One `recommend` on {profile.profiled_groups} of the {profile.groups} groups (E={profile.events:,}) "
        f"under cProfile: {profile.total_ms:,.0f} ms with the profiler's overhead. The functions with "
        "the most time of their own:",
        "",
        "| Function | Calls | Own time (ms) | Share |",
        "|---|--:|--:|--:|",
    ]
    for label, calls, own in profile.rows[:top]:
        lines.append(f"| `{label}` | {calls:,} | {own * 1000:,.1f} | {own / own_total:.0%} |")
    days_s = profile.simulate_s - profile.price_s
    lines += [
        "",
        f"`TargetModel.simulate` ({profile.simulate_calls:,} calls) took {profile.simulate_s * 1000:,.0f} ms "
        f"in all ({profile.simulate_s / (profile.recommend_s or own_total):.0%} of `recommend`), "
        "of which pricing the spans "
        f"(`TargetModel._price`, a genai-prices `calc_price` each) {profile.price_s * 1000:,.0f} ms and "
        f"the loop over the days that finds each day's price span {days_s * 1000:,.0f} ms "
        f"({days_s / profile.simulate_s if profile.simulate_s else 0:.0%} of `simulate`).",
    ]
    return "\n".join(lines)


def observations(scenarios: list[Scenario]) -> str:
    """What the tables show, worked out from them (so that a rerun states its own numbers)."""
    lines = []
    month_calls = [(s, r) for s in scenarios for r in s.http if r.scope == "month"]
    if month_calls and all(
        r.reads.aggregate_items == s.fd_items and r.reads.partitions["AGG#FD"] == 1 for s, r in month_calls
    ):
        others = sorted({family for _s, r in month_calls for family in r.reads.partitions} - {"AGG#FD"})
        lines.append(
            "- Every month-wide call reads exactly the month's `AGG#FD` items (one per day x feature x "
            "model with usage, at most 30 x G here) in one Query"
            + (f", besides {', '.join(f'`{family}`' for family in others)}" if others else "")
            + ": reads follow G and the days with usage, not E."
        )
    doubled = [
        r
        for s in scenarios
        for r in s.http
        if r.scope == "customer" and r.call.startswith("GET") and r.reads.partitions["AGG#CFD"] > 1
    ]
    if doubled:
        call = doubled[-1]
        lines.append(
            f"- `GET /v1/recommendations?customer_id=` queries the customer's `AGG#CFD` partition "
            f"{call.reads.partitions['AGG#CFD']} times ({call.reads.items['AGG#CFD']:,} items at "
            f"G={call.groups}, where POST /v1/simulations for the same customer queries it once): in "
            "`load_groups`, then again in `PnlReport.customer` for the margin, the same rows each time."
        )
    month_compute = [r for s in scenarios for r in s.compute if r.scope == "month"]
    if month_compute:
        widest = max(month_compute, key=lambda r: r.rows)
        per_group = widest.median_recommend_ms / widest.rows if widest.rows else 0.0
        lines.append(
            f"- `recommend` costs about {per_group:,.0f} ms per group on this machine ({widest.targets} "
            f"candidates considered, {widest.simulate_calls / max(widest.rows, 1):,.0f} per group priced "
            f"on up to 30 days each): {widest.median_recommend_ms:,.0f} ms for "
            f"G={widest.groups}. It runs in the API function "
            "(512 MB, 29 s timeout); Lambda gives a function CPU in proportion to its memory (a whole "
            "vCPU at 1,769 MB), so expect it to run several times slower there than on a core of this "
            "machine."
        )
    # The G measured at the most E values (topped up), if any.
    by_groups = Counter(s.groups for s in scenarios)
    grown = [s for s in scenarios if by_groups[s.groups] == max(by_groups.values(), default=0)]
    if len(grown) >= 2:
        first, last = grown[0], grown[-1]
        a, b = first.http[0], last.http[0]
        grows = b.median_dynamodb_ms > 1.2 * a.median_dynamodb_ms
        lines.append(
            f"- At G={first.groups}, {a.call} spent {a.median_dynamodb_ms:,.0f} ms in DynamoDB at "
            f"E={first.events:,} and {b.median_dynamodb_ms:,.0f} ms at E={last.events:,}, for "
            + (
                f"the same {a.reads.request_count} requests and {a.reads.item_count:,} items."
                if a.reads.signature() == b.reads.signature()
                else f"{a.reads.request_count} then {b.reads.request_count} requests and "
                f"{a.reads.item_count:,} then {b.reads.item_count:,} items."
            )
            + (
                " The engine, not the reads: moto's Query sorts every item of the table before picking "
                "the partition, so each Query slows as the table holds more events; DynamoDB reads only "
                "the partition queried."
                if grows
                else ""
            )
        )
    return "\n".join(lines)


def document(
    scenarios: list[Scenario],
    profile: Profile | None,
    command: str,
    total_seconds: float,
    month: str,
    runs: int,
    budget_s: float,
) -> str:
    machine_lines = "\n".join(
        f"- {name}: {value}" for name, value in bench_env.machine(("moto", "boto3", "genai-prices"))
    )
    targets = ", ".join(str(t) for t in sorted({r.targets for s in scenarios for r in s.compute}))
    return f"""# Simulator benchmark

Generated by `bench/simulator.py` in {total_seconds:.0f} s; rerun it rather than edit this file:

    .venv/bin/python {command}

Times move from run to run by several per cent, more on a busy machine; requests and items read do
not.

## What is measured

For each G (feature x model groups; group g is feature g // {len(MODELS)} on model g mod {len(MODELS)} of
{", ".join(MODELS)}) a fresh table on the local stack gets usage events on days 1 to 30 of {month},
sent through `ingest()` in batches of 100 (ordered by day and group, so that a batch shares its
aggregate items: only seeding's speed depends on that). Event n
falls in cell n mod (30 x G) (one cell per day and group), so once E reaches 30 x G every cell holds
usage and more events only add to the same aggregate items. Each group is used by two of five
customers (one on even days, the other on odd ones); `{MEASURED_CUSTOMER}` is the one measured with
`customer_id=`. A G listed with several E is seeded to the first, measured, topped up to the next and
measured again: only E changes between those rows.

- **Over HTTP** on the local stack (local gateway, Lambda handler, a read key), one request at a
  time: `POST /v1/simulations` with `{{"month": "{month}", "to_model": "{TO_MODEL}"}}` and
  `GET /v1/recommendations?month={month}&min_cost=0` (`min_cost=0` so that no group is left out
  below the default minimum cost), then both with `customer_id={MEASURED_CUSTOMER}`. Each stack
  answers every call once on its empty table first (not measured), so the measured calls find the
  key, the price book and the quality data cached, as a warm Lambda does. For each call: the
  DynamoDB requests (a botocore `before-send` hook on the handlers' client) and items read (`Count`
  of each Query, a found GetItem, as `tests/integration/test_reports.py::count_items_read` counts),
  and the median wall time of up to {runs} calls (fewer once {budget_s:g} s are spent, at least one),
  with the part spent inside DynamoDB calls.
- **In-process** on the same table, what the route runs, without HTTP: `load_groups` (DynamoDB
  included; one call), building a `Recommender` (a `TargetModel`, i.e. a price resolution, per
  model with a quality score), `Recommender.recommend` alone (pure compute: every candidate other
  than the group's own model and not ruled out by its score is priced on the group's days, the
  cheaper ones kept and ranked) and
  `simulate` to {TO_MODEL}. "Candidates" is how many scored, known, not deprecated models a
  `Recommender` considers ({targets} here); "Pricings" counts `TargetModel.simulate` calls in one
  `recommend` and, in brackets, the price spans they priced (one per distinct price in force over
  the days, a genai-prices `calc_price` each). Same options as the route's defaults
  (`{DEFAULT_INDEX}`, tolerance 3%, limit 5) but `min_cost=0`.

Caches set for the run: key lookups (`MARGINLENS_KEY_CACHE_SECONDS`, 30 s by default) and the
price book (`MARGINLENS_PRICE_CACHE_SECONDS`, 300 s) are kept for the whole run, and the budget
timer is off, so every measured call is a warm one. A cold process adds a GetItem of its key
(and an UpdateItem of its last use at most once a minute) and the price book's reads (a GetItem of
`PRICES`/`CURRENT`, Queries of `PRICEOVR` and `MODELALIAS`, and the snapshot's chunks once per
version).

## The engine, and what carries over

The DynamoDB engine is moto's server, written in Python and run in this process, one request at a
time. Absolute times say little about DynamoDB or API Gateway on AWS: moto serialises each item it
returns slowly (several ms per aggregate item here), so "of which in DynamoDB" grows with items read
far faster than it would on AWS, where a Query returns up to 1 MB (a few thousand aggregate items)
per page in tens of ms; and moto's Query sorts the whole table on every call, so its time also grows
with the events stored, which DynamoDB's does not. What carries over: the **requests and items read
per call** (on AWS a Query costs 0.5 read unit per 4 KB read, eventually consistent), their
**independence from E**, and the **compute time of `recommend`**, which does no I/O and would take
about as long on a core of similar speed (a Lambda function gets CPU in proportion to its memory:
less than a core at 512 MB).

Seeding is slow for the same reason (moto spends milliseconds per event item), which is why only
some G are topped up to a large E.

## Results

### The data

{data_table(scenarios)}

### Over HTTP, per call

{http_table(scenarios)}

"(varied)" would mark a call whose requests or items differed between its measured runs.

Requests and items read as E grows, G fixed:

{e_independence(scenarios)}

Requests/items read by partition family, at the largest E of each G (`AGG#FD`: day x feature x
model for the month; `AGG#CFD`: the same for one customer; `AGG#CM`: customers per month (the
negative-margin streak looks at earlier months); `QUALITY`: users' quality scores; `CUSTOMERS`,
`REV*`: names and revenue for the customer's P&L):

{breakdown(scenarios)}

### In-process compute

{compute_table(scenarios)}

"µs per pricing" is `recommend`'s median time over its pricings; "Ranked shown" counts the
candidates returned ranked (at most 5 per group); "Runs" is how many `recommend` calls were timed.

### Where `recommend` spends its time

{profile_markdown(profile)}

## Reading the results

{observations(scenarios)}

## Machine

{machine_lines}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", default=",".join(map(str, DEFAULT_GROUPS)), help="comma-separated G")
    parser.add_argument("--events", default=",".join(map(str, DEFAULT_EVENTS)), help="comma-separated E")
    parser.add_argument(
        "--grow",
        default=",".join(map(str, DEFAULT_GROW)),
        help="the G topped up to every E (the others get the first E only); 'all' for every G",
    )
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help="at most this many timed calls per figure"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="fewer timed calls once this many seconds are spent",
    )
    parser.add_argument(
        "--profile-groups",
        type=int,
        default=5,
        help="cProfile one recommend on this many groups of the largest G",
    )
    parser.add_argument("--out", type=Path, default=None, help="rewrite this markdown file with the results")
    args = parser.parse_args(argv)
    group_counts = tuple(sorted(int(value) for value in args.groups.split(",")))
    event_counts = tuple(sorted(int(value) for value in args.events.split(",")))
    grow = (
        set(group_counts) if args.grow == "all" else {int(value) for value in args.grow.split(",") if value}
    )
    if not all(1 <= groups <= MAX_GROUPS for groups in group_counts):
        parser.error(f"G must be between 1 and {MAX_GROUPS}")
    month = bench_month(datetime.now(UTC).date())

    # One JSON log line per created event: keep the formatting cost, drop the output.
    devnull = open(os.devnull, "w")  # noqa: SIM115 (open for the whole run)
    handler = powertools_logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(devnull)
    # The handler's @log_metrics warns when an invocation adds no metric.
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    total_started = time.perf_counter()
    scenarios: list[Scenario] = []
    profile: Profile | None = None
    # With metrics disabled, Powertools prints the handler's metric set as EMF once a metric holds
    # 100 values: keep stdout for the results.
    with contextlib.redirect_stdout(devnull), LocalDynamoDB() as engine:
        os.environ["MARGINLENS_DYNAMODB_ENDPOINT"] = engine.endpoint
        settings = Settings()
        for groups in group_counts:
            steps = event_counts if groups in grow else event_counts[:1]
            profile_groups = args.profile_groups if groups == group_counts[-1] else 0
            found, profiled = run_groups(
                engine.endpoint, settings, groups, steps, args.runs, args.budget, month, profile_groups
            )
            scenarios += found
            profile = profiled or profile
    total_seconds = time.perf_counter() - total_started

    print(data_table(scenarios))
    print()
    print(http_table(scenarios))
    print()
    print(e_independence(scenarios))
    print()
    print(breakdown(scenarios))
    print()
    print(compute_table(scenarios))
    print()
    print(profile_markdown(profile))
    print(f"\n{total_seconds:.0f} s", file=sys.stderr)
    if args.out is not None:
        shown = ["bench/simulator.py", *(argv if argv is not None else sys.argv[1:])]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        text = document(
            scenarios,
            profile,
            " ".join(shown),
            total_seconds,
            month.strftime("%Y-%m"),
            args.runs,
            args.budget,
        )
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    devnull.close()


if __name__ == "__main__":
    main()
