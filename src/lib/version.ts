import { readFileSync } from "node:fs";
import { join } from "node:path";

/** HopGate's version from package.json (same path from src/lib and from the bundle's dist/cli). */
export const HOPGATE_VERSION: string = (
  JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8")) as { version: string }
).version;
