import type { ProviderUsage } from "./types.js";

// Pure readers of provider responses. Each returns promptTokens as the WHOLE input (what the
// server prices from), whatever the provider's own convention. They throw a TypeError when the
// response carries no usage (a stream without include_usage, an error body): the client's
// trackOpenAI()/trackAnthropic()/... catch that and report it instead.

type Obj = Record<string, unknown>;

function obj(value: unknown): Obj | undefined {
  return typeof value === "object" && value !== null ? (value as Obj) : undefined;
}

/** A token count: a non-negative integer, or undefined when absent or not a count. */
function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}

function required(value: unknown, what: string): number {
  const n = count(value);
  if (n === undefined) throw new TypeError(`MarginLens: ${what} is missing from the response`);
  return n;
}

function modelOf(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`MarginLens: ${what} is missing from the response`);
  }
  return value;
}

function usage(
  model: string,
  provider: string,
  promptTokens: number,
  completionTokens: number,
  cachedTokens?: number,
  cacheWriteTokens?: number,
): ProviderUsage {
  const result: ProviderUsage = { model, promptTokens, completionTokens, provider };
  if (cachedTokens) result.cachedTokens = cachedTokens;
  if (cacheWriteTokens) result.cacheWriteTokens = cacheWriteTokens;
  return result;
}

/**
 * OpenAI Chat Completions (`client.chat.completions.create`), also Azure OpenAI and
 * OpenAI-compatible servers. `prompt_tokens` is the whole input; `completion_tokens` includes
 * reasoning tokens.
 */
export function fromOpenAIChat(response: unknown): ProviderUsage {
  const r = obj(response);
  const u = obj(r?.["usage"]);
  if (!u) throw new TypeError("MarginLens: the chat completion has no usage");
  return usage(
    modelOf(r?.["model"], "model"),
    "openai",
    required(u["prompt_tokens"], "usage.prompt_tokens"),
    required(u["completion_tokens"], "usage.completion_tokens"),
    count(obj(u["prompt_tokens_details"])?.["cached_tokens"]),
  );
}

/** OpenAI Responses API (`client.responses.create`): `input_tokens` is the whole input. */
export function fromOpenAIResponses(response: unknown): ProviderUsage {
  const r = obj(response);
  const u = obj(r?.["usage"]);
  if (!u) throw new TypeError("MarginLens: the response has no usage");
  return usage(
    modelOf(r?.["model"], "model"),
    "openai",
    required(u["input_tokens"], "usage.input_tokens"),
    required(u["output_tokens"], "usage.output_tokens"),
    count(obj(u["input_tokens_details"])?.["cached_tokens"]),
  );
}

/**
 * A streamed OpenAI call: Chat Completions chunks (the last one carries `usage` when the request
 * set `stream_options: { include_usage: true }`), or Responses API events (`response.completed`).
 */
export function fromOpenAIStream(chunks: Iterable<unknown>): ProviderUsage {
  let model: string | undefined;
  let last: Obj | undefined;
  for (const chunk of chunks) {
    const c = obj(chunk);
    if (!c) continue;
    if (c["type"] === "response.completed" || c["type"] === "response.incomplete") {
      const response = obj(c["response"]);
      if (response && obj(response["usage"])) return fromOpenAIResponses(response);
    }
    if (typeof c["model"] === "string" && c["model"]) model = c["model"];
    if (obj(c["usage"])) last = c;
  }
  if (!last) {
    throw new TypeError(
      "MarginLens: the stream has no usage chunk (request it with stream_options: { include_usage: true })",
    );
  }
  return fromOpenAIChat({ ...last, model: typeof last["model"] === "string" && last["model"] ? last["model"] : model });
}

/**
 * Anthropic Messages (`client.messages.create`). Its `input_tokens` EXCLUDES the cache: the whole
 * input is input + cache reads + cache writes.
 */
export function fromAnthropic(response: unknown): ProviderUsage {
  const r = obj(response);
  const u = obj(r?.["usage"]);
  if (!u) throw new TypeError("MarginLens: the message has no usage");
  const input = required(u["input_tokens"], "usage.input_tokens");
  const cacheRead = count(u["cache_read_input_tokens"]) ?? 0;
  const cacheWrite = count(u["cache_creation_input_tokens"]) ?? 0;
  return usage(
    modelOf(r?.["model"], "model"),
    "anthropic",
    input + cacheRead + cacheWrite,
    required(u["output_tokens"], "usage.output_tokens"),
    cacheRead,
    cacheWrite,
  );
}

/**
 * A streamed Anthropic call (`stream: true`): `message_start` carries the model and input usage,
 * the last `message_delta` the final (cumulative) output tokens.
 */
export function fromAnthropicStream(events: Iterable<unknown>): ProviderUsage {
  let message: Obj | undefined;
  const merged: Obj = {};
  for (const event of events) {
    const e = obj(event);
    if (e?.["type"] === "message_start") {
      message = obj(e["message"]);
      Object.assign(merged, obj(message?.["usage"]));
    } else if (e?.["type"] === "message_delta") {
      // Deltas carry cumulative counts; a null field means "unchanged".
      for (const [key, value] of Object.entries(obj(e["usage"]) ?? {})) if (value != null) merged[key] = value;
    }
  }
  if (!message) throw new TypeError("MarginLens: the stream has no message_start event");
  return fromAnthropic({ model: message["model"], usage: merged });
}

/**
 * Gemini `generateContent` (Google AI and Vertex AI). Thinking tokens are billed as output, so
 * completion = candidates + thoughts; tool-use prompt tokens are input, beside promptTokenCount.
 * The model is the response's `modelVersion`, else `model`.
 */
export function fromGemini(response: unknown, model?: string): ProviderUsage {
  const r = obj(response);
  const u = obj(r?.["usageMetadata"]);
  if (!u) throw new TypeError("MarginLens: the Gemini response has no usageMetadata");
  const name = typeof r?.["modelVersion"] === "string" && r["modelVersion"] ? r["modelVersion"] : model;
  return usage(
    modelOf(name, "modelVersion (pass the model name as the second argument)"),
    "google",
    (count(u["promptTokenCount"]) ?? 0) + (count(u["toolUsePromptTokenCount"]) ?? 0),
    (count(u["candidatesTokenCount"]) ?? 0) + (count(u["thoughtsTokenCount"]) ?? 0),
    count(u["cachedContentTokenCount"]),
  );
}

/**
 * Bedrock Converse (`ConverseCommand`) or the `metadata` event of ConverseStream. Its
 * `inputTokens` excludes the cache; the model is the modelId the call was made with.
 */
export function fromBedrockConverse(response: unknown, modelId: string): ProviderUsage {
  const r = obj(response);
  const u = obj(r?.["usage"]) ?? obj(obj(r?.["metadata"])?.["usage"]);
  if (!u) throw new TypeError("MarginLens: the Converse response has no usage");
  const cacheRead = count(u["cacheReadInputTokens"]) ?? 0;
  const cacheWrite = count(u["cacheWriteInputTokens"]) ?? 0;
  return usage(
    modelOf(modelId, "modelId (the second argument)"),
    "bedrock",
    required(u["inputTokens"], "usage.inputTokens") + cacheRead + cacheWrite,
    required(u["outputTokens"], "usage.outputTokens"),
    cacheRead,
    cacheWrite,
  );
}
