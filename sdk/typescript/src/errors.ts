/** What went wrong, for `onError` handlers that want to branch. */
export type MarginLensErrorCode =
  | "invalid_event" // track() got a bad argument; the event was not queued
  | "closed" // track() after close()
  | "queue_overflow" // the queue was full; oldest events dropped
  | "rejected" // the server refused events (per event or the whole batch)
  | "conflict" // request_id already stored with different content
  | "retries_exhausted" // network/429/5xx persisted past maxRetries; batch dropped
  | "unauthorized" // 401/403: the key is wrong or lacks the scope
  | "usage_missing" // a wrapped/helper call had no usage to record
  | "guard_unavailable" // the blocklist could not be fetched
  | "config"; // construction-time problem (missing key, clamped option)

/** Reported to `onError` (never thrown by `track()`, `flush()` or `close()`). */
export class MarginLensError extends Error {
  override readonly name = "MarginLensError";
  readonly code: MarginLensErrorCode;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** The request ids concerned, when known. */
  readonly requestIds: string[];
  /** Per-event reasons from the server (`{pointer, detail}`), when given. */
  readonly details: Array<{ requestId?: string; pointer?: string; detail: string }>;

  constructor(
    code: MarginLensErrorCode,
    message: string,
    extra: {
      status?: number;
      requestIds?: string[];
      details?: Array<{ requestId?: string; pointer?: string; detail: string }>;
      cause?: unknown;
    } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    this.status = extra.status;
    this.requestIds = extra.requestIds ?? [];
    this.details = extra.details ?? [];
  }
}

/** Which part of the blocklist refused a call. */
export type BudgetScope = "organization" | "feature" | "customer";

/** Thrown by `guardedCall()` when the customer, the feature or the whole organization is over budget. */
export class BudgetExceededError extends Error {
  override readonly name = "BudgetExceededError";
  readonly customerId: string | undefined;
  readonly feature: string | undefined;
  readonly scope: BudgetScope;
  /** The blocklist version that refused the call (undefined when refused because it was unreachable). */
  readonly blocklistVersion: number | undefined;

  constructor(init: {
    customerId?: string | undefined;
    feature?: string | undefined;
    scope: BudgetScope;
    blocklistVersion?: number | undefined;
  }) {
    const what =
      init.scope === "organization"
        ? "the organization"
        : init.scope === "feature"
          ? `feature ${JSON.stringify(init.feature)}`
          : `customer ${JSON.stringify(init.customerId)}`;
    super(`MarginLens budget exceeded: ${what} is over its limit`);
    this.customerId = init.customerId;
    this.feature = init.feature;
    this.scope = init.scope;
    this.blocklistVersion = init.blocklistVersion;
  }
}
