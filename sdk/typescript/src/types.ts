/** A metadata value: flat, JSON-safe scalars only (the server refuses nested objects). */
export type MetadataValue = string | number | boolean | null;

/** One model call, as the app reports it to `track()` (camelCase; converted to the wire format). */
export interface TrackInput {
  /** Who the call was made for. Taken from the current `context()` scope when omitted. */
  customerId?: string;
  /** The model name as the provider answered it (`gpt-4o-mini-2024-07-18`, `claude-sonnet-4-5`, ...). */
  model: string;
  /** The WHOLE input, cached parts included. */
  promptTokens: number;
  /** Output tokens, reasoning/thinking tokens included. Defaults to 0 (embeddings). */
  completionTokens?: number;
  /** The part of `promptTokens` read from the provider's prompt cache. */
  cachedTokens?: number;
  /** The part of `promptTokens` written to the provider's prompt cache. */
  cacheWriteTokens?: number;
  /** Product feature the call served (`[A-Za-z0-9._:-]`, at most 128). Server default: `default`. */
  feature?: string;
  /** Idempotency key (`[A-Za-z0-9._:-]`, 1-128). Generated with `crypto.randomUUID()` when omitted. */
  requestId?: string;
  /** When the call happened. Defaults to the time of `track()`, so a retry hours later is priced right. */
  timestamp?: Date | string | number;
  /** Revenue attributed to this call, as a decimal string (`"0.02"`); a number is converted with `String()`. */
  revenueAmount?: string | number | bigint;
  /** ISO 4217 code, required with `revenueAmount`. */
  revenueCurrency?: string;
  /** Flat object, at most 2 KB as JSON. */
  metadata?: Record<string, MetadataValue>;
  /** Provider hint (`openai`, `anthropic`, `google`, `bedrock`, ...). */
  provider?: string;
}

/** An event as `POST /v1/usage` reads it (snake_case). */
export interface WireEvent {
  request_id: string;
  customer_id: string;
  model: string;
  provider?: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens?: number;
  cache_write_tokens?: number;
  timestamp: string;
  feature?: string;
  revenue_amount?: string;
  revenue_currency?: string;
  metadata?: Record<string, MetadataValue>;
}

/** What a provider helper reads from a response: spread it into `track()` with a customer id. */
export interface ProviderUsage {
  model: string;
  promptTokens: number;
  completionTokens: number;
  cachedTokens?: number;
  cacheWriteTokens?: number;
  provider: string;
}

/** Counters since the client was created. */
export interface Stats {
  /** Events the server answered `created`. */
  sent: number;
  /** Events the server already had (a retry of a delivered event): delivered too. */
  duplicates: number;
  /** Events the server refused (per event, or the whole batch on a non-retryable 4xx). */
  rejected: number;
  /** Events whose request_id was already stored with different content. */
  conflicts: number;
  /** Events lost: queue overflow, retries exhausted, or tracked after `close()`. */
  dropped: number;
  /** HTTP attempts repeated after a network error, a 429 or a 5xx. */
  retries: number;
  /** `track()` calls refused locally because an argument was invalid. */
  invalid: number;
}

/** The scope `context()` sets for `track()` and the wrappers. */
export interface TrackContext {
  customerId?: string;
  feature?: string;
  metadata?: Record<string, MetadataValue>;
}

/** Per-call options of the `client.trackOpenAI(...)` family, and of wrapped calls (`marginlens: {...}`). */
export interface RecordOptions extends TrackContext {
  requestId?: string;
  timestamp?: Date | string | number;
  revenueAmount?: string | number | bigint;
  revenueCurrency?: string;
}

/** `GET /v1/budgets/blocklist`. */
export interface Blocklist {
  version: number;
  ttl_seconds: number;
  blocked: {
    organization: boolean;
    features: string[];
    customers: string[];
  };
}

/** The fetch signature the client needs (the global `fetch` fits). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;
