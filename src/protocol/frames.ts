import type { Envelope } from "./gen/hopgate/protocol/v1/tunnel_pb.js";
import type { HeaderMap } from "./wire-headers.js";

/**
 * Constructors for every Envelope a HopGate peer sends; the only place frames are built. They are
 * plain message objects, as protobuf-es's `create()` would return them with every field set, but
 * without its per-call reflection: a request costs several frames (docs/performance.md).
 */
export const frame = {
  open(id: string, serviceName: string, header: HeaderMap): Envelope {
    return envelope({
      case: "streamOpen",
      value: { $typeName: "hopgate.protocol.v1.StreamOpen", id, serviceName, targetAddr: "", header },
    });
  },
  data(id: string, seq: bigint, data: Uint8Array): Envelope {
    return envelope({
      case: "streamData",
      value: { $typeName: "hopgate.protocol.v1.StreamData", id, seq, data },
    });
  },
  close(id: string, error = ""): Envelope {
    return envelope({
      case: "streamClose",
      value: { $typeName: "hopgate.protocol.v1.StreamClose", id, error },
    });
  },
  /** v2 with the "trailers" capability only (docs/protocol.md). */
  trailers(id: string, header: HeaderMap): Envelope {
    return envelope({
      case: "streamTrailers",
      value: { $typeName: "hopgate.protocol.v1.StreamTrailers", id, header },
    });
  },
  credit(id: string, bytes: number): Envelope {
    return envelope({
      case: "streamCredit",
      value: { $typeName: "hopgate.protocol.v1.StreamCredit", id, bytes },
    });
  },
  ping(nonce: bigint): Envelope {
    return envelope({ case: "ping", value: { $typeName: "hopgate.protocol.v1.Ping", nonce } });
  },
  pong(nonce: bigint): Envelope {
    return envelope({ case: "pong", value: { $typeName: "hopgate.protocol.v1.Pong", nonce } });
  },
  drain(deadlineMs: number, reason: string): Envelope {
    return envelope({ case: "drain", value: { $typeName: "hopgate.protocol.v1.Drain", deadlineMs, reason } });
  },
  /** v2 only: the gateway's live servers changed (docs/protocol.md). */
  serverList(servers: readonly string[]): Envelope {
    return envelope({
      case: "serverList",
      value: { $typeName: "hopgate.protocol.v1.ServerList", servers: [...servers] },
    });
  },
};

/** An Envelope around one payload: the one place that spells its type name. */
export function envelope(payload: Envelope["payload"]): Envelope {
  return { $typeName: "hopgate.protocol.v1.Envelope", payload };
}
