import { totalmem } from "node:os";

/**
 * Memory one open TLS connection may cost the server: 10,000 idle TLS connections took it from
 * 302 MB to 1.09 GB of RSS (issue 12 §4), about 80 KiB each (OpenSSL buffers, the socket, Node's
 * connection and HTTP/2 session objects).
 */
export const BYTES_PER_CONNECTION = 80 * 1024;
/** A small machine still takes this many. */
const MIN_AUTO_CONNECTIONS = 1024;
/** Beyond this file descriptors and the kernel, not memory, are the bound. */
const MAX_AUTO_CONNECTIONS = 1_000_000;

/**
 * The open-connection cap `HOP_SERVER_MAX_CONNECTIONS=auto` stands for: connections at
 * BYTES_PER_CONNECTION may take half of the memory the process may use (the cgroup limit of
 * a container, else the machine's), the other half is left to requests and everything else.
 */
export function autoMaxConnections(memoryBytes: number = availableMemoryBytes()): number {
  const byMemory = Math.floor(memoryBytes / 2 / BYTES_PER_CONNECTION);
  return Math.min(MAX_AUTO_CONNECTIONS, Math.max(MIN_AUTO_CONNECTIONS, byMemory));
}

/** The configured cap: a number as given (0 = no limit), `auto` sized from memory. */
export function resolveMaxConnections(setting: number | "auto"): number {
  return setting === "auto" ? autoMaxConnections() : setting;
}

/** The cgroup memory limit when there is one (containers, systemd's MemoryMax), else RAM. */
function availableMemoryBytes(): number {
  const machine = totalmem();
  // 0 or a huge number when no limit applies (Node: process.constrainedMemory()).
  const constrained = process.constrainedMemory();
  return constrained > 0 ? Math.min(constrained, machine) : machine;
}
