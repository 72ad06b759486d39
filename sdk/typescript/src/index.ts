export { MarginLens, type MarginLensOptions } from "./client.js";
export { BudgetExceededError, MarginLensError, type BudgetScope, type MarginLensErrorCode } from "./errors.js";
export {
  fromAnthropic,
  fromAnthropicStream,
  fromBedrockConverse,
  fromGemini,
  fromOpenAIChat,
  fromOpenAIResponses,
  fromOpenAIStream,
} from "./providers.js";
export { wrapAnthropic, wrapOpenAI } from "./wrappers.js";
export { toWireEvent } from "./event.js";
export type {
  Blocklist,
  FetchLike,
  MetadataValue,
  ProviderUsage,
  RecordOptions,
  Stats,
  TrackContext,
  TrackInput,
  WireEvent,
} from "./types.js";
export const VERSION = "0.1.0";
