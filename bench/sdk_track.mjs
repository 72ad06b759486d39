// How long the TypeScript SDK's `track()` takes while delivery is failing, next to a baseline
// (building the same object and pushing it onto an array). Nothing is asserted.
//
//   (cd sdk/typescript && npm ci && npm run build) && node bench/sdk_track.mjs [calls]
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { MarginLens } from "../sdk/typescript/dist/esm/index.js";

const calls = Number(process.argv[2] ?? 20000);
let failures = 0;
const server = createServer((req, res) => {
  req.resume();
  failures += 1;
  res.writeHead(failures % 2 ? 429 : 500, failures % 2 ? { "Retry-After": "1" } : {});
  res.end("{}");
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${server.address().port}`;
const client = new MarginLens({ apiKey: "bench", url, maxQueueSize: calls * 2, onError: () => {} });

const queue = [];
const baseline = [];
const tracked = [];
for (let n = 0; n < calls; n += 1) {
  let started = process.hrtime.bigint();
  queue.push({ request_id: randomUUID(), customer_id: "acct_1", model: "gpt-4o-mini", prompt_tokens: n, completion_tokens: 10 });
  baseline.push(Number(process.hrtime.bigint() - started) / 1000);
  started = process.hrtime.bigint();
  client.track({ customerId: "acct_1", model: "gpt-4o-mini", promptTokens: n, completionTokens: 10, feature: "summarize" });
  tracked.push(Number(process.hrtime.bigint() - started) / 1000);
}
const stats = (samples) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return [sorted[Math.floor(sorted.length / 2)], sorted[Math.floor(sorted.length * 0.99) - 1]];
};
console.log(`\`track()\` while the server fails (${failures} failed deliveries meanwhile), ${calls} calls:\n`);
console.log("| | median (µs) | p99 (µs) |\n|---|---:|---:|");
for (const [label, samples] of [["baseline: build the object, push it onto an array", baseline], ["`track()`", tracked]]) {
  const [median, p99] = stats(samples);
  console.log(`| ${label} | ${median.toFixed(1)} | ${p99.toFixed(1)} |`);
}
await client.close(100);
server.close();
