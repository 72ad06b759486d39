"""The HTTP contract over real HTTP: local gateway, the Lambda handlers, the DynamoDB engine."""

import io
import json
import logging
import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from genai_prices import Usage, calc_price

from marginlens.storage.dynamodb import from_item
from marginlens.usecases.services import services
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

SEED_PAYLOAD = (
    '{"customer_id":"acct_123","model_name":"gpt-4o-mini","prompt_tokens":120,"completion_tokens":80,\n'
    ' "request_id":"req_abc123","timestamp":"2026-02-14T15:04:05Z"}'
)
PROBLEM = "application/problem+json"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def scan_table(table: str) -> list[dict[str, Any]]:
    client, items, arguments = services().client, [], {"TableName": table}
    while True:
        page = client.scan(**arguments)
        items += [from_item(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def new_key(stack: RunningStack, scope: str) -> str:
    with stack.client() as admin:
        created = admin.post("/v1/keys", json={"scope": scope, "name": f"{scope}-test"})
    assert created.status_code == 201
    return str(created.json()["key"])


def test_seed_payload_created_duplicate_conflict_counted_once(local_stack: RunningStack) -> None:
    with local_stack.client(new_key(local_stack, "ingest")) as ingest, local_stack.client() as admin:
        headers = {"content-type": "application/json"}
        first = ingest.post("/v1/usage", content=SEED_PAYLOAD, headers=headers)
        assert first.status_code == 200
        result = first.json()["results"][0]
        expected = calc_price(Usage(input_tokens=120, output_tokens=80), "gpt-4o-mini").total_price
        assert result["status"] == "created" and result["price_status"] == "priced"
        assert Decimal(result["cost"]) == expected and result["cost"] == "0.000066"

        again = ingest.post("/v1/usage", content=SEED_PAYLOAD, headers=headers)
        assert again.status_code == 200 and again.json()["results"][0]["status"] == "duplicate"
        assert again.json()["results"][0]["cost"] == result["cost"]

        conflict = ingest.post("/v1/usage", content=SEED_PAYLOAD.replace(":80", ":81"), headers=headers)
        assert conflict.status_code == 409 and conflict.headers["content-type"] == PROBLEM
        assert conflict.json()["results"][0]["status"] == "conflict"

        stored = admin.get("/v1/usage/req_abc123").json()
        assert stored["completion_tokens"] == 80 and stored["cost"] == "0.000066"
        assert stored["price_source"].startswith("genai-prices")

        pnl = admin.get("/v1/pnl", params={"month": "2026-02"}).json()
        assert pnl["totals"]["events"] == 1 and pnl["totals"]["cost"] == "0.000066"
        (row,) = pnl["customers"]
        assert row["customer_id"] == "acct_123" and row["prompt_tokens"] == 120
        assert row["completion_tokens"] == 80 and row["revenue"] == "0.00"
        assert row["action"] == "reprice_or_throttle"  # cost without revenue is a loss


def test_overlapping_concurrent_batches_count_each_event_once(local_stack: RunningStack) -> None:
    rng = random.Random(7)
    models = ["gpt-4o-mini", "claude-3-5-sonnet-20240620", "gemini-1.5-flash", "not-a-real-model"]
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    events = [
        {
            "request_id": f"conc_{n}",
            "customer_id": f"cust_{n % 5}",
            "model": models[n % 4],
            "feature": ["summarize", "translate", "image_generation"][n % 3],
            "prompt_tokens": rng.randint(10, 5000),
            "completion_tokens": rng.randint(1, 2000),
            "cached_tokens": 0,
            "timestamp": iso(base + timedelta(seconds=n)),
        }
        for n in range(500)
    ]
    key = new_key(local_stack, "ingest")
    costs: dict[str, str | None] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def worker(number: int) -> None:
        # Windows of 100 starting every 25 events: each event is sent by 4 threads at once.
        start = number * 25
        batch = [events[(start + offset) % 500] for offset in range(100)]
        try:
            # One warm container serves the 20 requests in turn: the last one waits for all the others.
            with local_stack.client(key, timeout=600) as client:
                response = client.post("/v1/usage", json={"events": batch})
        except httpx.HTTPError as error:
            errors.append(repr(error))
            return
        if response.status_code != 200:
            errors.append(response.text)
            return
        with lock:
            for result in response.json()["results"]:
                assert result["status"] in ("created", "duplicate"), result
                costs[result["request_id"]] = result["cost"]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors and len(costs) == 500

    month = base.strftime("%Y-%m")
    with local_stack.client() as admin:
        pnl = admin.get(
            "/v1/pnl",
            params={"from": base.date().isoformat(), "to": (base + timedelta(days=1)).date().isoformat()},
        ).json()
    totals = pnl["totals"]
    assert totals["events"] == 500
    assert totals["prompt_tokens"] == sum(event["prompt_tokens"] for event in events)
    assert totals["completion_tokens"] == sum(event["completion_tokens"] for event in events)
    assert Decimal(totals["cost"]) == sum(Decimal(cost) for cost in costs.values() if cost is not None)
    assert totals["unpriced_events"] == 125
    created = [item for item in scan_table(local_stack.table) if item["pk"].startswith("EVENT#conc_")]
    assert len(created) == 500 and month


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        ("this is not json", 400, ""),
        (
            '{"request_id":"bad_1","customer_id":"a","model":"gpt-4o","prompt_tokens":"12","completion_tokens":1}',
            422,
            "/prompt_tokens",
        ),
        (
            '{"request_id":"bad_2","customer_id":"a","model":"gpt-4o","prompt_tokens":-5,"completion_tokens":1}',
            422,
            "/prompt_tokens",
        ),
        ('{"customer_id":"a","model":"gpt-4o","prompt_tokens":5,"completion_tokens":1}', 422, "/request_id"),
        (
            '{"request_id":"bad_3","model":"gpt-4o","prompt_tokens":5,"completion_tokens":1}',
            422,
            "/customer_id",
        ),
        (
            '{"request_id":"bad_4","customer_id":"a","model":"gpt-4o","prompt_tokens":5,"completion_tokens":1.5}',
            422,
            "/completion_tokens",
        ),
        (
            '{"request_id":"bad_5","customer_id":"a","model":"gpt-4o","prompt_tokens":5,"completion_tokens":1,"surprise":1}',
            422,
            "/surprise",
        ),
        ("[1, 2]", 422, ""),
    ],
)
def test_bad_input_is_a_problem_with_a_pointer_and_writes_nothing(
    local_stack: RunningStack, body: str, status: int, pointer: str
) -> None:
    before = len(scan_table(local_stack.table))
    with local_stack.client() as client:
        response = client.post("/v1/usage", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys() and problem["status"] == status
    assert pointer in [error["pointer"] for error in problem["errors"]]
    assert len(scan_table(local_stack.table)) == before


def test_timestamps_out_of_range_are_refused(local_stack: RunningStack) -> None:
    now = datetime.now(UTC)
    for request_id, at in (("future", now + timedelta(minutes=10)), ("ancient", now - timedelta(days=401))):
        event = {
            "request_id": request_id,
            "customer_id": "a",
            "model": "gpt-4o",
            "prompt_tokens": 1,
            "completion_tokens": 1,
            "timestamp": iso(at),
        }
        with local_stack.client() as client:
            response = client.post("/v1/usage", json=event)
            assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/timestamp"
            assert client.get(f"/v1/usage/{request_id}").status_code == 404


def test_batch_limits_and_partial_acceptance(local_stack: RunningStack) -> None:
    at = iso(datetime.now(UTC) - timedelta(hours=1))
    good = {
        "customer_id": "a",
        "model": "gpt-4o-mini",
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "timestamp": at,
    }
    with local_stack.client() as client:
        too_many = client.post(
            "/v1/usage", json={"events": [{**good, "request_id": f"big_{n}"} for n in range(101)]}
        )
        assert too_many.status_code == 413 and too_many.headers["content-type"] == PROBLEM
        assert client.get("/v1/usage/big_0").status_code == 404

        mixed = client.post(
            "/v1/usage",
            json={
                "events": [
                    {**good, "request_id": "mix_ok"},
                    {**good, "request_id": "mix_bad", "prompt_tokens": -1},
                    {**good, "request_id": "mix_ok_2"},
                ]
            },
        )
        assert mixed.status_code == 200
        body = mixed.json()
        assert (body["created"], body["rejected"]) == (2, 1)
        assert body["results"][1]["error"]["pointer"] == "/events/1/prompt_tokens"

        all_bad = client.post(
            "/v1/usage", json={"events": [{**good, "request_id": "x", "prompt_tokens": -1}]}
        )
        assert (
            all_bad.status_code == 422 and all_bad.json()["errors"][0]["pointer"] == "/events/0/prompt_tokens"
        )


def test_unknown_model_is_unpriced_in_the_pnl(local_stack: RunningStack) -> None:
    at = datetime.now(UTC) - timedelta(hours=2)
    with local_stack.client() as client:
        response = client.post(
            "/v1/usage",
            json={
                "request_id": "unk_1",
                "customer_id": "u",
                "model": "in-house-llm-7b",
                "prompt_tokens": 1000,
                "completion_tokens": 1000,
                "timestamp": iso(at),
            },
        )
        result = response.json()["results"][0]
        assert result["price_status"] == "unpriced" and result["cost"] is None
        row = client.get("/v1/customers/u/pnl", params={"month": at.strftime("%Y-%m")}).json()
    assert row["unpriced_events"] == 1 and row["events"] == 1 and row["cost"] == "0.00"
    assert row["by_model"][0]["model"] == "in-house-llm-7b"


def test_keys_scopes_and_revocation(local_stack: RunningStack) -> None:
    ingest_key, read_key = new_key(local_stack, "ingest"), new_key(local_stack, "read")
    with httpx.Client(base_url=local_stack.url) as anonymous:
        missing = anonymous.get("/v1/pnl", params={"month": "2026-11"})
        assert missing.status_code == 401 and missing.headers["content-type"] == PROBLEM
        by_header = anonymous.get("/v1/pnl", params={"month": "2026-11"}, headers={"X-Api-Key": read_key})
        assert by_header.status_code == 200
    with local_stack.client(ingest_key) as ingest:
        assert ingest.get("/v1/pnl", params={"month": "2026-11"}).status_code == 403
    with local_stack.client(read_key) as reader:
        assert reader.post("/v1/keys", json={"scope": "admin", "name": "escalate"}).status_code == 403

    with local_stack.client() as admin:
        listed = admin.get("/v1/keys").json()["data"]
        assert {key["scope"] for key in listed} == {"ingest", "read"}
        assert all("key" not in key and ingest_key not in json.dumps(key) for key in listed)
        ingest_id = next(key["id"] for key in listed if key["scope"] == "ingest")
        assert admin.delete(f"/v1/keys/{ingest_id}").json()["revoked_at"]
    with local_stack.client(ingest_key) as revoked:
        assert revoked.post("/v1/usage", json={}).status_code == 401


def test_malformed_key_is_refused_without_a_database_read(local_stack: RunningStack) -> None:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client = services().client
    client.meta.events.register("before-call.dynamodb.*", record)
    try:
        well_formed_looking = "mlk_" + "A" * 38  # right shape, wrong checksum
        with httpx.Client(base_url=local_stack.url) as bad:
            for key in ("nonsense", well_formed_looking, "mlk_short"):
                headers = {"Authorization": f"Bearer {key}"}
                assert bad.get("/v1/pnl", params={"month": "2026-11"}, headers=headers).status_code == 401
    finally:
        client.meta.events.unregister("before-call.dynamodb.*", record)
    assert calls == []


def test_no_plaintext_key_in_any_item_or_log_line(local_stack: RunningStack) -> None:
    powertools_logger = logging.getLogger("marginlens")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(powertools_logger.handlers[0].formatter)  # the JSON lines Lambda would print
    powertools_logger.addHandler(handler)
    try:
        _use_keys_everywhere(local_stack, stream)
    finally:
        powertools_logger.removeHandler(handler)


def _use_keys_everywhere(local_stack: RunningStack, stream: io.StringIO) -> None:
    keys = [new_key(local_stack, scope) for scope in ("ingest", "read", "admin")]
    at = iso(datetime.now(UTC) - timedelta(minutes=5))
    with local_stack.client(keys[0]) as ingest:
        ingest.post(
            "/v1/usage",
            json={
                "request_id": "log_1",
                "customer_id": "c",
                "model": "gpt-4o",
                "prompt_tokens": 1,
                "completion_tokens": 1,
                "timestamp": at,
            },
        )
    with local_stack.client(keys[1]) as reader:
        reader.get("/v1/usage/log_1")
    with local_stack.client(keys[2]) as admin:
        admin.get("/v1/keys")
    items = json.dumps(scan_table(local_stack.table), default=str)
    lines = stream.getvalue()
    for key in [*keys, local_stack.admin_key]:
        assert key not in items and key not in lines
    assert '"message":"usage event recorded"' in lines  # the structured log line was there to search
    assert '"request_id":"log_1"' in lines


def test_openapi_and_docs_are_served(local_stack: RunningStack) -> None:
    with httpx.Client(base_url=local_stack.url) as anonymous:
        spec = anonymous.get("/openapi.json")
        assert spec.status_code == 200 and "/v1/usage" in spec.json()["paths"]
        docs = anonymous.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert anonymous.get("/v1/nowhere").status_code == 404
