import { useEffect } from "preact/hooks";
import { api } from "../api.ts";
import { ChartView, preloadCharts } from "../components/ChartView.tsx";
import { ActionBadge, Loading, MonthSelect, PageHeading, ProblemBox } from "../components/common.tsx";
import { DataTable, type Column } from "../components/DataTable.tsx";
import { Money, Pct } from "../components/Money.tsx";
import { csvFilename } from "../csv.ts";
import { formatDay } from "../dates.ts";
import { compareDecimal as compareCost } from "../decimal.ts";
import { formatCount, formatMoney, formatPct } from "../money.ts";
import { useApi } from "../hooks.ts";
import { href, navigate } from "../router.ts";
import type { Breakdown, CustomerPnl, Recommendations } from "../types.ts";

export function CustomerView({ id, month }: { id: string; month: string }) {
  const pnl = useApi((signal) => api.customerPnl(id, month, signal), [id, month]);
  const recs = useApi((signal) => api.recommendations({ month, customer_id: id }, signal), [id, month]);
  const data = pnl.data;
  const title = data?.name || id;
  useEffect(preloadCharts, []);

  return (
    <>
      <p class="crumbs">
        <a href={href("overview", { month })}>← Overview</a>
      </p>
      <PageHeading
        actions={<MonthSelect value={month} onChange={(next) => navigate(href("customers", { month: next }, id))} />}
      >
        {title} <span class="subtle">{month} (UTC)</span>
      </PageHeading>
      {pnl.loading && !data && <Loading what="Loading the customer's P&L…" />}
      <ProblemBox error={pnl.error} />
      {data && <CustomerBody pnl={data} month={month} />}
      <section aria-labelledby="recs-heading" class="card">
        <h2 id="recs-heading">Cheaper models</h2>
        {recs.loading && !recs.data && <Loading what="Loading recommendations…" />}
        <ProblemBox error={recs.error} />
        {recs.data && <RecommendationList recs={recs.data} />}
      </section>
    </>
  );
}

function CustomerBody({ pnl, month }: { pnl: CustomerPnl; month: string }) {
  const { currency } = pnl;
  return (
    <>
      <p class="subtle">
        Customer id <code>{pnl.customer_id}</code> · {formatCount(pnl.events)} events
        {pnl.unpriced_events > 0 && <> · {formatCount(pnl.unpriced_events)} unpriced</>}
        {!pnl.aggregates.caught_up && <> · figures catching up ({Math.ceil(pnl.aggregates.lag_seconds)} s behind)</>}
      </p>
      <div class="tiles">
        <div class="tile" data-testid="customer-revenue">
          <p class="tile-label">Revenue</p>
          <p class="tile-value">
            <Money amount={pnl.revenue} currency={currency} focusable />
          </p>
        </div>
        <div class="tile" data-testid="customer-cost">
          <p class="tile-label">Model cost</p>
          <p class="tile-value">
            <Money amount={pnl.cost} currency={currency} focusable />
          </p>
        </div>
        <div class="tile" data-testid="customer-margin">
          <p class="tile-label">Margin</p>
          <p class="tile-value">
            <Money amount={pnl.margin} currency={currency} focusable />
          </p>
        </div>
        <div class="tile" data-testid="customer-margin-pct">
          <p class="tile-label">Margin %</p>
          <p class="tile-value">
            <Pct value={pnl.margin_pct} />
          </p>
        </div>
        <div class="tile" data-testid="customer-action">
          <p class="tile-label">Action</p>
          <p class="tile-value">
            <ActionBadge action={pnl.action} />
          </p>
          {pnl.negative_margin_months > 0 && (
            <p class="tile-note">
              negative margin {pnl.negative_margin_months} {pnl.negative_margin_months === 1 ? "month" : "months"} running
            </p>
          )}
        </div>
      </div>
      <section aria-labelledby="daily-heading" class="card">
        <h2 id="daily-heading">Daily cost and recognised revenue</h2>
        {pnl.daily.length === 0 ? (
          <p>No daily figures in this month.</p>
        ) : (
          <ChartView
            label={`Daily cost and recognised revenue for ${pnl.name || pnl.customer_id}, ${month}: ${pnl.daily
              .map((point) => `${point.day} cost ${formatMoney(point.cost, currency)}, revenue ${formatMoney(point.revenue, currency)}`)
              .join("; ")}`}
            labels={pnl.daily.map((point) => formatDay(point.day))}
            firstColumn="Day (UTC)"
            currency={currency}
            xTitle="day (UTC)"
            yTitle={`amount (${currency})`}
            series={[
              { label: "Cost", values: pnl.daily.map((point) => point.cost), color: "#c2410c", type: "line" },
              { label: "Revenue", values: pnl.daily.map((point) => point.revenue), color: "#1d4ed8", type: "line", dashed: true },
            ]}
          />
        )}
      </section>
      <section aria-labelledby="by-feature-heading">
        <h2 id="by-feature-heading">Cost by feature</h2>
        <BreakdownTable
          testid="by-feature-table"
          caption={`Cost by feature, ${month} (UTC)`}
          first={{ key: "feature", label: "Feature" }}
          rows={pnl.by_feature.map((row) => ({ ...row, name: row.feature }))}
          currency={currency}
          filename={csvFilename("customer", pnl.customer_id, "features", month)}
        />
      </section>
      <section aria-labelledby="by-model-heading">
        <h2 id="by-model-heading">Cost by model</h2>
        <BreakdownTable
          testid="by-model-table"
          caption={`Cost by model, ${month} (UTC)`}
          first={{ key: "model", label: "Model" }}
          rows={pnl.by_model.map((row) => ({ ...row, name: row.model }))}
          currency={currency}
          filename={csvFilename("customer", pnl.customer_id, "models", month)}
        />
      </section>
    </>
  );
}

type NamedBreakdown = Breakdown & { name: string };

function BreakdownTable(props: {
  testid: string;
  caption: string;
  first: { key: string; label: string };
  rows: NamedBreakdown[];
  currency: string;
  filename: string;
}) {
  const columns: Column<NamedBreakdown>[] = [
    { key: props.first.key, label: props.first.label, value: (row) => row.name, render: (row) => <code>{row.name}</code> },
    { key: "events", label: "Events", kind: "number", value: (row) => row.events, render: (row) => formatCount(row.events) },
    { key: "prompt_tokens", label: "Prompt tokens", kind: "number", value: (row) => row.prompt_tokens, render: (row) => formatCount(row.prompt_tokens) },
    { key: "completion_tokens", label: "Completion tokens", kind: "number", value: (row) => row.completion_tokens, render: (row) => formatCount(row.completion_tokens) },
    { key: "cost", label: "Cost", kind: "decimal", value: (row) => row.cost, render: (row) => <Money amount={row.cost} currency={props.currency} /> },
    { key: "unpriced_events", label: "Unpriced events", kind: "number", value: (row) => row.unpriced_events, render: (row) => formatCount(row.unpriced_events) },
  ];
  return (
    <DataTable
      testid={props.testid}
      caption={props.caption}
      captionHidden
      columns={columns}
      rows={props.rows}
      rowKey={(row) => row.name}
      rowAttrs={(row) => ({ [`data-${props.first.key}`]: row.name })}
      defaultSort={{ key: "cost", direction: "descending" }}
      defaultCompare={(x, y) => -compareCost(x.cost, y.cost)}
      filename={props.filename}
      empty="No usage in this month."
    />
  );
}

const STATUS_TEXT: Record<string, string> = {
  current_unscored: "the current model has no quality score on this index, so nothing can be compared",
  cost_incomplete: "some of its events are unpriced, so the cost is incomplete",
  no_cheaper_candidate: "no cheaper model within the quality tolerance",
  ok: "no cheaper model within the quality tolerance",
};

type Group = Recommendations["groups"][number];

/** The best candidate of a group (rank 1) and the words around its figures. */
export function recommendationParts(group: Group, recs: Recommendations) {
  const best = [...group.candidates].sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9))[0];
  if (!best) return null;
  const marginAfter = best.margin_pct_after ?? recs.customer?.margin_pct_after_best ?? null;
  const change = best.quality_change_pct;
  const quality =
    change === null || change === undefined
      ? "quality change unknown"
      : `quality ${change.startsWith("-") ? "" : "+"}${formatPct(change)} on ${recs.quality_index.name}`;
  const margin = marginAfter === null ? "margin % stays undefined (no revenue)" : `margin becomes ${formatPct(marginAfter)}`;
  return {
    best,
    before: `Switch ${group.feature} from ${group.current_model} to ${best.model}: saves `,
    after: ` a month, ${quality}, ${margin}`,
  };
}

function RecommendationList({ recs }: { recs: Recommendations }) {
  const withCandidates = recs.groups.filter((group) => group.candidates.length > 0);
  const without = recs.groups.filter((group) => group.candidates.length === 0);
  return (
    <>
      <p class="subtle">
        Ranked by quality per dollar on {recs.quality_index.name}, at most {recs.tolerance_pct} % below the current model's
        score.
      </p>
      {withCandidates.length === 0 ? (
        <p data-testid="no-recommendation">No cheaper model within the quality tolerance.</p>
      ) : null}
      <ul data-testid="recommendations" class="recommendations">
        {withCandidates.map((group) => {
          const parts = recommendationParts(group, recs);
          if (!parts) return null;
          return (
            <li data-testid="recommendation" key={`${group.feature}|${group.current_model}`} data-feature={group.feature} data-current-model={group.current_model}>
              {parts.before}
              <Money amount={parts.best.savings} currency={recs.currency} />
              {parts.after}
              <span class="subtle small">
                {" "}
                (current cost <Money amount={group.cost} currency={recs.currency} />, {formatCount(group.events)} events)
              </span>
            </li>
          );
        })}
      </ul>
      {without.length > 0 && (
        <details class="no-candidates">
          <summary>{without.length} feature and model pairs without a cheaper candidate</summary>
          <ul>
            {without.map((group) => (
              <li key={`${group.feature}|${group.current_model}`}>
                {group.feature} on {group.current_model}: {STATUS_TEXT[group.status] ?? group.status}.
              </li>
            ))}
          </ul>
        </details>
      )}
    </>
  );
}
