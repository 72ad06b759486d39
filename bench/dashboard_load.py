"""How long the dashboard's overview takes to show the demo month, next to a baseline.

    .venv/bin/python bench/dashboard_load.py [--runs N] [--out docs/BENCHMARKS-dashboard.md]

The local stack with `make run`'s demo data; Debian's chromium (Playwright). Measured, per run, in
a fresh browser context (no cache): from navigation to the overview's customer table with every
row shown (the page loads its bundle, signs in with the key kept in the tab, and makes its 12
`GET /v1/pnl` calls for the trend plus the month's, prices and unmapped revenue). Baseline in the
same run: the same 12 P&L requests made directly with httpx, in parallel, which is what the page
waits on at least. Medians and the slowest run; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from marginlens.local.stack import LocalStack, seed_demo

ADMIN_KEY = "bench-dashboard-admin-key-0123456789"


def months_back(last: str, count: int) -> list[str]:
    year, month = map(int, last.split("-"))
    found = []
    for _ in range(count):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    chromium = os.environ.get("MARGINLENS_CHROMIUM") or shutil.which("chromium") or "chromium"
    story = (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    page_ms: list[float] = []
    direct_ms: list[float] = []
    os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_" + secrets.token_hex(24))  # as `make run`
    with LocalStack(port=0, admin_key=ADMIN_KEY, data_dir=None) as stack:
        seed_demo(stack.url, ADMIN_KEY)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with (
            httpx.Client(base_url=stack.url, headers=headers, timeout=60) as client,
            ThreadPoolExecutor(12) as pool,
        ):
            rows = len(client.get("/v1/pnl", params={"month": story}).json()["customers"])
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                for _ in range(args.runs):
                    started = time.perf_counter()
                    list(
                        pool.map(
                            lambda m: client.get("/v1/pnl", params={"month": m}).raise_for_status(),
                            months_back(story, 12),
                        )
                    )
                    direct_ms.append((time.perf_counter() - started) * 1000)

                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    page = context.new_page()
                    page.goto(f"{stack.url}/dashboard/index.html")
                    page.get_by_label("API key").fill(ADMIN_KEY)
                    page.get_by_role("button", name="Sign in").click()
                    page.get_by_test_id("scope").wait_for()
                    started = time.perf_counter()
                    page.goto(f"{stack.url}/dashboard/index.html#/overview?month={story}")
                    page.reload()  # a cold load of the page, the key already in the tab's session
                    page.locator("[data-testid=customers-table] tr[data-customer-id]").nth(
                        rows - 1
                    ).wait_for()
                    page_ms.append((time.perf_counter() - started) * 1000)
                    context.close()
                browser.close()

    def row(what: str, values: list[float]) -> str:
        return f"| {what} | {statistics.median(values):.0f} | {max(values):.0f} |"

    lines = [
        "# Dashboard load (issue 15)",
        "",
        f"`bench/dashboard_load.py`, {args.runs} runs on the demo data ({rows} customers), the local",
        "stack on this machine, Debian chromium headless, a fresh browser context per run.",
        "",
        "| what | median ms | slowest ms |",
        "|---|---:|---:|",
        row("baseline: the 12 `GET /v1/pnl` requests, direct, in parallel", direct_ms),
        row("the overview: navigation to its last customer row", page_ms),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
