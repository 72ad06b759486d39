import type { MetadataValue, TrackInput, WireEvent } from "./types.js";

// The server's own bounds (shared/marginlens/core), checked here cheaply so a bad argument is
// reported at the call site instead of as a rejected event later.
const IDENTIFIER = /^[A-Za-z0-9._:-]{1,128}$/;
const MODEL_NAME = /^[A-Za-z0-9@][A-Za-z0-9._:/@+-]{0,255}$/;
// eslint-disable-next-line no-control-regex
const CUSTOMER_FORBIDDEN = /[#\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const CURRENCY = /^[A-Za-z]{3}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const MAX_TOKENS = 1_000_000_000;
const MAX_METADATA_BYTES = 2048;
const MAX_METADATA_INT = 2 ** 53;

const encoder = new TextEncoder();

export type Validated = { ok: true; event: WireEvent } | { ok: false; reason: string; requestId?: string };

/** `crypto.randomUUID()` where it exists (Node 19+, browsers, edge); a v4 UUID from getRandomValues otherwise. */
export function newRequestId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } })
    .crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function tokenError(name: string, value: unknown, required: boolean): string | undefined {
  if (value === undefined || value === null) return required ? `${name} is required` : undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_TOKENS) {
    return `${name} must be an integer from 0 to ${MAX_TOKENS}, not ${String(value)}`;
  }
  return undefined;
}

function toTimestamp(value: TrackInput["timestamp"]): string | undefined {
  if (value === undefined || value === null) return new Date().toISOString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (typeof value === "number") {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
  }
  if (typeof value === "string" && RFC3339.test(value) && !Number.isNaN(Date.parse(value))) return value;
  return undefined;
}

function toAmount(value: TrackInput["revenueAmount"]): string | undefined {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    // String(0.1) is "0.1": the shortest text that reads back as the same double, i.e. what was typed.
    const text = Number.isFinite(value) ? String(value) : "";
    return DECIMAL.test(text) ? text : undefined;
  }
  if (typeof value === "string") return DECIMAL.test(value.trim()) ? value.trim() : undefined;
  return undefined;
}

function metadataError(metadata: unknown): string | undefined {
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    return "metadata must be a flat object";
  }
  for (const [key, value] of Object.entries(metadata as Record<string, unknown>)) {
    if (key.length > 128) return `metadata key ${JSON.stringify(key.slice(0, 20))}... is longer than 128`;
    if (value === null || typeof value === "string" || typeof value === "boolean") continue;
    if (typeof value === "number") {
      if (!Number.isFinite(value)) return `metadata.${key} must be a finite number`;
      if (Number.isInteger(value)) {
        if (Math.abs(value) > MAX_METADATA_INT) return `metadata.${key}: integers must be within +-2^53`;
      } else if (value !== 0 && Math.abs(Math.floor(Math.log10(Math.abs(value)))) > 15) {
        return `metadata.${key}: decimals must be within 15 digits of the decimal point`;
      }
      continue;
    }
    return `metadata.${key} must be a string, number, boolean or null`;
  }
  if (encoder.encode(JSON.stringify(metadata)).length > MAX_METADATA_BYTES) {
    return `metadata must be at most ${MAX_METADATA_BYTES} bytes as JSON`;
  }
  return undefined;
}

/** A copy (the app may mutate its object later), decimals rounded to the 15 digits the server keeps. */
function copyMetadata(metadata: Record<string, MetadataValue>): Record<string, MetadataValue> {
  const copy: Record<string, MetadataValue> = {};
  for (const [key, value] of Object.entries(metadata)) {
    copy[key] = typeof value === "number" && !Number.isInteger(value) ? Number(value.toPrecision(15)) : value;
  }
  return copy;
}

/** The wire event for `input`, or why it cannot be sent. Never throws, whatever `input` is. */
export function toWireEvent(input: unknown): Validated {
  if (typeof input !== "object" || input === null) return { ok: false, reason: "track() needs an object" };
  const e = input as Partial<Record<keyof TrackInput, unknown>>;

  let requestId: string;
  if (e.requestId === undefined || e.requestId === null) requestId = newRequestId();
  else if (typeof e.requestId === "string" && IDENTIFIER.test(e.requestId)) requestId = e.requestId;
  else return { ok: false, reason: "requestId must be 1-128 characters of [A-Za-z0-9._:-]" };
  const fail = (reason: string): Validated => ({ ok: false, reason, requestId });

  const customerId = e.customerId;
  if (typeof customerId !== "string" || customerId.trim() === "") {
    return fail("customerId is required (pass it, or call inside marginlens.context({ customerId }, fn))");
  }
  if (customerId.length > 256 || CUSTOMER_FORBIDDEN.test(customerId) || customerId.startsWith("unmapped:")) {
    return fail("customerId must be 1-256 characters, without '#' or control characters");
  }
  if (typeof e.model !== "string" || !MODEL_NAME.test(e.model) || e.model.includes("..")) {
    return fail(`model must be a model name like "gpt-4o-mini", not ${JSON.stringify(e.model)}`);
  }

  const tokenProblem =
    tokenError("promptTokens", e.promptTokens, true) ??
    tokenError("completionTokens", e.completionTokens, false) ??
    tokenError("cachedTokens", e.cachedTokens, false) ??
    tokenError("cacheWriteTokens", e.cacheWriteTokens, false);
  if (tokenProblem) return fail(tokenProblem);
  const promptTokens = e.promptTokens as number;
  const cached = (e.cachedTokens as number | undefined) ?? 0;
  const cacheWrite = (e.cacheWriteTokens as number | undefined) ?? 0;
  if (cached + cacheWrite > promptTokens) {
    return fail("cachedTokens + cacheWriteTokens are parts of promptTokens and cannot exceed it");
  }

  const event: WireEvent = {
    request_id: requestId,
    customer_id: customerId,
    model: e.model,
    prompt_tokens: promptTokens,
    completion_tokens: (e.completionTokens as number | undefined) ?? 0,
    timestamp: "",
  };
  if (e.cachedTokens !== undefined && e.cachedTokens !== null) event.cached_tokens = cached;
  if (e.cacheWriteTokens !== undefined && e.cacheWriteTokens !== null) event.cache_write_tokens = cacheWrite;

  if (e.provider !== undefined && e.provider !== null) {
    if (typeof e.provider !== "string" || e.provider.length === 0 || e.provider.length > 64) {
      return fail("provider must be a short string");
    }
    event.provider = e.provider;
  }
  if (e.feature !== undefined && e.feature !== null) {
    if (typeof e.feature !== "string" || !IDENTIFIER.test(e.feature)) {
      return fail("feature must be 1-128 characters of [A-Za-z0-9._:-]");
    }
    event.feature = e.feature;
  }

  const timestamp = toTimestamp(e.timestamp as TrackInput["timestamp"]);
  if (timestamp === undefined) return fail("timestamp must be a Date, epoch milliseconds or an RFC 3339 string");
  event.timestamp = timestamp;

  if (e.revenueAmount !== undefined && e.revenueAmount !== null) {
    const amount = toAmount(e.revenueAmount as TrackInput["revenueAmount"]);
    if (amount === undefined) return fail('revenueAmount must be a decimal string such as "0.02"');
    if (typeof e.revenueCurrency !== "string" || !CURRENCY.test(e.revenueCurrency)) {
      return fail("revenueCurrency (a 3-letter ISO 4217 code) is required with revenueAmount");
    }
    event.revenue_amount = amount;
    event.revenue_currency = e.revenueCurrency.toUpperCase();
  } else if (e.revenueCurrency !== undefined && e.revenueCurrency !== null) {
    return fail("revenueCurrency is only meaningful with revenueAmount");
  }

  if (e.metadata !== undefined && e.metadata !== null) {
    const problem = metadataError(e.metadata);
    if (problem) return fail(problem);
    event.metadata = copyMetadata(e.metadata as Record<string, MetadataValue>);
  }
  return { ok: true, event };
}
