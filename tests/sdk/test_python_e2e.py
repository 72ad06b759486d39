"""The Python SDK against the local stack over real HTTP: 1,000 events from 8 threads, the server
down for a while in the middle, then flush(): the P&L counts each event once, at its exact cost."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import marginlens_sdk
import pytest
from genai_prices import Usage, calc_price

from marginlens.local.stack import LocalStack
from tests.sdk.conftest import SDK_ADMIN_KEY

pytestmark = pytest.mark.e2e
EVENTS, THREADS = 1000, 8


def test_a_thousand_events_through_an_outage_are_counted_once_at_their_exact_cost(
    stoppable_stack: LocalStack,
) -> None:
    run = uuid.uuid4().hex[:8]
    customer = f"sdk_py_{run}"
    ml = marginlens_sdk.MarginLens(
        api_key=SDK_ADMIN_KEY, url=stoppable_stack.url, flush_interval=0.2, backoff_base=0.05
    )
    expected = Decimal(0)
    plan = [(n, 100 + n, 10 + n % 50) for n in range(EVENTS)]
    for _, prompt, completion in plan:
        usage = Usage(input_tokens=prompt, output_tokens=completion)
        expected += calc_price(usage, "gpt-4o-mini", provider_id="openai").total_price
    outage = threading.Event()

    def worker(part: int) -> None:
        for n, prompt, completion in plan[part::THREADS]:
            ml.track(customer, "gpt-4o-mini", prompt, completion, request_id=f"{run}-{n}", feature="e2e")
            if n == EVENTS // 2:
                outage.set()

    def outage_then_back() -> None:
        assert outage.wait(60)
        stoppable_stack.stop_serving()
        deadline = time.monotonic() + 60
        while ml.stats()["retries"] == 0:  # down until the SDK has met the outage at least once
            assert time.monotonic() < deadline, "the SDK never met the outage"
            time.sleep(0.01)
        stoppable_stack.serve_again()

    interruption = threading.Thread(target=outage_then_back)
    interruption.start()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    interruption.join(90)
    assert ml.flush(120)
    stats = ml.stats()
    assert (
        stats["retries"] >= 1 and stats["dropped"] == 0 and stats["invalid"] == 0 and stats["rejected"] == 0
    )
    assert stats["sent"] + stats["duplicates"] == EVENTS  # a retry after a lost answer: a duplicate, once

    month = datetime.now(UTC).strftime("%Y-%m")
    headers = {"Authorization": f"Bearer {SDK_ADMIN_KEY}"}
    pnl = httpx.get(
        f"{stoppable_stack.url}/v1/customers/{customer}/pnl",
        params={"month": month, "consistent": "true"},
        headers=headers,
        timeout=60,
    ).json()
    assert pnl["aggregates"]["caught_up"] is True
    assert pnl["events"] == EVENTS and Decimal(pnl["cost"]) == expected
    ml.close()
