import { create } from "@bufbuild/protobuf";
import {
  EnvelopeSchema,
  StreamOpenSchema,
  TunnelAcceptSchema,
  type Envelope,
  type TunnelAccept,
} from "./gen/hopgate/protocol/v1/tunnel_pb.js";
import { firstValue, headerValues, WireHeader, type HeaderMap } from "./wire-headers.js";

/** The tunnel's one gRPC method, as an HTTP/2 path (service HopGateTunnel, rpc OpenTunnel). */
export const OPEN_TUNNEL_PATH = "/hopgate.protocol.v1.HopGateTunnel/OpenTunnel";

/** The id and service name of the handshake stream (v1 wire facts). */
export const CONTROL_STREAM_ID = "control-0";
export const CONTROL_SERVICE = "control";
/** Service name of every request in v1 mode, and of the single service a v1 client has. */
export const DEFAULT_SERVICE = "web";

/**
 * Optional v2 features, announced by the client (WireHeader.capability) and confirmed by the
 * server (TunnelAccept.capabilities): a frame of a feature is sent only when both named it, so
 * that older v2 peers and the v1 Go peers never receive one (docs/protocol.md).
 */
export const Capability = {
  /** StreamTrailers frames (HTTP trailers, e.g. gRPC's grpc-status). */
  trailers: "trailers",
} as const;

/** Every capability this build speaks, on either side. */
export const CAPABILITIES: readonly string[] = [Capability.trailers];

export interface ServiceRoute {
  readonly name: string;
  /** Path prefix starting with "/"; the longest match wins. */
  readonly pathPrefix: string;
}

export interface ClientHello {
  readonly domain: string;
  readonly apiKey: string;
  /** v1 peers log it; HopGate servers never dial it. */
  readonly localTarget: string;
  /** 1 for a client that did not announce v2. */
  readonly protocolVersion: 1 | 2;
  readonly services: readonly ServiceRoute[];
  readonly clientVersion: string;
  /** WireHeader.instance: the client process's random id; "" when absent (v1, older clients). */
  readonly instanceId: string;
  /** The capabilities the client announced that this build speaks too; none on v1. */
  readonly capabilities: readonly string[];
}

export type HelloResult =
  | { ok: true; hello: ClientHello }
  | { ok: false; reason: "malformed" | "missing_credentials"; detail: string };

const MAX_SERVICES = 64;
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const MAX_FIELD_CHARS = 512;

/** The client's first Envelope: a v1 control-0 StreamOpen, with the v2 announcement in its headers. */
export function encodeHello(
  hello: Omit<ClientHello, "protocolVersion" | "instanceId" | "capabilities"> & {
    readonly instanceId?: string;
    /** Defaults to every capability this build speaks. */
    readonly capabilities?: readonly string[];
  },
): Envelope {
  const capabilities = hello.capabilities ?? CAPABILITIES;
  const header: HeaderMap = {
    [WireHeader.domain]: headerValues([hello.domain]),
    [WireHeader.apiKey]: headerValues([hello.apiKey]),
    [WireHeader.localTarget]: headerValues([hello.localTarget]),
    [WireHeader.protocol]: headerValues(["2"]),
    [WireHeader.service]: headerValues(hello.services.map((s) => `${s.name}=${s.pathPrefix}`)),
    [WireHeader.clientVersion]: headerValues([hello.clientVersion]),
    ...(hello.instanceId && { [WireHeader.instance]: headerValues([hello.instanceId]) }),
    ...(capabilities.length > 0 && { [WireHeader.capability]: headerValues([...capabilities]) }),
  };
  return create(EnvelopeSchema, {
    payload: {
      case: "streamOpen",
      value: create(StreamOpenSchema, { id: CONTROL_STREAM_ID, serviceName: CONTROL_SERVICE, header }),
    },
  });
}

/** Validates a tunnel's first Envelope as the server receives it (v1 or v2 client). */
export function decodeHello(envelope: Envelope): HelloResult {
  if (envelope.payload.case !== "streamOpen") {
    return { ok: false, reason: "malformed", detail: "first message is not a StreamOpen" };
  }
  const open = envelope.payload.value;
  if (open.id !== CONTROL_STREAM_ID) {
    return { ok: false, reason: "malformed", detail: `first stream id is not ${CONTROL_STREAM_ID}` };
  }
  const domain = firstValue(open.header, WireHeader.domain)?.trim() ?? "";
  const apiKey = firstValue(open.header, WireHeader.apiKey)?.trim() ?? "";
  if (!domain || !apiKey) {
    return { ok: false, reason: "missing_credentials", detail: "domain or api key missing" };
  }
  if (domain.length > MAX_FIELD_CHARS || apiKey.length > MAX_FIELD_CHARS) {
    return { ok: false, reason: "malformed", detail: "domain or api key too long" };
  }
  const announced = open.header[WireHeader.protocol]?.values.includes("2") ?? false;
  const services = announced
    ? parseServices(open.header[WireHeader.service]?.values ?? [])
    : defaultServices();
  if (typeof services === "string") return { ok: false, reason: "malformed", detail: services };
  return {
    ok: true,
    hello: {
      domain,
      apiKey,
      localTarget: (firstValue(open.header, WireHeader.localTarget) ?? "").slice(0, MAX_FIELD_CHARS),
      protocolVersion: announced ? 2 : 1,
      services,
      clientVersion: (
        firstValue(open.header, WireHeader.clientVersion) ?? (announced ? "unknown" : "v1")
      ).slice(0, 64),
      instanceId: announced ? (firstValue(open.header, WireHeader.instance) ?? "").slice(0, 64) : "",
      capabilities: announced
        ? CAPABILITIES.filter((c) => open.header[WireHeader.capability]?.values.includes(c))
        : [],
    },
  };
}

function defaultServices(): ServiceRoute[] {
  return [{ name: DEFAULT_SERVICE, pathPrefix: "/" }];
}

function parseServices(entries: readonly string[]): ServiceRoute[] | string {
  if (entries.length === 0) return defaultServices();
  if (entries.length > MAX_SERVICES) return `more than ${MAX_SERVICES} services`;
  const services: ServiceRoute[] = [];
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    const name = entry.slice(0, eq);
    const pathPrefix = entry.slice(eq + 1);
    if (eq === -1 || !SERVICE_NAME.test(name)) return `invalid service entry "${entry.slice(0, 80)}"`;
    if (!pathPrefix.startsWith("/") || pathPrefix.length > MAX_FIELD_CHARS || /[\s?#]/.test(pathPrefix)) {
      return `invalid path prefix for service "${name}"`;
    }
    if (services.some((s) => s.name === name)) return `duplicate service "${name}"`;
    services.push({ name, pathPrefix });
  }
  return services;
}

export function encodeAccept(
  accept: Omit<TunnelAccept, "$typeName" | "$unknown" | "hostname" | "servers" | "capabilities"> & {
    readonly hostname?: string;
    readonly servers?: readonly string[];
    readonly capabilities?: readonly string[];
  },
): Envelope {
  const { servers, capabilities, ...rest } = accept;
  return create(EnvelopeSchema, {
    payload: {
      case: "tunnelAccept",
      value: create(TunnelAcceptSchema, {
        ...rest,
        ...(servers && { servers: [...servers] }),
        ...(capabilities && { capabilities: [...capabilities] }),
      }),
    },
  });
}
