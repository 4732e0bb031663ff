/**
 * Stop functions of started components, run newest first. A composition root pushes each stop
 * as soon as the component is up, so that a failure half-way through start-up (a port taken,
 * bad certificate files) still releases what was already taken.
 */
export class CleanupStack {
  readonly #steps: Array<{ name: string; run: () => unknown }> = [];

  /** `onPush` hears each step's name as it is pushed: how far a start got. */
  constructor(private readonly onPush?: (name: string) => void) {}

  push(name: string, run: () => unknown): void {
    this.#steps.push({ name, run });
    this.onPush?.(name);
  }

  /** Runs every step once, newest first; errors are collected, not allowed to skip later steps. */
  async run(onError?: (name: string, error: unknown) => void): Promise<void> {
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      try {
        await step.run();
      } catch (error) {
        onError?.(step.name, error);
      }
    }
  }
}
