import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HOPGATE_NODE_FLAGS } from "../../src/lib/node-flags.js";

const ROOT = join(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

describe("V8 flags", () => {
  const flags = HOPGATE_NODE_FLAGS.join(" ");

  it("are in the shebang of bin/hopgate.js", () => {
    assert.equal(read("bin/hopgate.js").split("\n")[0], `#!/usr/bin/env -S node ${flags}`);
  });

  it("reach the image through its entry point, the installed bin/hopgate.js", () => {
    assert.match(read("deploy/Dockerfile"), /^ENTRYPOINT \["hopgate"\]$/m);
  });

  for (const unit of ["hopgate-server.service", "hopgate-client.service"]) {
    it(`are in deploy/systemd/${unit}`, () => {
      assert.match(
        read(`deploy/systemd/${unit}`),
        new RegExp(`^ExecStart=/usr/bin/node ${escape(flags)} /opt/hopgate/`, "m"),
      );
    });
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
