import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  FORWARD_AUTH_FAILURE_LOG_INTERVAL_MS,
  loggingForwardAuthFailures,
} from "../../src/server/access/forward-auth-failures.js";
import type { ForwardAuthRequest, ForwardAuthSpec } from "../../src/server/access/forward-auth.js";
import { captureLogs } from "../helpers/log-capture.js";

const URL_WITH_TOKEN = "https://gw:pass-5c1e@sso.example.com/verify?token=tok-8d2f90&rd=%2F";
const spec: ForwardAuthSpec = {
  url: URL_WITH_TOKEN,
  copyHeaders: [],
  timeoutMs: 1000,
  allowAmbiguousPaths: new Set(),
};
const request: ForwardAuthRequest = {
  method: "GET",
  uri: "/",
  host: "app.example.com",
  proto: "https",
  forwardedFor: [],
  rawHeaders: [],
};

describe("forward auth failures in the log", () => {
  it("masks the URL's secrets also where the reason repeats them, and logs one line per interval", async () => {
    const logs = captureLogs();
    let nowMs = 0;
    const reasons = [
      `request to ${URL_WITH_TOKEN} failed: token tok-8d2f90, user gw, password pass-5c1e`,
      "thrown",
    ];
    let calls = 0;
    const ask = loggingForwardAuthFailures(
      () => {
        const reason = reasons[calls++ % 2]!;
        return calls % 2 === 1 ? Promise.resolve({ t: "failed", reason }) : Promise.reject(new Error(reason));
      },
      logs.logger,
      () => nowMs,
    );
    assert.deepEqual(await ask(spec, request), { t: "failed", reason: reasons[0] });
    assert.deepEqual(await ask(spec, request), { t: "failed", reason: "thrown" }, "a throw is a failure");
    nowMs += FORWARD_AUTH_FAILURE_LOG_INTERVAL_MS;
    await ask(spec, request);
    const lines = logs.since(0, "forward auth failed");
    assert.equal(lines.length, 2);
    assert.equal(lines[0]?.forward_auth, "https://***:***@sso.example.com/verify?token=***&rd=***");
    assert.equal(
      lines[0]?.reason,
      "request to https://***:***@sso.example.com/verify?token=***&rd=*** failed: token ***, user gw, password ***",
    );
    assert.equal(lines[1]?.failures_not_logged, 1);
    for (const secret of ["tok-8d2f90", "pass-5c1e"]) assert.ok(!JSON.stringify(logs.lines).includes(secret));
  });
});
