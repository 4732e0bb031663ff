import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress } from "../../config/parsers.js";
import type { Logger } from "../../lib/logger.js";
import { createClientErrors, type VisitorRejectionReason } from "../edge/client-error.js";
import { adoptOriginForm, refuseTarget } from "../edge/origin-form.js";
import { parseRequestTarget } from "./request-target.js";

/**
 * Answers ACME HTTP-01 challenges (RFC 8555 §8.3) by token; implemented by the certificate
 * manager's challenge table. May be asynchronous so that a table shared through the store (several
 * servers behind one name) can stand in for the in-memory one.
 */
export interface ChallengeResponder {
  /** The key authorization for a pending challenge's token, or undefined. */
  keyAuthorizationFor(token: string): string | undefined | Promise<string | undefined>;
}

export interface HttpListenerOptions {
  /** Port of the TLS listener, appended to redirects unless it is 443. */
  readonly httpsPort: number;
  readonly challenges: ChallengeResponder;
  /**
   * Development option (HOP_SERVER_HTTP_PROXY): every request that is not a challenge goes to this
   * handler instead of being redirected to HTTPS.
   */
  readonly plainHttpProxy?: (req: IncomingMessage, res: ServerResponse) => void;
  readonly logger: Logger;
  /** Grace for in-flight requests at close(); then connections are cut. Default 5 s. */
  readonly closeGraceMs?: number;
  /** A request refused by node's HTTP/1.1 parser or its timeouts (400, 408, 431). */
  readonly onRejected?: (reason: VisitorRejectionReason) => void;
}

export interface HttpListener {
  readonly server: Server;
  /** Binds (port 0 picks a free port); resolves with the bound port. */
  listen(address: ListenAddress): Promise<number>;
  close(): Promise<void>;
}

const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
/** RFC 8555 §8.3: the token is base64url (RFC 4648 §5) without padding. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/** The plain HTTP listener (HOP_SERVER_HTTP_LISTEN): ACME challenges, else 308 to https. */
export function createHttpListener(options: HttpListenerOptions): HttpListener {
  const logger = options.logger.child({ component: "http" });
  const proxying = options.plainHttpProxy !== undefined;
  const clientErrors = createClientErrors(options.onRejected);
  const server = createServer(
    {
      headersTimeout: 10_000,
      // A redirect needs no body; a proxied request may stream for long and has its own timeouts.
      requestTimeout: proxying ? 0 : 30_000,
      keepAliveTimeout: 5_000,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => {
      clientErrors.responding(req.socket, res);
      handle(req, res, options, logger);
    },
  );
  server.on("clientError", (error: Error & { code?: string }, socket) => {
    logger.debug({ err: error }, "malformed HTTP request");
    clientErrors.listener(error, socket);
  });
  return {
    server,
    listen: (address) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen({ port: address.port, host: address.host === "" ? undefined : address.host }, () => {
          server.off("error", reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    close: () => closeServer(server, options.closeGraceMs ?? 5_000),
  };
}

function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpListenerOptions,
  logger: Logger,
): void {
  const path = req.url ?? "";
  if (path.startsWith(CHALLENGE_PREFIX)) {
    answerChallenge(req, res, path.slice(CHALLENGE_PREFIX.length), options.challenges).catch(
      (error: unknown) => {
        logger.error({ err: error }, "challenge lookup failed");
        if (!res.headersSent) reply(res, 500, "Internal Server Error\n");
      },
    );
    return;
  }
  if (options.plainHttpProxy) {
    if (adoptOriginForm(req).ok) return options.plainHttpProxy(req, res);
    options.onRejected?.("malformed");
    return refuseTarget(req, res);
  }
  const target = parseRequestTarget(req.url, req.headers.host);
  if (!target) {
    reply(res, 400, "Bad Request: missing or invalid Host\n");
    return;
  }
  const port = options.httpsPort === 443 ? "" : `:${options.httpsPort}`;
  const location = `https://${target.host}${port}${target.pathAndQuery}`;
  try {
    res.setHeader("Location", location);
  } catch (error) {
    logger.debug({ err: error }, "redirect target not representable in a header");
    reply(res, 400, "Bad Request\n");
    return;
  }
  reply(res, 308, `Redirecting to ${location}\n`);
}

/** The token is looked up in a table; it never becomes part of a file path. */
async function answerChallenge(
  req: IncomingMessage,
  res: ServerResponse,
  rest: string,
  challenges: ChallengeResponder,
): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    reply(res, 405, "Method Not Allowed\n");
    return;
  }
  const token = rest.split("?", 1)[0] ?? "";
  const keyAuthorization = TOKEN.test(token) ? await challenges.keyAuthorizationFor(token) : undefined;
  if (keyAuthorization === undefined) {
    reply(res, 404, "Not Found\n");
    return;
  }
  reply(res, 200, keyAuthorization);
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.setHeader("Cache-Control", "no-store");
  res.end(res.req.method === "HEAD" ? undefined : body);
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close((error) => {
      clearTimeout(force);
      if (error) reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
}
