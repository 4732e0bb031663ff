import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { forwardTrailers } from "../../src/client/backend-trailers.js";
import { OutboundQueue } from "../../src/protocol/outbound-queue.js";
import { TunnelStream } from "../../src/protocol/tunnel-stream.js";
import { emptyFieldMap, headerValues, type HeaderMap } from "../../src/protocol/wire-headers.js";

function mapOf(fields: Record<string, string[]>): HeaderMap {
  const map: HeaderMap = emptyFieldMap();
  for (const [name, values] of Object.entries(fields)) map[name] = headerValues(values);
  return map;
}

/** A client's response stream on a tunnel whose sides do (or do not) both speak "trailers". */
function responseStream(trailers: boolean) {
  const outbound = new OutboundQueue({ batching: false, maxBatchBytes: 1 << 20, highWaterBytes: 1 << 20 });
  const stream = new TunnelStream(
    "http-1",
    {
      outbound,
      maxChunkBytes: 16_384,
      version: 2,
      trailers,
      countSent: () => undefined,
      finished: () => undefined,
    },
    65_536,
    false,
  );
  const sent = (): Array<Record<string, string[]>> => {
    const sections: Array<Record<string, string[]>> = [];
    for (let next = outbound.take(); next; next = outbound.take()) {
      if (next.payload.case !== "streamTrailers") continue;
      const section: Record<string, string[]> = {};
      for (const [name, values] of Object.entries(next.payload.value.header)) section[name] = values.values;
      sections.push(section);
    }
    return sections;
  };
  return { stream, sent };
}

describe("forwardTrailers: what a backend's trailers became, for the inspector", () => {
  const cases: Array<{
    what: string;
    relays: boolean;
    backend: Record<string, string[]>;
    sent: Array<Record<string, string[]>>;
    withheld: Array<[name: string, reason: string]>;
  }> = [
    {
      what: "sends every field and withholds none",
      relays: true,
      backend: { "grpc-status": ["0"], "X-Sum": ["42"] },
      sent: [{ "grpc-status": ["0"], "x-sum": ["42"] }],
      withheld: [],
    },
    {
      what: "drops fields that may not be trailers, hop-by-hop fields and tunnel metadata, and says so",
      relays: true,
      backend: {
        "grpc-status": ["0"],
        "Set-Cookie": ["session=stolen"],
        "x-hopgate-status": ["500"],
        connection: ["close"],
        "content-length": ["5"],
      },
      sent: [{ "grpc-status": ["0"] }],
      withheld: [
        ["set-cookie", "not_a_trailer"],
        ["x-hopgate-status", "not_a_trailer"],
        ["connection", "not_a_trailer"],
        ["content-length", "not_a_trailer"],
      ],
    },
    {
      what: "sends nothing of a section the server would refuse, and lists all of its fields",
      relays: true,
      backend: { "grpc-status": ["0"], "x-evil": ["a\u0001b"], "set-cookie": ["x=1"] },
      sent: [],
      withheld: [
        ["grpc-status", "section_refused"],
        ["x-evil", "section_refused"],
        ["set-cookie", "section_refused"],
      ],
    },
    {
      what: "withholds every field from a server without the trailers capability",
      relays: false,
      backend: { "grpc-status": ["0"], "x-sum": ["42"], "set-cookie": ["x=1"] },
      sent: [],
      withheld: [
        ["set-cookie", "not_a_trailer"],
        ["grpc-status", "not_relayed"],
        ["x-sum", "not_relayed"],
      ],
    },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const { stream, sent } = responseStream(c.relays);
      const withheld = forwardTrailers(stream, mapOf(c.backend));
      assert.deepEqual(sent(), c.sent);
      assert.deepEqual(
        withheld.map((w) => [w.name, w.reason]),
        c.withheld,
      );
      for (const w of withheld) assert.ok(w.detail.length > 0, `${w.name} says why`);
    });
  }

  it("names a field once whatever the spellings it came in, and says when the stream had ended", () => {
    const { stream, sent } = responseStream(true);
    stream.abort("visitor gone");
    const withheld = forwardTrailers(stream, mapOf({ "X-Sum": ["1"], "x-sum": ["2"], Date: ["now"] }));
    assert.deepEqual(sent(), []);
    assert.deepEqual(
      withheld.map((w) => [w.name, w.reason]),
      [
        ["date", "not_a_trailer"],
        ["x-sum", "stream_closed"],
      ],
    );
  });
});
