/**
 * The IPC messages between the primary of `hopgate server --workers N` and its workers (node:cluster
 * channel, JSON). Prefixed so that other messages on the same channel never match.
 */

/** Worker → primary: the worker's server is listening. */
export interface ReadyMessage {
  readonly type: "hopgate:ready";
  readonly httpsPort: number;
  readonly httpPort: number;
  /** Its id in the server registry. */
  readonly serverId: string | undefined;
}

/** Worker → primary: its server failed to start (before "ready"); the worker exits next. */
export interface FailedMessage {
  readonly type: "hopgate:failed";
  /** The start error's message, for the primary's log and stderr. */
  readonly message: string;
  /** Whether it was an invalid setting (the primary then exits 2, as a single process would). */
  readonly configInvalid: boolean;
}

/** Worker → primary: a step of its server's start is done (for the start deadline's report). */
export interface ProgressMessage {
  readonly type: "hopgate:progress";
  readonly step: string;
}

/** Primary → worker: drain and stop, as on SIGTERM. */
export interface StopMessage {
  readonly type: "hopgate:stop";
}

/** The environment variable carrying a worker's slot number (1..N) to the forked process. */
export const WORKER_INDEX_VARIABLE = "HOPGATE_WORKER_INDEX";

/** `message` is an object whose `type` is `type` (and whose other fields the caller checks). */
function ofType(message: unknown, type: string): message is Record<string, unknown> {
  return typeof message === "object" && message !== null && (message as { type?: unknown }).type === type;
}

export function isReadyMessage(message: unknown): message is ReadyMessage {
  return ofType(message, "hopgate:ready");
}

export function isFailedMessage(message: unknown): message is FailedMessage {
  return ofType(message, "hopgate:failed") && typeof message.message === "string";
}

export function isProgressMessage(message: unknown): message is ProgressMessage {
  return ofType(message, "hopgate:progress") && typeof message.step === "string";
}

export function isStopMessage(message: unknown): message is StopMessage {
  return ofType(message, "hopgate:stop");
}

/** Primary → worker: send your registry's metrics (as `getMetricsAsJSON`), answering `id`. */
export interface MetricsRequestMessage {
  readonly type: "hopgate:metrics-request";
  readonly id: number;
}

/** Worker → primary: its metrics for request `id`, or why it has none. */
export interface MetricsMessage {
  readonly type: "hopgate:metrics";
  readonly id: number;
  readonly metrics?: unknown[];
  readonly error?: string;
}

export function isMetricsRequestMessage(message: unknown): message is MetricsRequestMessage {
  return ofType(message, "hopgate:metrics-request") && typeof message.id === "number";
}

export function isMetricsMessage(message: unknown): message is MetricsMessage {
  return ofType(message, "hopgate:metrics") && typeof message.id === "number";
}

/** Primary → worker: answer with a pong from your event loop (the liveness watchdog). */
export interface PingMessage {
  readonly type: "hopgate:ping";
}

/** Worker → primary: its event loop ran since the primary's last ping. */
export interface PongMessage {
  readonly type: "hopgate:pong";
}

export function isPingMessage(message: unknown): message is PingMessage {
  return ofType(message, "hopgate:ping");
}

export function isPongMessage(message: unknown): message is PongMessage {
  return ofType(message, "hopgate:pong");
}
