import http from "node:http";
import https from "node:https";
import { Http2Origins } from "./http2-origins.js";

/** Keep-alive connection pools to the local services, one per scheme, shared by all tunnels. */
export interface BackendAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
  /** HTTP/2 services (`h2c://`, `h2://`). */
  readonly http2: Http2Origins;
}

/**
 * Longest a pooled backend connection stays idle. Node's agent honours a backend's
 * `Keep-Alive: timeout=N` hint (closing a second early) only when it has a timeout of its own,
 * so without one an idle connection would be reused just as the backend closes it. A request
 * that still meets such a connection is sent again where that is safe (BackendExchange).
 */
export const BACKEND_IDLE_TIMEOUT_MS = 30_000;

export function createBackendAgents(): BackendAgents {
  const options = { keepAlive: true, timeout: BACKEND_IDLE_TIMEOUT_MS };
  return {
    http: new http.Agent(options),
    https: new https.Agent(options),
    http2: new Http2Origins(BACKEND_IDLE_TIMEOUT_MS),
  };
}
