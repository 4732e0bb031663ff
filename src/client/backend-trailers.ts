import { trailerFields, trailerHeaderMap } from "../protocol/trailer-fields.js";
import type { TunnelStream } from "../protocol/tunnel-stream.js";
import type { HeaderMap } from "../protocol/wire-headers.js";

/**
 * Sends a backend's trailer fields on `stream` when the server speaks the "trailers"
 * capability (TunnelStream.sendTrailers), validated as the server validates them: fields that
 * may not be trailers are dropped, and a section the server would refuse is not sent at all, so
 * that the visitor still gets its complete body. Returns a problem with the section, if any.
 */
export function forwardTrailers(stream: TunnelStream, header: HeaderMap): string | undefined {
  const trailers = trailerFields(header);
  if (!trailers.ok) return trailers.problem;
  if (trailers.count > 0) stream.sendTrailers(trailerHeaderMap(trailers.fields));
  return undefined;
}

/** Validated trailer fields as a flat name/value list, as the inspector keeps heads. */
export function flatFields(fields: Readonly<Record<string, readonly string[]>>): string[] {
  const flat: string[] = [];
  for (const name in fields) for (const value of fields[name] ?? []) flat.push(name, value);
  return flat;
}
