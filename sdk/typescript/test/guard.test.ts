import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { BudgetExceededError, MarginLens, type Blocklist } from "../src/index.js";
import { errorLog, json, startServer, unreachableUrl, waitFor, type FakeServer } from "./helpers.js";

const servers: FakeServer[] = [];
const clients: MarginLens[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close(1000)));
  await Promise.all(servers.map((s) => s.close()));
});

/** A fake GET /v1/budgets/blocklist answering whatever `state.list` is now. */
async function blocklistServer(list: Blocklist): Promise<FakeServer & { state: { list: Blocklist } }> {
  const state = { list };
  const server = await startServer((req, res) => {
    if (req.method === "GET" && req.path === "/v1/budgets/blocklist") return json(res, 200, state.list);
    json(res, 404, { type: "about:blank", title: "Not Found", status: 404 });
  });
  servers.push(server);
  return Object.assign(server, { state });
}

function client(url: string, options: ConstructorParameters<typeof MarginLens>[0] = {}): MarginLens {
  const c = new MarginLens({ apiKey: "ml_ingest_key", url, ...options });
  clients.push(c);
  return c;
}

const blocklist = (version: number, ttl: number, blocked: Partial<Blocklist["blocked"]> = {}): Blocklist => ({
  version,
  ttl_seconds: ttl,
  blocked: { organization: false, features: [], customers: [], ...blocked },
});

describe("guard", () => {
  test("refuses a blocked feature or customer, allows the rest, from one cached fetch", async () => {
    const server = await blocklistServer(blocklist(7, 30, { features: ["image_generation"], customers: ["plexo"] }));
    const ml = client(server.url);
    assert.equal(await ml.guard({ customerId: "acme", feature: "image_generation" }), false);
    assert.equal(await ml.guard({ customerId: "acme", feature: "summarize" }), true);
    assert.equal(await ml.guard({ customerId: "plexo", feature: "summarize" }), false);
    assert.equal(await ml.guard({ customerId: "acme" }), true); // feature "default"
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]?.headers.authorization, "Bearer ml_ingest_key");
  });

  test("guardedCall throws BudgetExceededError when refused, without calling fn", async () => {
    const server = await blocklistServer(blocklist(7, 30, { features: ["image_generation"] }));
    const ml = client(server.url);
    let called = false;
    await assert.rejects(
      ml.guardedCall({ customerId: "acme", feature: "image_generation" }, () => {
        called = true;
        return "image";
      }),
      (error: unknown) => {
        assert.ok(error instanceof BudgetExceededError);
        assert.equal(error.name, "BudgetExceededError");
        assert.equal(error.scope, "feature");
        assert.equal(error.feature, "image_generation");
        assert.equal(error.customerId, "acme");
        assert.equal(error.blocklistVersion, 7);
        return true;
      },
    );
    assert.equal(called, false);
  });

  test("guardedCall runs fn inside the customer's context and returns its result", async () => {
    const server = await blocklistServer(blocklist(1, 30));
    const ml = client(server.url);
    const result = await ml.guardedCall({ customerId: "acme", feature: "summarize" }, async () => {
      await Promise.resolve();
      return ml.currentContext();
    });
    assert.deepEqual(result, { customerId: "acme", feature: "summarize" });
  });

  test("an organization-wide block refuses everything", async () => {
    const server = await blocklistServer(blocklist(3, 30, { organization: true }));
    const ml = client(server.url);
    assert.equal(await ml.guard({ customerId: "acme", feature: "summarize" }), false);
    await assert.rejects(ml.guardedCall({ customerId: "acme" }, () => 1), { scope: "organization" });
  });

  test("allows again once the ttl has passed and the blocklist version changed", async () => {
    const server = await blocklistServer(blocklist(7, 1, { features: ["image_generation"] }));
    const ml = client(server.url);
    const scope = { customerId: "acme", feature: "image_generation" };
    assert.equal(await ml.guard(scope), false);
    server.state.list = blocklist(8, 1); // the budget was raised: nothing blocked
    assert.equal(await ml.guard(scope), false, "still the cached list within its ttl");
    assert.equal(server.requests.length, 1);
    await waitFor(() => ml.guard(scope), 5000, "guard to allow after the ttl");
    assert.equal(server.requests.length, 2);
    assert.equal((await ml.blocklist())?.version, 8);
  });

  test("concurrent guards share one request", async () => {
    const server = await blocklistServer(blocklist(1, 30));
    const ml = client(server.url);
    const answers = await Promise.all(Array.from({ length: 20 }, () => ml.guard({ customerId: "acme" })));
    assert.ok(answers.every(Boolean));
    assert.equal(server.requests.length, 1);
  });

  test("fails open when the blocklist is unreachable, and reports it once", async () => {
    const log = errorLog();
    const ml = client(await unreachableUrl(), { onError: log.onError });
    for (let i = 0; i < 3; i++) assert.equal(await ml.guard({ customerId: "acme", feature: "image_generation" }), true);
    assert.equal(await ml.guardedCall({ customerId: "acme", feature: "image_generation" }, () => "ran"), "ran");
    assert.deepEqual(log.errors.map((e) => e.code), ["guard_unavailable"]);
  });

  test("fails open on an error answer (a key without the scope)", async () => {
    const server = await startServer((_req, res) => json(res, 403, { type: "about:blank", title: "Forbidden", status: 403 }));
    servers.push(server);
    const ml = client(server.url, { onError: () => undefined });
    assert.equal(await ml.guard({ customerId: "acme" }), true);
  });

  test("failClosed refuses when the blocklist is unreachable", async () => {
    const ml = client(await unreachableUrl(), { failClosed: true, onError: () => undefined });
    assert.equal(await ml.guard({ customerId: "acme" }), false);
    await assert.rejects(ml.guardedCall({ customerId: "acme" }, () => 1), BudgetExceededError);
  });

  test("a blocklist slower than guardTimeoutMs fails open at once, and fills the cache when it arrives", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const server = await startServer(async (_req, res) => {
      await released;
      json(res, 200, blocklist(4, 30, { features: ["image_generation"] }));
    });
    servers.push(server);
    const log = errorLog();
    const ml = client(server.url, { guardTimeoutMs: 100, onError: log.onError });
    const scope = { customerId: "acme", feature: "image_generation" };
    const started = performance.now();
    assert.equal(await ml.guard(scope), true, "fail open while the blocklist is slow");
    assert.ok(performance.now() - started < 2000);
    release();
    await waitFor(async () => (await ml.guard(scope)) === false, 5000, "the late blocklist to be used");
    assert.equal(server.requests.length, 1, "the slow request was not abandoned and repeated");
    assert.deepEqual(log.errors, [], "slowness alone is not reported");
  });

  test("a blocklist that never answers is given up after timeoutMs and reported", async () => {
    const server = await startServer(() => undefined); // never answers
    servers.push(server);
    const log = errorLog();
    const ml = client(server.url, { guardTimeoutMs: 50, timeoutMs: 200, onError: log.onError });
    assert.equal(await ml.guard({ customerId: "acme" }), true);
    await waitFor(() => log.errors.length > 0, 5000, "the failure to be reported");
    assert.equal(log.errors[0]?.code, "guard_unavailable");
    assert.match(log.errors[0]?.message ?? "", /timed out after 200 ms/);
  });
});
