// dist/cjs holds CommonJS under a "type": "module" package: this nested package.json makes Node
// (and TypeScript, for the .d.ts files beside it) read that folder as CommonJS.
import { writeFileSync } from "node:fs";

writeFileSync(new URL("../dist/cjs/package.json", import.meta.url), '{\n  "type": "commonjs"\n}\n');
