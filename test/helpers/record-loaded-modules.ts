// Preloaded (`--import`) into a HopGate process by test/cli/lazy-modules.test.ts: appends the URL
// of every file module the process loads, one per line, to the file named by
// HOPGATE_TEST_LOADED_MODULES.
import { appendFileSync } from "node:fs";
import { registerHooks } from "node:module";

const out = process.env.HOPGATE_TEST_LOADED_MODULES;
if (out) {
  registerHooks({
    load(url, context, nextLoad) {
      if (url.startsWith("file:")) appendFileSync(out, `${url}\n`);
      return nextLoad(url, context);
    },
  });
}
