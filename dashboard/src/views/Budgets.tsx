import { useEffect, useRef, useState } from "preact/hooks";
import { api, fieldErrors } from "../api.ts";
import { Field, Loading, MonthSelect, PageHeading, ProblemBox } from "../components/common.tsx";
import { DataTable, type Column } from "../components/DataTable.tsx";
import { Money } from "../components/Money.tsx";
import { csvFilename } from "../csv.ts";
import { formatUtc } from "../dates.ts";
import { compareDecimal } from "../decimal.ts";
import { useApi } from "../hooks.ts";
import { formatMoney } from "../money.ts";
import { href, navigate } from "../router.ts";
import type { Alert, Budget, BudgetScope } from "../types.ts";

const STATE_ORDER = { ok: 0, warning: 1, critical: 2, exceeded: 3 };

export function BudgetsView({ month, admin }: { month: string; admin: boolean }) {
  const budgets = useApi((signal) => api.budgets(signal), []);
  const alerts = useApi((signal) => api.alerts(month, signal), [month]);
  const [editing, setEditing] = useState<Budget | "new" | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);

  const refresh = () => {
    budgets.reload();
    alerts.reload();
  };

  const remove = async (id: string) => {
    setActionError(null);
    try {
      await api.deleteBudget(id);
      setConfirming(null);
      budgets.reload();
    } catch (error) {
      setActionError(error);
    }
  };

  const columns: Column<Budget>[] = [
    { key: "id", label: "Budget", value: (row) => row.id, render: (row) => <code>{row.id}</code> },
    { key: "scope", label: "Scope", value: (row) => row.scope },
    { key: "target", label: "Target", value: (row) => row.target, render: (row) => row.target ?? "whole organization" },
    { key: "period", label: "Period", value: (row) => `${row.period} ${row.current_period}`, render: (row) => `${row.period} (${row.current_period})` },
    { key: "spent", label: "Spent", kind: "decimal", value: (row) => row.spent, render: (row) => <Money amount={row.spent} /> },
    { key: "limit", label: "Limit", kind: "decimal", value: (row) => row.limit, render: (row) => <Money amount={row.limit} /> },
    { key: "pct", label: "Used", kind: "decimal", value: (row) => row.pct, render: (row) => <BudgetMeter budget={row} /> },
    {
      key: "state",
      label: "State",
      kind: "number",
      value: (row) => STATE_ORDER[row.state] ?? 9,
      csv: (row) => row.state,
      render: (row) => (
        <span class="state" data-state={row.state}>
          {row.state}
        </span>
      ),
    },
  ];
  if (admin) {
    columns.push({
      key: "actions",
      label: "Actions",
      sortable: false,
      value: () => null,
      csv: () => null,
      render: (row) =>
        confirming === row.id ? (
          <span class="row-actions">
            <span>Delete {row.id}?</span>{" "}
            <button type="button" class="danger small" data-admin-control onClick={() => void remove(row.id)}>
              Confirm delete
            </button>{" "}
            <button type="button" class="secondary small" data-admin-control onClick={() => setConfirming(null)}>
              Cancel
            </button>
          </span>
        ) : (
          <span class="row-actions">
            <button type="button" class="secondary small" data-admin-control aria-label={`Edit budget ${row.id}`} onClick={() => setEditing(row)}>
              Edit
            </button>{" "}
            <button type="button" class="secondary small" data-admin-control aria-label={`Delete budget ${row.id}`} onClick={() => setConfirming(row.id)}>
              Delete
            </button>
          </span>
        ),
    });
  }

  return (
    <>
      <PageHeading
        actions={
          <>
            <MonthSelect value={month} onChange={(next) => navigate(href("budgets", { month: next }))} />
            <button type="button" class="secondary" onClick={refresh}>
              Refresh
            </button>
          </>
        }
      >
        Budgets and alerts
      </PageHeading>
      <section aria-labelledby="budgets-heading">
        <h2 id="budgets-heading">Budgets</h2>
        {budgets.loading && !budgets.data && <Loading what="Loading budgets…" />}
        <ProblemBox error={budgets.error} />
        <ProblemBox error={actionError} />
        {budgets.data && (
          <DataTable
            testid="budgets"
            caption="Budgets with their spend this period"
            captionHidden
            columns={columns}
            rows={budgets.data.data}
            rowKey={(row) => row.id}
            rowAttrs={(row) => ({ "data-budget-id": row.id, "data-state": row.state })}
            defaultCompare={(x, y) => compareDecimal(y.pct, x.pct)}
            defaultSort={{ key: "pct", direction: "descending" }}
            filename={csvFilename("budgets", month)}
            empty="No budgets yet."
            toolbar={
              admin && editing === null ? (
                <button type="button" data-admin-control onClick={() => setEditing("new")}>
                  New budget
                </button>
              ) : null
            }
          />
        )}
        {admin && editing !== null && (
          <BudgetForm
            key={editing === "new" ? "new" : editing.id}
            budget={editing === "new" ? null : editing}
            onDone={(saved) => {
              setEditing(null);
              if (saved) budgets.reload();
            }}
          />
        )}
      </section>
      <section aria-labelledby="alerts-heading">
        <h2 id="alerts-heading">Alerts sent in {month} (UTC)</h2>
        {alerts.loading && !alerts.data && <Loading what="Loading alerts…" />}
        <ProblemBox error={alerts.error} />
        {alerts.data && <AlertsTable alerts={alerts.data.data} month={month} />}
      </section>
    </>
  );
}

function BudgetMeter({ budget }: { budget: Budget }) {
  const pct = Number(budget.pct);
  const width = Math.max(0, Math.min(100, Number.isFinite(pct) ? pct : 0));
  return (
    <div class="meter-cell">
      <div
        class="meter"
        role="meter"
        aria-valuenow={Number(budget.pct)}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuetext={`${budget.pct} % of the limit`}
        aria-label={`Budget ${budget.id} used`}
        data-state={budget.state}
      >
        <div class="meter-fill" style={{ width: `${width}%` }} />
        <span class="meter-mark" title={`warning at ${budget.warning_pct} %`} style={{ left: `${clampPct(budget.warning_pct)}%` }} />
        <span class="meter-mark critical" title={`critical at ${budget.critical_pct} %`} style={{ left: `${clampPct(budget.critical_pct)}%` }} />
        <span class="meter-mark limit" title="limit (100 %)" style={{ left: "100%" }} />
      </div>
      <span class="meter-pct">{budget.pct} %</span>
    </div>
  );
}

function clampPct(text: string): number {
  const value = Number(text);
  return Number.isFinite(value) ? Math.max(0, Math.min(100, value)) : 0;
}

function BudgetForm({ budget, onDone }: { budget: Budget | null; onDone: (saved: boolean) => void }) {
  const [id, setId] = useState(budget?.id ?? "");
  const [scope, setScope] = useState<BudgetScope>(budget?.scope ?? "organization");
  const [target, setTarget] = useState(budget?.target ?? "");
  const [limit, setLimit] = useState(budget?.limit ?? "");
  const [warning, setWarning] = useState(budget?.warning_pct ?? "75");
  const [critical, setCritical] = useState(budget?.critical_pct ?? "90");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [localError, setLocalError] = useState<string | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  useEffect(() => {
    // Edit/New open the form below the table: take the keyboard there.
    const first = formRef.current?.querySelector<HTMLElement>("input:not([readonly]), select");
    first?.focus();
    formRef.current?.scrollIntoView?.({ block: "nearest" });
  }, []);
  const errors = fieldErrors(error);
  const heading = budget ? `Edit budget ${budget.id}` : "New budget";

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!id.trim()) {
      setError(null);
      setLocalError("Give the budget an id.");
      return;
    }
    setLocalError(null);
    setBusy(true);
    setError(null);
    try {
      await api.putBudget(id.trim(), {
        scope,
        target: scope === "organization" ? null : target.trim(),
        period: budget?.period ?? "monthly",
        limit: limit.trim(),
        warning_pct: warning.trim(),
        critical_pct: critical.trim(),
      });
      onDone(true);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form ref={formRef} class="card form-grid" onSubmit={submit} noValidate aria-labelledby="budget-form-heading" data-admin-control>
      <h3 id="budget-form-heading">{heading}</h3>
      <Field id="budget-id" name="id" label="Budget id" error={localError ?? undefined} hint="Letters, digits and . _ : -">
        {(aria) => (
          <input {...aria} type="text" value={id} readOnly={budget !== null} onInput={(event) => setId((event.target as HTMLInputElement).value)} />
        )}
      </Field>
      <Field id="budget-scope" name="scope" label="Scope" error={errors.scope}>
        {(aria) => (
          <select {...aria} value={scope} onChange={(event) => setScope((event.target as HTMLSelectElement).value as BudgetScope)}>
            <option value="organization">organization</option>
            <option value="feature">feature</option>
            <option value="customer">customer</option>
          </select>
        )}
      </Field>
      <Field id="budget-target" name="target" label="Target" error={errors.target} hint={scope === "organization" ? "Not used for the whole organization." : `The ${scope} id.`}>
        {(aria) => (
          <input {...aria} type="text" value={scope === "organization" ? "" : target} disabled={scope === "organization"} onInput={(event) => setTarget((event.target as HTMLInputElement).value)} />
        )}
      </Field>
      <Field id="budget-limit" name="limit" label="Limit" error={errors.limit} hint="USD per month, e.g. 600.00">
        {(aria) => <input {...aria} type="text" inputMode="decimal" value={limit} onInput={(event) => setLimit((event.target as HTMLInputElement).value)} />}
      </Field>
      <Field id="budget-warning" name="warning_pct" label="Warning %" error={errors.warning_pct}>
        {(aria) => <input {...aria} type="text" inputMode="decimal" value={warning} onInput={(event) => setWarning((event.target as HTMLInputElement).value)} />}
      </Field>
      <Field id="budget-critical" name="critical_pct" label="Critical %" error={errors.critical_pct}>
        {(aria) => <input {...aria} type="text" inputMode="decimal" value={critical} onInput={(event) => setCritical((event.target as HTMLInputElement).value)} />}
      </Field>
      <ProblemBox error={error} shownFields={["scope", "target", "limit", "warning_pct", "critical_pct"]} />
      <div class="form-actions">
        <button type="submit" disabled={busy} data-admin-control>
          {busy ? "Saving…" : budget ? "Save budget" : "Create budget"}
        </button>{" "}
        <button type="button" class="secondary" data-admin-control onClick={() => onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

// Settings echoed in every alert's detail: noise in a one-line summary.
const SKIPPED_KEYS = new Set(["min_events", "min_cost", "baseline_days", "threshold_pct", "events_by_model", "currency", "month"]);
const MONEY_KEYS = new Set(["cost", "baseline_average", "previous_day_cost", "spent", "limit", "revenue", "margin"]);

/** An operational alert's detail in one line: its figures in words, not the raw JSON. */
export function detailSummary(alert: Alert): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(alert.detail ?? {})) {
    if (SKIPPED_KEYS.has(key) || value === null || value === undefined) continue;
    const label = key.replace(/_/g, " ");
    if (key === "customers" && Array.isArray(value)) {
      parts.push(`customers: ${value.map((item) => (item as { customer_id?: string }).customer_id ?? "?").join(", ")}`);
    } else if (Array.isArray(value)) {
      parts.push(`${label}: ${value.join(", ")}`);
    } else if (MONEY_KEYS.has(key)) {
      parts.push(`${label}: ${formatMoney(String(value))}`);
    } else if (key.endsWith("_pct")) {
      parts.push(`${label}: ${String(value)} %`);
    } else if (typeof value !== "object") {
      parts.push(key === "action" ? String(value) : `${label}: ${String(value)}`);
    }
  }
  return parts.join(" · ");
}

function thresholdText(alert: Alert): string {
  if (!alert.threshold) return "—";
  const pct = alert.detail?.threshold_pct;
  return pct === undefined || pct === null ? alert.threshold : `${alert.threshold} (${String(pct)} %)`;
}

function AlertsTable({ alerts, month }: { alerts: Alert[]; month: string }) {
  const columns: Column<Alert>[] = [
    { key: "time", label: "Time (UTC)", value: (row) => row.time, render: (row) => <time dateTime={row.time}>{formatUtc(row.time)}</time> },
    { key: "kind", label: "Kind", value: (row) => row.kind, render: (row) => <code>{row.kind}</code> },
    { key: "subject", label: "Subject", value: (row) => row.subject },
    { key: "threshold", label: "Threshold", value: (row) => thresholdText(row) },
    {
      key: "value",
      label: "Value / spent / limit, or detail",
      value: (row) => (row.budget_id ? `${row.value ?? ""} / ${row.spent ?? ""} / ${row.limit ?? ""}` : detailSummary(row)),
      render: (row) =>
        row.budget_id ? (
          <>
            {row.value !== null ? `${row.value} %` : "—"} · <Money amount={row.spent} /> of <Money amount={row.limit} />
          </>
        ) : (
          detailSummary(row) || "—"
        ),
    },
  ];
  return (
    <DataTable
      testid="alerts-table"
      caption={`Alert history table, ${month}`}
      captionHidden
      columns={columns}
      rows={alerts}
      rowKey={(row) => `${row.time}|${row.kind}|${row.subject}`}
      rowAttrs={(row) => ({ "data-kind": row.kind })}
      defaultSort={{ key: "time", direction: "descending" }}
      defaultCompare={(x, y) => (x.time < y.time ? 1 : x.time > y.time ? -1 : 0)}
      filename={csvFilename("alerts", month)}
      empty="No alerts were sent in this month."
    />
  );
}
