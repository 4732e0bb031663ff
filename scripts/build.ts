// `npm run build`: bundles the CLI into dist/cli/ with esbuild (type-checking is `npm run
// typecheck`). One entry, src/cli/main.ts; the modules loaded on demand (server, client, demo,
// admin API, ACME, X.509, PostgreSQL) stay separate chunks loaded by their dynamic imports.
// Bundling is for memory (every ES module costs a module record, an environment and its source
// text, and kysely alone has 257; the bundled server idles at ~12 MiB less RSS,
// docs/performance.md) and for installation: every dependency is in the bundle, so the published
// package has no runtime dependencies to install (test/cli/package-contents.test.ts).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { cliBundleOptions } from "./bundle-options.js";

const root = join(import.meta.dirname, "..");

rmSync(join(root, "dist"), { recursive: true, force: true });
await build(cliBundleOptions(root));
