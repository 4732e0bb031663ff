import { readFileSync } from "node:fs";
import { join } from "node:path";

// Replaced by string literals when esbuild bundles the CLI (scripts/bundle-options.ts); absent
// when the sources run through tsx (the tests), where package.json is read instead.
declare const __HOPGATE_VERSION__: string | undefined;
declare const __HOPGATE_COMMIT__: string | undefined;

function packageVersion(): string {
  const path = join(import.meta.dirname, "../../package.json");
  return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
}

/** HopGate's version: compiled into the bundle, from package.json when running the sources. */
export const HOPGATE_VERSION: string =
  typeof __HOPGATE_VERSION__ === "string" ? __HOPGATE_VERSION__ : packageVersion();

/** The git commit the bundle was built from, or undefined when not known (sources, tarball builds). */
export const HOPGATE_COMMIT: string | undefined =
  typeof __HOPGATE_COMMIT__ === "string" && __HOPGATE_COMMIT__ !== "" ? __HOPGATE_COMMIT__ : undefined;
