import type { TestContext } from "node:test";

/** Registers work to undo when the test ends. */
export type LifoCleanup = (fn: () => unknown) => void;

/**
 * A Cleanup that undoes work newest first when the test ends (node:test runs `t.after` hooks in
 * registration order): a server is stopped before the CA, listener and database it depends on.
 */
export function lifoCleanup(t: TestContext): LifoCleanup {
  const work: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of work.reverse()) await fn();
  });
  return (fn) => work.push(fn);
}
