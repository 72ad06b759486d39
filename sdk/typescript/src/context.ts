// AsyncLocalStorage without importing node:async_hooks statically, so the bundle also loads on
// edge runtimes. Found, in order: the global some edge runtimes expose, Node's
// process.getBuiltinModule (Node 20.16+), or a dynamic import started when this module loads
// (Node 18/older 20: ready a tick later). Without one, context() still covers the synchronous
// part of its callback, which is where a wrapped client call captures it.

interface Storage<T> {
  run<R>(store: T, fn: () => R): R;
  getStore(): T | undefined;
}
type StorageClass = new <T>() => Storage<T>;

const MODULE = "node:async_hooks";
let storageClass: StorageClass | undefined = findSync();

function findSync(): StorageClass | undefined {
  const g = globalThis as {
    AsyncLocalStorage?: unknown;
    process?: { getBuiltinModule?: (id: string) => unknown };
  };
  if (typeof g.AsyncLocalStorage === "function") return g.AsyncLocalStorage as StorageClass;
  try {
    const hooks = g.process?.getBuiltinModule?.(MODULE) as { AsyncLocalStorage?: StorageClass } | undefined;
    if (typeof hooks?.AsyncLocalStorage === "function") return hooks.AsyncLocalStorage;
  } catch {
    // not Node, or a sandbox that refuses builtins
  }
  return undefined;
}

if (!storageClass && typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string") {
  const specifier = MODULE; // a variable: bundlers targeting the edge must not try to resolve it
  import(/* webpackIgnore: true */ specifier).then(
    (hooks: { AsyncLocalStorage?: StorageClass }) => {
      storageClass ??= hooks.AsyncLocalStorage;
    },
    () => undefined,
  );
}

/** A context scope per client: AsyncLocalStorage where available, else the synchronous fallback. */
export class ContextStore<T> {
  private storage: Storage<T> | undefined;
  private syncCurrent: T | undefined;

  /** Whether scopes follow awaits (AsyncLocalStorage) or only the synchronous part of fn. */
  get propagatesAcrossAwait(): boolean {
    return this.resolve() !== undefined;
  }

  run<R>(store: T, fn: () => R): R {
    const storage = this.resolve();
    if (storage) return storage.run(store, fn);
    const previous = this.syncCurrent;
    this.syncCurrent = store;
    try {
      return fn();
    } finally {
      this.syncCurrent = previous;
    }
  }

  current(): T | undefined {
    return this.storage?.getStore() ?? this.syncCurrent;
  }

  private resolve(): Storage<T> | undefined {
    if (!this.storage && storageClass) this.storage = new storageClass<T>();
    return this.storage;
  }
}
