import type { DomainPlan } from "../config/domain-plan.js";
import { serviceOrigin } from "../config/service-spec.js";
import type { LogRecord } from "../lib/pretty-log-stream.js";
import { clockTime, terminalSafe, type Colour, type TerminalPaint } from "../lib/terminal-text.js";
import type { BackendExchangeRecord } from "./backend-exchange.js";
import type { TunnelClientStatus } from "./tunnel-client.js";

/** What the client serves, as `startClient` announces it once its listeners are up. */
export interface ClientSummary {
  readonly server: string;
  readonly configFile: string | undefined;
  readonly domains: readonly DomainPlan[];
  readonly inspectorUrl: string | undefined;
  readonly metricsPort: number | undefined;
}

export interface TerminalViewOptions {
  /** Takes whole lines (ending in a newline); the process's bounded, non-blocking stdout sink. */
  readonly write: (text: string) => void;
  readonly paint: TerminalPaint;
  readonly version: string;
  readonly now?: () => Date;
}

/**
 * The client for a person watching it (`--log-format pretty`), as ngrok and cloudflared show
 * theirs: a short status (server, each domain's public URL and the local service behind it,
 * the inspector), a line when a domain goes online, then one line per request: time, method,
 * path, status, duration. Warnings and errors come as readable log lines (`showInTerminal`).
 * Paths are made terminal-safe: they come from visitors.
 */
export class TerminalView {
  readonly #options: TerminalViewOptions;
  readonly #online = new Set<string>();
  /** Whether request lines name their domain: only when there is more than one. */
  #manyDomains = false;

  constructor(options: TerminalViewOptions) {
    this.#options = options;
  }

  started(summary: ClientSummary): void {
    const { paint } = this.#options;
    this.#manyDomains = summary.domains.length > 1;
    const row = (label: string, value: string) => `${paint("dim", label.padEnd(12))}${value}`;
    const forwarding = summary.domains.flatMap((plan) =>
      plan.services.map((service) => {
        const publicUrl = `https://${plan.domain}${service.pathPrefix === "/" ? "" : service.pathPrefix}`;
        return `${paint("bold", publicUrl)} -> ${serviceOrigin(service)}`;
      }),
    );
    const lines = [
      paint("bold", `HopGate client ${this.#options.version}`),
      row("Server", summary.server),
      ...(summary.configFile === undefined ? [] : [row("Config", summary.configFile)]),
      ...forwarding.map((text, i) => row(i === 0 ? "Forwarding" : "", text)),
      row("Inspector", summary.inspectorUrl ?? "off"),
      ...(summary.metricsPort === undefined ? [] : [row("Metrics", `port ${summary.metricsPort}`)]),
      "",
    ];
    this.#options.write(lines.join("\n") + "\n");
  }

  status(status: TunnelClientStatus, domain: string): void {
    if (status.t === "connected") {
      if (this.#online.has(domain)) return;
      this.#online.add(domain);
      const protocol = status.version === 1 ? " (HopGate v1 server)" : "";
      this.#line(`${domain} ${this.#options.paint("green", "online")}${protocol}`);
    } else if (status.t !== "connecting") {
      // Why it went down is a warning line of its own (tunnel-client).
      this.#online.delete(domain);
    }
  }

  /** The gateway's servers the client holds tunnels to changed. */
  servers(servers: readonly string[]): void {
    const hosts = servers.map((server) => terminalSafe(server.replace(/^https:\/\//, "")));
    this.#line(`${this.#options.paint("dim", "servers")} ${hosts.join(", ")}`);
  }

  request(record: BackendExchangeRecord, domain: string): void {
    const { paint } = this.#options;
    const status = record.status === 0 ? "---" : String(record.status);
    const where = this.#manyDomains ? `${domain} ` : "";
    const path = terminalSafe(record.path);
    this.#line(
      `${terminalSafe(record.method).padEnd(7)} ${where}${path.padEnd(30)} ${paint(statusColour(record.status), status)} ${formatDuration(record.durationMs).padStart(8)}` +
        (record.error === undefined ? "" : ` ${paint("red", terminalSafe(record.error))}`),
    );
  }

  #line(text: string): void {
    const now = (this.#options.now ?? (() => new Date()))();
    this.#options.write(`${this.#options.paint("dim", clockTime(now))} ${text}\n`);
  }
}

/**
 * The log lines a person watching sees next to the view: every warning and error (reconnects,
 * refused keys, certificate failures), the command's own lines (reload, stop), and everything
 * when debug lines were asked for. Start-up and tunnel info lines are the view's status.
 */
export function showInTerminal(record: LogRecord, debug: boolean): boolean {
  if (debug) return true;
  const level = record.level;
  if (level === "warn" || level === "error" || level === "fatal") return true;
  return record.component === "cli";
}

function statusColour(status: number): Colour {
  if (status >= 500 || status === 0) return "red";
  if (status >= 400) return "yellow";
  if (status >= 300) return "cyan";
  return "green";
}

function formatDuration(durationMs: number): string {
  if (durationMs < 1000) return `${Math.round(durationMs)} ms`;
  return `${(durationMs / 1000).toFixed(2)} s`;
}
