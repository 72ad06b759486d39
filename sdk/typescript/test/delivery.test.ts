import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type http from "node:http";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { MarginLens, type TrackInput } from "../src/index.js";
import {
  errorLog,
  eventsOf,
  json,
  problem,
  startIngest,
  startServer,
  unreachableUrl,
  usageAnswer,
  withTimeout,
  type FakeServer,
} from "./helpers.js";

const servers: FakeServer[] = [];
const clients: MarginLens[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close(1000)));
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(handler: Parameters<typeof startServer>[0]): Promise<FakeServer> {
  const server = await startServer(handler);
  servers.push(server);
  return server;
}

function client(url: string, options: ConstructorParameters<typeof MarginLens>[0] = {}): MarginLens {
  // A long interval: these tests flush explicitly, so nothing is sent behind their back.
  const c = new MarginLens({ apiKey: "ml_test_key", url, flushIntervalMs: 60_000, retryBaseMs: 20, ...options });
  clients.push(c);
  return c;
}

const event = (n: number, extra: Partial<TrackInput> = {}): TrackInput => ({
  customerId: "acme",
  model: "gpt-4o-mini",
  promptTokens: 100 + n,
  completionTokens: 20,
  requestId: `req-${n}`,
  ...extra,
});

describe("delivery", () => {
  test("sends batches of {events: [...]} with the key, and counts created events as sent", async () => {
    const ingest = await startIngest();
    servers.push(ingest);
    const ml = client(ingest.url);
    assert.equal(ml.track(event(1, { feature: "summarize", cachedTokens: 64 })), "req-1");
    assert.equal(await ml.flush(5000), true);
    const [request] = ingest.requests;
    assert.ok(request);
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/v1/usage");
    assert.equal(request.headers.authorization, "Bearer ml_test_key");
    assert.match(String(request.headers["content-type"]), /application\/json/);
    const [wire] = eventsOf(request);
    assert.deepEqual({ ...wire, timestamp: undefined }, {
      request_id: "req-1",
      customer_id: "acme",
      model: "gpt-4o-mini",
      prompt_tokens: 101,
      completion_tokens: 20,
      cached_tokens: 64,
      feature: "summarize",
      timestamp: undefined,
    });
    assert.deepEqual(ml.stats(), { sent: 1, duplicates: 0, rejected: 0, conflicts: 0, dropped: 0, retries: 0, invalid: 0 });
  });

  test("500 three times then 200: delivered once, 3 retries, the same request id every time", async () => {
    const server = await serve((req, res, i) => {
      if (i < 3) return problem(res, 500, "Internal Server Error", "boom");
      json(res, 200, usageAnswer(eventsOf(req)));
    });
    const ml = client(server.url);
    ml.track(event(7));
    assert.equal(await ml.flush(10_000), true);
    assert.equal(server.requests.length, 4);
    assert.deepEqual(
      server.requests.map((r) => eventsOf(r).map((e) => e.request_id)),
      [["req-7"], ["req-7"], ["req-7"], ["req-7"]],
    );
    const stats = ml.stats();
    assert.equal(stats.sent, 1);
    assert.equal(stats.retries, 3);
    assert.equal(stats.dropped, 0);
  });

  test("a retry the server already stored is a duplicate, which counts as delivered", async () => {
    const server = await serve((req, res, i) => {
      if (i === 0) return problem(res, 503, "Service Unavailable", "stored, but the answer was lost");
      json(res, 200, usageAnswer(eventsOf(req), () => "duplicate"));
    });
    const ml = client(server.url);
    ml.track(event(1));
    ml.track(event(2));
    assert.equal(await ml.flush(10_000), true);
    assert.deepEqual(ml.stats(), { sent: 0, duplicates: 2, rejected: 0, conflicts: 0, dropped: 0, retries: 1, invalid: 0 });
  });

  test("429 with Retry-After: 2 waits at least 2 s before the retry", async () => {
    const server = await serve((req, res, i) => {
      if (i === 0) return json(res, 429, { type: "about:blank", title: "Too Many Requests", status: 429 }, { "Retry-After": "2" });
      json(res, 200, usageAnswer(eventsOf(req)));
    });
    const ml = client(server.url);
    ml.track(event(1));
    assert.equal(await ml.flush(15_000), true);
    const [first, second] = server.requests;
    assert.ok(first && second);
    assert.ok(second.at - first.at >= 1995, `retried after ${Math.round(second.at - first.at)} ms`);
    assert.equal(ml.stats().sent, 1);
    assert.equal(ml.stats().retries, 1);
  });

  test("409 for the whole request: logged, counted rejected, never retried", async () => {
    const server = await serve((_req, res) => problem(res, 409, "Conflict", "This request_id was already recorded"));
    const log = errorLog();
    const ml = client(server.url, { onError: log.onError });
    ml.track(event(1));
    ml.track(event(2));
    assert.equal(await ml.flush(5000), true);
    assert.equal(server.requests.length, 1);
    assert.equal(ml.stats().rejected, 2);
    assert.equal(ml.stats().retries, 0);
    assert.equal(log.errors.length, 1);
    assert.equal(log.errors[0]?.code, "rejected");
    assert.equal(log.errors[0]?.status, 409);
    assert.match(log.errors[0]?.message ?? "", /req-1, req-2/);
  });

  test("422 with per-event results: conflicts and rejections counted and logged with their ids, never retried", async () => {
    const server = await serve((req, res) => {
      const body = usageAnswer(eventsOf(req), (_e, i) => (i === 0 ? "conflict" : "rejected"));
      json(res, 422, {
        type: "https://marginlens.dev/problems/validation-error",
        title: "Unprocessable Entity",
        status: 422,
        detail: "No event was accepted.",
        errors: [{ pointer: "/events/1/prompt_tokens", detail: "prompt_tokens must be at most 1000000000" }],
        ...body,
      });
    });
    const log = errorLog();
    const ml = client(server.url, { onError: log.onError });
    ml.track(event(1));
    ml.track(event(2));
    assert.equal(await ml.flush(5000), true);
    assert.equal(server.requests.length, 1);
    const stats = ml.stats();
    assert.equal(stats.conflicts, 1);
    assert.equal(stats.rejected, 1);
    assert.equal(stats.retries, 0);
    assert.deepEqual(log.errors.map((e) => e.code).sort(), ["conflict", "rejected"]);
    assert.match(log.errors.find((e) => e.code === "conflict")?.message ?? "", /req-1/);
    assert.match(log.errors.find((e) => e.code === "rejected")?.message ?? "", /req-2 \/events\/1\/prompt_tokens: prompt_tokens must be/);
  });

  test("a mixed 200 batch: created, duplicate, conflict and rejected each counted", async () => {
    const statuses = ["created", "duplicate", "conflict", "rejected"] as const;
    const server = await serve((req, res) => json(res, 200, usageAnswer(eventsOf(req), (_e, i) => statuses[i] ?? "created")));
    const ml = client(server.url, { onError: () => undefined });
    for (let i = 0; i < 4; i++) ml.track(event(i));
    await ml.flush(5000);
    assert.deepEqual(ml.stats(), { sent: 1, duplicates: 1, rejected: 1, conflicts: 1, dropped: 0, retries: 0, invalid: 0 });
  });

  test("401: reported as unauthorized, not retried", async () => {
    const server = await serve((_req, res) => problem(res, 401, "Unauthorized", "Unknown API key"));
    const log = errorLog();
    const ml = client(server.url, { onError: log.onError });
    ml.track(event(1));
    await ml.flush(5000);
    assert.equal(server.requests.length, 1);
    assert.equal(log.errors[0]?.code, "unauthorized");
    assert.match(log.errors[0]?.message ?? "", /Unknown API key/);
    assert.equal(ml.stats().rejected, 1);
  });

  test("413: the batch is split in halves and each half sent", async () => {
    const server = await serve((req, res) => {
      const events = eventsOf(req);
      if (events.length > 2) return problem(res, 413, "Payload Too Large", "too big");
      json(res, 200, usageAnswer(events));
    });
    const ml = client(server.url);
    for (let i = 0; i < 4; i++) ml.track(event(i));
    await ml.flush(5000);
    assert.deepEqual(server.requests.map((r) => eventsOf(r).length), [4, 2, 2]);
    assert.equal(ml.stats().sent, 4);
  });

  test("batches hold at most batchSize events, in order, one request in flight at a time", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const server = await serve((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // answer on a later turn, so a second concurrent request would have had time to arrive
      setImmediate(() => {
        inFlight--;
        json(res, 200, usageAnswer(eventsOf(req)));
      });
    });
    const ml = client(server.url, { batchSize: 100 });
    for (let i = 0; i < 250; i++) ml.track(event(i));
    assert.equal(await ml.flush(10_000), true);
    const sizes = server.requests.map((r) => eventsOf(r).length);
    assert.ok(sizes.every((n) => n <= 100), String(sizes));
    assert.equal(sizes.reduce((a, b) => a + b, 0), 250);
    const order = server.requests.flatMap((r) => eventsOf(r).map((e) => e.request_id));
    assert.deepEqual(order, Array.from({ length: 250 }, (_, i) => `req-${i}`));
    assert.equal(maxInFlight, 1);
    assert.equal(ml.stats().sent, 250);
  });

  test("batchSize > 100 is clamped to the server's limit", async () => {
    const ingest = await startIngest();
    servers.push(ingest);
    const log = errorLog();
    const ml = client(ingest.url, { batchSize: 500, onError: log.onError });
    for (let i = 0; i < 150; i++) ml.track(event(i));
    await ml.flush(5000);
    assert.deepEqual(ingest.requests.map((r) => eventsOf(r).length), [100, 50]);
    assert.equal(log.errors[0]?.code, "config");
  });

  test("reaching batchSize sends without flush()", async () => {
    const ingest = await startIngest();
    servers.push(ingest);
    const ml = client(ingest.url, { batchSize: 10 });
    for (let i = 0; i < 10; i++) ml.track(event(i));
    const [request] = await ingest.waitForRequests(1, 5000);
    assert.equal(eventsOf(request!).length, 10);
  });

  test("the interval timer sends a partial batch without flush()", async () => {
    const ingest = await startIngest();
    servers.push(ingest);
    const ml = client(ingest.url, { flushIntervalMs: 50 });
    ml.track(event(1));
    const [request] = await ingest.waitForRequests(1, 5000);
    assert.deepEqual(eventsOf(request!).map((e) => e.request_id), ["req-1"]);
  });

  test("a full queue drops the OLDEST events, counts them, and warns once per burst", async () => {
    const ingest = await startIngest();
    servers.push(ingest);
    const log = errorLog();
    const ml = client(ingest.url, { maxQueueSize: 5, onError: log.onError });
    for (let i = 0; i < 8; i++) ml.track(event(i));
    assert.equal(ml.stats().dropped, 3);
    assert.equal(ml.queued, 5);
    assert.deepEqual(log.errors.map((e) => e.code), ["queue_overflow"]);
    await ml.flush(5000);
    assert.deepEqual(
      ingest.events().map((e) => e.request_id),
      ["req-3", "req-4", "req-5", "req-6", "req-7"],
    );
    assert.equal(ml.stats().sent, 5);
  });

  test("track() after close() is a counted no-op and never throws", async () => {
    const ingest = await startIngest();
    servers.push(ingest);
    const log = errorLog();
    const ml = client(ingest.url, { onError: log.onError });
    ml.track(event(1));
    assert.equal(await ml.close(5000), true);
    assert.equal(ml.track(event(2)), undefined);
    assert.equal(ml.track(event(3)), undefined);
    assert.equal(await ml.flush(100), true);
    assert.equal(await ml.close(), true); // closing twice is fine
    assert.equal(ml.stats().sent, 1);
    assert.equal(ml.stats().dropped, 2);
    assert.equal(ingest.requests.length, 1);
    assert.ok(log.errors.every((e) => e.code === "closed"));
  });

  test("bad input never throws: counted invalid, reported, nothing sent", async () => {
    const ingest = await startIngest();
    servers.push(ingest);
    const log = errorLog();
    const ml = client(ingest.url, { onError: log.onError });
    const hostile = {
      customerId: "acme",
      promptTokens: 1,
      get model(): string {
        throw new Error("getter explodes");
      },
    };
    const bad: unknown[] = [
      null,
      undefined,
      "gpt-4o",
      42,
      {},
      { customerId: "acme", model: "gpt-4o", promptTokens: -1 },
      { customerId: "acme", model: "gpt-4o", promptTokens: Number.NaN, completionTokens: 1 },
      { customerId: "acme", model: "gpt-4o", promptTokens: 10, cachedTokens: 11 },
      { customerId: "acme", model: "gpt-4o", promptTokens: 1, requestId: "no spaces allowed" },
      { customerId: "acme", model: "gpt-4o", promptTokens: 1, metadata: { deep: { no: true } } },
      { customerId: "acme", model: "gpt-4o", promptTokens: 1, revenueAmount: Number.POSITIVE_INFINITY, revenueCurrency: "USD" },
      { model: "gpt-4o", promptTokens: 1 },
      hostile,
    ];
    for (const input of bad) {
      assert.doesNotThrow(() => ml.track(input as TrackInput));
      assert.equal(ml.track(input as TrackInput), undefined);
    }
    assert.equal(ml.stats().invalid, bad.length * 2);
    assert.equal(log.errors.length, bad.length * 2);
    assert.ok(log.errors.every((e) => e.code === "invalid_event"));
    assert.equal(await ml.flush(1000), true);
    assert.equal(ingest.requests.length, 0);
  });

  test("an unreachable server never throws: retried, then dropped and reported", async () => {
    const log = errorLog();
    const ml = client(await unreachableUrl(), { maxRetries: 2, retryBaseMs: 5, onError: log.onError });
    assert.doesNotThrow(() => ml.track(event(1)));
    assert.equal(await ml.flush(10_000), true);
    assert.deepEqual(ml.stats(), { sent: 0, duplicates: 0, rejected: 0, conflicts: 0, dropped: 1, retries: 2, invalid: 0 });
    assert.equal(log.errors.length, 1);
    assert.equal(log.errors[0]?.code, "retries_exhausted");
    assert.match(log.errors[0]?.message ?? "", /3 attempts.*req-1/);
  });

  test("a server that never answers times out per request", async () => {
    const held: http.ServerResponse[] = [];
    const server = await serve((_req, res) => {
      held.push(res); // never answered
    });
    const ml = client(server.url, { timeoutMs: 100, maxRetries: 1, retryBaseMs: 5, onError: () => undefined });
    ml.track(event(1));
    assert.equal(await ml.flush(10_000), true);
    assert.equal(server.requests.length, 2);
    assert.equal(ml.stats().dropped, 1);
    assert.equal(ml.stats().retries, 1);
  });

  test("flush() resolves false at its timeout while delivery is still retrying", async () => {
    const server = await serve((_req, res) => problem(res, 503, "Service Unavailable", "down"));
    const ml = client(server.url, { retryBaseMs: 10_000, retryMaxMs: 10_000, onError: () => undefined });
    ml.track(event(1));
    assert.equal(await ml.flush(50), false);
    await server.waitForRequests(1);
  });

  test("the timer never keeps the process alive, and beforeExit flushes what is queued", async () => {
    const ingest = await startIngest();
    servers.push(ingest);
    const entry = fileURLToPath(new URL("../src/index.js", import.meta.url));
    const script = `
      const { MarginLens } = await import(${JSON.stringify(entry)});
      const ml = new MarginLens({ url: ${JSON.stringify(ingest.url)}, apiKey: "k", flushIntervalMs: 3600000 });
      ml.track({ customerId: "acme", model: "gpt-4o-mini", promptTokens: 5, completionTokens: 1, requestId: "exit-1" });
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "pipe" });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await withTimeout(
      new Promise<number | null>((resolve) => child.on("exit", resolve)),
      10_000,
      "the child process to exit",
    );
    assert.equal(code, 0, stderr);
    assert.deepEqual(ingest.events().map((e) => e.request_id), ["exit-1"]);
  });

  test("with the server down, the exit flush is bounded: the process still exits", async () => {
    const entry = fileURLToPath(new URL("../src/index.js", import.meta.url));
    const script = `
      const { MarginLens } = await import(${JSON.stringify(entry)});
      const ml = new MarginLens({ url: ${JSON.stringify(await unreachableUrl())}, apiKey: "k", timeoutMs: 300, onError() {} });
      ml.track({ customerId: "acme", model: "gpt-4o-mini", promptTokens: 5, completionTokens: 1 });
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "pipe" });
    const started = performance.now();
    const code = await withTimeout(
      new Promise<number | null>((resolve) => child.on("exit", resolve)),
      10_000,
      "the child process to exit",
    );
    assert.equal(code, 0);
    assert.ok(performance.now() - started < 8000);
  });
});
