/**
 * Keeps a long-running command alive until SIGINT or SIGTERM, then runs `stop` once and exits
 * 0 (1 if stopping failed). A second signal exits at once.
 */
export function runUntilSignal(stop: () => Promise<void>, onError: (error: unknown) => void): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handle = () => {
      if (stopping) process.exit(1);
      stopping = true;
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
      );
    };
    process.on("SIGINT", handle);
    process.on("SIGTERM", handle);
  });
}
