import assert from "node:assert/strict";
import { test } from "node:test";
import { addMonths, currentMonth, formatDay, formatUtc, monthBounds, monthsEnding } from "../src/dates.ts";
import { parseHash, href } from "../src/router.ts";

test("UTC labels", () => {
  assert.equal(formatUtc("2026-12-02T14:05:09Z"), "Dec 2, 2026 14:05 UTC");
  assert.equal(formatUtc("2026-12-02T23:30:00-02:00"), "Dec 3, 2026 01:30 UTC");
  assert.equal(formatDay("2026-11-03"), "Nov 3");
  assert.equal(currentMonth(new Date("2026-12-31T23:59:59Z")), "2026-12");
});

test("months", () => {
  assert.equal(addMonths("2026-01", -1), "2025-12");
  assert.equal(addMonths("2026-12", 1), "2027-01");
  assert.deepEqual(monthsEnding("2026-02", 3), ["2025-12", "2026-01", "2026-02"]);
  assert.equal(monthsEnding("2026-11", 12).length, 12);
  assert.deepEqual(monthBounds("2028-02"), { from: "2028-02-01", to: "2028-02-29" });
  assert.deepEqual(monthBounds("2026-11"), { from: "2026-11-01", to: "2026-11-30" });
});

test("hash routes", () => {
  const route = parseHash("#/customers/acme%2Fus?month=2026-11");
  assert.equal(route.view, "customers");
  assert.equal(route.id, "acme/us");
  assert.equal(route.params.get("month"), "2026-11");
  assert.equal(parseHash("").view, "overview");
  assert.equal(parseHash("#/nope").view, "overview");
  assert.equal(href("overview", { month: "2026-11" }), "#/overview?month=2026-11");
  assert.equal(href("customers", { month: "2026-11", empty: "" }, "a b"), "#/customers/a%20b?month=2026-11");
});
