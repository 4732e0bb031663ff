import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { JEMALLOC_CONF, jemallocToPreload } from "../../src/cli/allocator.js";
import { spawnHopgate } from "../helpers/hopgate-process.js";
import { until } from "../helpers/poll-until.js";

const DEBIAN_JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

describe("the server's allocator (jemalloc preloaded by the launcher)", () => {
  const found = (path: string) => path === DEBIAN_JEMALLOC;

  it("preloads jemalloc for server and demo only, unless told otherwise or already preloaded", () => {
    assert.equal(jemallocToPreload(["server"], {}, found), DEBIAN_JEMALLOC);
    assert.equal(jemallocToPreload(["demo", "--https-port", "0"], {}, found), DEBIAN_JEMALLOC);
    assert.equal(jemallocToPreload(["client", "--domain", "x"], {}, found), undefined);
    assert.equal(jemallocToPreload(["admin", "server"], {}, found), undefined);
    assert.equal(jemallocToPreload(["server"], { HOPGATE_ALLOCATOR: "system" }, found), undefined);
    assert.equal(jemallocToPreload(["server"], { HOPGATE_ALLOCATOR: "jemalloc" }, found), undefined);
    assert.equal(jemallocToPreload(["server"], { LD_PRELOAD: "/x/libjemalloc.so" }, found), undefined);
    assert.equal(
      jemallocToPreload(["server"], {}, () => false),
      undefined,
    );
  });

  // CI installs Debian's libjemalloc2 (.ci/run); without it this test fails rather than skips.
  it("runs `hopgate demo` with jemalloc mapped, and with glibc's malloc under HOPGATE_ALLOCATOR=system", async (t) => {
    assert.ok(existsSync(DEBIAN_JEMALLOC), `${DEBIAN_JEMALLOC} is missing: apt-get install libjemalloc2`);
    for (const [env, expectJemalloc] of [
      [{}, true],
      [{ HOPGATE_ALLOCATOR: "system" }, false],
    ] as const) {
      const demo = spawnHopgate(t, ["demo", "--https-port", "0"], env);
      await until(() => demo.output().includes("HopGate demo is running"), "the demo to start", 60_000);
      const pid = demo.child.pid;
      const maps = readFileSync(`/proc/${pid}/maps`, "utf8");
      assert.equal(
        maps.includes("libjemalloc"),
        expectJemalloc,
        `jemalloc mapped with ${JSON.stringify(env)}`,
      );
      if (expectJemalloc) {
        const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
        assert.ok(environ.includes(`MALLOC_CONF=${JEMALLOC_CONF}`), "MALLOC_CONF set for the server");
      }
      demo.child.kill("SIGTERM");
      assert.equal(await demo.exited, 0, demo.output());
    }
  });
});
