import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CLIENT_DIRECTIONS, RECONNECT_REASONS } from "../../src/client/metrics/client-metrics.js";
import { VISITOR_REJECTION_REASONS } from "../../src/server/edge/client-error.js";
import { CONNECTION_DROP_REASONS } from "../../src/server/edge/tls-listener.js";
import { VISITOR_LIMIT_REASONS } from "../../src/server/limits/visitor-limits.js";
import {
  ACME_ORDER_RESULTS,
  AUTH_FAILURE_KINDS,
  HANDSHAKE_RESULTS,
  PROXY_DIRECTIONS,
  PROXY_ERROR_TYPES,
} from "../../src/server/metrics/server-events.js";
import { WORKER_EXIT_REASONS } from "../../src/server/workers/supervision-metrics.js";

// docs/operations.md's metrics tables name, for each metric with a closed label set, exactly the
// label values the code emits (the lists the metrics pre-create their series from).

const LABEL_VALUES: Record<string, readonly string[]> = {
  hopgate_proxy_errors_total: PROXY_ERROR_TYPES,
  hopgate_proxy_bytes_total: PROXY_DIRECTIONS,
  hopgate_tunnel_handshakes_total: HANDSHAKE_RESULTS,
  hopgate_acme_orders_total: ACME_ORDER_RESULTS,
  hopgate_auth_failures_total: AUTH_FAILURE_KINDS,
  hopgate_auth_blocked_total: AUTH_FAILURE_KINDS,
  hopgate_visitor_limited_total: VISITOR_LIMIT_REASONS,
  hopgate_visitor_rejected_total: VISITOR_REJECTION_REASONS,
  hopgate_connections_dropped_total: CONNECTION_DROP_REASONS,
  hopgate_client_reconnects_total: RECONNECT_REASONS,
  hopgate_client_bytes_total: CLIENT_DIRECTIONS,
  hopgate_worker_exits_total: WORKER_EXIT_REASONS,
};

describe("docs/operations.md metrics tables", () => {
  const text = readFileSync(join(import.meta.dirname, "../../docs/operations.md"), "utf8");
  for (const [metric, values] of Object.entries(LABEL_VALUES)) {
    it(`name the label values of ${metric} that the code emits`, () => {
      const row = text.split("\n").find((line) => line.startsWith(`| \`${metric}\` `));
      assert.ok(row, `a row for ${metric}`);
      const meaning = row.split("|").at(-2)!;
      const named = [...meaning.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]);
      assert.deepEqual([...new Set(named)].sort(), [...values].sort());
    });
  }
});
