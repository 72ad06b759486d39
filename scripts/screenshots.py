"""`make screenshots`: each dashboard view at 1280 px on the demo data, into docs/screenshots/.

Starts the local stack on its own in-memory engine (nothing of .marginlens/ is touched), seeds the
demo as `make run` does, signs in with the admin key in Debian's chromium (Playwright, no browser
download) and saves one full-page PNG per view.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from marginlens.dashboard.site import is_built
from marginlens.local.stack import LocalStack, seed_demo

ADMIN_KEY = "screenshots-admin-key-0123456789"


def views(story_month: str) -> list[tuple[str, str]]:
    return [
        ("overview", f"overview?month={story_month}"),
        ("customer", f"customers/plexo?month={story_month}"),
        ("simulator", "simulator"),
        ("budgets", "budgets"),
        ("models", "models"),
        ("checks", "checks"),
    ]


def settled(page: Page) -> None:
    """Every view's data shown: no loading placeholder left (a hash route change loads no page, so
    the browser's own load states say nothing here)."""
    page.wait_for_function("() => document.querySelectorAll('main .loading').length === 0", timeout=60_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    if not is_built():
        print("the dashboard is not built: run `make dashboard`", file=sys.stderr)
        return 1
    chromium = os.environ.get("MARGINLENS_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        print("no chromium: apt-get install chromium", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    story = (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    # As `make run`: the demo's Stripe revenue arrives as signed webhooks.
    os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_" + secrets.token_hex(24))
    with LocalStack(port=0, admin_key=ADMIN_KEY, data_dir=None) as stack:
        print("seeding the demo data...", file=sys.stderr)
        seed_demo(stack.url, ADMIN_KEY)
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": args.width, "height": 900})
            page.goto(f"{stack.url}/dashboard/index.html")
            page.get_by_label("API key").fill(ADMIN_KEY)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_test_id("scope").wait_for()
            for name, route in views(story):
                page.goto(f"{stack.url}/dashboard/index.html#/{route}")
                page.locator("main h1, main h2").first.wait_for()
                settled(page)
                if name == "simulator":
                    page.get_by_label("Month").select_option(story)
                    page.get_by_label("Feature").select_option("summarize")
                    page.get_by_label("Target model").fill("gpt-5")
                    page.get_by_role("button", name="Simulate", exact=True).click()
                    page.get_by_test_id("simulation-table").wait_for()
                    settled(page)
                path = args.out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"wrote {path}", file=sys.stderr)
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
