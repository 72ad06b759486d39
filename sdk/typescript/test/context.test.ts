import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { MarginLens } from "../src/index.js";
import { eventsOf, startIngest } from "./helpers.js";

const ingest = await startIngest();
after(() => ingest.close());

describe("context", () => {
  test("track() takes customer, feature and metadata from the scope; explicit arguments win", async () => {
    const ml = new MarginLens({ apiKey: "k", url: ingest.url, flushIntervalMs: 60_000 });
    ml.context({ customerId: "acme", feature: "chat", metadata: { plan: "pro", region: "eu" } }, () => {
      ml.track({ model: "gpt-4o-mini", promptTokens: 1, completionTokens: 1, requestId: "ctx-1" });
      ml.context({ feature: "search", metadata: { region: "us" } }, () => {
        ml.track({ model: "gpt-4o-mini", promptTokens: 1, completionTokens: 1, requestId: "ctx-2" });
        ml.track({
          customerId: "globex",
          model: "gpt-4o-mini",
          promptTokens: 1,
          completionTokens: 1,
          requestId: "ctx-3",
          metadata: { region: "ap" },
        });
      });
    });
    assert.equal(ml.currentContext(), undefined, "the scope ends with the callback");
    await ml.close(5000);
    const events = ingest.requests.flatMap(eventsOf);
    const pick = (id: string) => {
      const e = events.find((x) => x.request_id === id)!;
      return { customer: e.customer_id, feature: e["feature"], metadata: e["metadata"] };
    };
    assert.deepEqual(pick("ctx-1"), { customer: "acme", feature: "chat", metadata: { plan: "pro", region: "eu" } });
    assert.deepEqual(pick("ctx-2"), { customer: "acme", feature: "search", metadata: { plan: "pro", region: "us" } });
    assert.deepEqual(pick("ctx-3"), { customer: "globex", feature: "search", metadata: { plan: "pro", region: "ap" } });
  });

  test("context() returns the callback's value and follows awaits", async () => {
    const ml = new MarginLens({ apiKey: "k", url: ingest.url });
    const value = await ml.context({ customerId: "acme" }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return ml.currentContext()?.customerId;
    });
    assert.equal(value, "acme");
    await ml.close(100);
  });

  test("the client reads MARGINLENS_URL and MARGINLENS_API_KEY when not given them", async () => {
    const saved = { url: process.env["MARGINLENS_URL"], key: process.env["MARGINLENS_API_KEY"] };
    process.env["MARGINLENS_URL"] = `${ingest.url}/`;
    process.env["MARGINLENS_API_KEY"] = "from-env";
    try {
      const ml = new MarginLens();
      assert.equal(ml.url, ingest.url);
      ml.track({ customerId: "acme", model: "gpt-4o-mini", promptTokens: 1, completionTokens: 1 });
      await ml.close(5000);
      assert.equal(ingest.requests[ingest.requests.length - 1]?.headers.authorization, "Bearer from-env");
    } finally {
      for (const [name, value] of [["MARGINLENS_URL", saved.url], ["MARGINLENS_API_KEY", saved.key]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
