import type { DestinationStream } from "pino";
import type { ClientHooks } from "../client/start-client.js";
import { showInTerminal, TerminalView } from "../client/terminal-view.js";
import { createPrettyLogStream } from "../lib/pretty-log-stream.js";
import { processStdoutSink } from "../lib/stdout-sink.js";
import { terminalPaint } from "../lib/terminal-text.js";
import { HOPGATE_VERSION } from "../lib/version.js";

export interface ClientOutputOptions {
  /** `--log-format` (HOP_CLIENT_LOG_FORMAT). */
  readonly format: "auto" | "json" | "pretty";
  /** Whether stdout is a terminal: decides `auto`, and colours. */
  readonly isTty: boolean;
  /** The NO_COLOR environment variable (https://no-color.org). */
  readonly noColor: string | undefined;
  /** Whether debug (or trace) lines were asked for: pretty mode then prints every line. */
  readonly debug: boolean;
}

export interface ClientOutput {
  /** Where the logger writes; undefined: JSON lines on stdout. */
  readonly destination: DestinationStream | undefined;
  /** The terminal view's hooks; none for JSON lines. */
  readonly hooks: Pick<ClientHooks, "onStarted" | "onStatus" | "onRequestFinished" | "onServers">;
}

/**
 * What `hopgate client` prints on stdout: JSON lines for machines (the default unless stdout is a
 * terminal), or for people the terminal view and readable warning lines. Both go through the
 * process's one bounded, non-blocking stdout sink, so their lines keep their order.
 */
export function clientOutput(options: ClientOutputOptions): ClientOutput {
  const pretty = options.format === "pretty" || (options.format === "auto" && options.isTty);
  if (!pretty) return { destination: undefined, hooks: {} };
  const sink = processStdoutSink();
  const paint = terminalPaint({ isTty: options.isTty, noColor: options.noColor });
  const view = new TerminalView({ write: (text) => sink.write(text), paint, version: HOPGATE_VERSION });
  return {
    destination: createPrettyLogStream({
      sink,
      paint,
      show: (record) => showInTerminal(record, options.debug),
    }),
    hooks: {
      onStarted: (summary) => view.started(summary),
      onStatus: (status, domain) => view.status(status, domain),
      onServers: (servers) => view.servers(servers),
      onRequestFinished: (record, domain) => view.request(record, domain),
    },
  };
}
