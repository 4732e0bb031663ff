import type { ServerConfig } from "../../config/server-settings.js";
import { isHopGateError } from "../../lib/hopgate-error.js";
import type { Logger } from "../../lib/logger.js";
import { startServer, type ServerHandle } from "../start-server.js";
import {
  isPingMessage,
  isStopMessage,
  type FailedMessage,
  type PongMessage,
  type ProgressMessage,
  type ReadyMessage,
} from "./worker-messages.js";

/** A worker whose primary is gone (killed) stops with at most this drain. */
const ORPHAN_DRAIN_MS = 5_000;

/**
 * One worker of `hopgate server --workers N`: a whole server of the gateway (its own registry
 * id) on the ports the primary shares. Reports "ready" to the primary once listening, and stops
 * with a drain of `shutdownTimeoutSeconds` on the primary's stop message or its own first
 * SIGTERM/SIGINT (systemd and a terminal signal the whole process group); a second signal exits
 * at once. A worker whose primary disappears stops too: it cannot be sent new connections.
 * A server that fails to start is reported to the primary ("failed", with the error's message)
 * instead of "ready". Resolves with the process exit code.
 */
export async function runWorker(config: ServerConfig, logger: Logger, index: number): Promise<number> {
  const log = logger.child({ component: "worker" });
  const drainMs = config.shutdownTimeoutSeconds * 1000;
  const stopRequested = new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = () => {
      if (signalled) process.exit(1);
      signalled = true;
      resolve(drainMs);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const pong: PongMessage = { type: "hopgate:pong" };
    process.on("message", (message) => {
      if (isStopMessage(message)) resolve(drainMs);
      // Answered from the event loop: a pong proves it turns (the primary's liveness watchdog).
      if (isPingMessage(message) && process.connected) process.send?.(pong);
    });
    process.once("disconnect", () => {
      log.warn("the primary is gone; stopping");
      resolve(Math.min(drainMs, ORPHAN_DRAIN_MS));
    });
  });
  let server: ServerHandle;
  try {
    server = await startServer(config, logger, {
      worker: { index },
      onStepDone: (step) => {
        const progress: ProgressMessage = { type: "hopgate:progress", step };
        if (process.connected) process.send?.(progress);
      },
    });
  } catch (error) {
    log.error({ err: error }, "worker failed to start");
    await reportFailure({
      type: "hopgate:failed",
      message: error instanceof Error ? error.message : String(error),
      configInvalid: isHopGateError(error, "config_invalid"),
    });
    return 1;
  }
  const ready: ReadyMessage = {
    type: "hopgate:ready",
    httpsPort: server.httpsPort,
    httpPort: server.httpPort,
    serverId: server.serverId,
  };
  if (process.connected) process.send?.(ready);
  const drain = await stopRequested;
  try {
    await server.stop(drain);
    log.info("worker stopped");
    return 0;
  } catch (error) {
    log.error({ err: error }, "shutdown failed");
    return 1;
  }
}

/** Sends `failed` to the primary and waits until it is written: the worker exits right after. */
function reportFailure(failed: FailedMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve();
    process.send(failed, undefined, {}, () => resolve());
  });
}
