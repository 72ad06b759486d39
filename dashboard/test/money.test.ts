import assert from "node:assert/strict";
import { test } from "node:test";
import { compareDecimal, parseDecimal, roundHalfEven, subtractDecimal, addDecimal, toPlainString } from "../src/decimal.ts";
import { formatExactMoney, formatMoney, formatPct } from "../src/money.ts";

test("the brief's examples", () => {
  assert.equal(formatMoney("4140", "USD"), "$4,140.00");
  assert.equal(formatMoney("-43.95", "USD"), "-$43.95");
  assert.equal(formatMoney("1234567.891", "USD"), "$1,234,567.89");
  assert.equal(formatMoney("0.000066", "USD"), "$0.000066");
  assert.equal(formatMoney("0.0000654", "USD"), "$0.000065");
  assert.equal(formatMoney("0", "USD"), "$0.00");
  assert.equal(formatMoney("277.20"), "$277.20");
});

test("cents round half to even", () => {
  assert.equal(formatMoney("0.125"), "$0.12");
  assert.equal(formatMoney("0.135"), "$0.14");
  assert.equal(formatMoney("2.675"), "$2.68");
  assert.equal(formatMoney("2.665"), "$2.66");
  assert.equal(formatMoney("2.6650000001"), "$2.67");
  assert.equal(formatMoney("-0.125"), "-$0.12");
  assert.equal(formatMoney("999999.995"), "$1,000,000.00");
  assert.equal(formatMoney("1000000000000000000.005"), "$1,000,000,000,000,000,000.00");
});

test("amounts below a cent keep two significant digits", () => {
  assert.equal(formatMoney("0.0000655"), "$0.000066"); // half-even: 65|5 -> 66
  assert.equal(formatMoney("0.0000645"), "$0.000064"); // half-even: 64|5 -> 64
  assert.equal(formatMoney("-0.000066"), "-$0.000066");
  assert.equal(formatMoney("0.009"), "$0.009");
  assert.equal(formatMoney("0.00999"), "$0.01"); // rounds up to a whole cent
  assert.equal(formatMoney("0.0000600"), "$0.00006");
  assert.equal(formatMoney("0.01"), "$0.01");
  assert.equal(formatMoney("1E-7"), "$0.0000001");
});

test("zero in any notation, and never a float", () => {
  assert.equal(formatMoney("0.00"), "$0.00");
  assert.equal(formatMoney("-0.00"), "$0.00");
  // 0.1 + 0.2 in floats is 0.30000000000000004; strings stay exact.
  assert.equal(addDecimal("0.1", "0.2"), "0.3");
  assert.equal(formatMoney("9007199254740993.01"), "$9,007,199,254,740,993.01");
});

test("other currencies: symbol from Intl, digits from the string", () => {
  assert.equal(formatMoney("1234.5", "EUR"), "€1,234.50");
  assert.equal(formatMoney("-1234.5", "GBP"), "-£1,234.50");
  assert.equal(formatMoney("1234.5", "JPY"), "¥1,234"); // no minor unit: half-even to units
  assert.equal(formatMoney("1235.5", "JPY"), "¥1,236");
  assert.ok(formatMoney("10", "CHF").includes("10.00"));
  assert.equal(formatMoney("10", "usd"), "$10.00");
});

test("not a decimal is shown as given, null as a dash", () => {
  assert.equal(formatMoney("abc"), "abc");
  assert.equal(formatMoney(null), "—");
});

test("unit prices show every digit", () => {
  assert.equal(formatExactMoney("0.075"), "$0.075");
  assert.equal(formatExactMoney("2.5"), "$2.50");
  assert.equal(formatExactMoney("15.000000"), "$15.00");
  assert.equal(formatExactMoney("1250"), "$1,250.00");
});

test("percentages", () => {
  assert.equal(formatPct("33.17"), "33.17 %");
  assert.equal(formatPct("-18.84"), "-18.84 %");
  assert.equal(formatPct(null), "—");
});

test("decimal parsing and arithmetic", () => {
  assert.deepEqual(parseDecimal("-43.95"), { negative: true, coef: 4395n, scale: 2 });
  assert.equal(parseDecimal("1.2.3"), null);
  assert.equal(parseDecimal(""), null);
  assert.equal(toPlainString(roundHalfEven(parseDecimal("1.005")!, 2)), "1.00");
  assert.equal(toPlainString(roundHalfEven(parseDecimal("1.015")!, 2)), "1.02");
  assert.equal(subtractDecimal("-18.84", "12.50"), "-31.34");
  assert.equal(compareDecimal("10", "9.99"), 1);
  assert.equal(compareDecimal("-0.000001", "0"), -1);
  assert.equal(compareDecimal("1.10", "1.1"), 0);
  assert.equal(compareDecimal("1E+3", "999.9999"), 1);
});
