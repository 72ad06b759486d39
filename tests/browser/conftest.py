"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the local stack
over real HTTP (its own DynamoDB table on the session's engine), on the demo data or on nothing."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect, sync_playwright

from marginlens.dashboard.site import is_built
from marginlens.local.stack import LocalStack, seed_demo

ADMIN_KEY = "browser-admin-key-0123456789"
AXE = Path(__file__).resolve().parents[2] / "dashboard" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
# The local engine answers a P&L of the demo month in about a second, one request at a time per
# function (a single Lambda container): a view's dozen requests, behind the previous test's, take a
# while. A report may also wait for the aggregator (the local stack's MARGINLENS_REPORTS_WAIT_SECONDS).
expect.set_options(timeout=60_000)


def chromium_path() -> str:
    """Debian's chromium (CI installs it); MARGINLENS_CHROMIUM names another build."""
    found = (
        os.environ.get("MARGINLENS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        raise RuntimeError("no chromium here: apt-get install chromium (what .ci/run does)")
    return found


@dataclass(frozen=True)
class Dashboard:
    url: str  # the API's base URL
    admin_key: str

    @property
    def page_url(self) -> str:
        return f"{self.url}/dashboard/index.html"

    def api(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key or self.admin_key}"}, timeout=60
        )

    def key(self, scope: str) -> str:
        with self.api() as client:
            created = client.post("/v1/keys", json={"scope": scope, "name": f"browser-{scope}"})
        assert created.status_code == 201, created.text
        return str(created.json()["key"])


def _stack(dynamodb_endpoint: str, tmp: Path, *, demo: bool) -> Iterator[Dashboard]:
    assert is_built(), "the dashboard is not built: `make dashboard` (make test does it first)"
    os.environ["MARGINLENS_ALERTS_FILE"] = str(tmp / "alerts.jsonl")
    os.environ.pop("MARGINLENS_ALERTS_TOPIC_ARN", None)
    # Signed Stripe webhooks in the demo: mapped invoices and an unmapped Stripe customer.
    os.environ["STRIPE_WEBHOOK_SECRET"] = "whsec_browser_tests_0123456789"
    stack = LocalStack(
        port=0,
        admin_key=ADMIN_KEY,
        data_dir=None,
        table=f"browser_{uuid.uuid4().hex[:10]}",
        dynamodb_endpoint=dynamodb_endpoint,
    )
    with stack:
        if demo:
            seed_demo(stack.url, ADMIN_KEY)
        yield Dashboard(stack.url, ADMIN_KEY)


@pytest.fixture(scope="module")
def demo(dynamodb_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The local stack with `make run`'s demo data, shared by a module's tests (seeding takes a while)."""
    yield from _stack(dynamodb_endpoint, tmp_path_factory.mktemp("demo"), demo=True)


@pytest.fixture
def empty(  # never beside `demo` in one module: a stack points the process's handlers at its table
    dynamodb_endpoint: str, tmp_path: Path
) -> Iterator[Dashboard]:
    yield from _stack(dynamodb_endpoint, tmp_path, demo=False)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(60_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page threw: {errors}"


def sign_in(page: Page, dashboard: Dashboard, key: str) -> None:
    page.goto(dashboard.page_url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("scope").wait_for()


def settled(page: Page) -> None:
    """The view shows its data: no loading placeholder left (a hash route change loads no page, so
    the browser's load states say nothing about it)."""
    page.wait_for_function("() => document.querySelectorAll('main .loading').length === 0", timeout=60_000)


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core (from npm, in dashboard/node_modules) on the page as it is: serious and critical only."""
    page.evaluate(AXE.read_text() + "\n;0")  # DevTools evaluation: not an inline script, the CSP holds
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
