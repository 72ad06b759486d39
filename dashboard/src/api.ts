// The client of the public JSON API. The key lives in sessionStorage only: never in the URL,
// never in localStorage, never logged.
import type {
  Alert, Budget, Checks, CustomerPnl, Model, ModelList, PnlResponse, Prices, Problem, Recommendations,
  RepriceResult, Simulation, TestAlert, UnmappedRevenue, UnpricedModels, WhoAmI,
} from "./types.ts";

const KEY_STORAGE = "marginlens.apiKey";

export const UNAUTHORIZED_MESSAGE =
  "That API key was not accepted (401). Check it, or create one with `marginlens keys create`.";
export const INGEST_ONLY_MESSAGE = "This key has the ingest scope only: sign in with a read or admin key.";

/** `<base>/` where `<base>/dashboard/` is this page (keeps a stage prefix such as /prod/). */
export function apiBase(): URL {
  return new URL("../", location.href);
}

/** The base as users type it in curl commands: no trailing slash. */
export function baseText(): string {
  return apiBase().href.replace(/\/$/, "");
}

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage refused (private mode): the key then lasts for this page only.
  }
  memoryKey = key;
}

let memoryKey: string | null = null;
let unauthorizedHandler: ((message: string) => void) | null = null;

/** Called on any 401 after sign-in: the app signs out and shows the message. */
export function onUnauthorized(handler: ((message: string) => void) | null): void {
  unauthorizedHandler = handler;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Sign-in passes the key it is checking; a 401 then does not sign anyone out. */
  key?: string;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const url = new URL(path.replace(/^\//, ""), apiBase());
  for (const [name, value] of Object.entries(options.query ?? {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, String(value));
  }
  const key = options.key ?? memoryKey ?? storedKey();
  const headers: Record<string, string> = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, { title: "Network error", detail: "Could not reach the MarginLens API. Is it running?" });
  }
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const problem: Problem =
      data && typeof data === "object"
        ? (data as Problem)
        : { title: response.statusText || "Error", status: response.status, detail: `The API answered HTTP ${response.status}.` };
    if (response.status === 401 && options.key === undefined && unauthorizedHandler) {
      unauthorizedHandler(UNAUTHORIZED_MESSAGE);
    }
    throw new ApiError(response.status, problem);
  }
  return data as T;
}

const get = <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>("GET", path, { query, signal });

/** Path segments: "/" in a model name must reach the API as %2F. */
const seg = (text: string) => encodeURIComponent(text);

export const api = {
  whoami: (key: string) => request<WhoAmI>("GET", "v1/whoami", { key }),
  pnl: (month: string, signal?: AbortSignal) => get<PnlResponse>("v1/pnl", { month }, signal),
  customerPnl: (id: string, month: string, signal?: AbortSignal) =>
    get<CustomerPnl>(`v1/customers/${seg(id)}/pnl`, { month }, signal),
  recommendations: (query: Query, signal?: AbortSignal) => get<Recommendations>("v1/recommendations", query, signal),
  unmappedRevenue: (signal?: AbortSignal) => get<UnmappedRevenue>("v1/revenue/unmapped", undefined, signal),
  simulate: (body: Record<string, string>) => request<Simulation>("POST", "v1/simulations", { body }),
  models: (query: Query, signal?: AbortSignal) => get<ModelList>("v1/models", query, signal),
  model: (id: string, signal?: AbortSignal) => get<Model>(`v1/models/${seg(id)}`, undefined, signal),
  prices: (signal?: AbortSignal) => get<Prices>("v1/prices", undefined, signal),
  refreshPrices: () => request<{ status: string; snapshot: { version: string } }>("POST", "v1/prices/refresh", { body: {} }),
  putPrice: (model: string, body: Record<string, string | null>) => request<unknown>("PUT", `v1/prices/${seg(model)}`, { body }),
  putAlias: (alias: string, model: string) => request<unknown>("PUT", `v1/model-aliases/${seg(alias)}`, { body: { model } }),
  putQuality: (model: string, body: Record<string, string>) =>
    request<unknown>("PUT", `v1/models/${seg(model)}/quality`, { body }),
  unpricedModels: (month: string, signal?: AbortSignal) => get<UnpricedModels>("v1/unpriced-models", { month }, signal),
  reprice: (body: { from: string; to: string; only_unpriced: boolean }) => request<RepriceResult>("POST", "v1/reprice", { body }),
  budgets: (signal?: AbortSignal) => get<{ data: Budget[] }>("v1/budgets", undefined, signal),
  putBudget: (id: string, body: Record<string, string | null>) => request<Budget>("PUT", `v1/budgets/${seg(id)}`, { body }),
  deleteBudget: (id: string) => request<unknown>("DELETE", `v1/budgets/${seg(id)}`),
  alerts: (month: string, signal?: AbortSignal) => get<{ month: string; data: Alert[] }>("v1/alerts", { month }, signal),
  checks: (signal?: AbortSignal) => get<Checks>("v1/checks", undefined, signal),
  testAlert: () => request<TestAlert>("POST", "v1/alerts/test", { body: {} }),
};

/** Per-field messages from a problem's `errors`: pointer "/limit" -> field "limit". */
export function fieldErrors(error: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!(error instanceof ApiError)) return fields;
  for (const item of error.problem.errors ?? []) {
    const field = (item.pointer || "").replace(/^\//, "").split("/")[0] ?? "";
    if (field && !(field in fields)) fields[field] = item.detail;
  }
  return fields;
}
