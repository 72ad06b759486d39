// Quickstart against a local server (`make run` at the repo root prints an admin key; create an
// ingest key with `marginlens keys create sdk --scope ingest`, or use the admin key locally):
//
//   npm run build
//   MARGINLENS_URL=http://127.0.0.1:8787 MARGINLENS_API_KEY=... node examples/quickstart.mjs
import { MarginLens, fromAnthropic, fromOpenAIChat } from "@marginlens/sdk";

// MARGINLENS_URL and MARGINLENS_API_KEY come from the environment. guardTimeoutMs is raised
// because the local stack's first request is a cold start of a few seconds; in an app the
// default (2 s) keeps guard() from ever holding a request for long.
const marginlens = new MarginLens({ guardTimeoutMs: 10_000 });

// 1. A call you measured yourself.
marginlens.track({
  customerId: "acme",
  feature: "summarize",
  model: "gpt-4o-mini",
  promptTokens: 1200,
  completionTokens: 180,
  cachedTokens: 1024,
});

// 2. A provider's response, read by a helper (this one is an OpenAI Chat Completions body).
const openaiResponse = {
  id: "chatcmpl-quickstart",
  object: "chat.completion",
  model: "gpt-4o-mini-2024-07-18",
  choices: [{ index: 0, message: { role: "assistant", content: "Done." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 950, completion_tokens: 42, prompt_tokens_details: { cached_tokens: 0 } },
};
marginlens.track({ customerId: "acme", feature: "chat", ...fromOpenAIChat(openaiResponse) });

// 3. The same through the client, inside a context that names the customer once.
const anthropicResponse = {
  model: "claude-haiku-4-5-20251001",
  usage: { input_tokens: 40, cache_read_input_tokens: 2048, cache_creation_input_tokens: 0, output_tokens: 310 },
};
marginlens.context({ customerId: "globex", feature: "support" }, () => {
  marginlens.trackAnthropic(anthropicResponse);
});
console.log("Anthropic reading:", fromAnthropic(anthropicResponse));

// 4. Ask before an expensive call whether its budget allows it (fails open if unreachable).
const allowed = await marginlens.guard({ customerId: "acme", feature: "image_generation" });
console.log(`image_generation for acme is ${allowed ? "allowed" : "over budget"}`);

// Deliver what is queued before the script ends.
const flushed = await marginlens.close(10_000);
console.log(flushed ? "delivered:" : "not everything was delivered:", marginlens.stats());
