import { useEffect, useState } from "preact/hooks";
import { api, ApiError, baseText } from "../api.ts";
import { ChartView, preloadCharts } from "../components/ChartView.tsx";
import { ActionBadge, CopyButton, Loading, MonthSelect, PageHeading, ProblemBox } from "../components/common.tsx";
import { DataTable, type Column } from "../components/DataTable.tsx";
import { Money, Pct } from "../components/Money.tsx";
import { Sparkline } from "../components/Sparkline.tsx";
import { csvFilename } from "../csv.ts";
import { addMonths, hoursSince, monthsEnding } from "../dates.ts";
import { isZero, subtractDecimal } from "../decimal.ts";
import { formatCount, formatMoney } from "../money.ts";
import { href, navigate } from "../router.ts";
import { worstMarginFirst } from "../sort.ts";
import type { CustomerRow, PnlResponse, Prices, UnmappedRevenue } from "../types.ts";

type Result<T> = T | ApiError | Error;

/** The month's P&L first (tiles and table), then the 11 before it in parallel, newest first
 * (the two before it feed the sparklines). Leading with one request keeps the first paint fast
 * on a server that answers one request at a time (the local stack). */
function usePnlSeries(months: string[], selected: string) {
  const [results, setResults] = useState<Record<string, Result<PnlResponse>>>({});
  const key = months.join(",");
  useEffect(() => {
    const controller = new AbortController();
    const fetchMonth = (month: string) =>
      api.pnl(month, controller.signal).then(
        (data) => !controller.signal.aborted && setResults((previous) => ({ ...previous, [month]: data })),
        (error: Error) => !controller.signal.aborted && setResults((previous) => ({ ...previous, [month]: error })),
      );
    setResults({});
    void fetchMonth(selected).then(() => {
      if (controller.signal.aborted) return;
      for (const month of [...months].reverse()) if (month !== selected) void fetchMonth(month);
    });
    return () => controller.abort();
  }, [key, selected]);
  return results;
}

/** A secondary request, started once `ready` (after the main figures have arrived). */
function useOptional<T>(load: (signal: AbortSignal) => Promise<T>, ready: boolean): Result<T> | null {
  const [result, setResult] = useState<Result<T> | null>(null);
  useEffect(() => {
    if (!ready || result !== null) return;
    const controller = new AbortController();
    load(controller.signal).then(
      (data) => !controller.signal.aborted && setResult(data),
      (error: Error) => !controller.signal.aborted && setResult(error),
    );
    return () => controller.abort();
  }, [ready]);
  return result;
}

const isData = <T,>(value: Result<T> | null | undefined): value is T =>
  value !== null && value !== undefined && !(value instanceof Error);

export function OverviewView({ month }: { month: string }) {
  const months = monthsEnding(month, 12);
  const series = usePnlSeries(months, month);
  const main = series[month];
  const prices = useOptional((signal) => api.prices(signal), true);
  useEffect(preloadCharts, []);
  const unmapped = useOptional((signal) => api.unmappedRevenue(signal), isData(main) && !isZero(main.totals.unmapped_revenue));

  return (
    <>
      <PageHeading actions={<MonthSelect value={month} onChange={(next) => navigate(href("overview", { month: next }))} />}>
        Overview <span class="subtle">{month} (UTC)</span>
      </PageHeading>
      {main === undefined && <Loading what="Loading the P&L…" />}
      {main instanceof Error && <ProblemBox error={main} />}
      {isData(main) && (
        <>
          <Tiles pnl={main} />
          <Warnings pnl={main} month={month} prices={isData(prices) ? prices : null} unmapped={isData(unmapped) ? unmapped : null} />
          <EmptyStates pnl={main} />
          <section aria-labelledby="trend-heading" class="card">
            <h2 id="trend-heading">Revenue, cost and margin by month</h2>
            <MonthlyChart months={months} series={series} currency={main.currency} />
          </section>
          <section aria-labelledby="customers-heading">
            <h2 id="customers-heading">Customers, worst margin first</h2>
            <CustomersTable pnl={main} month={month} series={series} />
          </section>
        </>
      )}
    </>
  );
}

function Tiles({ pnl }: { pnl: PnlResponse }) {
  const { totals, currency, aggregates } = pnl;
  return (
    <>
      <div class="tiles">
        <div class="tile" data-testid="tile-revenue">
          <p class="tile-label">Revenue</p>
          <p class="tile-value">
            <Money amount={totals.revenue} currency={currency} focusable />
          </p>
        </div>
        <div class="tile" data-testid="tile-cost">
          <p class="tile-label">Model cost</p>
          <p class="tile-value">
            <Money amount={totals.cost} currency={currency} focusable />
          </p>
        </div>
        <div class="tile" data-testid="tile-margin">
          <p class="tile-label">Margin</p>
          <p class="tile-value">
            <Money amount={totals.margin} currency={currency} focusable />
          </p>
        </div>
        <div class="tile" data-testid="tile-margin-pct">
          <p class="tile-label">Margin %</p>
          <p class="tile-value">
            <Pct value={totals.margin_pct} />
          </p>
        </div>
        <div class="tile" data-testid="tile-events">
          <p class="tile-label">Events</p>
          <p class="tile-value">{formatCount(totals.events)}</p>
        </div>
      </div>
      {!aggregates.caught_up && (
        <p class="note" data-testid="catching-up">
          figures catching up ({Math.ceil(aggregates.lag_seconds)} s behind)
        </p>
      )}
    </>
  );
}

interface WarningsProps {
  pnl: PnlResponse;
  month: string;
  prices: Prices | null;
  unmapped: UnmappedRevenue | null;
}

/** Prices are stale when the last refresh was refused, the last success is over 24 h old, or
 * refreshes were tried and none ever succeeded. A bundled table never refreshed is not flagged. */
export function priceSyncProblem(prices: Prices | null, now = new Date()): string | null {
  const sync = prices?.sync;
  if (!sync) return null;
  if (sync.last_status === "refused") {
    return `The last price refresh was refused${sync.last_reason ? `: ${sync.last_reason}` : ""}.`;
  }
  if (sync.last_success_at && hoursSince(sync.last_success_at, now) > 24) {
    return `Prices were last refreshed more than 24 h ago.`;
  }
  if (!sync.last_success_at && sync.last_attempt_at) return "Price refreshes were tried but none succeeded.";
  return null;
}

function Warnings({ pnl, month, prices, unmapped }: WarningsProps) {
  const { totals, currency } = pnl;
  const items = [];
  if (totals.unpriced_events > 0) {
    items.push(
      <li key="unpriced" data-warning="unpriced">
        {formatCount(totals.unpriced_events)} events are unpriced — see{" "}
        <a href={href("models", { month })}>Models and prices</a>. Their cost is not counted as zero: override or alias
        the model, then reprice.
      </li>,
    );
  }
  if (totals.estimated_events > 0) {
    items.push(
      <li key="estimated" data-warning="estimated">
        {formatCount(totals.estimated_events)} events have estimated token counts (from characters), costing{" "}
        <Money amount={totals.estimated_cost} currency={currency} />.
      </li>,
    );
  }
  if (!isZero(totals.unmapped_revenue)) {
    items.push(
      <li key="unmapped" data-warning="unmapped_revenue">
        <Money amount={totals.unmapped_revenue} currency={currency} /> of Stripe revenue is not mapped to a customer yet.
        Map each Stripe customer with <code>PUT /v1/customers/{"{id}"}</code> and{" "}
        <code>{'{"stripe_customer_id": "cus_..."}'}</code> (or the <code>customer_id</code> metadata key on the Stripe
        customer).
        {unmapped && unmapped.data.length > 0 && (
          <ul class="unmapped">
            {unmapped.data.slice(0, 10).map((doc) => (
              <li key={doc.id}>
                <code>{doc.stripe_customer_id}</code>
                {doc.stripe_customer_name ? ` (${doc.stripe_customer_name})` : ""}: {doc.kind}{" "}
                <Money amount={doc.amount} currency={doc.currency} />
                <span class="visually-hidden">,</span>{" "}
                <CopyButton
                  label="Copy curl"
                  text={`curl -X PUT ${baseText()}/v1/customers/<your-customer-id> -H "Authorization: Bearer $MARGINLENS_KEY" -H 'Content-Type: application/json' -d '{"stripe_customer_id":"${doc.stripe_customer_id}"}'`}
                />
              </li>
            ))}
            {unmapped.data.length > 10 && <li>…and {unmapped.data.length - 10} more.</li>}
          </ul>
        )}
      </li>,
    );
  }
  const sync = priceSyncProblem(prices);
  if (sync) {
    items.push(
      <li key="price_sync" data-warning="price_sync">
        {sync} Costs use the price table in force; see <a href={href("models", { month })}>Models and prices</a>.
      </li>,
    );
  }
  if (items.length === 0) return null;
  return (
    <section aria-labelledby="warnings-heading" class="warnings">
      <h2 id="warnings-heading">Needs attention</h2>
      <ul data-testid="warnings">{items}</ul>
    </section>
  );
}

function EmptyStates({ pnl }: { pnl: PnlResponse }) {
  const base = baseText();
  const curl =
    `curl -X POST ${base}/v1/usage -H "Authorization: Bearer $MARGINLENS_KEY" ` +
    `-H 'Content-Type: application/json' -d '{"customer_id":"acct_123","model_name":"gpt-4o-mini",` +
    `"prompt_tokens":120,"completion_tokens":80,"request_id":"req_abc123"}'`;
  const noUsage = pnl.totals.events === 0;
  const noRevenue = isZero(pnl.totals.revenue) && isZero(pnl.totals.unmapped_revenue);
  return (
    <>
      {noUsage && (
        <section class="empty card" data-testid="empty-usage" aria-labelledby="empty-usage-heading">
          <h2 id="empty-usage-heading">No usage events in this month</h2>
          <p>Send one event per model call with an ingest key. Your first event:</p>
          <pre tabIndex={0} aria-label="curl command to send a first usage event">
            <code>{curl}</code>
          </pre>
          <CopyButton text={curl} label="Copy command" />
        </section>
      )}
      {noRevenue && (
        <section class="empty card" data-testid="empty-revenue" aria-labelledby="empty-revenue-heading">
          <h2 id="empty-revenue-heading">No revenue in this month</h2>
          <p>
            Connect Stripe: add the webhook endpoint <code>{base}/v1/stripe/webhook</code> in the Stripe dashboard with the
            events <code>invoice.paid</code>, <code>charge.refunded</code>, <code>credit_note.created</code> and{" "}
            <code>customer.updated</code>, then put its signing secret in MarginLens's settings.
          </p>
          <p>
            Or push revenue from any billing system with an admin key: <code>POST {base}/v1/revenue</code>{" "}
            <code>{`{"external_id":"inv_123","customer_id":"acct_123","amount":"233.25","currency":"USD","month":"${pnl.period.from.slice(0, 7)}"}`}</code>.
          </p>
        </section>
      )}
    </>
  );
}

function MonthlyChart({ months, series, currency }: { months: string[]; series: Record<string, Result<PnlResponse>>; currency: string }) {
  const arrived = months.filter((month) => series[month] !== undefined).length;
  if (arrived < months.length) return <Loading what={`Loading 12 months (${arrived} of 12)…`} />;
  const pick = (field: "revenue" | "cost" | "margin") =>
    months.map((month) => {
      const result = series[month];
      return isData(result) ? result.totals[field] : null;
    });
  const failed = months.filter((month) => series[month] instanceof Error);
  const revenue = pick("revenue");
  const cost = pick("cost");
  const margin = pick("margin");
  const label =
    `Revenue, cost and margin by month, ${months[0]} to ${months[months.length - 1]}: ` +
    months
      .map((month, index) => `${month} revenue ${formatMoney(revenue[index], currency)}, cost ${formatMoney(cost[index], currency)}, margin ${formatMoney(margin[index], currency)}`)
      .join("; ");
  return (
    <>
      {failed.length > 0 && <p class="note">No figures for {failed.join(", ")} (the API answered with an error).</p>}
      <ChartView
        label={label}
        labels={months}
        firstColumn="Month (UTC)"
        currency={currency}
        xTitle="month (UTC)"
        yTitle={`amount (${currency})`}
        series={[
          { label: "Revenue", values: revenue, color: "#1d4ed8" },
          { label: "Cost", values: cost, color: "#c2410c" },
          { label: "Margin", values: margin, color: "#047857", type: "line" },
        ]}
      />
    </>
  );
}

function CustomersTable({ pnl, month, series }: { pnl: PnlResponse; month: string; series: Record<string, Result<PnlResponse>> }) {
  const trendMonths = [addMonths(month, -2), addMonths(month, -1), month];
  const pctIn = (m: string, id: string): string | null => {
    const result = series[m];
    if (!isData(result)) return null;
    return result.customers.find((row) => row.customer_id === id)?.margin_pct ?? null;
  };
  const trend = (row: CustomerRow) => trendMonths.map((m) => (m === month ? row.margin_pct : pctIn(m, row.customer_id)));
  const { currency } = pnl;
  const money = (field: "revenue" | "cost" | "margin"): Column<CustomerRow> => ({
    key: field,
    label: field === "cost" ? "Cost" : field[0]!.toUpperCase() + field.slice(1),
    kind: "decimal",
    value: (row) => row[field],
    render: (row) => <Money amount={row[field]} currency={currency} />,
  });
  const columns: Column<CustomerRow>[] = [
    {
      key: "customer",
      label: "Customer",
      value: (row) => row.name || row.customer_id,
      csv: (row) => row.name || row.customer_id,
      render: (row) => (
        <a href={href("customers", { month }, row.customer_id)}>
          {row.name || row.customer_id}
          {row.name && row.name !== row.customer_id && <span class="subtle small"> {row.customer_id}</span>}
        </a>
      ),
    },
    money("revenue"),
    money("cost"),
    money("margin"),
    { key: "margin_pct", label: "Margin %", kind: "decimal", value: (row) => row.margin_pct, render: (row) => <Pct value={row.margin_pct} /> },
    { key: "events", label: "Events", kind: "number", value: (row) => row.events, render: (row) => formatCount(row.events) },
    {
      key: "action",
      label: "Action",
      kind: "number",
      numeric: false,
      value: (row) => ({ reprice_or_throttle: 0, monitor: 1, healthy: 2 })[row.action] ?? 3,
      csv: (row) => row.action,
      render: (row) => <ActionBadge action={row.action} />,
    },
    {
      key: "streak",
      label: "Negative-margin streak",
      kind: "number",
      value: (row) => row.negative_margin_months,
      render: (row) =>
        row.negative_margin_months > 0 ? `${row.negative_margin_months} ${row.negative_margin_months === 1 ? "month" : "months"}` : "—",
    },
    {
      key: "trend",
      label: "3-month margin %",
      kind: "decimal",
      numeric: false,
      // Sorts on the change over the three months (latest minus earliest known).
      value: (row) => {
        const known = trend(row).filter((value): value is string => value !== null);
        return known.length >= 2 ? subtractDecimal(known[known.length - 1]!, known[0]!) : null;
      },
      csv: (row) => trend(row).map((value, index) => `${trendMonths[index]} ${value ?? "n/a"}`).join("; "),
      render: (row) => <Sparkline months={trendMonths} values={trend(row)} />,
    },
  ];
  return (
    <DataTable
      testid="customers-table"
      caption={`Customers' P&L for ${month} (UTC), worst margin first`}
      captionHidden
      columns={columns}
      rows={pnl.customers}
      rowKey={(row) => row.customer_id}
      rowAttrs={(row) => ({ "data-customer-id": row.customer_id })}
      defaultCompare={worstMarginFirst}
      defaultSort={{ key: "margin_pct", direction: "ascending" }}
      filename={csvFilename("customers", month)}
      empty="No customers with usage or revenue in this month."
    />
  );
}
