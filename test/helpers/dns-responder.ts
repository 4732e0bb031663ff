import { createSocket, type RemoteInfo, type Socket } from "node:dgram";

/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP, port 0) for pebble's validation lookups:
 * every A query is answered with 127.0.0.1, every other type (AAAA, CAA, ...) with no answer,
 * and names in `nxdomain` with NXDOMAIN. A test fixture only: it answers exactly one question
 * per message and ignores anything it cannot parse. Closed by `cleanup`.
 */
export interface DnsResponder {
  readonly port: number;
  /** Lowercased names answered with NXDOMAIN (RFC 1035 §4.1.1 RCODE 3). */
  readonly nxdomain: Set<string>;
}

const TYPE_A = 1;
const CLASS_IN = 1;

export async function startDnsResponder(cleanup: (fn: () => unknown) => void): Promise<DnsResponder> {
  const socket = createSocket("udp4");
  const nxdomain = new Set<string>();
  socket.on("message", (message, remote) => answer(socket, message, remote, nxdomain));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  cleanup(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, nxdomain };
}

function answer(socket: Socket, query: Buffer, remote: RemoteInfo, nxdomain: Set<string>): void {
  const question = parseQuestion(query);
  if (!question) return;
  const { name, type, end } = question;
  const unknown = nxdomain.has(name);
  const answers = !unknown && type === TYPE_A ? 1 : 0;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // ID
  // QR=1, opcode 0, AA=1, RD copied from the query; RCODE 0 or 3.
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | (unknown ? 3 : 0), 2);
  header.writeUInt16BE(1, 4); // QDCOUNT
  header.writeUInt16BE(answers, 6); // ANCOUNT
  const parts = [header, query.subarray(12, end)];
  if (answers === 1) {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    record.writeUInt16BE(TYPE_A, 2);
    record.writeUInt16BE(CLASS_IN, 4);
    record.writeUInt32BE(0, 6); // TTL
    record.writeUInt16BE(4, 10);
    Buffer.from([127, 0, 0, 1]).copy(record, 12);
    parts.push(record);
  }
  socket.send(Buffer.concat(parts), remote.port, remote.address);
}

/** The first question of a query (RFC 1035 §4.1.2), without compression (queries never use it). */
function parseQuestion(query: Buffer): { name: string; type: number; end: number } | undefined {
  if (query.length < 12 || query.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  while (offset < query.length) {
    const length = query[offset] ?? 0;
    if (length === 0) break;
    if (length > 63) return undefined;
    labels.push(query.toString("latin1", offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  if (offset + 5 > query.length) return undefined;
  return { name: labels.join(".").toLowerCase(), type: query.readUInt16BE(offset + 1), end: offset + 5 };
}
