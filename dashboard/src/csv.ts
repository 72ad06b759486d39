// CSV export (RFC 4180: comma, CRLF, quotes doubled). Figures are the API's exact strings.

export type CsvValue = string | number | boolean | null | undefined;

export interface CsvColumn {
  header: string;
  /** Text cells are guarded against spreadsheet formulas; figures are written untouched. */
  text?: boolean;
}

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: CsvValue, text = false): string {
  if (value === null || value === undefined) return "";
  let cell = String(value);
  // A name such as "=HYPERLINK(...)" must not run in Excel; a figure like "-43.95" must stay exact.
  if (text && FORMULA_START.test(cell)) cell = `'${cell}`;
  return /[",\r\n]/.test(cell) || /^\s|\s$/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

export function toCsv(columns: readonly CsvColumn[], rows: readonly (readonly CsvValue[])[]): string {
  const lines = [columns.map((column) => csvCell(column.header, true)).join(",")];
  for (const row of rows) {
    lines.push(columns.map((column, index) => csvCell(row[index], column.text ?? false)).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** "customers-2026-11.csv": letters, digits, dots, dashes and underscores only. */
export function csvFilename(...parts: Array<string | null | undefined>): string {
  const name = parts
    .filter((part): part is string => Boolean(part))
    .join("-")
    .replace(/[^A-Za-z0-9._-]+/g, "_");
  return `${name || "export"}.csv`;
}

/** Start a download in the browser (a Blob and an <a download>; no server round trip). */
export function downloadCsv(filename: string, csv: string): void {
  // The byte-order mark makes Excel read UTF-8 names correctly.
  const blob = new Blob(["\uFEFF", csv], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
