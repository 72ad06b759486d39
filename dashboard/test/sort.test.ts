import assert from "node:assert/strict";
import { test } from "node:test";
import { byColumn, sortRows, worstMarginFirst } from "../src/sort.ts";

test("decimal strings sort as decimals, not as text or floats", () => {
  const rows = ["10", "9.5", "-43.95", "100.00", "0.000066", "-0.5", "9007199254740993", "9007199254740992.5"];
  const sorted = sortRows(rows, byColumn((value) => value, "decimal", "ascending"));
  assert.deepEqual(sorted, ["-43.95", "-0.5", "0.000066", "9.5", "10", "100.00", "9007199254740992.5", "9007199254740993"]);
  const descending = sortRows(rows, byColumn((value) => value, "decimal", "descending"));
  assert.deepEqual(descending, [...sorted].reverse());
});

test("nulls come last in both directions", () => {
  const rows = [{ v: "1" }, { v: null }, { v: "-2" }];
  assert.deepEqual(sortRows(rows, byColumn((row) => row.v, "decimal", "ascending")).map((row) => row.v), ["-2", "1", null]);
  assert.deepEqual(sortRows(rows, byColumn((row) => row.v, "decimal", "descending")).map((row) => row.v), ["1", "-2", null]);
});

test("text sorts naturally and case-insensitively", () => {
  const sorted = sortRows(["b", "A", "a10", "a9"], byColumn((value) => value, "text", "ascending"));
  assert.deepEqual(sorted, ["A", "a9", "a10", "b"]);
});

test("worst margin first: margin % ascending, nulls last, then margin", () => {
  const rows = [
    { customer_id: "healthy", margin: "500", margin_pct: "50.00" },
    { customer_id: "no-revenue-small", margin: "-1.00", margin_pct: null },
    { customer_id: "plexo", margin: "-43.95", margin_pct: "-18.84" },
    { customer_id: "no-revenue-big", margin: "-25.38", margin_pct: null },
    { customer_id: "tie-big", margin: "-100", margin_pct: "-18.84" },
  ];
  assert.deepEqual(
    sortRows(rows, worstMarginFirst).map((row) => row.customer_id),
    ["tie-big", "plexo", "healthy", "no-revenue-big", "no-revenue-small"],
  );
});
