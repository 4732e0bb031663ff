// `npm run build`: bundles the CLI into dist/cli/ with esbuild (type-checking is `npm run
// typecheck`). One entry, src/cli/main.ts; the modules loaded on demand (server, client, demo,
// admin API, ACME, X.509) stay separate chunks loaded by their dynamic imports. Bundling is for
// memory: every ES module costs a module record, an environment and its source text, and
// kysely alone has 257; the bundled server idles at ~12 MiB less RSS (docs/performance.md).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const root = join(import.meta.dirname, "..");
const outdir = join(root, "dist", "cli");

/**
 * Left in node_modules: loaded only in some configurations (pg with HOP_DB_DSN, acme-client
 * with HOP_SERVER_TLS=acme) and CommonJS packages with optional requires of their own
 * (pg-native) that a bundle cannot resolve.
 */
const EXTERNAL = ["pg", "acme-client"];

rmSync(join(root, "dist"), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ["src/cli/main.ts"],
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node24",
  external: EXTERNAL,
  // CommonJS dependencies inside an ES module bundle still call require() for node built-ins.
  banner: {
    js: 'import { createRequire as __createRequire } from "node:module";\nconst require = __createRequire(import.meta.url);',
  },
  // Maps for debugging (NODE_OPTIONS=--enable-source-maps), without the sources themselves; not
  // on by default where HopGate runs: node parses them at start-up, +5.5 MiB of idle RSS.
  sourcemap: "linked",
  sourcesContent: false,
  // V8 keeps every module's source text for lazy compilation: whitespace and syntax minified
  // (-1.5 MB of heap at idle); names are kept, so stack traces stay readable without the map.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
});
