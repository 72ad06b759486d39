// Table sorting. Money and percentages are compared as exact decimals, never as floats.
import { compareDecimal } from "./decimal.ts";

export type SortKind = "text" | "decimal" | "number";
export type SortDirection = "ascending" | "descending";
export type SortValue = string | number | null | undefined;

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

export function compareValues(a: SortValue, b: SortValue, kind: SortKind): number {
  if (kind === "decimal") return compareDecimal(String(a), String(b));
  if (kind === "number") return Number(a) - Number(b);
  return collator.compare(String(a), String(b));
}

function isMissing(value: SortValue): boolean {
  return value === null || value === undefined || value === "";
}

/** A comparator on one column; missing values (null: "no revenue") come last in both directions. */
export function byColumn<R>(value: (row: R) => SortValue, kind: SortKind, direction: SortDirection) {
  const sign = direction === "ascending" ? 1 : -1;
  return (x: R, y: R): number => {
    const a = value(x);
    const b = value(y);
    if (isMissing(a) || isMissing(b)) return isMissing(a) ? (isMissing(b) ? 0 : 1) : -1;
    return sign * compareValues(a, b, kind);
  };
}

/** Comparators applied in turn, the next one breaking ties. */
export function thenBy<R>(...comparators: Array<(x: R, y: R) => number>) {
  return (x: R, y: R): number => {
    for (const compare of comparators) {
      const result = compare(x, y);
      if (result !== 0) return result;
    }
    return 0;
  };
}

/** A sorted copy (Array.prototype.sort is stable). */
export function sortRows<R>(rows: readonly R[], compare: (x: R, y: R) => number): R[] {
  return [...rows].sort(compare);
}

export interface MarginRow {
  customer_id: string;
  margin: string;
  margin_pct: string | null;
}

/** Worst margin first: margin % ascending with nulls last, then margin ascending, then id. */
export const worstMarginFirst = thenBy<MarginRow>(
  byColumn((row) => row.margin_pct, "decimal", "ascending"),
  byColumn((row) => row.margin, "decimal", "ascending"),
  byColumn((row) => row.customer_id, "text", "ascending"),
);
