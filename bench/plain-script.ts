import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { transformSync } from "esbuild";

/**
 * Arguments that run bench/`name`.ts with `nodeFlags` as plain JavaScript: its types removed by
 * esbuild into `dir`/`name`.mjs, nothing bundled, so the script may import Node built-ins only.
 * For the references that stand for the cheapest Node.js process: loaded through tsx, such a
 * script idles at ~28 MiB more RSS, through Node's own type stripping at ~17 MiB more (Node 24.21),
 * which HopGate's compiled bundle does not carry.
 */
export function plainScriptArgs(
  name: string,
  dir: string,
  nodeFlags: readonly string[],
  args: readonly string[],
): string[] {
  const source = readFileSync(join(import.meta.dirname, `${name}.ts`), "utf8");
  const script = join(dir, `${name}.mjs`);
  writeFileSync(script, transformSync(source, { loader: "ts", format: "esm", target: "node24" }).code);
  return [...nodeFlags, script, ...args];
}
