/**
 * What the rest of the server may know about live tunnel sessions: the admin API lists them and
 * the composition root closes a domain's sessions when its key is rotated or it is unregistered.
 */
export interface SessionInfo {
  readonly id: string;
  readonly domain: string;
  readonly remoteAddress: string;
  readonly protocolVersion: 1 | 2;
  readonly services: ReadonlyArray<{ readonly name: string; readonly pathPrefix: string }>;
  /** ISO 8601 time the handshake completed. */
  readonly connectedAt: string;
  readonly state: "active" | "draining";
  readonly inFlightStreams: number;
  /** Body bytes sent to the client (requests) and received from it (responses). */
  readonly bytesToClient: number;
  readonly bytesFromClient: number;
}

export interface SessionDirectory {
  list(filter?: { readonly domain?: string }): SessionInfo[];
  /** Closes every session of `domain` (in-flight streams fail); returns how many were closed. */
  closeDomain(domain: string, reason: string): number;
}
