import { useEffect, useMemo, useState } from "preact/hooks";
import { api, fieldErrors } from "../api.ts";
import { Field, Loading, PageHeading, ProblemBox } from "../components/common.tsx";
import { DataTable, type Column } from "../components/DataTable.tsx";
import { Money, Pct } from "../components/Money.tsx";
import { csvFilename } from "../csv.ts";
import { currentMonth, monthsEnding } from "../dates.ts";
import { useApi } from "../hooks.ts";
import { formatCount } from "../money.ts";
import { href, navigate } from "../router.ts";
import type { Simulation, SimulationRow } from "../types.ts";

export function SimulatorView({ month }: { month: string }) {
  const [feature, setFeature] = useState("");
  const [customer, setCustomer] = useState("");
  const [fromModel, setFromModel] = useState("");
  const [toModel, setToModel] = useState("");
  const [result, setResult] = useState<Simulation | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  // min_cost=0 and limit=1: every feature and model pair of the month, not only the costly ones.
  const groups = useApi((signal) => api.recommendations({ month, min_cost: "0", limit: 1 }, signal), [month]);
  const pnl = useApi((signal) => api.pnl(month, signal), [month]);
  const suggestions = useModelSuggestions(toModel);

  const features = useMemo(
    () => [...new Set((groups.data?.groups ?? []).map((group) => group.feature))].sort(),
    [groups.data],
  );
  const currentModels = useMemo(
    () =>
      [
        ...new Set(
          (groups.data?.groups ?? [])
            .filter((group) => !feature || group.feature === feature)
            .map((group) => group.current_model),
        ),
      ].sort(),
    [groups.data, feature],
  );
  useEffect(() => {
    if (fromModel && !currentModels.includes(fromModel)) setFromModel("");
  }, [currentModels]);

  const [localError, setLocalError] = useState<string | null>(null);
  const errors: Record<string, string> = { ...fieldErrors(error), ...(localError ? { to_model: localError } : {}) };
  const months = monthsEnding(currentMonth(), 12).reverse();
  if (!months.includes(month)) months.push(month);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!toModel.trim()) {
      setLocalError("Give the model to re-price on, e.g. gpt-4o-mini.");
      document.getElementById("sim-to")?.focus();
      return;
    }
    setLocalError(null);
    setBusy(true);
    setError(null);
    const body: Record<string, string> = { month, to_model: toModel.trim() };
    if (feature) body.feature = feature;
    if (customer) body.customer_id = customer;
    if (fromModel) body.from_model = fromModel;
    try {
      setResult(await api.simulate(body));
    } catch (caught) {
      setError(caught);
      setResult(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageHeading>Simulator</PageHeading>
      <p>Re-price a month's usage on another model: what the same calls would have cost.</p>
      <form class="card form-grid" onSubmit={submit} noValidate aria-labelledby="sim-form-heading">
        <h2 id="sim-form-heading" class="visually-hidden">
          Simulation
        </h2>
        <Field id="sim-month" name="month" label="Month" error={errors.month}>
          {(aria) => (
            <select {...aria} value={month} onChange={(event) => navigate(href("simulator", { month: (event.target as HTMLSelectElement).value }))}>
              {months.map((item) => (
                <option key={item} value={item}>
                  {item}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="sim-feature" name="feature" label="Feature" error={errors.feature}>
          {(aria) => (
            <select {...aria} value={feature} onChange={(event) => setFeature((event.target as HTMLSelectElement).value)}>
              <option value="">All features</option>
              {features.map((item) => (
                <option key={item} value={item}>
                  {item}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="sim-customer" name="customer_id" label="Customer" error={errors.customer_id}>
          {(aria) => (
            <select {...aria} value={customer} onChange={(event) => setCustomer((event.target as HTMLSelectElement).value)}>
              <option value="">All customers</option>
              {(pnl.data?.customers ?? []).map((row) => (
                <option key={row.customer_id} value={row.customer_id}>
                  {row.name ? `${row.name} (${row.customer_id})` : row.customer_id}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="sim-from" name="from_model" label="Current model" error={errors.from_model}>
          {(aria) => (
            <select {...aria} value={fromModel} onChange={(event) => setFromModel((event.target as HTMLSelectElement).value)}>
              <option value="">Any</option>
              {currentModels.map((item) => (
                <option key={item} value={item}>
                  {item}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="sim-to" name="to_model" label="Target model" error={errors.to_model} hint="Type to search the price database, e.g. gpt-4o-mini.">
          {(aria) => (
            <input
              {...aria}
              type="text"
              list="sim-to-models"
              autocomplete="off"
              spellcheck={false}
              required
              value={toModel}
              onInput={(event) => setToModel((event.target as HTMLInputElement).value)}
            />
          )}
        </Field>
        <datalist id="sim-to-models">
          {suggestions.map((id) => (
            <option key={id} value={id} />
          ))}
        </datalist>
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            {busy ? "Simulating…" : "Simulate"}
          </button>
        </div>
      </form>
      <ProblemBox error={groups.error} />
      <ProblemBox error={error} shownFields={Object.keys(errors).filter((key) => ["month", "feature", "customer_id", "from_model", "to_model"].includes(key))} />
      {busy && <Loading what="Simulating…" />}
      {result && <SimulationResult result={result} month={month} />}
    </>
  );
}

/** Model ids for the datalist: GET /v1/models?q=<typed>&limit=20, debounced. */
function useModelSuggestions(typed: string): string[] {
  const [ids, setIds] = useState<string[]>([]);
  useEffect(() => {
    const query = typed.trim();
    if (query.length < 2) {
      setIds([]);
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      api.models({ q: query, limit: 20 }, controller.signal).then(
        (list) => setIds(list.data.map((model) => model.id)),
        () => setIds([]),
      );
    }, 200);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [typed]);
  return ids;
}

const FLAG_TEXT = {
  cache_priced_as_input:
    "Cached input tokens are priced as ordinary input on the target model (it publishes no cache price), so the simulated cost is an upper bound.",
  tiered_prices_at_base:
    "The target model has tiered prices (by prompt length); usage is priced at its base tier.",
  time_of_day_approximate:
    "The target's prices change with the time of day and some usage has no known half-hour; that usage is priced approximately.",
};

function SimulationResult({ result, month }: { result: Simulation; month: string }) {
  const { currency, totals } = result;
  const money = (key: "cost" | "simulated_cost" | "savings", label: string): Column<SimulationRow> => ({
    key,
    label,
    kind: "decimal",
    value: (row) => row[key],
    render: (row) => <Money amount={row[key]} currency={currency} missingTitle="unpriced events: no simulated figure" />,
  });
  const columns: Column<SimulationRow>[] = [
    { key: "feature", label: "Feature", value: (row) => row.feature },
    { key: "current_model", label: "Current model", value: (row) => row.current_model, render: (row) => <code>{row.current_model}</code> },
    { key: "events", label: "Events", kind: "number", value: (row) => row.events, render: (row) => formatCount(row.events) },
    money("cost", "Cost"),
    money("simulated_cost", "Simulated cost"),
    money("savings", "Savings"),
    { key: "savings_pct", label: "Savings %", kind: "decimal", value: (row) => row.savings_pct, render: (row) => <Pct value={row.savings_pct} missingTitle="no savings figure (unpriced or zero cost)" /> },
  ];
  const notes: Array<{ key: string; text: string }> = [];
  result.rows.forEach((row) => {
    row.notes.forEach((note, index) => notes.push({ key: `n-${row.feature}-${row.current_model}-${index}`, text: `${row.feature} on ${row.current_model}: ${note}` }));
  });
  (Object.keys(FLAG_TEXT) as Array<keyof typeof FLAG_TEXT>).forEach((flag) => {
    const affected = result.rows.filter((row) => row[flag]);
    if (affected.length) {
      notes.push({
        key: flag,
        text: `${FLAG_TEXT[flag]} Rows: ${affected.map((row) => `${row.feature} on ${row.current_model}`).join(", ")}.`,
      });
    }
  });
  if (totals.unpriced_events > 0) {
    notes.push({
      key: "unpriced_events",
      text: `${formatCount(totals.unpriced_events)} events are unpriced on their current model, so they have no cost to compare; rows without a savings figure are left out of the totals (${totals.rows_compared} of ${result.rows.length} rows compared).`,
    });
  }
  notes.push({
    key: "price_source",
    text: `Target model ${result.to_model.id}${result.to_model.name ? ` (${result.to_model.name})` : ""} priced from ${result.to_model.price_source}.`,
  });

  return (
    <section aria-labelledby="sim-result-heading">
      <h2 id="sim-result-heading">
        On {result.to_model.id}: save <Money amount={totals.savings} currency={currency} focusable /> (<Pct value={totals.savings_pct} missingTitle="no cost to compare" />)
      </h2>
      <p class="subtle">
        {result.period.from} to {result.period.to} (UTC){result.customer_id ? `, customer ${result.customer_id}` : ", all customers"}.
      </p>
      <DataTable
        testid="simulation-table"
        caption={`Simulation on ${result.to_model.id}, ${month}`}
        captionHidden
        columns={columns}
        rows={result.rows}
        rowKey={(row) => `${row.feature}|${row.current_model}`}
        rowAttrs={(row) => ({ "data-feature": row.feature, "data-current-model": row.current_model })}
        filename={csvFilename("simulation", month, result.to_model.id)}
        empty="No usage matches these filters in this month."
        footer={{
          attrs: { "data-total": "" },
          cells: {
            feature: "Total",
            events: formatCount(totals.events),
            cost: <Money amount={totals.cost} currency={currency} />,
            simulated_cost: <Money amount={totals.simulated_cost} currency={currency} />,
            savings: <Money amount={totals.savings} currency={currency} />,
            savings_pct: <Pct value={totals.savings_pct} missingTitle="no cost to compare" />,
          },
          csv: ["Total", "", totals.events, totals.cost, totals.simulated_cost, totals.savings, totals.savings_pct],
        }}
      />
      <section aria-labelledby="sim-notes-heading" class="notes">
        <h3 id="sim-notes-heading">Caveats</h3>
        <ul data-testid="simulation-notes">
          {notes.map((note) => (
            <li key={note.key} data-note={note.key.startsWith("n-") ? "row" : note.key}>
              {note.text}
            </li>
          ))}
        </ul>
      </section>
    </section>
  );
}
