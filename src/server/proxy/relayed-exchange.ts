import http, { type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import type { Duplex, Writable } from "node:stream";
import type { HopGateErrorCode } from "../../lib/hopgate-error.js";
import { endToEndFields } from "../../protocol/hop-by-hop.js";
import { emptyFieldMap, isWireHeader } from "../../protocol/wire-headers.js";
import { PEER_FOR_HEADER } from "../cluster/peer-protocol.js";
import type { PeerTarget } from "../cluster/peer-routes.js";
import { accessRecordOf } from "./access-record.js";
import { errorPage, sendErrorPage } from "./error-response.js";
import type { ExchangeContext } from "./proxied-exchange.js";
import { onVisitorConnectionClosed } from "./response-delivery.js";
import { responseHead } from "./upgrade-exchange.js";
import { announcedTrailers, rawFieldMap, trailerFields } from "../../protocol/trailer-fields.js";
import { acceptsTrailers } from "./visitor-trailers.js";
import { hasBodyOfUnknownLength, visitorHost, type VisitorRequest, type VisitorResponse } from "./visitor.js";

/** Past the holder's own proxy timeout, how long a relayed response head may still take. */
const HEAD_MARGIN_MS = 5_000;

/**
 * A visitor's request relayed to the peer server holding its domain's tunnel (docs/scale-out.md):
 * one HTTP/2 stream of the peer link carrying the request as HTTP/1.1 bytes, answered by the
 * holder's proxy as a visitor request. Bodies stream both ways with the link's flow control;
 * the visitor leaving cancels the stream, which cancels the holder's tunnel stream. The
 * visitor's address travels as a peer field of the stream, never as a header of the request;
 * every `X-HopGate-*` the visitor sent is dropped here.
 */
export function relayRequest(
  req: VisitorRequest,
  res: VisitorResponse,
  peer: PeerTarget,
  context: ExchangeContext,
  rawHeaders: readonly string[],
): void {
  let bytesIn = 0;
  let bytesOut = 0;
  let status = 0;
  let done = false;
  const finish = (error: HopGateErrorCode | "client_abort" | undefined) => {
    if (done) return;
    done = true;
    relay?.disarm();
    unwatch();
    context.onFinished(
      accessRecordOf(req, context, { status, bytesIn, bytesOut, sessionId: undefined, error }),
    );
  };
  const fail = (code: HopGateErrorCode) => {
    if (done) return;
    if (res.headersSent) res.destroy(new Error("relay failed"));
    else status = sendErrorPage(req, res, code, context.requestId);
    req.resume();
    finish(code);
  };
  const gone = () => {
    if (done) return;
    relay?.outgoing.destroy();
    finish("client_abort");
  };
  res.once("close", gone);
  const unwatch = onVisitorConnectionClosed(req, gone);
  const relay = openWithDeadline(req, peer, context, relayedHeaders(req, context, rawHeaders, false), fail);
  if (!relay) return fail("tunnel_unavailable");
  relay.outgoing.on("response", (answer: IncomingMessage) => {
    relay.disarm();
    if (done) return answer.destroy();
    status = answer.statusCode ?? 502;
    const headers = responseHeaders(answer);
    // RFC 9110 §6.6.2: the holder's announcement, validated again, where trailers can follow.
    const announced = acceptsTrailers(req, status, headers) && announcedTrailers(trailerValues(answer));
    if (announced) headers.trailer = announced;
    res.writeHead(status, headers);
    answer.on("data", (chunk: Buffer) => (bytesOut += chunk.length));
    answer.on("error", () => fail("tunnel_closed"));
    answer.on("aborted", () => fail("tunnel_closed"));
    answer.on("end", () => {
      relayTrailers(req, res, status, headers, answer.rawTrailers, context);
      res.end();
      finish(undefined);
    });
    answer.pipe(res as unknown as Writable, { end: false });
  });
  req.on("data", (chunk: Buffer) => (bytesIn += chunk.length));
  // Never destroys `req` (on HTTP/1.1 that would take the visitor's connection with it).
  req.pipe(relay.outgoing);
}

/**
 * An HTTP/1.1 upgrade (WebSocket) relayed the same way: once the holder answers 101, the
 * visitor's socket and the link's stream are joined as one byte stream. Bytes the visitor sent
 * right after its request head reach the backend after its 101, not before.
 */
export function relayUpgrade(
  req: VisitorRequest,
  socket: Duplex,
  head: Buffer,
  peer: PeerTarget,
  context: ExchangeContext,
  rawHeaders: readonly string[],
): void {
  let status = 0;
  let done = false;
  const finish = (error: HopGateErrorCode | "client_abort" | undefined) => {
    if (done) return;
    done = true;
    relay?.disarm();
    context.onFinished(
      accessRecordOf(req, context, { status, bytesIn: 0, bytesOut: 0, sessionId: undefined, error }),
    );
  };
  const fail = (code: HopGateErrorCode) => {
    if (done) return;
    if (status !== 0) socket.destroy();
    else {
      const page = errorPage(code, context.requestId, req.headers.accept);
      status = page.status;
      socket.end(responseHead(page.status, { ...page.headers, connection: "close" }) + page.body);
    }
    finish(code);
  };
  const relay = openWithDeadline(req, peer, context, relayedHeaders(req, context, rawHeaders, true), fail);
  if (!relay) return fail("tunnel_unavailable");
  relay.outgoing.on("upgrade", (answer: IncomingMessage, link: Duplex, linkHead: Buffer) => {
    relay.disarm();
    status = answer.statusCode ?? 101;
    socket.write(
      responseHead(status, {
        ...responseHeaders(answer),
        connection: "Upgrade",
        upgrade: answer.headers.upgrade,
      }),
    );
    if (linkHead.length > 0) socket.write(linkHead);
    if (head.length > 0) link.write(head);
    link.on("error", () => socket.destroy());
    socket.on("error", () => link.destroy());
    link.once("close", () => {
      socket.destroy();
      finish(undefined);
    });
    socket.once("close", () => {
      link.destroy();
      finish(undefined);
    });
    link.pipe(socket);
    socket.pipe(link);
    socket.resume();
  });
  relay.outgoing.on("response", (answer: IncomingMessage) => {
    relay.disarm();
    status = answer.statusCode ?? 502;
    socket.write(responseHead(status, { ...responseHeaders(answer), connection: "close" }));
    answer.pipe(socket);
    answer.on("end", () => finish(undefined));
  });
  socket.once("close", () => {
    if (done) return;
    relay.outgoing.destroy();
    finish("client_abort");
  });
  relay.outgoing.end();
}

interface OpenRelay {
  readonly outgoing: http.ClientRequest;
  /** Stops the head deadline: the answer's head came, or the exchange ended. */
  readonly disarm: () => void;
}

/**
 * The relayed HTTP/1.1 request on a new stream of the link, its answer head due within the
 * holder's proxy timeout plus a margin: past it the stream is destroyed and `fail` hears
 * "timeout"; a stream error is "tunnel_closed". Undefined when the link is down.
 */
function openWithDeadline(
  req: VisitorRequest,
  peer: PeerTarget,
  context: ExchangeContext,
  headers: OutgoingHttpHeaders,
  fail: (code: HopGateErrorCode) => void,
): OpenRelay | undefined {
  const stream = peer.openExchange({ [PEER_FOR_HEADER]: context.forwardedFor.join(", ") });
  if (!stream) return undefined;
  stream.on("error", () => {});
  let outgoing: http.ClientRequest;
  try {
    outgoing = http.request({
      method: req.method ?? "GET",
      path: req.url ?? "/",
      headers,
      createConnection: () => stream,
    });
  } catch {
    stream.destroy();
    return undefined;
  }
  const timer = setTimeout(() => {
    outgoing.destroy();
    fail("timeout");
  }, context.proxyTimeoutMs + HEAD_MARGIN_MS);
  outgoing.on("error", () => fail("tunnel_closed"));
  return { outgoing, disarm: () => clearTimeout(timer) };
}

/**
 * The visitor's end-to-end headers (after the access policy's changes), without hop-by-hop
 * fields (RFC 9110 §7.6.1), HTTP/2 pseudo-headers and any `X-HopGate-*`; Host and X-Request-ID
 * as this server decided them. The holder sets the forwarding headers from the peer field.
 */
function relayedHeaders(
  req: VisitorRequest,
  context: ExchangeContext,
  raw: readonly string[],
  upgrade: boolean,
): OutgoingHttpHeaders {
  const out = singleValues(
    endToEndFields(
      raw,
      (name) =>
        name.charCodeAt(0) === 58 /* : */ || isWireHeader(name) || name === "host" || name === "x-request-id",
    ),
  );
  out.host = visitorHost(req);
  out["x-request-id"] = context.requestId;
  if (upgrade) {
    out.connection = "Upgrade";
    out.upgrade = req.headers.upgrade;
  } else {
    out.connection = "close";
    if (hasBodyOfUnknownLength(req)) out["transfer-encoding"] = "chunked";
    // This hop takes the holder's response trailers (relayTrailers), whatever the visitor's TE.
    out.te = "trailers";
  }
  return out;
}

/**
 * The holder's trailer section (a chunked answer to `TE: trailers`), validated as a tunnel
 * client's are (trailer-fields.ts) and passed on when this visitor can take them
 * (visitor-trailers.ts). A malformed section is dropped: the body is complete by now, and the
 * holder validated the section already.
 */
function relayTrailers(
  req: VisitorRequest,
  res: VisitorResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  rawTrailers: readonly string[],
  context: ExchangeContext,
): void {
  if (rawTrailers.length === 0) return;
  const trailers = trailerFields(rawFieldMap(rawTrailers));
  const sent = trailers.ok && trailers.count > 0 && acceptsTrailers(req, status, headers);
  if (sent) res.addTrailers(trailers.fields);
  context.onTrailers(sent ? "sent" : "dropped");
}

/** The holder's response headers, without its hop-by-hop fields (this hop frames its own). */
function responseHeaders(answer: IncomingMessage): OutgoingHttpHeaders {
  return singleValues(endToEndFields(answer.rawHeaders));
}

/** The values of the holder's `Trailer` fields (dropped from responseHeaders as hop-by-hop). */
function trailerValues(answer: IncomingMessage): string[] {
  const raw = answer.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]!.toLowerCase() === "trailer") values.push(raw[i + 1]!);
  return values;
}

/**
 * Fields that occur once as plain strings (HTTP/2 refuses an array for single-value fields), in
 * a map that inherits nothing: on a plain object a field named "__proto__" set the prototype
 * (or nothing) and never reached the other side.
 */
function singleValues(headers: Record<string, string[]>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = emptyFieldMap();
  for (const name in headers) {
    const values = headers[name]!;
    out[name] = values.length === 1 ? values[0] : values;
  }
  return out;
}
