// End to end against a real MarginLens server; skipped unless the Python suite (or you) sets:
//   MARGINLENS_E2E_URL        the server's base URL
//   MARGINLENS_E2E_KEY        an `ingest` key
//   MARGINLENS_E2E_READ_KEY   a `read` key, for the P&L check (default: the ingest key)
//   MARGINLENS_E2E_CONTROL    optional URL prefix accepting POST {control}/stop and {control}/start
//   MARGINLENS_E2E_CUSTOMER   the customer id to book the events to (default: a fresh one)
// 8 concurrent workers track 125 events each; the server is stopped for about a second in the
// middle and started again; every event must end up stored exactly once.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import { MarginLens, type MarginLensError } from "../src/index.js";

const env = process.env;
const url = env["MARGINLENS_E2E_URL"]?.replace(/\/+$/, "");
const key = env["MARGINLENS_E2E_KEY"];
const readKey = env["MARGINLENS_E2E_READ_KEY"] || key;
const control = env["MARGINLENS_E2E_CONTROL"]?.replace(/\/+$/, "");
const customerId = env["MARGINLENS_E2E_CUSTOMER"] || `ts-e2e-${randomUUID().slice(0, 8)}`;

const WORKERS = 8;
const PER_WORKER = 125;
const BEFORE_STOP = 60; // events each worker tracks before the server is stopped
const WHILE_STOPPED = 40; // ... while it is stopped, paced over about a second
const PACE_MS = 25;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function command(action: "stop" | "start"): Promise<void> {
  const response = await fetch(`${control}/${action}`, { method: "POST", signal: AbortSignal.timeout(60_000) });
  assert.ok(response.ok, `POST ${control}/${action} answered ${response.status}`);
  await response.arrayBuffer();
}

test(
  "e2e: 1,000 events from 8 concurrent workers across a server restart are stored exactly once",
  { skip: url && key ? false : "set MARGINLENS_E2E_URL and MARGINLENS_E2E_KEY to run", timeout: 240_000 },
  async () => {
    const errors: MarginLensError[] = [];
    const ml = new MarginLens({ url: url!, apiKey: key!, onError: (e) => errors.push(e) });
    const runId = randomUUID().slice(0, 8);

    // Phase barriers: the coordinator stops the server once every worker has tracked its first
    // events, and starts it again once every worker has tracked its events of the outage.
    const atStop = deferred();
    const atStart = deferred();
    const stopped = deferred();
    const started = deferred();
    let reachedStop = 0;
    let reachedStart = 0;

    async function worker(w: number): Promise<void> {
      for (let i = 0; i < PER_WORKER; i++) {
        if (i === BEFORE_STOP) {
          if (++reachedStop === WORKERS) atStop.resolve();
          await stopped.promise;
        }
        if (i === BEFORE_STOP + WHILE_STOPPED) {
          if (++reachedStart === WORKERS) atStart.resolve();
          await started.promise;
        }
        ml.track({
          customerId,
          model: "gpt-4o-mini",
          promptTokens: 100 + i,
          completionTokens: 20 + w,
          feature: "e2e",
          requestId: `ts-e2e-${runId}-w${w}-${i}`,
          metadata: { worker: w, sdk: "typescript" },
        });
        const outage = i >= BEFORE_STOP && i < BEFORE_STOP + WHILE_STOPPED;
        await new Promise((resolve) => (outage ? setTimeout(resolve, PACE_MS) : setImmediate(resolve)));
      }
    }

    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await atStop.promise;
    if (control) await command("stop");
    stopped.resolve();
    await atStart.promise;
    if (control) await command("start");
    started.resolve();
    await Promise.all(workers);

    assert.equal(await ml.flush(60_000), true, "flush(60000) settled every event");
    const stats = ml.stats();
    const why = JSON.stringify({ stats, errors: errors.map((e) => e.message) });
    assert.equal(stats.sent + stats.duplicates, WORKERS * PER_WORKER, why);
    assert.equal(stats.dropped, 0, why);
    assert.equal(stats.rejected, 0, why);
    assert.equal(stats.conflicts, 0, why);
    assert.equal(stats.invalid, 0, why);
    await ml.close(5000);

    const month = new Date().toISOString().slice(0, 7);
    const response = await fetch(
      `${url}/v1/customers/${encodeURIComponent(customerId)}/pnl?consistent=true&month=${month}`,
      { headers: { Authorization: `Bearer ${readKey}` }, signal: AbortSignal.timeout(60_000) },
    );
    const body = (await response.json()) as { events?: number };
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.events, WORKERS * PER_WORKER, JSON.stringify(body));
  },
);
