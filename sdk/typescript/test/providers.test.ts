import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  fromAnthropic,
  fromAnthropicStream,
  fromBedrockConverse,
  fromGemini,
  fromOpenAIChat,
  fromOpenAIResponses,
  fromOpenAIStream,
  toWireEvent,
} from "../src/index.js";
import {
  anthropicMessage,
  anthropicStreamEvents,
  bedrockConverse,
  bedrockModelId,
  geminiResponse,
  openAIChat,
  openAIResponses,
  openAIResponsesStreamEvents,
  openAIStreamChunks,
} from "./fixtures.js";

describe("provider helpers (promptTokens is the whole input)", () => {
  test("OpenAI Chat Completions: prompt_tokens whole, cached from details, reasoning inside completion", () => {
    assert.deepEqual(fromOpenAIChat(openAIChat), {
      model: "o3-mini-2025-01-31",
      promptTokens: 2006,
      completionTokens: 466,
      cachedTokens: 1920,
      provider: "openai",
    });
  });

  test("OpenAI Chat Completions without cache details", () => {
    const { prompt_tokens_details: _, ...usage } = openAIChat.usage;
    assert.deepEqual(fromOpenAIChat({ ...openAIChat, usage }), {
      model: "o3-mini-2025-01-31",
      promptTokens: 2006,
      completionTokens: 466,
      provider: "openai",
    });
  });

  test("OpenAI Responses API: input_tokens whole, cached from input_tokens_details", () => {
    assert.deepEqual(fromOpenAIResponses(openAIResponses), {
      model: "o4-mini-2025-04-16",
      promptTokens: 3150,
      completionTokens: 812,
      cachedTokens: 2048,
      provider: "openai",
    });
  });

  test("Anthropic: input_tokens excludes the cache, so the whole input adds reads and writes", () => {
    assert.deepEqual(fromAnthropic(anthropicMessage), {
      model: "claude-sonnet-4-5-20250929",
      promptTokens: 21 + 10240 + 1876,
      completionTokens: 393,
      cachedTokens: 10240,
      cacheWriteTokens: 1876,
      provider: "anthropic",
    });
  });

  test("Anthropic without caching", () => {
    const message = { ...anthropicMessage, usage: { input_tokens: 1200, output_tokens: 80 } };
    assert.deepEqual(fromAnthropic(message), {
      model: "claude-sonnet-4-5-20250929",
      promptTokens: 1200,
      completionTokens: 80,
      provider: "anthropic",
    });
  });

  test("Anthropic stream: message_start input side, last message_delta output", () => {
    assert.deepEqual(fromAnthropicStream(anthropicStreamEvents), {
      model: "claude-haiku-4-5-20251001",
      promptTokens: 472 + 2048,
      completionTokens: 158,
      cachedTokens: 2048,
      provider: "anthropic",
    });
  });

  test("Gemini: thinking tokens are billed as output; modelVersion names the model", () => {
    assert.deepEqual(fromGemini(geminiResponse), {
      model: "gemini-2.5-flash",
      promptTokens: 9840,
      completionTokens: 412 + 1435,
      cachedTokens: 8192,
      provider: "google",
    });
  });

  test("Gemini: the model argument when the response has no modelVersion; missing both throws", () => {
    const { modelVersion: _, ...response } = geminiResponse;
    assert.equal(fromGemini(response, "gemini-2.5-pro").model, "gemini-2.5-pro");
    assert.throws(() => fromGemini(response), TypeError);
  });

  test("Bedrock Converse: inputTokens + cache reads + cache writes; the model is the modelId", () => {
    assert.deepEqual(fromBedrockConverse(bedrockConverse, bedrockModelId), {
      model: bedrockModelId,
      promptTokens: 184 + 3072 + 1024,
      completionTokens: 290,
      cachedTokens: 3072,
      cacheWriteTokens: 1024,
      provider: "bedrock",
    });
    // the whole input plus output is Bedrock's own total
    const u = fromBedrockConverse(bedrockConverse, bedrockModelId);
    assert.equal(u.promptTokens + u.completionTokens, bedrockConverse.usage.totalTokens);
  });

  test("Bedrock ConverseStream metadata event", () => {
    const event = { metadata: { usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 }, metrics: { latencyMs: 300 } } };
    assert.deepEqual(fromBedrockConverse(event, "amazon.nova-lite-v1:0"), {
      model: "amazon.nova-lite-v1:0",
      promptTokens: 10,
      completionTokens: 5,
      provider: "bedrock",
    });
  });

  test("OpenAI stream: the final chunk carries usage (include_usage)", () => {
    assert.deepEqual(fromOpenAIStream(openAIStreamChunks), {
      model: "gpt-4o-mini-2024-07-18",
      promptTokens: 1250,
      completionTokens: 87,
      cachedTokens: 1152,
      provider: "openai",
    });
  });

  test("OpenAI stream without include_usage throws a TypeError saying so", () => {
    assert.throws(() => fromOpenAIStream(openAIStreamChunks.slice(0, -1)), /include_usage/);
  });

  test("OpenAI Responses stream: response.completed carries usage", () => {
    assert.deepEqual(fromOpenAIStream(openAIResponsesStreamEvents), fromOpenAIResponses(openAIResponses));
  });

  test("responses without usage throw TypeError (the client's trackX() report instead)", () => {
    for (const read of [
      () => fromOpenAIChat({ model: "gpt-4o" }),
      () => fromOpenAIResponses(null),
      () => fromAnthropic({ model: "claude" }),
      () => fromGemini({}, "gemini-2.5-flash"),
      () => fromBedrockConverse({}, bedrockModelId),
      () => fromAnthropicStream([]),
      () => fromOpenAIChat({ usage: { prompt_tokens: 1, completion_tokens: 1 } }),
    ]) {
      assert.throws(read, TypeError);
    }
  });

  test("every helper's result is a valid event once a customer is added", () => {
    for (const usage of [
      fromOpenAIChat(openAIChat),
      fromOpenAIResponses(openAIResponses),
      fromAnthropic(anthropicMessage),
      fromGemini(geminiResponse),
      fromBedrockConverse(bedrockConverse, bedrockModelId),
      fromOpenAIStream(openAIStreamChunks),
    ]) {
      const result = toWireEvent({ ...usage, customerId: "acme" });
      assert.ok(result.ok, JSON.stringify(result));
    }
  });
});

describe("toWireEvent (camelCase in, snake_case wire out)", () => {
  test("maps every field", () => {
    const result = toWireEvent({
      customerId: "acct_123",
      model: "gpt-4o-mini",
      provider: "openai",
      promptTokens: 120,
      completionTokens: 80,
      cachedTokens: 100,
      cacheWriteTokens: 10,
      feature: "summarize",
      requestId: "req_abc123",
      timestamp: new Date("2026-12-02T10:00:00.000Z"),
      revenueAmount: "0.02",
      revenueCurrency: "usd",
      metadata: { plan: "pro", seats: 3, trial: false, ratio: 0.1 + 0.2 },
    });
    assert.deepEqual(result, {
      ok: true,
      event: {
        request_id: "req_abc123",
        customer_id: "acct_123",
        model: "gpt-4o-mini",
        provider: "openai",
        prompt_tokens: 120,
        completion_tokens: 80,
        cached_tokens: 100,
        cache_write_tokens: 10,
        timestamp: "2026-12-02T10:00:00.000Z",
        feature: "summarize",
        revenue_amount: "0.02",
        revenue_currency: "USD",
        // rounded to the 15 digits the server keeps, instead of 0.30000000000000004
        metadata: { plan: "pro", seats: 3, trial: false, ratio: 0.3 },
      },
    });
  });

  test("generates a UUID request id and stamps the time of the call", () => {
    const before = Date.now();
    const result = toWireEvent({ customerId: "c", model: "gpt-4o", promptTokens: 1, completionTokens: 2 });
    assert.ok(result.ok);
    assert.match(result.event.request_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const at = Date.parse(result.event.timestamp);
    assert.ok(at >= before && at <= Date.now());
    assert.equal(result.event.feature, undefined); // the server's default applies
  });

  test("refuses what the server would refuse, with a reason", () => {
    const base = { customerId: "c", model: "gpt-4o", promptTokens: 10, completionTokens: 2 };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...base, customerId: undefined }, /customerId is required/],
      [{ ...base, customerId: "a#b" }, /customerId/],
      [{ ...base, model: "" }, /model/],
      [{ ...base, promptTokens: -1 }, /promptTokens/],
      [{ ...base, promptTokens: 1.5 }, /promptTokens/],
      [{ ...base, promptTokens: Number.NaN }, /promptTokens/],
      [{ ...base, completionTokens: "3" }, /completionTokens/],
      [{ ...base, cachedTokens: 8, cacheWriteTokens: 3 }, /cannot exceed/],
      [{ ...base, requestId: "has space" }, /requestId/],
      [{ ...base, requestId: "x".repeat(129) }, /requestId/],
      [{ ...base, feature: "a/b" }, /feature/],
      [{ ...base, timestamp: "yesterday" }, /timestamp/],
      [{ ...base, timestamp: "2026-12-02T10:00:00" }, /timestamp/], // no offset
      [{ ...base, revenueAmount: "1.2.3", revenueCurrency: "USD" }, /revenueAmount/],
      [{ ...base, revenueAmount: "1.20" }, /revenueCurrency/],
      [{ ...base, metadata: { nested: { a: 1 } } }, /metadata/],
      [{ ...base, metadata: { big: "x".repeat(3000) } }, /2048 bytes/],
      [{ ...base, metadata: { n: 2 ** 60 } }, /2\^53/],
    ];
    for (const [input, reason] of cases) {
      const result = toWireEvent(input);
      assert.equal(result.ok, false, JSON.stringify(input).slice(0, 80));
      if (!result.ok) assert.match(result.reason, reason);
    }
    assert.equal(toWireEvent(null).ok, false);
    assert.equal(toWireEvent("event").ok, false);
  });
});
