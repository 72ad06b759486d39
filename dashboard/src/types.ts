// Shapes of the public API's JSON (docs/openapi.json). Amounts are exact decimal strings.

export type Scope = "read" | "admin" | "ingest";
export type Action = "reprice_or_throttle" | "monitor" | "healthy";

export interface FieldError {
  pointer: string;
  detail: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: FieldError[];
}

export interface WhoAmI {
  id: string;
  name: string;
  scope: Scope;
  prefix: string | null;
}

export interface Aggregates {
  caught_up: boolean;
  lag_seconds: number;
  oldest_pending_change: string | null;
}

export interface PnlTotals {
  revenue: string;
  cost: string;
  margin: string;
  margin_pct: string | null;
  events: number;
  unpriced_events: number;
  estimated_events: number;
  estimated_cost: string;
  unmapped_revenue: string;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface CustomerRow {
  customer_id: string;
  name: string | null;
  revenue: string;
  cost: string;
  margin: string;
  margin_pct: string | null;
  events: number;
  prompt_tokens: number;
  completion_tokens: number;
  unpriced_events: number;
  estimated_events: number;
  action: Action;
  negative_margin_months: number;
}

export interface PnlResponse {
  period: { from: string; to: string };
  currency: string;
  totals: PnlTotals;
  customers: CustomerRow[];
  aggregates: Aggregates;
}

export interface Breakdown {
  events: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost: string;
  estimated_cost: string;
  unpriced_events: number;
}

export interface DailyPoint extends Breakdown {
  day: string;
  revenue: string;
}

export interface CustomerPnl extends CustomerRow {
  period: { from: string; to: string };
  currency: string;
  daily: DailyPoint[];
  by_feature: Array<Breakdown & { feature: string }>;
  by_model: Array<Breakdown & { model: string }>;
  aggregates: Aggregates;
}

export interface QualityScore {
  index: string;
  score: string;
  source: string;
  source_url: string | null;
  date: string;
  origin: "published" | "user";
  listed_as?: string | null;
}

export interface Candidate {
  rank: number | null;
  model: string;
  name: string | null;
  quality: QualityScore | null;
  quality_change_pct?: string | null;
  quality_per_dollar: string | null;
  simulated_cost: string;
  savings: string;
  savings_pct: string | null;
  margin_after?: string | null;
  margin_pct_after?: string | null;
  cache_priced_as_input: boolean;
  tiered_prices_at_base: boolean;
  time_of_day_approximate: boolean;
}

export interface RecommendationGroup {
  feature: string;
  current_model: string;
  events: number;
  cost: string;
  unpriced_events: number;
  status: "ok" | "current_unscored" | "cost_incomplete" | "no_cheaper_candidate";
  current_quality: QualityScore | null;
  min_quality: string | null;
  candidates: Candidate[];
  unscored: Candidate[];
  more_candidates: number;
  more_unscored: number;
}

export interface Recommendations {
  period: { from: string; to: string };
  currency: string;
  quality_index: { id: string; name: string; scale: string; source: string; url: string; date: string };
  tolerance_pct: string;
  min_cost: string;
  below_min_cost: number;
  groups: RecommendationGroup[];
  customer: {
    customer_id: string;
    name: string | null;
    revenue: string;
    cost: string;
    margin: string;
    margin_pct: string | null;
    best_savings: string;
    margin_after_best: string;
    margin_pct_after_best: string | null;
    action: Action;
  } | null;
}

export interface SimulationRow {
  feature: string;
  current_model: string;
  simulated_model: string;
  events: number;
  unpriced_events: number;
  cost: string;
  simulated_cost: string | null;
  savings: string | null;
  savings_pct: string | null;
  notes: string[];
  cache_priced_as_input: boolean;
  tiered_prices_at_base: boolean;
  time_of_day_approximate: boolean;
}

export interface Simulation {
  period: { from: string; to: string };
  currency: string;
  customer_id: string | null;
  to_model: { requested: string; id: string; name: string | null; price_source: string };
  rows: SimulationRow[];
  totals: {
    events: number;
    unpriced_events: number;
    cost: string;
    simulated_cost: string;
    savings: string;
    savings_pct: string | null;
    rows_compared: number;
  };
}

export type BudgetScope = "organization" | "feature" | "customer";
export type BudgetState = "ok" | "warning" | "critical" | "exceeded";

export interface Budget {
  id: string;
  scope: BudgetScope;
  target: string | null;
  period: "monthly" | "daily";
  limit: string;
  warning_pct: string;
  critical_pct: string;
  current_period: string;
  spent: string;
  pct: string;
  state: BudgetState;
  created_at: string | null;
  updated_at: string | null;
}

export interface Alert {
  kind: string;
  subject: string;
  period: string;
  time: string;
  budget_id: string | null;
  threshold: string | null;
  value: string | null;
  spent: string | null;
  limit: string | null;
  detail: Record<string, unknown>;
}

export interface Snapshot {
  version: string;
  source: string;
  fetched_at: string | null;
  model_count: number;
}

export interface Model {
  id: string;
  provider: string;
  model: string;
  name: string | null;
  deprecated: boolean;
  tiered: boolean;
  prices_per_mtok: { input?: string | null; output?: string | null; cache_read?: string | null; cache_write?: string | null };
  price_source: string;
  snapshot: Snapshot;
  quality: QualityScore[];
}

export interface ModelList {
  data: Model[];
  total: number;
  next_cursor: string | null;
}

export interface PriceSync {
  last_attempt_at: string | null;
  last_success_at: string | null;
  last_status: "refreshed" | "unchanged" | "refused" | null;
  last_reason: string | null;
  attempts_7d: number;
  successes_7d: number;
  success_rate_7d: string | null;
}

export interface Prices {
  current: Snapshot;
  history: Snapshot[];
  overrides: Array<{ key: string; model: string; provider: string | null; effective_from: string; prices_per_mtok: Record<string, string> }>;
  ignored_overrides: Array<{ key: string; model: string; effective_from: string; reason: string }>;
  aliases: Array<{ alias: string; model: string }>;
  sync?: PriceSync;
}

export interface UnpricedModels {
  month: string;
  unpriced_events: number;
  data: Array<{ model: string; feature: string; events: number; unpriced_events: number }>;
}

export interface RepriceResult {
  period: { from: string; to: string };
  only_unpriced: boolean;
  events_examined: number;
  events_changed: number;
  unpriced_before: number;
  unpriced_after: number;
  old_cost: string;
  new_cost: string;
  cost_delta: string;
  complete: boolean;
  next_from: string | null;
  price_table: string;
  repriced_at: string;
}

export interface Check {
  id: string;
  title: string;
  status: "pass" | "fail";
  detail: string;
  missing: string[];
}

export interface Checks {
  checked_at: string;
  passed: number;
  total: number;
  checks: Check[];
}

export interface TestAlert {
  kind: "test_alert";
  subject: string;
  time: string;
  channels: string[];
}

export interface UnmappedRevenue {
  data: Array<{
    id: string;
    kind: string;
    amount: string;
    currency: string;
    occurred_at: string | null;
    stripe_customer_id: string;
    stripe_customer_name: string | null;
    stripe_customer_email: string | null;
  }>;
  totals: Record<string, string>;
}
