import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { MarginLens, wrapAnthropic, wrapOpenAI } from "../src/index.js";
import { anthropicMessage, anthropicStreamEvents, openAIChat, openAIResponses, openAIStreamChunks } from "./fixtures.js";
import { errorLog, json, startIngest, startServer, type FakeServer, type WireEventLike } from "./helpers.js";

// A fake OpenAI-compatible server: JSON for a plain call, SSE for `stream: true` (with the usage
// chunk only when stream_options.include_usage is set, as OpenAI does).
let openaiServer: FakeServer;
let ingest: FakeServer & { events: () => WireEventLike[] };

before(async () => {
  openaiServer = await startServer((req, res) => {
    const body = req.body as { stream?: boolean; stream_options?: { include_usage?: boolean } };
    if (req.path === "/v1/chat/completions" && body.stream) {
      const chunks = body.stream_options?.include_usage ? openAIStreamChunks : openAIStreamChunks.slice(0, -1);
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      for (const chunk of chunks) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      return void res.end("data: [DONE]\n\n");
    }
    if (req.path === "/v1/chat/completions") return json(res, 200, openAIChat);
    if (req.path === "/v1/responses") return json(res, 200, openAIResponses);
    if (req.path === "/v1/broken") return json(res, 500, { error: { message: "The server had an error", type: "server_error" } });
    json(res, 404, { error: { message: "not found" } });
  });
  ingest = await startIngest();
});
after(async () => {
  await openaiServer.close();
  await ingest.close();
});

/** An async iterable over the `data:` lines of an SSE body, like the openai package's Stream. */
class SseStream {
  readonly #response: Response;
  constructor(response: Response) {
    this.#response = response;
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<unknown> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const bytes of this.#response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(bytes, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, end).replace(/^data: /, "");
        buffer = buffer.slice(end + 2);
        if (line !== "[DONE]") yield JSON.parse(line);
      }
    }
  }
}

/** The smallest OpenAI-like client: classes with #private state, as the real SDK has. */
class Completions {
  readonly #baseURL: string;
  constructor(baseURL: string) {
    this.#baseURL = baseURL;
  }
  async create(body: Record<string, unknown>): Promise<unknown> {
    return post(`${this.#baseURL}/chat/completions`, body);
  }
}
class TinyOpenAI {
  readonly #baseURL: string;
  readonly chat: { completions: Completions };
  readonly responses: { create: (body: Record<string, unknown>) => Promise<unknown> };
  readonly broken: { create: (body: Record<string, unknown>) => Promise<unknown> };
  constructor(baseURL: string) {
    this.#baseURL = baseURL;
    this.chat = { completions: new Completions(baseURL) };
    this.responses = { create: (body) => post(`${baseURL}/responses`, body) };
    this.broken = { create: (body) => post(`${baseURL}/broken`, body) };
  }
  get baseURL(): string {
    return this.#baseURL;
  }
  models(): string[] {
    return [this.#baseURL];
  }
}

async function post(url: string, body: Record<string, unknown>): Promise<unknown> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer sk-test" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`OpenAI answered ${response.status}`);
  return body["stream"] ? new SseStream(response) : response.json();
}

function setup(onError = errorLog().onError): { ml: MarginLens; openai: TinyOpenAI } {
  const ml = new MarginLens({ apiKey: "k", url: ingest.url, flushIntervalMs: 60_000, onError });
  return { ml, openai: wrapOpenAI(new TinyOpenAI(`${openaiServer.url}/v1`), ml) };
}

function eventOf(requestCount: number): WireEventLike {
  const events = ingest.events();
  assert.equal(events.length, requestCount, JSON.stringify(events));
  return events[events.length - 1]!;
}

const messages = [{ role: "user", content: "When does the contract renew?" }];

describe("wrapOpenAI", () => {
  test("records a chat completion with the customer and feature of the current context", async () => {
    const before = ingest.events().length;
    const { ml, openai } = setup();
    const response = await ml.context({ customerId: "acme", feature: "chat" }, async () => {
      await new Promise((resolve) => setImmediate(resolve)); // the scope survives awaits
      return openai.chat.completions.create({ model: "o3-mini", messages });
    });
    assert.deepEqual(response, openAIChat, "the app gets the provider's response untouched");
    await ml.close(5000);
    const event = eventOf(before + 1);
    assert.deepEqual(
      { ...event, request_id: undefined, timestamp: undefined },
      {
        request_id: undefined,
        timestamp: undefined,
        customer_id: "acme",
        feature: "chat",
        model: "o3-mini-2025-01-31",
        provider: "openai",
        prompt_tokens: 2006,
        completion_tokens: 466,
        cached_tokens: 1920,
      },
    );
    assert.equal(ml.stats().sent, 1);
  });

  test("a per-call marginlens option is used and removed from the body sent to OpenAI", async () => {
    const before = ingest.events().length;
    const { ml, openai } = setup();
    const body = { model: "o3-mini", messages, marginlens: { customerId: "globex", feature: "summarize" } };
    await openai.chat.completions.create(body);
    await ml.close(5000);
    const sent = openaiServer.requests[openaiServer.requests.length - 1]!.body as Record<string, unknown>;
    assert.equal("marginlens" in sent, false);
    assert.deepEqual(sent["messages"], messages);
    assert.ok("marginlens" in body, "the caller's object is not mutated");
    const event = eventOf(before + 1);
    assert.equal(event.customer_id, "globex");
    assert.equal(event.feature, "summarize");
  });

  test("concurrent contexts each record their own customer", async () => {
    const before = ingest.events().length;
    const { ml, openai } = setup();
    await Promise.all(
      ["c1", "c2", "c3", "c4"].map((customerId) =>
        ml.context({ customerId }, async () => {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
          return openai.chat.completions.create({ model: "o3-mini", messages });
        }),
      ),
    );
    await ml.close(5000);
    const customers = ingest.events().slice(before).map((e) => e.customer_id).sort();
    assert.deepEqual(customers, ["c1", "c2", "c3", "c4"]);
  });

  test("a stream with include_usage is recorded from its final chunk, chunks passed through", async () => {
    const before = ingest.events().length;
    const { ml, openai } = setup();
    const stream = (await ml.context({ customerId: "acme", feature: "chat" }, () =>
      openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true, stream_options: { include_usage: true } }),
    )) as AsyncIterable<unknown>;
    const seen: unknown[] = [];
    for await (const chunk of stream) seen.push(chunk);
    assert.deepEqual(seen, openAIStreamChunks);
    await ml.close(5000);
    const event = eventOf(before + 1);
    assert.equal(event.customer_id, "acme");
    assert.equal(event.model, "gpt-4o-mini-2024-07-18");
    assert.equal(event.prompt_tokens, 1250);
    assert.equal(event.completion_tokens, 87);
    assert.equal(event.cached_tokens, 1152);
  });

  test("a stream without usage is not recorded, reported, and never throws", async () => {
    const before = ingest.events().length;
    const log = errorLog();
    const { ml, openai } = setup(log.onError);
    const stream = (await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      stream: true,
      marginlens: { customerId: "acme" },
    })) as AsyncIterable<unknown>;
    let n = 0;
    for await (const _ of stream) n++;
    assert.equal(n, openAIStreamChunks.length - 1);
    await ml.close(5000);
    assert.equal(ingest.events().length, before);
    assert.deepEqual(log.errors.map((e) => e.code), ["usage_missing"]);
    assert.match(log.errors[0]!.message, /include_usage/);
  });

  test("responses.create is recorded from the Responses API usage", async () => {
    const before = ingest.events().length;
    const { ml, openai } = setup();
    await ml.context({ customerId: "acme", feature: "agent" }, () => openai.responses.create({ model: "o4-mini", input: "hi" }));
    await ml.close(5000);
    const event = eventOf(before + 1);
    assert.equal(event.model, "o4-mini-2025-04-16");
    assert.equal(event.prompt_tokens, 3150);
    assert.equal(event.completion_tokens, 812);
    assert.equal(event.cached_tokens, 2048);
    assert.equal(event.feature, "agent");
  });

  test("a call without a customer still returns; the event is reported invalid, not sent", async () => {
    const before = ingest.events().length;
    const log = errorLog();
    const { ml, openai } = setup(log.onError);
    const response = await openai.chat.completions.create({ model: "o3-mini", messages });
    assert.deepEqual(response, openAIChat);
    await ml.close(5000);
    assert.equal(ingest.events().length, before);
    assert.equal(ml.stats().invalid, 1);
    assert.match(log.errors[0]?.message ?? "", /customerId is required/);
  });

  test("a failing provider call rejects as it would unwrapped, and nothing is recorded", async () => {
    const before = ingest.events().length;
    const { ml } = setup();
    const tiny = new TinyOpenAI(`${openaiServer.url}/v1`);
    const wrapped = wrapOpenAI({ chat: { completions: tiny.broken } }, ml);
    await assert.rejects(wrapped.chat.completions.create({ model: "x", messages }), /OpenAI answered 500/);
    await ml.close(5000);
    assert.equal(ingest.events().length, before);
  });

  test("everything else passes through to the real client (getters and methods with #private state)", () => {
    const { ml, openai } = setup();
    assert.equal(openai.baseURL, `${openaiServer.url}/v1`);
    assert.deepEqual(openai.models(), [`${openaiServer.url}/v1`]);
    assert.equal(openai.chat, openai.chat, "sub-clients keep their identity");
    void ml.close(100);
  });
});

describe("wrapAnthropic", () => {
  test("records messages.create with cache reads and writes in the whole input", async () => {
    const before = ingest.events().length;
    const ml = new MarginLens({ apiKey: "k", url: ingest.url, flushIntervalMs: 60_000 });
    const anthropic = wrapAnthropic({ messages: { create: async (_body: unknown) => anthropicMessage } }, ml);
    const response = await ml.context({ customerId: "acme", feature: "support" }, () =>
      anthropic.messages.create({ model: "claude-sonnet-4-5", max_tokens: 1024, messages }),
    );
    assert.equal(response, anthropicMessage);
    await ml.close(5000);
    const event = eventOf(before + 1);
    assert.equal(event.provider, "anthropic");
    assert.equal(event.model, "claude-sonnet-4-5-20250929");
    assert.equal(event.prompt_tokens, 21 + 10240 + 1876);
    assert.equal(event.cached_tokens, 10240);
    assert.equal(event.cache_write_tokens, 1876);
    assert.equal(event.completion_tokens, 393);
  });

  test("records a stream from message_start and the last message_delta", async () => {
    const before = ingest.events().length;
    const ml = new MarginLens({ apiKey: "k", url: ingest.url, flushIntervalMs: 60_000 });
    async function* events(): AsyncGenerator<unknown> {
      for (const event of anthropicStreamEvents) yield event;
    }
    const anthropic = wrapAnthropic({ messages: { create: async (_body: unknown) => events() } }, ml);
    const stream = await anthropic.messages.create({ stream: true, marginlens: { customerId: "initech" } });
    let n = 0;
    for await (const _ of stream) n++;
    assert.equal(n, anthropicStreamEvents.length);
    await ml.close(5000);
    const event = eventOf(before + 1);
    assert.equal(event.customer_id, "initech");
    assert.equal(event.prompt_tokens, 472 + 2048);
    assert.equal(event.completion_tokens, 158);
  });
});

describe("wrapOpenAI on the openai package's own client", () => {
  test("records one event per call, with the context's customer and feature", async () => {
    const { default: OpenAI } = await import("openai");
    const before = ingest.events().length;
    const ml = new MarginLens({ apiKey: "k", url: ingest.url, flushIntervalMs: 60_000, onError: errorLog().onError });
    const client = wrapOpenAI(new OpenAI({ apiKey: "sk-test", baseURL: `${openaiServer.url}/v1`, maxRetries: 0 }), ml);
    await ml.context({ customerId: "acme-real", feature: "summarize" }, async () => {
      await client.chat.completions.create({ model: "o3-mini", messages: [{ role: "user", content: "hi" }] });
      await client.chat.completions.create({ model: "o3-mini", messages: [{ role: "user", content: "again" }] });
    });
    await ml.close(5000);
    const events = ingest.events().slice(before);
    assert.equal(events.length, 2, JSON.stringify(events));
    for (const event of events) {
      assert.equal(event.customer_id, "acme-real");
      assert.equal(event.feature, "summarize");
      assert.equal(event.model, "o3-mini-2025-01-31");
    }
  });
});
