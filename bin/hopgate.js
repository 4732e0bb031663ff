#!/usr/bin/env -S node --max-semi-space-size=2 --expose-gc --no-allocation-site-pretenuring --initial-old-space-size=64
// Entry point of the `hopgate` command: runs the compiled bundle dist/cli/main.js (`npm run
// build`; `npm pack` builds it in prepack), never the TypeScript sources.
import { existsSync } from "node:fs";
import process from "node:process";
import { URL } from "node:url";

const [major] = process.versions.node.split(".").map(Number);
if (major < 24) {
  process.stderr.write(
    `hopgate: Node.js 24 or newer is required (this is Node.js ${process.versions.node})\n`,
  );
  process.exit(1);
}
const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    "hopgate: dist/cli/main.js is missing; in a source checkout run `npm run build` first\n",
  );
  process.exit(1);
}
await import(main.href);
