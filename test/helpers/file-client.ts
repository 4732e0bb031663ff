import type { TestContext } from "node:test";
import { startClient, type ClientHandle } from "../../src/client/start-client.js";
import { loadClientFile } from "../../src/config/client-file.js";
import { clientProcessSettings } from "../../src/config/client-process-settings.js";
import { loadConfig } from "../../src/config/load-config.js";
import { testLogger } from "./gateway.js";

/**
 * A client started in this process from the config file `path` (and process `flags`, such as
 * `inspect`), stopped when the test ends; `connected` resolves once every domain's tunnel is up.
 */
export async function startFileClient(
  t: TestContext,
  path: string,
  flags: Record<string, string> = {},
): Promise<{ handle: ClientHandle; connected: Promise<void> }> {
  const file = loadClientFile(path, process.env);
  const up = new Set<string>();
  let markConnected!: () => void;
  const connected = new Promise<void>((resolve) => (markConnected = resolve));
  const config = loadConfig(clientProcessSettings, {
    env: {},
    dotenvDir: null,
    flags: { shutdownTimeoutSeconds: "2", ...flags },
  });
  const handle = await startClient({ ...config, file }, testLogger(), {
    onStatus: (status, domain) => {
      if (status.t === "connected") up.add(domain);
      if (up.size === file.domains.length) markConnected();
    },
  });
  t.after(() => handle.stop());
  return { handle, connected };
}
