/**
 * Hostile header combinations for differential tests of a hop (RFC 9110 §7.6.1): Connection
 * lines naming framing, routing, peer and end-to-end fields, names in any case, repeated names,
 * and the oracle of what must cross the hop.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import type { BackendHandler } from "./backend.js";

/** One header line: name as sent, value. */
export type Field = readonly [string, string];

/** RFC 9110 §7.6.1 and src/protocol/hop-by-hop.ts: never forwarded, whatever Connection says. */
export const ALWAYS_HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);
/** Framing and routing fields a Connection token may not remove. */
export const NEVER_HOP_BY_HOP = new Set(["content-length", "host"]);
/** Request fields the gateway sets itself (the visitor's are replaced). */
export const SET_BY_GATEWAY = new Set([
  "host",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-real-ip",
  "forwarded",
  "x-request-id",
]);
/** Framing: each hop states its own; the body bytes are compared instead. */
export const FRAMING = new Set(["content-length", "transfer-encoding"]);
/** What a hostile Connection header names: framing, routing, peer and end-to-end fields. */
export const TOKENS = [
  "content-length",
  "transfer-encoding",
  "host",
  "te",
  "trailer",
  "upgrade",
  "keep-alive",
  "x-hopgate-peer-for",
  "x-hopgate-peer-id",
  "x-secret",
  "accept",
  "x-dup",
];

/** A header name in a random mix of upper and lower case. */
export const spelled = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(""));
export const fieldValue = fc.stringMatching(/^[a-z0-9=;./-]{1,12}$/);
export const field = (names: readonly string[], lowercase: boolean) =>
  fc.tuple(
    fc.constantFrom(...names).chain((name) => (lowercase ? fc.constant(name) : spelled(name))),
    fieldValue,
  );
/** 0–2 Connection lines, each naming some of TOKENS in any spelling. */
export const connectionLines = fc.array(
  fc.subarray(TOKENS, { minLength: 1 }).chain((tokens) => fc.tuple(...tokens.map(spelled))),
  { maxLength: 2 },
);
export const bodyBytes = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes));

/** Request fields; `__proto__` and `constructor` are ordinary names to a proxy. */
export const H1_REQUEST_NAMES = [
  "x-secret",
  "x-dup",
  "accept",
  "x-hopgate-peer-for",
  "x-hopgate-peer-id",
  "keep-alive",
  "te",
  "trailer",
  "proxy-authorization",
  "x-forwarded-for",
  "__proto__",
  "constructor",
];
/**
 * HTTP/2 forbids connection-specific fields (RFC 9113 §8.2.2) and allows TE only as "trailers";
 * node's client sends Proxy-Authorization once at most.
 */
export const H2_REQUEST_NAMES = H1_REQUEST_NAMES.filter(
  (name) => !["keep-alive", "te", "trailer", "proxy-authorization"].includes(name),
);
/** Response fields (Trailer and Upgrade left out: node's backend would refuse or upgrade). */
export const RESPONSE_NAMES = [
  "x-secret",
  "x-dup",
  "accept",
  "x-hopgate-peer-for",
  "keep-alive",
  "te",
  "constructor",
];

/** The fields of `fields` that must cross a hop, by lowercased name, values in order. */
export function endToEnd(
  fields: readonly Field[],
  connection: readonly string[][],
  dropped: ReadonlySet<string>,
) {
  const named = new Set(
    connection
      .flat()
      .map((token) => token.toLowerCase())
      .filter((token) => !NEVER_HOP_BY_HOP.has(token)),
  );
  return grouped(
    fields.filter(([name]) => {
      const lower = name.toLowerCase();
      return (
        !ALWAYS_HOP_BY_HOP.has(lower) &&
        !named.has(lower) &&
        !lower.startsWith("x-hopgate-") &&
        !dropped.has(lower)
      );
    }),
  );
}

export function grouped(fields: readonly Field[]): Array<[string, string[]]> {
  const map = new Map<string, string[]>();
  for (const [name, text] of fields) {
    const lower = name.toLowerCase();
    map.set(lower, [...(map.get(lower) ?? []), text]);
  }
  return [...map].sort(([x], [y]) => (x < y ? -1 : 1));
}

const pairs = (raw: readonly string[]): Field[] =>
  raw.flatMap((name, i) => (i % 2 === 0 ? [[name, raw[i + 1] ?? ""] as const] : []));
export const digest = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

export interface Seen {
  readonly fields: Field[];
  readonly digest: string;
}

/**
 * The backend records what it received per path and answers with the fields, Connection lines
 * and body the test chose for that path.
 */
export function recordingBackend(seen: Map<string, Seen>, answers: Map<string, Answer>): BackendHandler {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const received = Buffer.concat(chunks);
      seen.set(req.url ?? "", { fields: pairs(req.rawHeaders), digest: digest(received) });
      const answer = answers.get(req.url ?? "");
      if (!answer) return res.end("ok");
      res.sendDate = false;
      const raw = [
        ...answer.fields.flat(),
        ...answer.connection.flatMap((tokens) => ["Connection", tokens.join(", ")]),
        "Content-Length",
        String(answer.body.length),
      ];
      res.writeHead(200, raw);
      res.end(answer.body);
    });
  };
}

export interface Answer {
  readonly fields: readonly Field[];
  readonly connection: readonly string[][];
  readonly body: Buffer;
}

/** A POST of `body` to `path` with these header lines and Connection lines, framed by Content-Length. */
export function http1RequestBytes(
  path: string,
  host: string,
  fields: readonly Field[],
  connection: readonly string[][],
  body: Buffer,
): Buffer {
  const lines = [
    `POST ${path} HTTP/1.1`,
    `Host: ${host}`,
    ...fields.map(([name, text]) => `${name}: ${text}`),
  ];
  for (const tokens of connection) lines.push(`Connection: ${tokens.join(", ")}`);
  lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), body]);
}
