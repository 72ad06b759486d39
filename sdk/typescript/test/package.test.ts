// The published entry points: the ESM and CommonJS builds load through package.json's exports
// and export the same names; neither imports a Node builtin statically (edge runtimes lack them).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, test } from "node:test";

const require = createRequire(import.meta.url);
const distDir = new URL("../../dist/", import.meta.url);
// A variable, so `tsc --noEmit` does not need dist/ to exist (typecheck runs before any build).
const PACKAGE = "@marginlens/sdk";

describe("package", () => {
  test("import and require of @marginlens/sdk give the same API", async () => {
    const esm = (await import(PACKAGE)) as Record<string, unknown>;
    const cjs = require(PACKAGE) as Record<string, unknown>;
    assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
    for (const name of ["MarginLens", "BudgetExceededError", "wrapOpenAI", "wrapAnthropic", "fromOpenAIChat", "fromGemini"]) {
      assert.equal(typeof esm[name], "function", name);
      assert.equal(typeof cjs[name], "function", name);
    }
    assert.match(require.resolve(PACKAGE), /dist[\\/]cjs[\\/]index\.js$/);
  });

  test("the CommonJS build works on its own", async () => {
    const { MarginLens, fromAnthropic } = require(PACKAGE) as typeof import("../src/index.js");
    const ml = new MarginLens({ apiKey: "k", url: "http://127.0.0.1:9", onError: () => undefined });
    assert.equal(typeof ml.track({ customerId: "a", model: "gpt-4o", promptTokens: 1, completionTokens: 1 }), "string");
    assert.equal(await ml.close(10), false);
    assert.equal(fromAnthropic({ model: "claude", usage: { input_tokens: 1, output_tokens: 2 } }).promptTokens, 1);
  });

  test("no build file imports a Node builtin statically", () => {
    for (const flavour of ["esm", "cjs"]) {
      const dir = new URL(`${flavour}/`, distDir);
      for (const file of readdirSync(dir).filter((f) => f.endsWith(".js"))) {
        const code = readFileSync(new URL(file, dir), "utf8");
        assert.doesNotMatch(code, /from\s+["'](node:)?(async_hooks|http|fs|crypto|events|net|module)["']/, file);
        assert.doesNotMatch(code, /require\(["'](node:)?[a-z_]+["']\)/, file);
      }
    }
  });

  test("type declarations exist for both builds", () => {
    readFileSync(new URL("types/index.d.ts", distDir));
    readFileSync(new URL("cjs/index.d.ts", distDir));
    assert.equal(JSON.parse(readFileSync(new URL("cjs/package.json", distDir), "utf8")).type, "commonjs");
  });
});
