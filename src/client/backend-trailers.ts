import { trailerFields, trailerHeaderMap } from "../protocol/trailer-fields.js";
import type { TunnelStream } from "../protocol/tunnel-stream.js";
import type { HeaderMap } from "../protocol/wire-headers.js";

/**
 * Why a backend's response trailer field did not go on towards the visitor:
 * - `not_a_trailer`: a field that may not be a trailer (RFC 9110 §6.5.1), hop-by-hop, or tunnel
 *   metadata (`X-HopGate-*`); dropped, the rest of the section goes on;
 * - `section_refused`: the section holds a field the server would refuse (a name that is not a
 *   token, a value with a control character), so none of it is sent;
 * - `not_relayed`: the server of this tunnel session does not speak the "trailers" capability
 *   (a v1 server or an older v2 one): trailers never reach it;
 * - `stream_closed`: the stream to the server had ended before the trailers could follow.
 */
export type WithheldReason = "not_a_trailer" | "section_refused" | "not_relayed" | "stream_closed";

/** One trailer field the backend sent that was not passed on, as the inspector shows it. */
export interface WithheldTrailer {
  /** Lowercased. */
  readonly name: string;
  readonly reason: WithheldReason;
  /** The reason in words, for a person. */
  readonly detail: string;
}

/**
 * Sends a backend's trailer fields on `stream` when the server speaks the "trailers"
 * capability (TunnelStream.sendTrailers), validated as the server validates them: fields that
 * may not be trailers are dropped, and a section the server would refuse is not sent at all, so
 * that the visitor still gets its complete body. Returns the fields of `header` that were not
 * sent and why (each name once); empty when all went.
 */
export function forwardTrailers(stream: TunnelStream, header: HeaderMap): readonly WithheldTrailer[] {
  const trailers = trailerFields(header);
  if (!trailers.ok) {
    const detail = `section refused (${trailers.problem}): none of it was sent`;
    return withheldNames(header, () => true).map((name) => ({ name, reason: "section_refused", detail }));
  }
  // Allocates nothing more when every field is a trailer and goes (gRPC's grpc-status, etc.).
  const dropped = withheldNames(header, (name) => trailers.fields[name] === undefined);
  const withheld: WithheldTrailer[] = dropped.map((name) => ({
    name,
    reason: "not_a_trailer",
    detail: DROPPED,
  }));
  if (trailers.count === 0) return withheld;
  const sent = stream.relaysTrailers && stream.sendTrailers(trailerHeaderMap(trailers.fields));
  if (sent) return withheld;
  const notSent: WithheldTrailer = stream.relaysTrailers
    ? { name: "", reason: "stream_closed", detail: "the stream to the server had ended" }
    : {
        name: "",
        reason: "not_relayed",
        detail: 'the server does not relay trailers (no "trailers" capability: a v1 or older server)',
      };
  for (const name in trailers.fields) withheld.push({ ...notSent, name });
  return withheld;
}

const DROPPED = "dropped: not allowed as a trailer field (RFC 9110 §6.5.1, hop-by-hop or tunnel metadata)";
const NONE: readonly string[] = [];

/** The lowercased names of `header` that `withheld` holds, each once, in header order. */
function withheldNames(header: HeaderMap, withheld: (lowercased: string) => boolean): readonly string[] {
  let names: string[] | undefined;
  for (const key in header) {
    const name = key.toLowerCase();
    if (withheld(name) && !names?.includes(name)) (names ??= []).push(name);
  }
  return names ?? NONE;
}

/** Validated trailer fields as a flat name/value list, as the inspector keeps heads. */
export function flatFields(fields: Readonly<Record<string, readonly string[]>>): string[] {
  const flat: string[] = [];
  for (const name in fields) for (const value of fields[name] ?? []) flat.push(name, value);
  return flat;
}
