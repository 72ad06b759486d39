// Removes build output folders (portable `rm -rf`): node scripts/clean.mjs [dir...]
import { rmSync } from "node:fs";

const dirs = process.argv.slice(2);
for (const dir of dirs.length ? dirs : ["dist", "dist-test"]) {
  rmSync(new URL(`../${dir}`, import.meta.url), { recursive: true, force: true });
}
