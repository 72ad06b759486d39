import { useEffect, useRef, useState } from "preact/hooks";
import { api, fieldErrors } from "../api.ts";
import { Field, Loading, MonthSelect, PageHeading, ProblemBox } from "../components/common.tsx";
import { DataTable, type Column } from "../components/DataTable.tsx";
import { Money } from "../components/Money.tsx";
import { csvFilename } from "../csv.ts";
import { formatUtc, monthBounds } from "../dates.ts";
import { addDecimal } from "../decimal.ts";
import { useApi } from "../hooks.ts";
import { formatCount } from "../money.ts";
import { href, navigate } from "../router.ts";
import type { Model, Prices, QualityScore, RepriceResult, UnpricedModels } from "../types.ts";

const PAGE = 20;
const QUALITY_INDEXES = ["arena_text", "aa_intelligence", "aider_polyglot", "arena_code"];

export function ModelsView({ month, admin, selected }: { month: string; admin: boolean; selected: string | null }) {
  const prices = useApi((signal) => api.prices(signal), []);
  const modelLink = (id: string) => href("models", { month, model: id });
  return (
    <>
      <PageHeading>Models and prices</PageHeading>
      <UnpricedSection month={month} admin={admin} />
      <ModelSearch modelLink={modelLink} />
      {selected && <ModelDetail id={selected} admin={admin} onClose={() => navigate(href("models", { month }))} />}
      <section aria-labelledby="prices-heading">
        <h2 id="prices-heading">Price table</h2>
        {prices.loading && !prices.data && <Loading what="Loading the price table…" />}
        <ProblemBox error={prices.error} />
        {prices.data && <PriceTable prices={prices.data} admin={admin} onChanged={prices.reload} month={month} />}
      </section>
      {admin && (
        <section aria-labelledby="admin-prices-heading">
          <h2 id="admin-prices-heading">Change prices</h2>
          <div class="forms">
            <OverrideForm onSaved={prices.reload} />
            <AliasForm onSaved={prices.reload} />
            <QualityForm />
          </div>
        </section>
      )}
    </>
  );
}

function ModelSearch({ modelLink }: { modelLink: (id: string) => string }) {
  const [typed, setTyped] = useState("");
  const [query, setQuery] = useState("");
  const [models, setModels] = useState<Model[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const load = async (q: string, after: string | null, signal?: AbortSignal) => {
    setBusy(true);
    setError(null);
    try {
      const page = await api.models({ q, limit: PAGE, cursor: after }, signal);
      if (signal?.aborted) return;
      setModels((previous) => (after ? [...previous, ...page.data] : page.data));
      setTotal(page.total);
      setCursor(page.next_cursor);
    } catch (caught) {
      if (!signal?.aborted && !(caught instanceof DOMException)) setError(caught);
    } finally {
      if (!signal?.aborted) setBusy(false);
    }
  };

  useEffect(() => {
    const controller = new AbortController();
    void load(query, null, controller.signal);
    return () => controller.abort();
  }, [query]);

  // Typing searches after a short pause; Enter searches at once.
  useEffect(() => {
    const timer = setTimeout(() => setQuery(typed.trim()), 300);
    return () => clearTimeout(timer);
  }, [typed]);

  const columns: Column<Model>[] = [
    { key: "id", label: "Model", value: (row) => row.id, render: (row) => <a href={modelLink(row.id)}>{row.id}</a> },
    { key: "name", label: "Name", value: (row) => row.name },
    { key: "provider", label: "Provider", value: (row) => row.provider },
    priceColumn("input", "Input / MTok"),
    priceColumn("output", "Output / MTok"),
    { key: "price_source", label: "Price source", value: (row) => row.price_source },
  ];

  return (
    <section aria-labelledby="search-heading">
      <h2 id="search-heading">Price database</h2>
      <form
        class="search"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          setQuery(typed.trim());
        }}
      >
        <div class="field inline">
          <label for="model-q">Model name</label>
          <input id="model-q" type="search" value={typed} placeholder="gpt-4o, claude, gemini…" spellcheck={false} onInput={(event) => setTyped((event.target as HTMLInputElement).value)} />
        </div>
        <button type="submit">Search</button>
      </form>
      <p data-testid="models-total" aria-live="polite" class="subtle">
        {total === null ? "" : `${formatCount(total)} ${total === 1 ? "model matches" : "models match"}${query ? ` “${query}”` : ""}; showing ${formatCount(models.length)}.`}
      </p>
      <ProblemBox error={error} />
      {total === null && busy ? (
        <Loading what="Searching…" />
      ) : (
        <DataTable
          testid="models-table"
          caption="Models in the price database"
          captionHidden
          columns={columns}
          rows={models}
          rowKey={(row) => row.id}
          rowAttrs={(row) => ({ "data-model-id": row.id })}
          filename={csvFilename("models", query || "all")}
          empty="No model matches."
        />
      )}
      {cursor && (
        <button type="button" class="secondary" disabled={busy} onClick={() => void load(query, cursor)}>
          {busy ? "Loading…" : "Load more"}
        </button>
      )}
    </section>
  );
}

function priceColumn(key: "input" | "output" | "cache_read" | "cache_write", label: string): Column<Model> {
  return {
    key,
    label,
    kind: "decimal",
    value: (row) => row.prices_per_mtok[key] ?? null,
    render: (row) => <Money amount={row.prices_per_mtok[key] ?? null} exact missingTitle="no price published" />,
  };
}

function ModelDetail({ id, admin, onClose }: { id: string; admin: boolean; onClose: () => void }) {
  const model = useApi((signal) => api.model(id, signal), [id]);
  const data = model.data;
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // Opened from a row of the list above: bring it into view and announce it.
    heading.current?.scrollIntoView?.({ block: "start" });
    heading.current?.focus({ preventScroll: true });
  }, [id]);
  return (
    <section aria-labelledby="model-detail-heading" class="card" data-testid="model-detail">
      <div class="card-head">
        <h2 id="model-detail-heading" ref={heading} tabIndex={-1}>{data ? data.name || data.id : id}</h2>
        <button type="button" class="secondary small" onClick={onClose}>
          Close
        </button>
      </div>
      {model.loading && !data && <Loading what="Loading the model…" />}
      <ProblemBox error={model.error} />
      {data && (
        <>
          <dl class="facts">
            <dt>Id</dt>
            <dd>
              <code>{data.id}</code>
              {data.deprecated && <span class="tag">deprecated</span>}
              {data.tiered && <span class="tag">tiered prices</span>}
            </dd>
            <dt>Provider</dt>
            <dd>{data.provider}</dd>
            <dt>Input / MTok</dt>
            <dd><Money amount={data.prices_per_mtok.input ?? null} exact missingTitle="no price published" /></dd>
            <dt>Output / MTok</dt>
            <dd><Money amount={data.prices_per_mtok.output ?? null} exact missingTitle="no price published" /></dd>
            <dt>Cache read / MTok</dt>
            <dd><Money amount={data.prices_per_mtok.cache_read ?? null} exact missingTitle="no cache price published" /></dd>
            <dt>Cache write / MTok</dt>
            <dd><Money amount={data.prices_per_mtok.cache_write ?? null} exact missingTitle="no cache price published" /></dd>
            <dt>Price source</dt>
            <dd>{data.price_source}</dd>
            <dt>Snapshot</dt>
            <dd>
              {data.snapshot.version} ({data.snapshot.source}), fetched {data.snapshot.fetched_at ? formatUtc(data.snapshot.fetched_at) : "— (bundled)"}
            </dd>
          </dl>
          <h3>Quality scores</h3>
          <QualityTable scores={data.quality} model={data.id} />
          {admin && <p class="subtle">Set a score with the quality form below (model <code>{data.id}</code>).</p>}
        </>
      )}
    </section>
  );
}

function QualityTable({ scores, model }: { scores: QualityScore[]; model: string }) {
  const columns: Column<QualityScore>[] = [
    { key: "index", label: "Index", value: (row) => row.index },
    { key: "score", label: "Score", kind: "decimal", value: (row) => row.score },
    { key: "source", label: "Source", value: (row) => row.source },
    { key: "date", label: "Date", value: (row) => row.date },
    { key: "origin", label: "Origin", value: (row) => row.origin },
  ];
  return (
    <DataTable
      testid="quality-table"
      caption={`Quality scores of ${model}`}
      captionHidden
      columns={columns}
      rows={scores}
      rowKey={(row) => row.index}
      filename={csvFilename("quality", model)}
      empty="No quality score on any index."
    />
  );
}

function PriceTable({ prices, admin, onChanged, month }: { prices: Prices; admin: boolean; onChanged: () => void; month: string }) {
  const [refreshing, setRefreshing] = useState(false);
  const [refreshResult, setRefreshResult] = useState<string | null>(null);
  const [refreshError, setRefreshError] = useState<unknown>(null);
  const { current, sync } = prices;

  const refresh = async () => {
    setRefreshing(true);
    setRefreshError(null);
    setRefreshResult(null);
    try {
      const result = await api.refreshPrices();
      setRefreshResult(result.status === "refreshed" ? `Refreshed: now ${result.snapshot.version}.` : `Unchanged: ${result.snapshot.version} is the newest.`);
      onChanged();
    } catch (caught) {
      setRefreshError(caught);
      onChanged(); // a refused refresh is recorded in the sync status too
    } finally {
      setRefreshing(false);
    }
  };

  type Override = Prices["overrides"][number];
  const overrideColumns: Column<Override>[] = [
    { key: "model", label: "Model", value: (row) => row.model, render: (row) => <code>{row.model}</code> },
    { key: "provider", label: "Provider", value: (row) => row.provider },
    { key: "effective_from", label: "Effective from (UTC)", value: (row) => row.effective_from, render: (row) => formatUtc(row.effective_from) },
    ...(["input", "output", "cache_read", "cache_write"] as const).map(
      (key): Column<Override> => ({
        key,
        label: `${key.replace("_", " ")} / MTok`,
        kind: "decimal",
        value: (row) => row.prices_per_mtok[key] ?? null,
        render: (row) => <Money amount={row.prices_per_mtok[key] ?? null} exact missingTitle="not set" />,
      }),
    ),
  ];
  type AliasRow = Prices["aliases"][number];
  const aliasColumns: Column<AliasRow>[] = [
    { key: "alias", label: "Alias", value: (row) => row.alias, render: (row) => <code>{row.alias}</code> },
    { key: "model", label: "Model", value: (row) => row.model, render: (row) => <a href={href("models", { month, model: row.model })}>{row.model}</a> },
  ];

  return (
    <>
      <div class="card">
        <h3>Snapshot in force</h3>
        <dl class="facts">
          <dt>Version</dt>
          <dd data-testid="snapshot-version">{current.version}</dd>
          <dt>Source</dt>
          <dd>{current.source}</dd>
          <dt>Fetched</dt>
          <dd>{current.fetched_at ? formatUtc(current.fetched_at) : "— (bundled with this release)"}</dd>
          <dt>Models</dt>
          <dd>{formatCount(current.model_count)}</dd>
        </dl>
        <h3>Price sync</h3>
        {sync ? (
          <dl class="facts" data-testid="price-sync">
            <dt>Last attempt</dt>
            <dd>{formatUtc(sync.last_attempt_at)}</dd>
            <dt>Last success</dt>
            <dd>{formatUtc(sync.last_success_at)}</dd>
            <dt>Last status</dt>
            <dd>
              <span class="state" data-state={sync.last_status === "refused" ? "critical" : "ok"}>{sync.last_status ?? "never run"}</span>
              {sync.last_reason ? ` — ${sync.last_reason}` : ""}
            </dd>
            <dt>Last 7 days</dt>
            <dd>
              {sync.successes_7d} of {sync.attempts_7d} refreshes succeeded{sync.success_rate_7d !== null ? ` (${sync.success_rate_7d} %)` : ""}
            </dd>
          </dl>
        ) : (
          <p class="subtle">No sync status from this API version.</p>
        )}
        {admin && (
          <p>
            <button type="button" data-admin-control disabled={refreshing} onClick={() => void refresh()}>
              {refreshing ? "Refreshing…" : "Refresh prices now"}
            </button>{" "}
            {refreshResult && <span role="status">{refreshResult}</span>}
          </p>
        )}
        <ProblemBox error={refreshError} />
      </div>
      <h3>Overrides</h3>
      <DataTable
        testid="overrides-table"
        caption="Price overrides and custom models"
        captionHidden
        columns={overrideColumns}
        rows={prices.overrides}
        rowKey={(row) => row.key}
        rowAttrs={(row) => ({ "data-model": row.model })}
        filename={csvFilename("price-overrides")}
        empty="No overrides: every price comes from the snapshot."
      />
      {prices.ignored_overrides.length > 0 && (
        <div class="problem">
          <p>These overrides price nothing:</p>
          <ul>
            {prices.ignored_overrides.map((row) => (
              <li key={row.key}>
                <code>{row.model}</code> from {formatUtc(row.effective_from)}: {row.reason}
              </li>
            ))}
          </ul>
        </div>
      )}
      <h3>Aliases</h3>
      <DataTable
        testid="aliases-table"
        caption="Model aliases (deployment names)"
        captionHidden
        columns={aliasColumns}
        rows={prices.aliases}
        rowKey={(row) => row.alias}
        rowAttrs={(row) => ({ "data-alias": row.alias })}
        filename={csvFilename("model-aliases")}
        empty="No aliases."
      />
    </>
  );
}

function useForm() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const run = async (action: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      setDone(await action());
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, done, run, errors: fieldErrors(error) };
}

function OverrideForm({ onSaved }: { onSaved: () => void }) {
  const [model, setModel] = useState("");
  const [values, setValues] = useState({ input_per_mtok: "", output_per_mtok: "", cache_read_per_mtok: "", cache_write_per_mtok: "", effective_from: "" });
  const form = useForm();
  const set = (key: keyof typeof values) => (event: Event) => setValues({ ...values, [key]: (event.target as HTMLInputElement).value });
  const submit = (event: Event) => {
    event.preventDefault();
    void form.run(async () => {
      const body: Record<string, string | null> = {
        input_per_mtok: values.input_per_mtok.trim(),
        output_per_mtok: values.output_per_mtok.trim(),
        cache_read_per_mtok: values.cache_read_per_mtok.trim() || null,
        cache_write_per_mtok: values.cache_write_per_mtok.trim() || null,
        // datetime-local has no zone: the label says UTC, so it is sent as UTC.
        effective_from: values.effective_from ? `${values.effective_from.length === 16 ? values.effective_from + ":00" : values.effective_from}Z` : null,
      };
      await api.putPrice(model.trim(), body);
      onSaved();
      return `Override saved for ${model.trim()}. Reprice past events to apply it to them.`;
    });
  };
  const fields: Array<[keyof typeof values, string]> = [
    ["input_per_mtok", "Input per MTok (USD)"],
    ["output_per_mtok", "Output per MTok (USD)"],
    ["cache_read_per_mtok", "Cache read per MTok (USD)"],
    ["cache_write_per_mtok", "Cache write per MTok (USD)"],
  ];
  return (
    <form class="card form-grid" onSubmit={submit} noValidate data-admin-control aria-labelledby="override-heading">
      <h3 id="override-heading">Price override</h3>
      <Field id="override-model" name="model" label="Model" hint="A known model, or a new custom one">
        {(aria) => <input {...aria} type="text" spellcheck={false} value={model} onInput={(event) => setModel((event.target as HTMLInputElement).value)} />}
      </Field>
      {fields.map(([key, label]) => (
        <Field key={key} id={`override-${key}`} name={key} label={label} error={form.errors[key]}>
          {(aria) => <input {...aria} type="text" inputMode="decimal" value={values[key]} onInput={set(key)} />}
        </Field>
      ))}
      <Field id="override-effective" name="effective_from" label="Effective from (UTC)" error={form.errors.effective_from} hint="Empty: now">
        {(aria) => <input {...aria} type="datetime-local" value={values.effective_from} onInput={set("effective_from")} />}
      </Field>
      <ProblemBox error={form.error} shownFields={[...fields.map(([key]) => key), "effective_from"]} />
      {form.done && <p role="status">{form.done}</p>}
      <div class="form-actions">
        <button type="submit" data-admin-control disabled={form.busy || !model.trim()}>
          Save override
        </button>
      </div>
    </form>
  );
}

function AliasForm({ onSaved }: { onSaved: () => void }) {
  const [alias, setAlias] = useState("");
  const [model, setModel] = useState("");
  const form = useForm();
  const submit = (event: Event) => {
    event.preventDefault();
    void form.run(async () => {
      await api.putAlias(alias.trim(), model.trim());
      onSaved();
      return `Alias ${alias.trim()} now maps to ${model.trim()}.`;
    });
  };
  return (
    <form class="card form-grid" onSubmit={submit} noValidate data-admin-control aria-labelledby="alias-heading">
      <h3 id="alias-heading">Model alias</h3>
      <Field id="alias-name" name="alias" label="Alias" hint="A deployment name, e.g. my-azure-gpt4o">
        {(aria) => <input {...aria} type="text" spellcheck={false} value={alias} onInput={(event) => setAlias((event.target as HTMLInputElement).value)} />}
      </Field>
      <Field id="alias-model" name="model" label="Model" error={form.errors.model}>
        {(aria) => <input {...aria} type="text" spellcheck={false} value={model} onInput={(event) => setModel((event.target as HTMLInputElement).value)} />}
      </Field>
      <ProblemBox error={form.error} shownFields={["model"]} />
      {form.done && <p role="status">{form.done}</p>}
      <div class="form-actions">
        <button type="submit" data-admin-control disabled={form.busy || !alias.trim()}>
          Save alias
        </button>
      </div>
    </form>
  );
}

function QualityForm() {
  const [model, setModel] = useState("");
  const [index, setIndex] = useState("arena_text");
  const [score, setScore] = useState("");
  const [source, setSource] = useState("set by user");
  const form = useForm();
  const submit = (event: Event) => {
    event.preventDefault();
    void form.run(async () => {
      await api.putQuality(model.trim(), { index, score: score.trim(), source: source.trim() || "set by user" });
      return `Score ${score.trim()} on ${index} saved for ${model.trim()}.`;
    });
  };
  return (
    <form class="card form-grid" onSubmit={submit} noValidate data-admin-control aria-labelledby="quality-heading">
      <h3 id="quality-heading">Quality score</h3>
      <Field id="quality-model" name="model" label="Model">
        {(aria) => <input {...aria} type="text" spellcheck={false} value={model} onInput={(event) => setModel((event.target as HTMLInputElement).value)} />}
      </Field>
      <Field id="quality-index" name="index" label="Index" error={form.errors.index}>
        {(aria) => (
          <select {...aria} value={index} onChange={(event) => setIndex((event.target as HTMLSelectElement).value)}>
            {QUALITY_INDEXES.map((item) => (
              <option key={item} value={item}>
                {item}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field id="quality-score" name="score" label="Score" error={form.errors.score}>
        {(aria) => <input {...aria} type="text" inputMode="decimal" value={score} onInput={(event) => setScore((event.target as HTMLInputElement).value)} />}
      </Field>
      <Field id="quality-source" name="source" label="Source" error={form.errors.source}>
        {(aria) => <input {...aria} type="text" value={source} onInput={(event) => setSource((event.target as HTMLInputElement).value)} />}
      </Field>
      <ProblemBox error={form.error} shownFields={["index", "score", "source"]} />
      {form.done && <p role="status">{form.done}</p>}
      <div class="form-actions">
        <button type="submit" data-admin-control disabled={form.busy || !model.trim()}>
          Save score
        </button>
      </div>
    </form>
  );
}

function UnpricedSection({ month, admin }: { month: string; admin: boolean }) {
  const unpriced = useApi((signal) => api.unpricedModels(month, signal), [month]);
  const [result, setResult] = useState<RepriceResult | null>(null);
  const [progress, setProgress] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const reprice = async () => {
    setError(null);
    setResult(null);
    const { from, to } = monthBounds(month);
    let start = from;
    let total: RepriceResult | null = null;
    try {
      // The API stops at its time limit and says where to go on: call again until complete.
      for (let round = 1; round <= 100; round += 1) {
        setProgress(`Repricing from ${start}… (pass ${round})`);
        const part = await api.reprice({ from: start, to, only_unpriced: true });
        total = total
          ? {
              ...part,
              period: { from, to },
              events_examined: total.events_examined + part.events_examined,
              events_changed: total.events_changed + part.events_changed,
              unpriced_before: total.unpriced_before,
              old_cost: addDecimal(total.old_cost, part.old_cost) ?? part.old_cost,
              new_cost: addDecimal(total.new_cost, part.new_cost) ?? part.new_cost,
              cost_delta: addDecimal(total.cost_delta, part.cost_delta) ?? part.cost_delta,
            }
          : part;
        if (part.complete || !part.next_from) break;
        start = part.next_from.slice(0, 10);
      }
      setResult(total);
      unpriced.reload();
    } catch (caught) {
      setError(caught);
    } finally {
      setProgress(null);
    }
  };

  type Row = UnpricedModels["data"][number];
  const columns: Column<Row>[] = [
    { key: "model", label: "Model (as sent)", value: (row) => row.model, render: (row) => <code>{row.model}</code> },
    { key: "feature", label: "Feature", value: (row) => row.feature },
    { key: "events", label: "Events", kind: "number", value: (row) => row.events, render: (row) => formatCount(row.events) },
    { key: "unpriced_events", label: "Unpriced events", kind: "number", value: (row) => row.unpriced_events, render: (row) => formatCount(row.unpriced_events) },
  ];

  return (
    <section aria-labelledby="unpriced-heading">
      <div class="section-head">
        <h2 id="unpriced-heading">Unpriced models in {month}</h2>
        <MonthSelect id="unpriced-month" value={month} onChange={(next) => navigate(href("models", { month: next }))} />
      </div>
      <p class="subtle">
        Events on a model MarginLens has no price for are stored with no cost (never a silent zero). Override its price or map
        it with an alias, then reprice the month.
      </p>
      {unpriced.loading && !unpriced.data && <Loading what="Loading unpriced models…" />}
      <ProblemBox error={unpriced.error} />
      {unpriced.data && (
        <>
          <p data-testid="unpriced-total">{formatCount(unpriced.data.unpriced_events)} unpriced events in {month}.</p>
          <DataTable
            testid="unpriced"
            caption={`Models of unpriced events, ${month}`}
            captionHidden
            columns={columns}
            rows={unpriced.data.data}
            rowKey={(row) => `${row.model}|${row.feature}`}
            rowAttrs={(row) => ({ "data-model": row.model, "data-feature": row.feature })}
            defaultSort={{ key: "unpriced_events", direction: "descending" }}
            defaultCompare={(x, y) => y.unpriced_events - x.unpriced_events}
            filename={csvFilename("unpriced-models", month)}
            empty="Every event of this month is priced."
          />
        </>
      )}
      {admin && (
        <p>
          <button type="button" data-admin-control data-testid="reprice" disabled={progress !== null} onClick={() => void reprice()}>
            Reprice {month}
          </button>{" "}
          {progress && <span role="status">{progress}</span>}
        </p>
      )}
      <ProblemBox error={error} />
      {result && (
        <div class="card" data-testid="reprice-result" role="status">
          <p>
            Repriced {result.period.from} to {result.period.to} with price table {result.price_table}:{" "}
            <strong data-field="events_changed">{formatCount(result.events_changed)}</strong> events changed,{" "}
            <strong data-field="unpriced_after">{formatCount(result.unpriced_after)}</strong> still unpriced, cost moved by{" "}
            <Money amount={result.cost_delta} />.
          </p>
        </div>
      )}
    </section>
  );
}
