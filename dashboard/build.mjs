// Builds the dashboard into shared/marginlens/dashboard/static/ (served by the Python side),
// or, with --tests, the unit tests into dist-test/ for `node --test`.
import * as esbuild from "esbuild";
import { readdir, readFile, rm, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, "../shared/marginlens/dashboard/static");
const testOut = path.resolve(here, "dist-test");

async function buildTests() {
  const files = (await readdir(path.join(here, "test"))).filter((name) => name.endsWith(".test.ts"));
  await rm(testOut, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: files.map((name) => path.join(here, "test", name)),
    outdir: testOut,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["node:*"],
    logLevel: "warning",
  });
}

async function buildApp() {
  // Old hashed files would pile up: the directory holds this build only.
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: { app: path.join(here, "src/main.tsx") },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    target: "es2022",
    minify: true,
    metafile: true,
    entryNames: "[name]-[hash]",
    chunkNames: "chunk-[hash]",
    assetNames: "asset-[hash]",
    jsx: "automatic",
    jsxImportSource: "preact",
    define: { "process.env.NODE_ENV": '"production"' },
    legalComments: "eof",
    logLevel: "warning",
  });
  const outputs = Object.entries(result.metafile.outputs);
  const entry = outputs.find(([, output]) => output.entryPoint && output.entryPoint.endsWith("src/main.tsx"));
  if (!entry) throw new Error("no entry output in the metafile");
  const [jsPath, jsOutput] = entry;
  const cssPath = jsOutput.cssBundle;
  if (!cssPath) throw new Error("no CSS bundle for the entry");
  const name = (file) => path.basename(file);
  const template = await readFile(path.join(here, "src/index.html"), "utf8");
  // Relative URLs: the page may live under a stage prefix (/prod/dashboard/).
  const html = template
    .replace("<!-- app.css -->", `<link rel="stylesheet" href="${name(cssPath)}" />`)
    .replace("<!-- app.js -->", `<script type="module" src="${name(jsPath)}"></script>`);
  await writeFile(path.join(outdir, "index.html"), html);
  for (const [file, output] of outputs) console.log(`${name(file).padEnd(28)} ${(output.bytes / 1024).toFixed(1)} KiB`);
}

if (process.argv.includes("--tests")) await buildTests();
else await buildApp();
