import { readFileSync } from "node:fs";
import { Command } from "commander";
import { adminSettings } from "../config/admin-settings.js";
import { loadConfig } from "../config/load-config.js";
import { createAdminClient, expectSuccess, type AdminAnswer, type AdminClient } from "./admin-client.js";
import { HopGateError } from "../lib/hopgate-error.js";
import {
  accessPolicyText,
  certificateRetryText,
  certificateText,
  domainListText,
  domainStatusText,
  issuedKeyText,
  sessionListText,
} from "./admin-output.js";
import { addSettingOptions, settingFlags } from "./settings-options.js";

type Json = Record<string, unknown>;

/**
 * `hopgate admin domains register|unregister|list|status|rotate-key|revoke|access|certificate` and `hopgate admin
 * sessions`: a client of a running server's admin API. Text output by default, the server's
 * JSON with `--json`; a failed request exits non-zero with the server's message.
 */
export function adminCommand(): Command {
  const admin = addSettingOptions(
    new Command("admin").description("Manage a running HopGate server through its admin API"),
    adminSettings,
  ).option("--json", "Print the server's JSON answer instead of text");

  const run = async (
    request: (client: AdminClient) => Promise<AdminAnswer>,
    render: (body: Json) => string,
  ) => {
    const config = loadConfig(adminSettings, { flags: settingFlags(admin, adminSettings) });
    const answer = await request(createAdminClient(config));
    const json = admin.opts<{ json?: boolean }>().json === true;
    if (json) process.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`);
    const body = expectSuccess(answer);
    if (!json) process.stdout.write(`${render(body)}\n`);
  };

  admin.addCommand(domainsCommand(run));
  admin.addCommand(
    new Command("sessions")
      .description("List live tunnel sessions")
      .option("--domain <domain>", "Only the sessions of this domain")
      .action((options: { domain?: string }) =>
        run(
          (client) => client.send("GET", "/sessions", { query: { domain: options.domain } }),
          sessionListText,
        ),
      ),
  );
  return admin;
}

type Run = (
  request: (client: AdminClient) => Promise<AdminAnswer>,
  render: (body: Json) => string,
) => Promise<void>;

function domainsCommand(run: Run): Command {
  const domains = new Command("domains").description("Register, inspect and remove domains");
  domains.addCommand(
    new Command("register")
      .description("Register a domain and print its new client API key")
      .argument("<domain>")
      .option("--memo <text>", "Note for administrators", "")
      .action((domain: string, options: { memo: string }) =>
        run(
          (client) => client.send("POST", "/domains/register", { body: { domain, memo: options.memo } }),
          (body) => issuedKeyText(body, "registered"),
        ),
      ),
  );
  domains.addCommand(
    new Command("unregister")
      .description("Unregister a domain with its client API key")
      .argument("<domain>")
      .requiredOption("--client-api-key <key>", "The domain's client API key")
      .action((domain: string, options: { clientApiKey: string }) =>
        run(
          (client) =>
            client.send("POST", "/domains/unregister", {
              body: { domain, client_api_key: options.clientApiKey },
            }),
          () => `Unregistered ${domain}.`,
        ),
      ),
  );
  domains.addCommand(
    new Command("list")
      .description("List registered domains")
      .option("--limit <count>", "Domains per page (1-1000)")
      .option("--after <domain>", "Start after this domain (the previous page's last)")
      .action((options: { limit?: string; after?: string }) =>
        run((client) => client.send("GET", "/domains", { query: options }), domainListText),
      ),
  );
  domains.addCommand(
    new Command("status")
      .description("Show a domain's record and live sessions")
      .argument("<domain>")
      .action((domain: string) =>
        run(
          (client) => client.send("GET", "/domains/status", { query: { domain } }),
          (body) => domainStatusText(body, domain),
        ),
      ),
  );
  domains.addCommand(
    new Command("rotate-key")
      .description("Issue a new client API key; the old one stops working")
      .argument("<domain>")
      .action((domain: string) =>
        run(
          (client) => client.send("POST", "/domains/rotate-key", { body: { domain } }),
          (body) => issuedKeyText(body, "rotated"),
        ),
      ),
  );
  domains.addCommand(
    new Command("revoke")
      .description("Remove a domain without its client API key")
      .argument("<domain>")
      .action((domain: string) =>
        run(
          (client) => client.send("DELETE", `/domains/${encodeURIComponent(domain)}`),
          () => `Revoked ${domain}.`,
        ),
      ),
  );
  domains.addCommand(accessCommand(run));
  domains.addCommand(certificateCommand(run));
  return domains;
}

/** `hopgate admin domains access <domain> [--set file.json | --clear]` (docs/access.md). */
function accessCommand(run: Run): Command {
  return new Command("access")
    .description("Show, set (--set) or clear (--clear) a domain's visitor access policy")
    .argument("<domain>")
    .option("--set <file>", "Replace the policy with the JSON object in this file (- for stdin)")
    .option("--clear", "Remove the policy: every visitor gets in again")
    .action((domain: string, options: { set?: string; clear?: boolean }) => {
      const path = `/domains/${encodeURIComponent(domain)}/access`;
      if (options.set !== undefined && options.clear === true)
        throw new HopGateError("invalid_input", "give either --set or --clear, not both");
      if (options.clear === true)
        return run(
          (client) => client.send("DELETE", path),
          () => `Cleared the access policy of ${domain}: every visitor gets in.`,
        );
      if (options.set !== undefined) {
        const body = readPolicyFile(options.set);
        return run(
          (client) => client.send("PUT", path, { body }),
          (answer) => accessPolicyText(answer, domain),
        );
      }
      return run(
        (client) => client.send("GET", path),
        (answer) => accessPolicyText(answer, domain),
      );
    });
}

/** `hopgate admin domains certificate <domain> [--retry]` (docs/certificates.md, "Retry now"). */
function certificateCommand(run: Run): Command {
  return new Command("certificate")
    .description("Show a domain's ACME certificate state, or order a failed one now (--retry)")
    .argument("<domain>")
    .option("--retry", "Order now instead of at the next retry (never past the CA's hourly limit)")
    .action((domain: string, options: { retry?: boolean }) => {
      if (options.retry === true)
        return run(
          (client) =>
            client.send("POST", `/domains/${encodeURIComponent(domain)}/certificate/retry`, { body: {} }),
          (answer) => certificateRetryText(answer, domain),
        );
      return run(
        (client) => client.send("GET", "/domains/status", { query: { domain } }),
        (answer) => certificateText(answer, domain),
      );
    });
}

function readPolicyFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new HopGateError("invalid_input", `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8 quotes the text around an unexpected token, which may be a password of the policy.
    const reason = (error as Error).message.replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, "");
    throw new HopGateError("invalid_input", `${file} is not JSON: ${reason}`, { cause: error });
  }
}
