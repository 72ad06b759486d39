import assert from "node:assert/strict";
import { test } from "node:test";
import { csvCell, csvFilename, toCsv } from "../src/csv.ts";

test("quoting per RFC 4180", () => {
  assert.equal(csvCell("plain"), "plain");
  assert.equal(csvCell("Plexo, Inc."), '"Plexo, Inc."');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell("two\nlines"), '"two\nlines"');
  assert.equal(csvCell(" padded "), '" padded "');
  assert.equal(csvCell(null), "");
  assert.equal(csvCell(410), "410");
});

test("figures stay exact; text cannot start a formula", () => {
  assert.equal(csvCell("-43.95"), "-43.95");
  assert.equal(csvCell("0.000066"), "0.000066");
  assert.equal(csvCell("=HYPERLINK(\"x\")", true), '"\'=HYPERLINK(""x"")"');
  assert.equal(csvCell("+cmd", true), "'+cmd");
  assert.equal(csvCell("-43.95", false), "-43.95");
});

test("a whole table, CRLF line ends", () => {
  const csv = toCsv(
    [{ header: "Customer", text: true }, { header: "Revenue" }, { header: "Margin %" }],
    [
      ["Plexo Health", "233.25", "-18.84"],
      ["Acme, Inc.", "0", null],
    ],
  );
  assert.equal(csv, 'Customer,Revenue,Margin %\r\nPlexo Health,233.25,-18.84\r\n"Acme, Inc.",0,\r\n');
});

test("file names", () => {
  assert.equal(csvFilename("customers", "2026-11"), "customers-2026-11.csv");
  assert.equal(csvFilename("simulation", "2026-11", "openai/gpt-4o-mini"), "simulation-2026-11-openai_gpt-4o-mini.csv");
});
