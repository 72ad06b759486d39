import type { MarginLens } from "./client.js";
import type { RecordOptions } from "./types.js";

// Wrappers record each call's usage without changing what the app gets back: the original
// promise (openai's APIPromise, with .withResponse()) is returned untouched and observed on the
// side; a stream is the same object with its async iterator tapped. Recording never throws.

type AnyFn = (...args: unknown[]) => unknown;
type Kind = "openai" | "anthropic";
type Tree = { [key: string]: Tree | Kind };

const OPENAI_TREE: Tree = {
  chat: { completions: { create: "openai" } },
  responses: { create: "openai" },
};
const ANTHROPIC_TREE: Tree = {
  messages: { create: "anthropic" },
  beta: { messages: { create: "anthropic" } },
};

/**
 * An OpenAI client (the `openai` package, Azure OpenAI, or any object shaped like it) whose
 * `chat.completions.create` and `responses.create` record usage to MarginLens. The customer and
 * feature come from `marginlens.context(...)`, or from a per-call `marginlens: {...}` field of the
 * request body, removed before the call. Streams are recorded from their final usage chunk
 * (Chat Completions need `stream_options: { include_usage: true }`).
 */
export function wrapOpenAI<T extends object>(client: T, marginlens: MarginLens): T {
  return proxify(client, OPENAI_TREE, marginlens, new WeakMap());
}

/** An Anthropic client whose `messages.create` (and `beta.messages.create`) record usage. */
export function wrapAnthropic<T extends object>(client: T, marginlens: MarginLens): T {
  return proxify(client, ANTHROPIC_TREE, marginlens, new WeakMap());
}

function isObject(value: unknown): value is Record<PropertyKey, unknown> {
  return typeof value === "object" && value !== null;
}

function proxify<T extends object>(target: T, tree: Tree, ml: MarginLens, cache: WeakMap<object, unknown>): T {
  const cached = cache.get(target);
  if (cached) return cached as T;
  const proxy = new Proxy(target, {
    get(obj, prop) {
      // The real object as receiver: getters and #private fields need it, not the proxy.
      const value: unknown = Reflect.get(obj, prop, obj);
      const node = typeof prop === "string" && Object.prototype.hasOwnProperty.call(tree, prop) ? tree[prop] : undefined;
      if (typeof value === "function") {
        if (typeof node === "string") return recordingCall(value as AnyFn, obj, node, ml);
        return (value as AnyFn).bind(obj);
      }
      if (node !== undefined && typeof node === "object" && isObject(value)) return proxify(value, node, ml, cache);
      return value;
    },
  });
  cache.set(target, proxy);
  return proxy;
}

function recordingCall(original: AnyFn, thisArg: object, kind: Kind, ml: MarginLens): AnyFn {
  return function marginlensRecorded(...args: unknown[]): unknown {
    let options: RecordOptions = {};
    try {
      const body = args[0];
      if (isObject(body) && "marginlens" in body) {
        const { marginlens: perCall, ...rest } = body;
        if (isObject(perCall)) options = perCall as RecordOptions;
        args = [rest, ...args.slice(1)];
      }
      // Captured now: the promise settles later, possibly outside the context() scope.
      const scope = ml.currentContext();
      options = {
        ...(scope?.customerId === undefined ? {} : { customerId: scope.customerId }),
        ...(scope?.feature === undefined ? {} : { feature: scope.feature }),
        ...(scope?.metadata === undefined ? {} : { metadata: scope.metadata }),
        ...options,
      };
    } catch {
      // an odd body: call through unchanged
    }
    const result = original.apply(thisArg, args);
    try {
      observe(result, (value) => record(value, kind, options, ml));
    } catch {
      // never let recording break the call
    }
    return result;
  };
}

function observe(result: unknown, onValue: (value: unknown) => void): void {
  const then = isObject(result) ? result["then"] : undefined;
  if (typeof then === "function") {
    // Registered before the app's own await, so a stream is tapped before the app iterates it.
    (then as (ok: (v: unknown) => void, err: () => void) => unknown).call(result, onValue, () => undefined);
  } else {
    onValue(result);
  }
}

function record(value: unknown, kind: Kind, options: RecordOptions, ml: MarginLens): void {
  try {
    if (isObject(value) && typeof value[Symbol.asyncIterator] === "function" && !("usage" in value)) {
      tapStream(value, kind, options, ml);
    } else if (kind === "openai") {
      ml.trackOpenAI(value, options);
    } else {
      ml.trackAnthropic(value, options);
    }
  } catch {
    // trackX() does not throw; this is for a hostile value (a throwing getter)
  }
}

/** Replace the stream's iterator with one that keeps the chunks carrying usage, and records at the end. */
function tapStream(stream: Record<PropertyKey, unknown>, kind: Kind, options: RecordOptions, ml: MarginLens): void {
  const original = stream[Symbol.asyncIterator] as () => AsyncIterator<unknown>;
  Object.defineProperty(stream, Symbol.asyncIterator, {
    configurable: true,
    writable: true,
    value: function marginlensTapped(): AsyncIterator<unknown> {
      const inner = original.call(stream);
      const kept: unknown[] = [];
      let model: string | undefined;
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        const chunks = model === undefined ? kept : [{ model }, ...kept];
        if (kind === "openai") ml.trackOpenAIStream(chunks, options);
        else ml.trackAnthropicStream(chunks, options);
      };
      const keep = (chunk: unknown): void => {
        if (!isObject(chunk)) return;
        if (kind === "openai") {
          if (typeof chunk["model"] === "string") model = chunk["model"];
          const type = chunk["type"];
          // Chat chunks have no type (usage rides on the last one); Responses events do.
          if (type === undefined ? isObject(chunk["usage"]) : type === "response.completed" || type === "response.incomplete") {
            kept.push(chunk);
          }
        } else if (chunk["type"] === "message_start" || chunk["type"] === "message_delta") {
          kept.push(chunk);
        }
      };
      const iterator: AsyncIterator<unknown> & AsyncIterable<unknown> = {
        async next(...args: [] | [unknown]) {
          const step = await inner.next(...args);
          try {
            if (step.done) finish();
            else keep(step.value);
          } catch {
            // recording must not break iteration
          }
          return step;
        },
        async return(value?: unknown) {
          try {
            finish(); // the app stopped early: record what was seen (Anthropic's input side is known)
          } catch {
            // ignore
          }
          return inner.return ? inner.return(value) : { done: true, value };
        },
        async throw(error?: unknown) {
          if (inner.throw) return inner.throw(error);
          throw error;
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
      return iterator;
    },
  });
}
