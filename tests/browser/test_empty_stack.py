"""The dashboard on a stack with nothing in it: what to do next, and every go-live check failing.

Its own module: a local stack sets the process's environment (its table), so the demo stack of
test_dashboard.py and this empty one never run at the same time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Dashboard, sign_in

pytestmark = pytest.mark.browser


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def test_on_an_empty_stack_every_check_fails_and_the_overview_says_what_to_do(
    page: Page, empty: Dashboard
) -> None:
    sign_in(page, empty, empty.admin_key)
    page.goto(f"{empty.page_url}#/overview?month={this_month()}")
    expect(page.get_by_test_id("empty-usage")).to_contain_text("/v1/usage")
    expect(page.get_by_test_id("empty-revenue")).to_contain_text("/v1/stripe/webhook")
    page.goto(f"{empty.page_url}#/checks")
    checks = page.get_by_test_id("checks").locator("[data-check-id]")
    expect(checks).to_have_count(5)
    for check in checks.all():
        expect(check).to_have_attribute("data-status", "fail")
        assert check.locator("li").count() >= 1, "each failure says what is missing"
