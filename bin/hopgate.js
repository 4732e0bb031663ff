#!/usr/bin/env -S node --max-semi-space-size=2 --expose-gc --no-allocation-site-pretenuring --initial-old-space-size=64
// Entry point of the `hopgate` command: runs the TypeScript sources through tsx, so that a
// checkout works right after `npm ci`. Container images run the compiled dist/cli/main.js instead.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
