import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { join } from "node:path";
import { describe, it } from "node:test";
import { build } from "esbuild";
import { cliBundleOptions, OPTIONAL_REQUIRES } from "../../scripts/bundle-options.js";

const root = join(import.meta.dirname, "../..");

interface PackageJson {
  readonly private?: boolean;
  readonly bin: Record<string, string>;
  readonly files: string[];
  readonly scripts: Record<string, string>;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as PackageJson;

/** Packages the CLI bundle imports at run time from node_modules (built-ins and optional ones aside). */
async function bundleExternals(): Promise<string[]> {
  const result = await build({ ...cliBundleOptions(root), write: false, metafile: true, logLevel: "silent" });
  const externals = new Set<string>();
  for (const input of Object.values(result.metafile.inputs)) {
    for (const imported of input.imports) {
      if (imported.external && imported.path !== "<runtime>" && !isBuiltin(imported.path)) {
        externals.add(imported.path);
      }
    }
  }
  return [...externals].sort();
}

describe("the npm package", () => {
  it('declares as "dependencies" exactly what the bundle imports from node_modules', async () => {
    const externals = await bundleExternals();
    const required = externals.filter((name) => !OPTIONAL_REQUIRES.includes(name));
    assert.deepEqual(Object.keys(pkg.dependencies ?? {}).sort(), required);
    // The optional ones stay optional: each is really one of the bundle's externals.
    for (const name of OPTIONAL_REQUIRES) assert.ok(externals.includes(name), `${name} is still required`);
  });

  it("is publishable, builds in prepack and packs only what runs", () => {
    assert.equal(pkg.private, undefined);
    assert.equal(pkg.scripts.prepack, "npm run build");
    assert.deepEqual(pkg.bin, { hopgate: "bin/hopgate.js" });
    // --ignore-scripts: the file list only, without rebuilding dist/ under the other tests.
    const [packed] = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: root,
        encoding: "utf8",
      }),
    ) as [{ files: { path: string }[] }];
    const paths = packed.files.map((file) => file.path).sort();
    const unexpected = paths.filter(
      (path) =>
        !["LICENSE", "README.md", "package.json", "bin/hopgate.js"].includes(path) &&
        !/^dist\/cli\/[\w-]+\.js$/.test(path),
    );
    assert.deepEqual(unexpected, []);
    assert.ok(
      paths.includes("dist/cli/main.js"),
      `dist/cli/main.js packed (npm test builds first): ${paths.join(", ")}`,
    );
  });

  it("runs the compiled bundle, never tsx or the TypeScript sources", () => {
    const bin = readFileSync(join(root, "bin/hopgate.js"), "utf8");
    assert.match(bin, /"\.\.\/dist\/cli\/main\.js"/);
    assert.doesNotMatch(bin, /tsx|\.ts"|src\//);
    const main = readFileSync(join(root, "dist/cli/main.js"), "utf8");
    assert.doesNotMatch(main, /from\s*"tsx|import\("tsx/);
  });
});
