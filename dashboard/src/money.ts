// Money and percentage formatting from the API's exact decimal strings. The digits are computed
// from the string (BigInt); Intl is asked only for the currency's symbol and minor units.
import { groupDigits, normalize, parseDecimal, roundHalfEven, type Decimal } from "./decimal.ts";

interface CurrencyStyle {
  prefix: string;
  suffix: string;
  minorDigits: number;
}

const styles = new Map<string, CurrencyStyle>();

export function currencyStyle(currency: string): CurrencyStyle {
  const code = (currency || "USD").toUpperCase();
  const cached = styles.get(code);
  if (cached) return cached;
  let style: CurrencyStyle;
  try {
    const format = new Intl.NumberFormat("en-US", { style: "currency", currency: code });
    const parts = format.formatToParts(1);
    const first = parts.findIndex((part) => part.type === "integer");
    let last = -1;
    parts.forEach((part, index) => {
      if (part.type === "integer" || part.type === "fraction" || part.type === "decimal") last = index;
    });
    const text = (list: Intl.NumberFormatPart[]) =>
      list.filter((part) => part.type === "currency" || part.type === "literal").map((part) => part.value).join("");
    style = {
      prefix: text(parts.slice(0, first)),
      suffix: text(parts.slice(last + 1)),
      minorDigits: format.resolvedOptions().maximumFractionDigits ?? 2,
    };
  } catch {
    style = { prefix: `${code} `, suffix: "", minorDigits: 2 };
  }
  styles.set(code, style);
  return style;
}

/** The digits to show for a non-negative amount below the currency's smallest unit: two
 * significant digits (0.0000654 -> 0.000065), or null if rounding reaches the smallest unit. */
function tinyDigits(value: Decimal, minorDigits: number): string | null {
  const length = value.coef.toString().length;
  let rounded = value;
  if (length > 2) rounded = roundHalfEven(value, value.scale - (length - 2));
  rounded = normalize(rounded);
  // 0.00999 rounds to 0.010: that is a whole cent, shown the ordinary way.
  if (rounded.coef * 10n ** BigInt(minorDigits) >= 10n ** BigInt(rounded.scale)) return null;
  return groupDigits(rounded);
}

/** "4140" -> "$4,140.00", "-43.95" -> "-$43.95", "0.0000654" -> "$0.000065". Not a decimal:
 * the text itself, so nothing is ever silently shown as zero. */
export function formatMoney(amount: string | null | undefined, currency = "USD"): string {
  if (amount === null || amount === undefined) return "—";
  const value = parseDecimal(amount);
  if (!value) return String(amount);
  const style = currencyStyle(currency);
  const sign = value.negative ? "-" : "";
  const absolute: Decimal = { ...value, negative: false };
  const belowUnit =
    value.coef !== 0n && value.coef * 10n ** BigInt(style.minorDigits) < 10n ** BigInt(value.scale);
  const digits =
    (belowUnit ? tinyDigits(absolute, style.minorDigits) : null) ??
    groupDigits(roundHalfEven(absolute, style.minorDigits));
  return `${sign}${style.prefix}${digits}${style.suffix}`;
}

/** A unit price (per million tokens) in full: at least the minor digits, never rounded away
 * ("0.075" -> "$0.075", "2.5" -> "$2.50"). */
export function formatExactMoney(amount: string | null | undefined, currency = "USD"): string {
  if (amount === null || amount === undefined) return "—";
  const value = parseDecimal(amount);
  if (!value) return String(amount);
  const style = currencyStyle(currency);
  const normal = normalize(value);
  const shown = normal.scale < style.minorDigits ? roundHalfEven(normal, style.minorDigits) : normal;
  return `${value.negative ? "-" : ""}${style.prefix}${groupDigits(shown)}${style.suffix}`;
}

/** "33.17" -> "33.17 %"; null -> "—". */
export function formatPct(pct: string | null | undefined): string {
  if (pct === null || pct === undefined || pct === "") return "—";
  return `${pct} %`;
}

/** The exact figure with its currency, for titles and clipboard: "277.20 USD". */
export function exactWithCurrency(amount: string, currency = "USD"): string {
  return `${amount} ${(currency || "USD").toUpperCase()}`;
}

/** Integers (counts of events, tokens) with thousands separators. */
export function formatCount(count: number | null | undefined): string {
  if (count === null || count === undefined) return "—";
  return groupDigitsOfInteger(count);
}

function groupDigitsOfInteger(count: number): string {
  const text = Math.trunc(Math.abs(count)).toString();
  return (count < 0 ? "-" : "") + text.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}
