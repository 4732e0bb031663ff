import { create } from "@bufbuild/protobuf";
import {
  DrainSchema,
  EnvelopeSchema,
  PingSchema,
  PongSchema,
  StreamCloseSchema,
  StreamCreditSchema,
  StreamDataSchema,
  StreamOpenSchema,
  type Envelope,
} from "./gen/hopgate/protocol/v1/tunnel_pb.js";
import type { HeaderMap } from "./wire-headers.js";

/** Constructors for every Envelope a HopGate peer sends; the only place frames are built. */
export const frame = {
  open(id: string, serviceName: string, header: HeaderMap): Envelope {
    return create(EnvelopeSchema, {
      payload: { case: "streamOpen", value: create(StreamOpenSchema, { id, serviceName, header }) },
    });
  },
  data(id: string, seq: bigint, data: Uint8Array): Envelope {
    return create(EnvelopeSchema, {
      payload: { case: "streamData", value: create(StreamDataSchema, { id, seq, data }) },
    });
  },
  close(id: string, error = ""): Envelope {
    return create(EnvelopeSchema, {
      payload: { case: "streamClose", value: create(StreamCloseSchema, { id, error }) },
    });
  },
  credit(id: string, bytes: number): Envelope {
    return create(EnvelopeSchema, {
      payload: { case: "streamCredit", value: create(StreamCreditSchema, { id, bytes }) },
    });
  },
  ping(nonce: bigint): Envelope {
    return create(EnvelopeSchema, { payload: { case: "ping", value: create(PingSchema, { nonce }) } });
  },
  pong(nonce: bigint): Envelope {
    return create(EnvelopeSchema, { payload: { case: "pong", value: create(PongSchema, { nonce }) } });
  },
  drain(deadlineMs: number, reason: string): Envelope {
    return create(EnvelopeSchema, {
      payload: { case: "drain", value: create(DrainSchema, { deadlineMs, reason }) },
    });
  },
};
