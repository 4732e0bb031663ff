/**
 * Runs `task` on demand, never twice at once: a call while it runs queues exactly one more run
 * (however many calls came meanwhile), which starts when the current one ends. Errors are the
 * task's to handle; a rejection is swallowed here.
 */
export function coalescedTask(task: () => Promise<void>): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void task()
      .catch(() => {})
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return run;
}
