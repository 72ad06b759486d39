import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { copyText } from "../announce.ts";
import { ApiError } from "../api.ts";
import { currentMonth, monthsEnding } from "../dates.ts";
import type { Action } from "../types.ts";

const ACTION_LABELS: Record<Action, string> = {
  reprice_or_throttle: "Reprice or throttle",
  monitor: "Monitor",
  healthy: "Healthy",
};

export function ActionBadge({ action }: { action: Action }) {
  return (
    <span class="badge" data-action={action}>
      {ACTION_LABELS[action] ?? action}
    </span>
  );
}

export function Loading({ what = "Loading…" }: { what?: string }) {
  return (
    <div class="loading" role="status">
      <span class="skeleton" aria-hidden="true" />
      <span>{what}</span>
    </div>
  );
}

/** A problem+json answer: its detail, and per-field errors not shown beside a field. */
export function ProblemBox({ error, shownFields = [] }: { error: unknown; shownFields?: string[] }) {
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <div class="problem" role="alert">
        <p>Something went wrong: {String(error instanceof Error ? error.message : error)}</p>
      </div>
    );
  }
  const { problem, status } = error;
  const rest = (problem.errors ?? []).filter(
    (item) => !shownFields.includes((item.pointer || "").replace(/^\//, "").split("/")[0] ?? ""),
  );
  return (
    <div class="problem" role="alert" data-status={status}>
      <p>
        <strong>{problem.title || "Error"}{status ? ` (${status})` : ""}:</strong> {problem.detail || error.message}
      </p>
      {rest.length > 0 && (
        <ul>
          {rest.map((item) => (
            <li key={item.pointer}>
              <code>{item.pointer || "request"}</code>: {item.detail}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The "Month" selector: the last 12 UTC months (plus the chosen one if older). */
export function MonthSelect({ value, onChange, id = "month" }: { value: string; onChange: (month: string) => void; id?: string }) {
  const months = monthsEnding(currentMonth(), 12).reverse();
  if (!months.includes(value)) months.push(value);
  return (
    <div class="field inline">
      <label for={id}>Month</label>
      <select id={id} value={value} onChange={(event) => onChange((event.target as HTMLSelectElement).value)}>
        {months.map((month) => (
          <option key={month} value={month}>
            {month}
          </option>
        ))}
      </select>
    </div>
  );
}

/** The page's h1; focused after navigation so screen readers announce the new view. */
export function PageHeading({ children, actions }: { children: ComponentChildren; actions?: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (document.activeElement === document.body || document.activeElement?.closest("nav")) {
      ref.current?.focus({ preventScroll: true });
    }
  }, []);
  return (
    <div class="page-head">
      <h1 ref={ref} tabIndex={-1}>
        {children}
      </h1>
      {actions && <div class="page-actions">{actions}</div>}
    </div>
  );
}

interface FieldProps {
  id: string;
  /** The API's field name: where an error with pointer "/<name>" is shown. */
  name?: string;
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (aria: { id: string; "aria-invalid"?: "true"; "aria-describedby"?: string }) => ComponentChildren;
}

/** A labelled control with its hint and its error from the API (pointer "/limit" -> field limit). */
export function Field({ id, name, label, error, hint, children }: FieldProps) {
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class={error ? "field has-error" : "field"}>
      <label for={id}>{label}</label>
      {children({ id, ...(error ? { "aria-invalid": "true" as const } : {}), ...(described ? { "aria-describedby": described } : {}) })}
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={`${id}-error`} data-field-error={name ?? id}>
          {error}
        </p>
      )}
    </div>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  return (
    <button
      type="button"
      class="secondary small"
      onClick={() => void copyText(text)}
    >
      {label}
    </button>
  );
}
