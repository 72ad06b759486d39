/** Full jitter (AWS architecture blog): a uniform delay in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt: number, baseMs: number, capMs: number): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** `Retry-After` as milliseconds (delta-seconds or an HTTP date), or undefined when absent/unreadable. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  // A server asking for hours would stall every flush; 5 minutes bounds it.
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** setTimeout that never keeps a Node process alive (edge runtimes have no unref: a no-op there). */
export function unrefTimer(timer: unknown): void {
  (timer as { unref?: () => void } | undefined)?.unref?.();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => unrefTimer(setTimeout(resolve, ms)));
}
