/**
 * V8 flags HopGate runs with wherever it runs: the shebang of bin/hopgate.js, deploy/Dockerfile,
 * the systemd units, and the test helpers and the benchmark that spawn the compiled CLI (a test
 * keeps them all equal to this list). Why each one: docs/performance.md.
 *
 * `--max-semi-space-size=2`: V8's young generation grows to 16 MB semi-spaces under load by
 * default; at 2 MB, scavenges run sooner and free the short-lived Buffers of the data path
 * sooner, which keeps a busy tunnel's resident memory flat at a small cost in GC time.
 *
 * `--expose-gc`: lets the tunnel run a young-generation GC every 8 MiB it moves (gc-pacer.ts),
 * and server and client one compacting GC when they have started (heap-compaction.ts); nothing
 * else calls `gc`.
 *
 * `--no-allocation-site-pretenuring`: V8 otherwise decides from one scavenge's feedback to
 * allocate whole allocation sites straight in the old generation; for per-request objects that
 * die young that meant ~170 KB promoted per scavenge and a major GC (a 4.5–5.6 ms pause, the
 * p99 at 1,000 req/s) every few seconds (docs/performance.md, change 12).
 *
 * `--initial-old-space-size=64`: besides the limit before the first full GC, this sets the floor
 * below which V8 never puts the old generation's allocation limit, so no full GC starts before
 * 64 MB. Without it, every full GC (heap-compaction.ts's at start-up included) sets the limit to
 * the ~12 MB live plus ~10 MB, and V8 counts the external memory (ArrayBuffers) allocated since
 * the last full GC against that: a bulk transfer then ran a full GC every ~8 MiB moved (25 per
 * 200 MiB on the client), which doubled the CPU per MiB (docs/performance.md, change 16). A limit
 * commits no memory: idle RSS is unchanged; under sustained request load full GCs come later, and
 * the load bench's peaks were ~13 MiB (server) and ~40 MiB (client) higher.
 */
export const HOPGATE_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=2",
  "--expose-gc",
  "--no-allocation-site-pretenuring",
  "--initial-old-space-size=64",
];
