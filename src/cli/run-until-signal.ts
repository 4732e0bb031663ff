/**
 * A signal aborted by the first SIGINT or SIGTERM; a second one exits at once with 1. For
 * commands that must clean up whichever phase the signal arrives in, start-up included.
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const handle = () => {
    if (controller.signal.aborted) process.exit(1);
    controller.abort();
  };
  process.on("SIGINT", handle);
  process.on("SIGTERM", handle);
  return controller.signal;
}

/**
 * Keeps a long-running command alive until SIGINT or SIGTERM, then runs `stop` once and exits
 * 0 (1 if stopping failed). A second signal exits at once.
 */
export function runUntilSignal(stop: () => Promise<void>, onError: (error: unknown) => void): Promise<void> {
  const interrupt = interruptSignal();
  return new Promise((resolve) => {
    interrupt.addEventListener(
      "abort",
      () =>
        stop().then(
          () => {
            process.exitCode = 0;
            resolve();
          },
          (error: unknown) => {
            onError(error);
            process.exitCode = 1;
            resolve();
          },
        ),
      { once: true },
    );
  });
}
