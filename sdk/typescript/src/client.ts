import { backoffDelay, parseRetryAfter, sleep, unrefTimer } from "./backoff.js";
import { ContextStore } from "./context.js";
import { BudgetExceededError, type BudgetScope, MarginLensError, type MarginLensErrorCode } from "./errors.js";
import { toWireEvent } from "./event.js";
import {
  fromAnthropic,
  fromAnthropicStream,
  fromBedrockConverse,
  fromGemini,
  fromOpenAIChat,
  fromOpenAIResponses,
  fromOpenAIStream,
} from "./providers.js";
import { Queue } from "./queue.js";
import type {
  Blocklist,
  FetchLike,
  ProviderUsage,
  RecordOptions,
  Stats,
  TrackContext,
  TrackInput,
  WireEvent,
} from "./types.js";

export interface MarginLensOptions {
  /** An `ingest` key. Default: `process.env.MARGINLENS_API_KEY`. */
  apiKey?: string;
  /** The API's base URL. Default: `process.env.MARGINLENS_URL`, else `http://127.0.0.1:8787`. */
  url?: string;
  /** Events per request, 1-100 (the server's limit). Default 100. */
  batchSize?: number;
  /** Send what is queued at least this often. Default 5000 ms. */
  flushIntervalMs?: number;
  /** Events kept while the server is unreachable; beyond, the oldest are dropped. Default 10,000. */
  maxQueueSize?: number;
  /** Retries of one batch (network error, 429, 5xx) before it is dropped. Default 8. */
  maxRetries?: number;
  /** Timeout of one HTTP request. Default 10,000 ms. */
  timeoutMs?: number;
  /** Where problems go (default: console.warn). Called, never thrown. */
  onError?: (error: MarginLensError) => void;
  /** guard() refuses calls when the blocklist cannot be fetched. Default false: fail open. */
  failClosed?: boolean;
  /** A fetch implementation. Default: the global `fetch`, looked up at each request. */
  fetch?: FetchLike;
  /** First retry's backoff ceiling (doubles each retry, full jitter). Default 250 ms. */
  retryBaseMs?: number;
  /** Backoff ceiling. Default 30,000 ms. */
  retryMaxMs?: number;
  /**
   * How long guard(), which sits in the app's request path, waits for the blocklist before answering
   * from failClosed; the fetch itself goes on (up to timeoutMs) and fills the cache. Default 2000 ms.
   */
  guardTimeoutMs?: number;
}

const DEFAULT_URL = "http://127.0.0.1:8787";
const MAX_BATCH = 100;
const DEFAULT_FLUSH_TIMEOUT_MS = 30_000;
// After a failed blocklist fetch, guard() answers from failClosed for this long instead of making
// every app request wait for another timeout.
const GUARD_RETRY_MS = 5_000;
// Codes a busy app could hit on every call: reported at most once a minute.
const THROTTLED: ReadonlySet<MarginLensErrorCode> = new Set(["closed", "usage_missing", "invalid_event"]);
const THROTTLE_MS = 60_000;

type Outcome =
  | { kind: "done" }
  | { kind: "split" }
  | { kind: "retry"; reason: string; status?: number; retryAfterMs?: number };

type Env = Record<string, string | undefined>;

function processEnv(): Env {
  const proc = (globalThis as { process?: { env?: Env } }).process;
  return proc?.env ?? {};
}

// One beforeExit listener for all clients with undelivered events (not one per client, which
// would trip Node's MaxListeners warning in apps and tests creating many).
const pendingClients = new Map<MarginLens, () => void>();
let exitHookInstalled = false;

function watchExit(client: MarginLens, onExit: () => void): void {
  pendingClients.set(client, onExit);
  if (exitHookInstalled) return;
  const proc = (globalThis as { process?: { on?: (event: string, fn: () => void) => unknown } }).process;
  if (typeof proc?.on !== "function") return; // edge runtime: the app calls flush()
  exitHookInstalled = true;
  proc.on("beforeExit", () => {
    for (const hook of [...pendingClients.values()]) hook();
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const code = (cause as { code?: unknown } | undefined)?.code;
    return typeof code === "string" ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function listIds(ids: string[]): string {
  const shown = ids.slice(0, 5).join(", ");
  return ids.length > 5 ? `${shown} and ${ids.length - 5} more` : shown;
}

function intOption(value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.floor(value)));
}

function isBlocklist(value: unknown): value is Blocklist {
  const v = value as Blocklist | undefined;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.version === "number" &&
    typeof v.ttl_seconds === "number" &&
    typeof v.blocked === "object" &&
    v.blocked !== null &&
    Array.isArray(v.blocked.features) &&
    Array.isArray(v.blocked.customers)
  );
}

/**
 * The MarginLens client: `track()` queues an event and returns at once; a background loop sends
 * batches with retries. Nothing it does throws into the app: problems go to `onError`.
 */
export class MarginLens {
  readonly url: string;
  private readonly apiKey: string;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueueSize: number;
  private readonly maxRetries: number;
  private readonly timeoutMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly guardTimeoutMs: number;
  private readonly failClosed: boolean;
  private readonly fetchImpl: FetchLike | undefined;
  private readonly onError: (error: MarginLensError) => void;

  private readonly queue = new Queue<WireEvent>();
  private readonly counters: Stats = {
    sent: 0,
    duplicates: 0,
    rejected: 0,
    conflicts: 0,
    dropped: 0,
    retries: 0,
    invalid: 0,
  };
  private readonly contexts = new ContextStore<TrackContext>();
  private readonly lastReported = new Map<MarginLensErrorCode, number>();
  private closed = false;
  private draining = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private idleWaiters: Array<() => void> = [];
  private overflowBurst = 0;
  private exitFlushing = false;

  private blocklistCache: { list: Blocklist; expiresAt: number } | undefined;
  private blocklistRetryAt = 0;
  private blocklistLoading: Promise<Blocklist | undefined> | undefined;
  private guardFailing = false;

  constructor(options: MarginLensOptions = {}) {
    const env = processEnv();
    this.onError = typeof options.onError === "function" ? options.onError : defaultOnError;
    this.apiKey = options.apiKey ?? env["MARGINLENS_API_KEY"] ?? "";
    this.url = (options.url ?? env["MARGINLENS_URL"] ?? DEFAULT_URL).replace(/\/+$/, "");
    this.batchSize = intOption(options.batchSize, MAX_BATCH, 1, MAX_BATCH);
    this.flushIntervalMs = intOption(options.flushIntervalMs, 5000, 0);
    this.maxQueueSize = intOption(options.maxQueueSize, 10_000, 1);
    this.maxRetries = intOption(options.maxRetries, 8, 0);
    this.timeoutMs = intOption(options.timeoutMs, 10_000, 1);
    this.retryBaseMs = intOption(options.retryBaseMs, 250, 0);
    this.retryMaxMs = intOption(options.retryMaxMs, 30_000, 0);
    this.guardTimeoutMs = intOption(options.guardTimeoutMs, 2000, 1);
    this.failClosed = options.failClosed === true;
    this.fetchImpl = options.fetch;
    if (!this.apiKey) {
      this.report("config", "no API key (apiKey or MARGINLENS_API_KEY): the server will refuse events with 401");
    }
    if (typeof options.batchSize === "number" && options.batchSize > MAX_BATCH) {
      this.report("config", `batchSize ${options.batchSize} is above the server's limit; using ${MAX_BATCH}`);
    }
  }

  // ---------------------------------------------------------------- recording

  /**
   * Queue one usage event. Returns its request id, or undefined when the event was not queued
   * (invalid argument, or the client is closed). Never throws.
   */
  track(input: TrackInput): string | undefined {
    try {
      if (this.closed) {
        this.counters.dropped++;
        this.report("closed", "track() after close(): the event is dropped");
        return undefined;
      }
      const result = toWireEvent(this.withContext(input));
      if (!result.ok) {
        this.counters.invalid++;
        const id = result.requestId ? `event ${result.requestId}: ` : "";
        this.report("invalid_event", `${id}${result.reason}; not sent`, {
          requestIds: result.requestId ? [result.requestId] : [],
        });
        return undefined;
      }
      this.enqueue(result.event);
      return result.event.request_id;
    } catch (error) {
      // Unreachable by design; kept so that a bug here can never break the app's request.
      this.counters.invalid++;
      this.report("invalid_event", `track() failed: ${describe(error)}`, { cause: error });
      return undefined;
    }
  }

  /** Record an OpenAI Chat Completions or Responses API result (told apart by its usage fields). */
  trackOpenAI(response: unknown, options: RecordOptions = {}): string | undefined {
    return this.trackUsage(() => {
      const usage = (response as { usage?: Record<string, unknown> } | null)?.usage;
      return usage && "input_tokens" in usage && !("prompt_tokens" in usage)
        ? fromOpenAIResponses(response)
        : fromOpenAIChat(response);
    }, options);
  }

  /** Record a streamed OpenAI call from its chunks (Chat Completions with include_usage, or Responses events). */
  trackOpenAIStream(chunks: Iterable<unknown>, options: RecordOptions = {}): string | undefined {
    return this.trackUsage(() => fromOpenAIStream(chunks), options);
  }

  /** Record an Anthropic Messages result. */
  trackAnthropic(response: unknown, options: RecordOptions = {}): string | undefined {
    return this.trackUsage(() => fromAnthropic(response), options);
  }

  /** Record a streamed Anthropic call from its events. */
  trackAnthropicStream(events: Iterable<unknown>, options: RecordOptions = {}): string | undefined {
    return this.trackUsage(() => fromAnthropicStream(events), options);
  }

  /** Record a Gemini generateContent result; `model` is used when the response has no modelVersion. */
  trackGemini(response: unknown, options: RecordOptions & { model?: string } = {}): string | undefined {
    const { model, ...rest } = options;
    return this.trackUsage(() => fromGemini(response, model), rest);
  }

  /** Record a Bedrock Converse result made with `modelId`. */
  trackBedrockConverse(response: unknown, modelId: string, options: RecordOptions = {}): string | undefined {
    return this.trackUsage(() => fromBedrockConverse(response, modelId), options);
  }

  private trackUsage(read: () => ProviderUsage, options: RecordOptions): string | undefined {
    let usage: ProviderUsage;
    try {
      usage = read();
    } catch (error) {
      this.counters.invalid++;
      this.report("usage_missing", `${describe(error)}; the call was not recorded`, { cause: error });
      return undefined;
    }
    return this.track({ ...(typeof options === "object" && options ? options : {}), ...usage });
  }

  // ---------------------------------------------------------------- context

  /**
   * Run `fn` with a customer/feature scope: `track()` calls and wrapped clients inside it (across
   * awaits, where AsyncLocalStorage exists) use it for what they are not given.
   */
  context<R>(scope: TrackContext, fn: () => R): R {
    const outer = this.contexts.current();
    const merged: TrackContext = { ...outer };
    if (scope?.customerId !== undefined) merged.customerId = scope.customerId;
    if (scope?.feature !== undefined) merged.feature = scope.feature;
    if (scope?.metadata !== undefined) merged.metadata = { ...outer?.metadata, ...scope.metadata };
    return this.contexts.run(merged, fn);
  }

  /** The scope set by the innermost `context()` around this call, if any. */
  currentContext(): TrackContext | undefined {
    return this.contexts.current();
  }

  private withContext(input: TrackInput): TrackInput {
    const scope = this.contexts.current();
    if (!scope || typeof input !== "object" || input === null) return input;
    const merged: TrackInput = { ...input };
    if (merged.customerId === undefined) merged.customerId = scope.customerId;
    if (merged.feature === undefined) merged.feature = scope.feature;
    if (scope.metadata) merged.metadata = { ...scope.metadata, ...input.metadata };
    return merged;
  }

  // ---------------------------------------------------------------- delivery

  /**
   * Send everything queued now. Resolves true once every queued event is settled (delivered,
   * refused or dropped), false if `timeoutMs` passed first (delivery goes on in the background).
   * Never rejects. While it waits, it keeps a Node process alive.
   */
  flush(timeoutMs: number = DEFAULT_FLUSH_TIMEOUT_MS): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    this.startDrain();
    return new Promise<boolean>((resolve) => {
      const waiter = (): void => {
        clearTimeout(deadline);
        resolve(true);
      };
      // Not unref'd on purpose: `await client.flush()` at the end of a script must not be cut short.
      const deadline = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, intOption(timeoutMs, DEFAULT_FLUSH_TIMEOUT_MS, 0));
      this.idleWaiters.push(waiter);
    });
  }

  /** Flush, then refuse further events (track() becomes a counted no-op). Same result as flush(). */
  async close(timeoutMs: number = DEFAULT_FLUSH_TIMEOUT_MS): Promise<boolean> {
    this.closed = true;
    this.disarm();
    const flushed = await this.flush(timeoutMs);
    // close() had its chance to deliver: beforeExit must not hold the process for another round.
    pendingClients.delete(this);
    return flushed;
  }

  /** A copy of the counters. */
  stats(): Stats {
    return { ...this.counters };
  }

  /** Events queued and not yet sent (the batch in flight excluded). */
  get queued(): number {
    return this.queue.length;
  }

  private isIdle(): boolean {
    return !this.draining && this.queue.length === 0;
  }

  private enqueue(event: WireEvent): void {
    if (this.queue.length >= this.maxQueueSize) {
      const oldest = this.queue.shift();
      this.counters.dropped++;
      this.overflowBurst++;
      if (this.overflowBurst === 1) {
        this.report(
          "queue_overflow",
          `the queue is full (${this.maxQueueSize} events, the server is slow or unreachable): dropping the oldest events`,
          { requestIds: oldest ? [oldest.request_id] : [] },
        );
      }
    }
    this.queue.push(event);
    watchExit(this, () => this.flushBeforeExit());
    if (this.queue.length >= this.batchSize) this.startDrain();
    else this.arm();
  }

  private flushBeforeExit(): void {
    if (this.exitFlushing || this.isIdle()) return;
    this.exitFlushing = true;
    void this.flush(this.timeoutMs).then((flushed) => {
      // After a timeout, a second beforeExit must not start another round: the process would never exit.
      if (flushed) this.exitFlushing = false;
    });
  }

  private arm(): void {
    if (this.timer !== undefined || this.draining) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.startDrain();
    }, this.flushIntervalMs);
    unrefTimer(this.timer); // a queued event must never keep the process alive; beforeExit flushes it
  }

  private disarm(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private startDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.disarm();
    // A microtask later, so track() never serializes or sends on the app's stack.
    void Promise.resolve().then(() => this.drain());
  }

  /** The one delivery loop: a single request in flight, batches in queue order. */
  private async drain(): Promise<void> {
    let batch: WireEvent[] = [];
    try {
      while (this.queue.length > 0) {
        batch = this.queue.take(this.batchSize);
        await this.deliver(batch);
        batch = [];
      }
    } catch (error) {
      this.counters.dropped += batch.length;
      this.report("retries_exhausted", `delivery failed unexpectedly: ${describe(error)}`, { cause: error });
    } finally {
      this.draining = false;
      if (this.queue.length > 0) this.arm();
      else {
        pendingClients.delete(this);
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const waiter of waiters) waiter();
      }
    }
  }

  private async deliver(batch: WireEvent[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.post(batch);
      if (outcome.kind === "done") return;
      if (outcome.kind === "split") {
        const half = Math.ceil(batch.length / 2);
        await this.deliver(batch.slice(0, half));
        await this.deliver(batch.slice(half));
        return;
      }
      if (attempt >= this.maxRetries) {
        this.counters.dropped += batch.length;
        const ids = batch.map((e) => e.request_id);
        this.report(
          "retries_exhausted",
          `gave up on ${batch.length} events after ${attempt + 1} attempts (${outcome.reason}): ${listIds(ids)}`,
          { requestIds: ids, ...(outcome.status === undefined ? {} : { status: outcome.status }) },
        );
        return;
      }
      this.counters.retries++;
      // Retry-After is honoured as a floor; the jitter on top keeps clients from returning in lockstep.
      const delay =
        outcome.retryAfterMs !== undefined
          ? outcome.retryAfterMs + backoffDelay(0, this.retryBaseMs, this.retryMaxMs)
          : backoffDelay(attempt, this.retryBaseMs, this.retryMaxMs);
      await sleep(delay);
    }
  }

  private headers(): Record<string, string> {
    return {
      Authorization: `Bearer ${this.apiKey}`,
      "Content-Type": "application/json",
      Accept: "application/json, application/problem+json",
    };
  }

  private async request(path: string, init: RequestInit, timeoutMs: number): Promise<{ response: Response; body: unknown }> {
    const fetchFn = this.fetchImpl ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (typeof fetchFn !== "function") throw new Error("no fetch: pass options.fetch on this runtime");
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    unrefTimer(timer);
    try {
      const response = await fetchFn(`${this.url}${path}`, { ...init, signal: controller.signal });
      const text = await response.text(); // read within the timeout: a stalled body is a timeout too
      return { response, body: parseJson(text) };
    } catch (error) {
      if (controller.signal.aborted) throw new Error(`timed out after ${timeoutMs} ms`, { cause: error });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private async post(batch: WireEvent[]): Promise<Outcome> {
    let response: Response;
    let body: unknown;
    try {
      ({ response, body } = await this.request(
        "/v1/usage",
        { method: "POST", headers: this.headers(), body: JSON.stringify({ events: batch }) },
        this.timeoutMs,
      ));
    } catch (error) {
      return { kind: "retry", reason: describe(error) };
    }
    const status = response.status;
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
      return { kind: "retry", reason: `HTTP ${status}`, status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
    }
    this.overflowBurst = 0; // the server answers again: the next overflow is a new burst, worth a warning
    if (status === 413 && batch.length > 1) return { kind: "split" };
    const results = (body as { results?: unknown } | undefined)?.results;
    if (Array.isArray(results) && (status < 300 || status === 409 || status === 422)) {
      this.account(batch, results);
      return { kind: "done" };
    }
    if (status >= 200 && status < 300) {
      this.counters.sent += batch.length; // 2xx without per-event results: the server took the batch
      return { kind: "done" };
    }
    // The whole request was refused and would be again: log and drop, never retry.
    this.counters.rejected += batch.length;
    const problem = (body ?? {}) as { title?: unknown; detail?: unknown };
    const reason = [problem.title, problem.detail].filter((s) => typeof s === "string" && s).join(": ");
    const ids = batch.map((e) => e.request_id);
    this.report(
      status === 401 || status === 403 ? "unauthorized" : "rejected",
      `POST /v1/usage answered ${status}${reason ? ` (${reason})` : ""}: ${batch.length} events dropped: ${listIds(ids)}`,
      { status, requestIds: ids },
    );
    return { kind: "done" };
  }

  /** Count the server's per-event answers; conflicts and rejections are reported, never retried. */
  private account(batch: WireEvent[], results: unknown[]): void {
    const conflicts: string[] = [];
    const rejected: Array<{ requestId?: string; pointer?: string; detail: string }> = [];
    let answered = 0;
    for (const item of results) {
      const r = (item ?? {}) as {
        index?: unknown;
        request_id?: unknown;
        status?: unknown;
        error?: { pointer?: unknown; detail?: unknown } | null;
      };
      const requestId =
        typeof r.request_id === "string"
          ? r.request_id
          : typeof r.index === "number"
            ? batch[r.index]?.request_id
            : undefined;
      answered++;
      if (r.status === "created") this.counters.sent++;
      else if (r.status === "duplicate") this.counters.duplicates++;
      else if (r.status === "conflict") {
        this.counters.conflicts++;
        conflicts.push(requestId ?? "?");
      } else {
        this.counters.rejected++;
        const detail = typeof r.error?.detail === "string" ? r.error.detail : `status ${String(r.status)}`;
        rejected.push({
          ...(requestId === undefined ? {} : { requestId }),
          ...(typeof r.error?.pointer === "string" ? { pointer: r.error.pointer } : {}),
          detail,
        });
      }
    }
    if (answered < batch.length) {
      // Events the answer does not mention are not known to be stored: count them as refused.
      for (const event of batch.slice(answered)) {
        this.counters.rejected++;
        rejected.push({ requestId: event.request_id, detail: "no result for this event in the answer" });
      }
    }
    if (conflicts.length > 0) {
      this.report(
        "conflict",
        `${conflicts.length} events conflict with stored events of the same request_id (different content; not retried): ${listIds(conflicts)}`,
        { requestIds: conflicts },
      );
    }
    if (rejected.length > 0) {
      const shown = rejected
        .slice(0, 5)
        .map((r) => `${r.requestId ?? "?"}${r.pointer ? ` ${r.pointer}` : ""}: ${r.detail}`)
        .join("; ");
      this.report(
        "rejected",
        `the server rejected ${rejected.length} events (not retried): ${shown}${rejected.length > 5 ? "; ..." : ""}`,
        { requestIds: rejected.map((r) => r.requestId ?? "?"), details: rejected },
      );
    }
  }

  // ---------------------------------------------------------------- budget guard

  /**
   * Whether a call for this customer/feature may go ahead, from the blocklist (cached for its
   * ttl_seconds). Unreachable blocklist: true, unless the client was made with failClosed.
   * Missing customerId/feature come from the current context(); feature defaults to "default".
   */
  async guard(scope: { customerId?: string; feature?: string } = {}): Promise<boolean> {
    return (await this.refusal(scope)) === undefined;
  }

  /** Run `fn` (inside context(scope)) unless guard() refuses, in which case throw BudgetExceededError. */
  async guardedCall<T>(scope: { customerId?: string; feature?: string }, fn: () => T | Promise<T>): Promise<T> {
    const refused = await this.refusal(scope);
    if (refused) throw new BudgetExceededError(refused);
    const ctx: TrackContext = {};
    if (scope?.customerId !== undefined) ctx.customerId = scope.customerId;
    if (scope?.feature !== undefined) ctx.feature = scope.feature;
    return await this.context(ctx, fn);
  }

  /**
   * The blocklist as last fetched (refreshed when its ttl has passed), or undefined when it is
   * unreachable or slower than guardTimeoutMs. A slow fetch goes on in the background (up to
   * timeoutMs) and fills the cache for the calls after it.
   */
  async blocklist(): Promise<Blocklist | undefined> {
    const now = Date.now();
    if (this.blocklistCache && now < this.blocklistCache.expiresAt) return this.blocklistCache.list;
    if (now < this.blocklistRetryAt) return undefined;
    // Concurrent guards share one request.
    this.blocklistLoading ??= this.loadBlocklist().finally(() => {
      this.blocklistLoading = undefined;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, this.guardTimeoutMs, undefined);
      unrefTimer(timer);
    });
    try {
      return await Promise.race([this.blocklistLoading, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async refusal(scope: { customerId?: string; feature?: string }): Promise<
    | { scope: BudgetScope; customerId?: string | undefined; feature?: string | undefined; blocklistVersion?: number }
    | undefined
  > {
    const ctx = this.contexts.current();
    const customerId = scope?.customerId ?? ctx?.customerId;
    const feature = scope?.feature ?? ctx?.feature ?? "default";
    let list: Blocklist | undefined;
    try {
      list = await this.blocklist();
    } catch {
      list = undefined;
    }
    if (!list) return this.failClosed ? { scope: "organization", customerId, feature } : undefined;
    const { blocked, version } = list;
    if (blocked.organization) return { scope: "organization", customerId, feature, blocklistVersion: version };
    if (blocked.features.includes(feature)) return { scope: "feature", customerId, feature, blocklistVersion: version };
    if (customerId !== undefined && blocked.customers.includes(customerId)) {
      return { scope: "customer", customerId, feature, blocklistVersion: version };
    }
    return undefined;
  }

  private async loadBlocklist(): Promise<Blocklist | undefined> {
    let problem: string;
    try {
      const { response, body } = await this.request(
        "/v1/budgets/blocklist",
        { method: "GET", headers: this.headers() },
        this.timeoutMs,
      );
      if (response.ok && isBlocklist(body)) {
        this.blocklistCache = { list: body, expiresAt: Date.now() + Math.max(0, body.ttl_seconds) * 1000 };
        this.guardFailing = false;
        return body;
      }
      problem = response.ok ? "an unreadable answer" : `HTTP ${response.status}`;
    } catch (error) {
      problem = describe(error);
    }
    this.blocklistCache = undefined;
    this.blocklistRetryAt = Date.now() + GUARD_RETRY_MS;
    if (!this.guardFailing) {
      this.guardFailing = true; // reported once per outage, not on every guarded call
      this.report(
        "guard_unavailable",
        `GET /v1/budgets/blocklist failed (${problem}): calls are ${this.failClosed ? "refused (failClosed)" : "allowed (fail open)"}`,
      );
    }
    return undefined;
  }

  // ---------------------------------------------------------------- reporting

  private report(
    code: MarginLensErrorCode,
    message: string,
    extra: ConstructorParameters<typeof MarginLensError>[2] = {},
  ): void {
    if (THROTTLED.has(code) && this.onError === defaultOnError) {
      // Only the console default is throttled: a custom handler sees every occurrence.
      const now = Date.now();
      const last = this.lastReported.get(code);
      if (last !== undefined && now - last < THROTTLE_MS) return;
      this.lastReported.set(code, now);
    }
    try {
      this.onError(new MarginLensError(code, message, extra));
    } catch {
      // an onError that throws must not break delivery either
    }
  }
}

function defaultOnError(error: MarginLensError): void {
  (globalThis as { console?: { warn?: (...args: unknown[]) => void } }).console?.warn?.(`[marginlens] ${error.message}`);
}
