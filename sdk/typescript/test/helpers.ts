// Test support: fake HTTP servers on loopback, and waits on conditions with bounded timeouts
// (never a fixed sleep to synchronize).
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  /** performance.now() when the request arrived. */
  at: number;
}

export type Handler = (
  request: Received,
  response: http.ServerResponse,
  index: number,
) => void | Promise<void>;

export interface FakeServer {
  url: string;
  requests: Received[];
  /** Resolves once `n` requests have arrived (rejects after `timeoutMs`). */
  waitForRequests(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startServer(handler: Handler): Promise<FakeServer> {
  const requests: Received[] = [];
  let waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // keep the text
      }
      const received: Received = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body,
        at: performance.now(),
      };
      const index = requests.push(received) - 1;
      const ready = waiters.filter((w) => requests.length >= w.n);
      waiters = waiters.filter((w) => requests.length < w.n);
      for (const w of ready) w.resolve();
      Promise.resolve(handler(received, res, index)).catch((error: unknown) => {
        res.writeHead(599).end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    waitForRequests(n, timeoutMs = 10_000) {
      if (requests.length >= n) return Promise.resolve(requests.slice());
      return withTimeout(
        new Promise<void>((resolve) => waiters.push({ n, resolve })),
        timeoutMs,
        `${n} requests (got ${requests.length})`,
      ).then(() => requests.slice());
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A URL nothing listens on: a port just freed. */
export async function unreachableUrl(): Promise<string> {
  const server = await startServer(() => undefined);
  await server.close();
  return server.url;
}

export function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const type = status >= 400 && !("results" in (body as object)) ? "application/problem+json" : "application/json";
  res.writeHead(status, { "Content-Type": type, ...headers }).end(JSON.stringify(body));
}

export function problem(res: http.ServerResponse, status: number, title: string, detail: string): void {
  res
    .writeHead(status, { "Content-Type": "application/problem+json" })
    .end(JSON.stringify({ type: `https://marginlens.dev/problems/${status}`, title, status, detail }));
}

export interface WireEventLike {
  request_id: string;
  customer_id: string;
  [key: string]: unknown;
}

export function eventsOf(request: Received): WireEventLike[] {
  return (request.body as { events: WireEventLike[] }).events;
}

/** The 200 answer of the real server, every event `status` (default created). */
export function usageAnswer(
  events: WireEventLike[],
  status: (event: WireEventLike, index: number) => "created" | "duplicate" | "conflict" | "rejected" = () =>
    "created",
): { created: number; duplicates: number; conflicts: number; rejected: number; results: unknown[] } {
  const results = events.map((event, index) => {
    const s = status(event, index);
    return {
      index,
      request_id: event.request_id,
      status: s,
      cost: s === "rejected" ? null : "0.000066",
      currency: "USD",
      price_status: "priced",
      ...(s === "rejected"
        ? { error: { pointer: `/events/${index}/prompt_tokens`, detail: "prompt_tokens must be at most 1000000000" } }
        : {}),
    };
  });
  const count = (s: string) => results.filter((r) => r.status === s).length;
  return {
    created: count("created"),
    duplicates: count("duplicate"),
    conflicts: count("conflict"),
    rejected: count("rejected"),
    results,
  };
}

/** A fake POST /v1/usage that stores every event and answers created (or duplicate when seen before). */
export async function startIngest(): Promise<FakeServer & { events: () => WireEventLike[] }> {
  const seen = new Map<string, WireEventLike>();
  const server = await startServer((req, res) => {
    if (req.method !== "POST" || req.path !== "/v1/usage") return problem(res, 404, "Not Found", req.path);
    const events = eventsOf(req);
    const answer = usageAnswer(events, (e) => (seen.has(e.request_id) ? "duplicate" : "created"));
    for (const e of events) if (!seen.has(e.request_id)) seen.set(e.request_id, e);
    json(res, 200, answer);
  });
  return Object.assign(server, { events: () => [...seen.values()] });
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Poll `condition` (every 20 ms) until it holds; fail after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A collecting onError, for asserting on what the client reported. */
export function errorLog(): { errors: Array<{ code: string; message: string; status?: number | undefined }>; onError: (e: { code: string; message: string; status?: number | undefined }) => void } {
  const errors: Array<{ code: string; message: string; status?: number | undefined }> = [];
  return { errors, onError: (e) => errors.push({ code: e.code, message: e.message, status: e.status }) };
}
