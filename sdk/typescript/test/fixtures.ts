// Response shapes as the providers return them (ids shortened), with cache and reasoning tokens.

/** OpenAI Chat Completions, a reasoning model reading most of its prompt from the cache. */
export const openAIChat = {
  id: "chatcmpl-BEZcNxK3dRf6yYc2bq9hUeAG7lMwx",
  object: "chat.completion",
  created: 1742741447,
  model: "o3-mini-2025-01-31",
  choices: [
    {
      index: 0,
      message: { role: "assistant", content: "The contract renews on 1 March.", refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: "stop",
    },
  ],
  usage: {
    prompt_tokens: 2006,
    completion_tokens: 466,
    total_tokens: 2472,
    prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 320,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  },
  service_tier: "default",
  system_fingerprint: "fp_42bfad963b",
};

/** OpenAI Responses API, with reasoning and cached input. */
export const openAIResponses = {
  id: "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41",
  object: "response",
  created_at: 1741476777,
  status: "completed",
  error: null,
  incomplete_details: null,
  model: "o4-mini-2025-04-16",
  output: [
    { type: "reasoning", id: "rs_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41", summary: [] },
    {
      type: "message",
      id: "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: "Three invoices are overdue.", annotations: [] }],
    },
  ],
  reasoning: { effort: "medium", summary: null },
  usage: {
    input_tokens: 3150,
    input_tokens_details: { cached_tokens: 2048 },
    output_tokens: 812,
    output_tokens_details: { reasoning_tokens: 576 },
    total_tokens: 3962,
  },
};

/** Anthropic Messages with a cache read and a cache write (input_tokens excludes both). */
export const anthropicMessage = {
  id: "msg_01XFDUDYJgAACzvnptvVoYEL",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-5-20250929",
  content: [{ type: "text", text: "Here is the summary of the ticket history." }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: {
    input_tokens: 21,
    cache_creation_input_tokens: 1876,
    cache_read_input_tokens: 10240,
    cache_creation: { ephemeral_5m_input_tokens: 1876, ephemeral_1h_input_tokens: 0 },
    output_tokens: 393,
    service_tier: "standard",
  },
};

/** Gemini generateContent with thinking tokens and implicit caching. */
export const geminiResponse = {
  candidates: [
    {
      content: { parts: [{ text: "The churn risk is highest for accounts on the legacy plan." }], role: "model" },
      finishReason: "STOP",
      index: 0,
    },
  ],
  usageMetadata: {
    promptTokenCount: 9840,
    candidatesTokenCount: 412,
    totalTokenCount: 11687,
    cachedContentTokenCount: 8192,
    promptTokensDetails: [{ modality: "TEXT", tokenCount: 9840 }],
    cacheTokensDetails: [{ modality: "TEXT", tokenCount: 8192 }],
    thoughtsTokenCount: 1435,
  },
  modelVersion: "gemini-2.5-flash",
  responseId: "mKfZaOq2Kf2Hz7IPwK2u2Ak",
};

/** Bedrock Converse with prompt caching (inputTokens excludes cache reads and writes). */
export const bedrockConverse = {
  $metadata: { httpStatusCode: 200, requestId: "4f1c8d2e-0b6a-4a9e-9d0e-5c7b1f3a2e10", attempts: 1, totalRetryDelay: 0 },
  output: {
    message: { role: "assistant", content: [{ text: "Your order ships tomorrow." }] },
  },
  stopReason: "end_turn",
  usage: {
    inputTokens: 184,
    outputTokens: 290,
    totalTokens: 4570,
    cacheReadInputTokens: 3072,
    cacheWriteInputTokens: 1024,
  },
  metrics: { latencyMs: 2214 },
};
export const bedrockModelId = "anthropic.claude-3-7-sonnet-20250219-v1:0";

const chunkBase = {
  id: "chatcmpl-BJq8SRp7d1yQ6z2vN0cXkLmP4tHsE",
  object: "chat.completion.chunk",
  created: 1744110000,
  model: "gpt-4o-mini-2024-07-18",
  service_tier: "default",
  system_fingerprint: "fp_b376dfbbd5",
};

/** A Chat Completions stream with `stream_options: { include_usage: true }`. */
export const openAIStreamChunks = [
  {
    ...chunkBase,
    choices: [{ index: 0, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null }],
    usage: null,
  },
  { ...chunkBase, choices: [{ index: 0, delta: { content: "Hello" }, logprobs: null, finish_reason: null }], usage: null },
  { ...chunkBase, choices: [{ index: 0, delta: { content: " there" }, logprobs: null, finish_reason: null }], usage: null },
  { ...chunkBase, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }], usage: null },
  {
    ...chunkBase,
    choices: [],
    usage: {
      prompt_tokens: 1250,
      completion_tokens: 87,
      total_tokens: 1337,
      prompt_tokens_details: { cached_tokens: 1152, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
  },
];

/** Responses API stream events (abridged to the ones that matter). */
export const openAIResponsesStreamEvents = [
  { type: "response.created", sequence_number: 0, response: { ...openAIResponses, status: "in_progress", output: [], usage: null } },
  { type: "response.output_text.delta", sequence_number: 1, item_id: "msg_1", output_index: 1, content_index: 0, delta: "Three" },
  { type: "response.completed", sequence_number: 2, response: openAIResponses },
];

/** An Anthropic stream: message_start has the input side, message_delta the final output count. */
export const anthropicStreamEvents = [
  {
    type: "message_start",
    message: {
      id: "msg_014p7gG3wDgGV9EUtLvnow3U",
      type: "message",
      role: "assistant",
      model: "claude-haiku-4-5-20251001",
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 472, cache_creation_input_tokens: 0, cache_read_input_tokens: 2048, output_tokens: 2 },
    },
  },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "ping" },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Okay, let's" } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 158 } },
  { type: "message_stop" },
];
