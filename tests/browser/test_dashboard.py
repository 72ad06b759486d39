"""The dashboard in Chromium against the local stack: every figure it shows is the API's, to the
cent; a read key changes nothing; each view passes an accessibility scan; the go-live checks and a
budget crossing 90 % show as the API has them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, Dashboard, serious_violations, settled, sign_in
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.browser

VIEWS = ("overview", "simulator", "budgets", "models", "checks")


def money_text(exact: str) -> str:
    """How a person reads an amount: dollars and cents, thousands separated."""
    value = Decimal(exact).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def exact_of(page: Page, selector: str) -> str:
    return str(page.locator(selector).locator(".money").first.get_attribute("data-exact"))


def story_month() -> str:
    return (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def test_overview_shows_the_pnl_to_the_cent_with_worst_margins_first(page: Page, demo: Dashboard) -> None:
    month = story_month()
    with demo.api() as api:
        pnl = api.get("/v1/pnl", params={"month": month}).json()
    sign_in(page, demo, demo.key("read"))
    page.goto(f"{demo.page_url}#/overview?month={month}")
    expect(page.get_by_test_id("customers-table").locator("tr[data-customer-id]")).to_have_count(
        len(pnl["customers"])
    )

    for tile, field in (("tile-revenue", "revenue"), ("tile-cost", "cost"), ("tile-margin", "margin")):
        money = page.get_by_test_id(tile).locator(".money").first
        assert money.get_attribute("data-exact") == pnl["totals"][field], tile
        assert money.inner_text().strip() == money_text(pnl["totals"][field]), tile
    assert pnl["totals"]["margin_pct"] in page.get_by_test_id("tile-margin-pct").inner_text()

    rows = page.get_by_test_id("customers-table").locator("tr[data-customer-id]")
    shown = [rows.nth(n).get_attribute("data-customer-id") for n in range(rows.count())]
    by_id = {row["customer_id"]: row for row in pnl["customers"]}
    margins = [Decimal(by_id[customer]["margin_pct"] or "Infinity") for customer in shown]
    assert margins == sorted(margins), "worst margin first"

    plexo = page.locator('tr[data-customer-id="plexo"]')
    for column in ("revenue", "cost", "margin"):
        assert (
            plexo.locator(f'td[data-col="{column}"] .money').get_attribute("data-exact")
            == by_id["plexo"][column]
        )
    margin = plexo.locator('td[data-col="margin"] .money')
    assert "negative" in (margin.get_attribute("class") or "")
    assert margin.inner_text().strip() == money_text(by_id["plexo"]["margin"])
    assert (
        plexo.locator(".badge").get_attribute("data-action")
        == by_id["plexo"]["action"]
        == "reprice_or_throttle"
    )
    assert (
        str(by_id["plexo"]["negative_margin_months"]) in plexo.locator('td[data-col="streak"]').inner_text()
    )
    trend = plexo.locator('td[data-col="trend"] svg')
    assert by_id["plexo"]["margin_pct"] in (trend.get_attribute("aria-label") or "")

    warnings = page.get_by_test_id("warnings")
    if pnl["totals"]["unpriced_events"]:
        expect(warnings.locator('[data-warning="unpriced"]')).to_contain_text(
            str(pnl["totals"]["unpriced_events"])
        )


def test_a_table_exports_its_exact_figures_to_csv(page: Page, demo: Dashboard) -> None:
    month = story_month()
    with demo.api() as api:
        pnl = api.get("/v1/pnl", params={"month": month}).json()
    sign_in(page, demo, demo.key("read"))
    page.goto(f"{demo.page_url}#/overview?month={month}")
    table = page.get_by_test_id("customers-table")
    expect(table.locator("tr[data-customer-id]").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").first.click()
    text = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115 (read once)
    exported = list(csv.DictReader(io.StringIO(text)))
    assert len(exported) == len(pnl["customers"])
    costs = {row["cost"] for row in pnl["customers"]}
    assert costs <= {value for row in exported for value in row.values()}, "exact costs, not rounded ones"


def test_sorting_a_column_orders_by_exact_amounts(page: Page, demo: Dashboard) -> None:
    sign_in(page, demo, demo.key("read"))
    page.goto(f"{demo.page_url}#/overview?month={story_month()}")
    table = page.get_by_test_id("customers-table")
    expect(table.locator("tr[data-customer-id]").first).to_be_visible()
    header = table.locator("th", has_text="Cost").locator("button")
    header.click()
    first = table.locator("th", has_text="Cost").get_attribute("aria-sort")
    assert first in ("ascending", "descending")
    costs = [
        Decimal(str(cell.get_attribute("data-exact")))
        for cell in table.locator('td[data-col="cost"] .money').all()
    ]
    assert costs == sorted(costs, reverse=first == "descending")


def test_plexo_shows_its_negative_margin_and_a_recommendation(page: Page, demo: Dashboard) -> None:
    month = story_month()
    with demo.api() as api:
        row = api.get("/v1/customers/plexo/pnl", params={"month": month}).json()
        advice = api.get("/v1/recommendations", params={"month": month, "customer_id": "plexo"}).json()
    sign_in(page, demo, demo.key("read"))
    page.goto(f"{demo.page_url}#/overview?month={month}")
    page.locator('tr[data-customer-id="plexo"] a').first.click()
    margin = page.get_by_test_id("customer-margin").locator(".money").first
    expect(margin).to_have_attribute("data-exact", row["margin"])
    assert row["margin"].startswith("-") and "negative" in (margin.get_attribute("class") or "")
    assert row["margin_pct"] in page.get_by_test_id("customer-margin-pct").inner_text()
    candidates = [group for group in advice["groups"] if group["candidates"]]
    assert candidates, "the demo gives Plexo a cheaper model"
    recommendations = page.get_by_test_id("recommendation")
    expect(recommendations.first).to_be_visible()
    best = candidates[0]
    texts = " ".join(recommendations.all_inner_texts())
    assert f"Switch {best['feature']} from {best['current_model']}" in texts
    assert money_text(best["candidates"][0]["savings"]) in texts


def test_a_simulation_shows_the_apis_table(page: Page, demo: Dashboard) -> None:
    month = story_month()
    body = {"month": month, "feature": "summarize", "to_model": "gpt-5"}
    with demo.api() as api:
        expected = api.post("/v1/simulations", json=body).json()
    sign_in(page, demo, demo.key("read"))
    page.goto(f"{demo.page_url}#/simulator")
    page.get_by_label("Month").select_option(month)
    page.get_by_label("Feature").select_option("summarize")
    page.get_by_label("Target model").fill("gpt-5")
    page.get_by_role("button", name="Simulate", exact=True).click()
    table = page.get_by_test_id("simulation-table")
    expect(table.locator("tr[data-feature]")).to_have_count(len(expected["rows"]))
    for row in expected["rows"]:
        shown = table.locator(
            f'tr[data-feature="{row["feature"]}"][data-current-model="{row["current_model"]}"]'
        )
        assert shown.locator('td[data-col="events"]').inner_text().replace(",", "").strip() == str(
            row["events"]
        )
        for column in ("cost", "simulated_cost", "savings"):
            if row[column] is not None:
                assert (
                    shown.locator(f'td[data-col="{column}"] .money').get_attribute("data-exact")
                    == row[column]
                )
        if row["savings_pct"] is not None:
            assert row["savings_pct"] in shown.locator('td[data-col="savings_pct"]').inner_text()
    total = table.locator("tr[data-total]")
    assert (
        total.locator('td[data-col="savings"] .money').get_attribute("data-exact")
        == expected["totals"]["savings"]
    )
    expect(page.get_by_test_id("simulation-notes")).to_be_visible()


def _spend(api: Any, customer: str, request_id: str, dollars: int) -> None:
    event = {
        "request_id": request_id,
        "customer_id": customer,
        "model": "browser-test-llm",
        "feature": "browser",
        "prompt_tokens": dollars * 1_000_000,
        "completion_tokens": 0,
    }
    answer = api.post("/v1/usage", json=event)
    assert answer.status_code == 200 and answer.json()["results"][0]["price_status"] == "priced", answer.text


def test_an_admin_creates_a_budget_and_sees_it_go_critical_with_its_alert(
    page: Page, demo: Dashboard
) -> None:
    with demo.api() as api:
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        api.put(
            "/v1/prices/browser-test-llm",
            json={"input_per_mtok": "1.00", "output_per_mtok": "0", "effective_from": since},
        )
    sign_in(page, demo, demo.admin_key)
    page.goto(f"{demo.page_url}#/budgets")
    page.get_by_role("button", name="New budget").click()
    page.get_by_label("Budget id").fill("browser-budget")
    page.get_by_label("Scope").select_option("customer")
    page.get_by_label("Target").fill("browser_customer")
    page.get_by_label("Limit").fill("100.00")
    page.get_by_label("Warning %").fill("75")
    page.get_by_label("Critical %").fill("90")
    page.get_by_role("button", name="Create budget").click()
    budget = page.locator('[data-budget-id="browser-budget"]')
    expect(budget.locator('[data-col="state"]')).to_have_text("ok")

    with demo.api() as api:
        _spend(api, "browser_customer", "browser_spend_1", 92)

        # The aggregator applies the spend and sends the alerts; the API says when (bounded polling).
        def critical_and_alerted() -> bool:
            budgets = api.get("/v1/budgets").json()["data"]
            alerts = api.get("/v1/alerts").json()["data"]
            return any(
                row["id"] == "browser-budget" and row["state"] == "critical" for row in budgets
            ) and any(
                row["kind"] == "budget_critical" and row["budget_id"] == "browser-budget" for row in alerts
            )

        wait_until(critical_and_alerted, timeout_s=60, interval_s=0.5)
    page.get_by_role("button", name="Refresh").click()  # once: the page shows what the API has
    expect(budget.locator('[data-col="state"]')).to_have_text("critical")
    meter = budget.get_by_role("meter")
    assert Decimal(str(meter.get_attribute("aria-valuenow"))) == Decimal("92")
    expect(
        page.get_by_test_id("alerts-table")
        .locator('tr[data-kind="budget_critical"]')
        .filter(has_text="browser-budget")
    ).to_have_count(1)


def test_a_read_key_sees_no_controls_and_the_api_refuses_it(page: Page, demo: Dashboard) -> None:
    read_key = demo.key("read")
    sign_in(page, demo, read_key)
    assert page.get_by_test_id("scope").inner_text().strip() == "read"
    for view in VIEWS:
        page.goto(f"{demo.page_url}#/{view}")
        page.locator("main h1, main h2").first.wait_for()
        assert page.locator("[data-admin-control]").count() == 0, view
    assert read_key not in page.url
    stored = page.evaluate("() => JSON.stringify({...sessionStorage}) + JSON.stringify({...localStorage})")
    assert stored.count(read_key) == 1, "the key is kept in this tab's session only"
    forced = page.evaluate(
        """async (key) => (await fetch('../v1/budgets/forced', {method: 'PUT',
            headers: {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'},
            body: JSON.stringify({scope: 'organization', period: 'monthly', limit: '1.00'})})).status""",
        read_key,
    )
    assert forced == 403
    with demo.api() as api:
        assert all(budget["id"] != "forced" for budget in api.get("/v1/budgets").json()["data"])


def test_a_wrong_key_gets_a_clear_sign_in_error(page: Page, demo: Dashboard) -> None:
    page.goto(demo.page_url)
    page.get_by_label("API key").fill("mlk_wrong_key_0000000000000000000000000000")
    page.get_by_role("button", name="Sign in").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("not accepted")
    assert page.get_by_test_id("scope").count() == 0


def test_the_go_live_checks_show_the_apis_results_and_a_test_alert_goes_out(
    page: Page, demo: Dashboard
) -> None:
    sign_in(page, demo, demo.admin_key)
    page.goto(f"{demo.page_url}#/checks")
    checks = page.get_by_test_id("checks")
    expect(checks.locator("[data-check-id]")).to_have_count(5)
    page.get_by_test_id("send-test-alert").click()
    expect(page.get_by_test_id("test-alert-result")).to_contain_text("test alert")
    with demo.api() as api:
        expected = {check["id"]: check for check in api.get("/v1/checks").json()["checks"]}
        assert any(row["kind"] == "test_alert" for row in api.get("/v1/alerts").json()["data"])
    page.get_by_role("button", name="Run checks again").click()
    for check_id, check in expected.items():
        shown = checks.locator(f'[data-check-id="{check_id}"]')
        expect(shown).to_have_attribute("data-status", check["status"])
        for reason in check["missing"]:
            expect(shown).to_contain_text(reason)


@pytest.mark.parametrize("view", [*VIEWS, "customer"])
def test_each_view_has_no_serious_accessibility_violation(page: Page, demo: Dashboard, view: str) -> None:
    sign_in(page, demo, demo.admin_key)
    target = f"customers/plexo?month={story_month()}" if view == "customer" else f"{view}"
    page.goto(f"{demo.page_url}#/{target}")
    page.locator("main h1, main h2").first.wait_for()
    settled(page)
    assert serious_violations(page) == []


def test_the_overview_fits_a_phone(page: Page, demo: Dashboard) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, demo, demo.key("read"))
    page.goto(f"{demo.page_url}#/overview?month={story_month()}")
    expect(page.get_by_test_id("customers-table").locator("tr[data-customer-id]").first).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (
        "the page itself does not scroll sideways; wide tables scroll in their own box"
    )
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement && document.activeElement.tagName") != "BODY"
