// The esbuild options of the CLI bundle, shared by scripts/build.ts (dist/cli/, what the package
// and the container image run), scripts/package-single-file.ts (one CommonJS file for Node.js
// single executable applications) and the test that keeps package.json's "dependencies" equal to
// what the bundle leaves external.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { BuildOptions } from "esbuild";

/**
 * Left out of the bundle and out of "dependencies": optional modules that bundled packages
 * require only inside a try/catch or on request, and that HopGate never needs: `pg-native`
 * (pg's native binding, loaded only through `pg.native`) and `supports-color` (debug, under
 * acme-client, colours its output when the module happens to be installed).
 */
export const OPTIONAL_REQUIRES: readonly string[] = ["pg-native", "supports-color"];

/** Version and commit compiled into the bundle (src/lib/version.ts reads them). */
function buildInfo(root: string): Record<string, string> {
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  let commit = "";
  try {
    commit = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    // Not a git checkout (a source tarball): the version is still known, the commit is not.
  }
  return {
    __HOPGATE_VERSION__: JSON.stringify(version),
    __HOPGATE_COMMIT__: JSON.stringify(commit),
  };
}

/** ES module chunks in dist/cli/, the entry dist/cli/main.js. */
export function cliBundleOptions(root: string): BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: ["src/cli/main.ts"],
    outdir: join(root, "dist", "cli"),
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node24",
    external: [...OPTIONAL_REQUIRES],
    define: buildInfo(root),
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
  };
}

/**
 * One CommonJS file, dist/single-file/hopgate.cjs, for Node.js single executable applications:
 * their main script must be CommonJS and its require() loads built-in modules only, so nothing
 * may stay in another chunk or in node_modules. Dynamic imports become lazy initialisers in the
 * same file (esbuild), so the server's code is still only compiled when a command needs it.
 */
export function singleFileBundleOptions(root: string): BuildOptions {
  const {
    splitting: _splitting,
    outdir: _outdir,
    banner: _banner,
    sourcemap: _sourcemap,
    ...shared
  } = cliBundleOptions(root);
  return {
    ...shared,
    format: "cjs",
    outfile: join(root, "dist", "single-file", "hopgate.cjs"),
    sourcemap: false,
    // import.meta is empty in CommonJS: only src/lib/version.ts reads it, on a path the define
    // above makes dead.
    logOverride: { "empty-import-meta": "silent" },
  };
}
