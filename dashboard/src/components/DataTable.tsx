import type { ComponentChildren } from "preact";
import { useMemo, useState } from "preact/hooks";
import { downloadCsv, toCsv, type CsvValue } from "../csv.ts";
import { byColumn, sortRows, type SortDirection, type SortKind, type SortValue } from "../sort.ts";

export interface Column<R> {
  /** The cell's data-col, and the sort key. */
  key: string;
  label: string;
  kind?: SortKind;
  /** The exact value: what sorting compares and CSV writes (unless `csv` is given). */
  value: (row: R) => SortValue;
  csv?: (row: R) => CsvValue;
  render?: (row: R) => ComponentChildren;
  sortable?: boolean;
  /** Right-aligned figures; default: every kind but text. */
  numeric?: boolean;
}

export interface SortState {
  key: string;
  direction: SortDirection;
}

interface Props<R> {
  testid: string;
  caption: string;
  columns: Column<R>[];
  rows: R[];
  rowKey: (row: R) => string;
  rowAttrs?: (row: R) => Record<string, string>;
  /** Order before any header is clicked, and which header shows it. */
  defaultCompare?: (x: R, y: R) => number;
  defaultSort?: SortState;
  filename: string;
  /** A totals row, kept last whatever the sort; `csv` is written as the last CSV line. */
  footer?: { cells: Record<string, ComponentChildren>; csv: CsvValue[]; attrs?: Record<string, string> };
  empty?: ComponentChildren;
  captionHidden?: boolean;
  toolbar?: ComponentChildren;
}

let tableCount = 0;

export function DataTable<R>(props: Props<R>) {
  const { testid, caption, columns, rows, rowKey, rowAttrs, defaultCompare, defaultSort, filename, footer, empty } = props;
  const [sort, setSort] = useState<SortState | null>(null);
  const [captionId] = useState(() => `table-caption-${++tableCount}`);

  const sorted = useMemo(() => {
    if (sort) {
      const column = columns.find((item) => item.key === sort.key);
      if (column) return sortRows(rows, byColumn(column.value, column.kind ?? "text", sort.direction));
    }
    return defaultCompare ? sortRows(rows, defaultCompare) : rows;
  }, [rows, sort, columns, defaultCompare]);

  const shown = sort ?? defaultSort ?? null;

  const onSort = (key: string) => {
    setSort((current) => {
      const active = current ?? defaultSort;
      if (active && active.key === key) {
        return { key, direction: active.direction === "ascending" ? "descending" : "ascending" };
      }
      return { key, direction: "ascending" };
    });
  };

  const exportCsv = () => {
    const header = columns.map((column) => ({ header: column.label, text: (column.kind ?? "text") === "text" }));
    const lines = sorted.map((row) => columns.map((column) => (column.csv ? column.csv(row) : column.value(row))));
    if (footer) lines.push(footer.csv);
    downloadCsv(filename, toCsv(header, lines));
  };

  return (
    <div class="table-block">
      <div class="table-toolbar">
        {props.toolbar}
        <button type="button" class="secondary small" data-testid="export-csv" aria-describedby={captionId} onClick={exportCsv}>
          Export CSV
        </button>
      </div>
      <div class="table-wrap" tabIndex={0} role="region" aria-labelledby={captionId}>
        <table data-testid={testid}>
          <caption id={captionId} class={props.captionHidden ? "visually-hidden" : undefined}>
            {caption}
          </caption>
          <thead>
            <tr>
              {columns.map((column) => {
                const numeric = column.numeric ?? (column.kind ?? "text") !== "text";
                const active = shown && shown.key === column.key ? shown.direction : null;
                if (column.sortable === false) {
                  return (
                    <th key={column.key} scope="col" class={numeric ? "num" : undefined} data-col={column.key}>
                      {column.label}
                    </th>
                  );
                }
                return (
                  <th key={column.key} scope="col" class={numeric ? "num" : undefined} data-col={column.key} aria-sort={active ?? "none"}>
                    <button type="button" class="sort" onClick={() => onSort(column.key)}>
                      {column.label}
                      <span class="sort-icon" aria-hidden="true">
                        {active === "ascending" ? "▲" : active === "descending" ? "▼" : "↕"}
                      </span>
                    </button>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {sorted.length === 0 && (
              <tr class="empty-row">
                <td colSpan={columns.length}>{empty ?? "Nothing to show."}</td>
              </tr>
            )}
            {sorted.map((row) => (
              <tr key={rowKey(row)} {...(rowAttrs ? rowAttrs(row) : {})}>
                {columns.map((column) => {
                  const numeric = column.numeric ?? (column.kind ?? "text") !== "text";
                  const content = column.render ? column.render(row) : String(column.value(row) ?? "—");
                  return (
                    <td key={column.key} data-col={column.key} class={numeric ? "num" : undefined}>
                      {content}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
          {footer && (
            <tfoot>
              <tr {...(footer.attrs ?? {})}>
                {columns.map((column, index) => {
                  const numeric = column.numeric ?? (column.kind ?? "text") !== "text";
                  return index === 0 ? (
                    <th key={column.key} scope="row" data-col={column.key}>
                      {footer.cells[column.key] ?? "Total"}
                    </th>
                  ) : (
                    <td key={column.key} data-col={column.key} class={numeric ? "num" : undefined}>
                      {footer.cells[column.key] ?? ""}
                    </td>
                  );
                })}
              </tr>
            </tfoot>
          )}
        </table>
      </div>
    </div>
  );
}
