// Generates src/protocol/gen from proto/ with buf and protoc-gen-es (both from npm).
// `--check` regenerates into a temporary directory and fails when the committed code differs.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const committed = join(root, "src/protocol/gen");
const check = process.argv.includes("--check");

function generate(outDir: string): void {
  execFileSync("buf", ["lint"], { cwd: root, stdio: "inherit" });
  const template = JSON.stringify({
    version: "v2",
    plugins: [{ local: "protoc-gen-es", out: outDir, opt: ["target=ts", "import_extension=js"] }],
  });
  execFileSync("buf", ["generate", "--template", template], { cwd: root, stdio: "inherit" });
}

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path, "utf8"));
    }
  };
  walk(dir);
  return out;
}

if (!check) {
  rmSync(committed, { recursive: true, force: true });
  generate(committed);
  console.log(`generated ${[...files(committed).keys()].join(", ")}`);
} else {
  const temp = mkdtempSync(join(tmpdir(), "hopgate-gen-"));
  try {
    generate(temp);
    const fresh = files(temp);
    let existing: Map<string, string>;
    try {
      existing = files(committed);
    } catch {
      existing = new Map();
    }
    const stale = [...new Set([...fresh.keys(), ...existing.keys()])].filter(
      (name) => fresh.get(name) !== existing.get(name),
    );
    if (stale.length > 0) {
      console.error(`generated protocol code is stale: ${stale.join(", ")}; run \`npm run generate\``);
      process.exit(1);
    }
    console.log("generated protocol code is up to date");
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}
