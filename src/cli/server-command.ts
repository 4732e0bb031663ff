import cluster from "node:cluster";
import { Command } from "commander";
import { loadConfig } from "../config/load-config.js";
import { serverSettings } from "../config/server-settings.js";
import { lokiOptionsFromConfig } from "../config/logging-settings.js";
import { isHopGateError } from "../lib/hopgate-error.js";
import { createLogging } from "../lib/logging.js";
import { workerConfig } from "../server/workers/worker-config.js";
import { resolveWorkerCount } from "../server/workers/worker-count.js";
import { WORKER_INDEX_VARIABLE } from "../server/workers/worker-messages.js";
import { runUntilSignal } from "./run-until-signal.js";
import { addSettingOptions, settingFlags } from "./settings-options.js";

/** After a start deadline passed and was reported, the longest the process may linger. */
const FORCED_EXIT_MS = 1_000;

export function serverCommand(): Command {
  const command = addSettingOptions(
    new Command("server").description("Run the public HopGate server (TLS edge, tunnels, admin API)"),
    serverSettings,
  );
  return command.action(async () => {
    const loaded = loadConfig(serverSettings, { flags: settingFlags(command, serverSettings) });
    const workers = resolveWorkerCount(loaded.workers);
    // Each worker gets a peer listener of its own (by default on loopback): refused here, before
    // anything starts, when the settings cannot give one to each.
    const config = workers > 1 ? workerConfig(loaded) : loaded;
    // --workers N: the primary forks N copies of this command (same argv and environment); each
    // knows it is a worker by its slot number. 1 is the single process, exactly as before.
    const workerIndex = cluster.isWorker ? Number(process.env[WORKER_INDEX_VARIABLE]) : undefined;
    const logging = createLogging({
      level: config.logLevel,
      base: { service: "hopgate-server" },
      loki: lokiOptionsFromConfig(config, "hopgate-server"),
    });
    // With workers, every line says which process wrote it: 0 is the primary, 1..N the workers.
    const root = workers > 1 ? logging.logger.child({ worker: workerIndex ?? 0 }) : logging.logger;
    const logger = root.child({ component: "cli" });
    try {
      if (workerIndex !== undefined) {
        const { runWorker } = await import("../server/workers/run-worker.js");
        process.exitCode = await runWorker(config, root, workerIndex);
      } else if (workers > 1) {
        const { runPrimary } = await import("../server/workers/run-primary.js");
        process.exitCode = await runPrimary(config, root, workers);
        logger.info({ exit_code: process.exitCode }, "HopGate server stopped");
      } else {
        const { startServer } = await import("../server/start-server.js");
        const { beforeDeadline, startDeadline, stepReport } = await import("../server/start-deadline.js");
        const deadline = startDeadline(config.startTimeoutSeconds);
        let lastStep: string | undefined;
        const server = await beforeDeadline(
          startServer(config, root, { onStepDone: (step) => (lastStep = step) }),
          deadline,
          () => `the server is not listening (${stepReport(lastStep)})`,
          (late) => late.stop(),
        ).finally(() => deadline.clear());
        await runUntilSignal(
          () => server.stop(config.shutdownTimeoutSeconds * 1000),
          (error) => logger.error({ err: error }, "shutdown failed"),
        );
        logger.info("HopGate server stopped");
      }
    } catch (error) {
      // A start past its deadline may still hold a socket or a timer: once the error is
      // reported (by main), the process ends whatever still runs.
      if (isHopGateError(error, "timeout")) setTimeout(() => process.exit(), FORCED_EXIT_MS).unref();
      throw error;
    } finally {
      await logging.close();
    }
    // A worker's IPC channel to the primary would keep it alive after its server stopped.
    if (workerIndex !== undefined) process.exit();
  });
}
