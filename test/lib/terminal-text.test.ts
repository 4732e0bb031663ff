import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { prettyLine } from "../../src/lib/pretty-log-stream.js";
import { terminalPaint, terminalSafe } from "../../src/lib/terminal-text.js";

// eslint-disable-next-line no-control-regex -- what must never reach a terminal
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

describe("terminal text", () => {
  it("leaves no control character in anything a peer sent, and keeps printable text as is", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        assert.doesNotMatch(terminalSafe(text), CONTROL);
      }),
    );
    assert.equal(terminalSafe("/a b/é?x=1"), "/a b/é?x=1");
    assert.equal(terminalSafe("/\u001b]0;owned\u0007"), "/\\x1b]0;owned\\x07");
  });

  it("paints only on a terminal without NO_COLOR", () => {
    const cases: Array<[isTty: boolean, noColor: string | undefined, coloured: boolean]> = [
      [true, undefined, true],
      [true, "", true],
      [true, "1", false],
      [false, undefined, false],
    ];
    for (const [isTty, noColor, coloured] of cases) {
      const painted = terminalPaint({ isTty, noColor })("red", "x");
      assert.equal(painted !== "x", coloured, `isTty=${isTty} NO_COLOR=${noColor}`);
    }
  });

  it("prints a log line as time, level, message and its fields, with peer text made safe", () => {
    const line = prettyLine(
      {
        ts: "2026-01-02T03:04:05.000Z",
        level: "warn",
        service: "hopgate-client",
        component: "tunnel",
        msg: "tunnel down; reconnecting",
        domain: "app.example.com",
        reason: "peer said \u001b[2Jbye",
        retry_in_ms: 1000,
        err: { type: "Error", message: "boom", stack: "Error: boom\n    at x" },
      },
      terminalPaint({ isTty: false, noColor: undefined }),
    );
    assert.match(
      line,
      /^\d\d:\d\d:\d\d WARN {2}tunnel down; reconnecting {2}domain=app\.example\.com reason="peer said \\x1b\[2Jbye" retry_in_ms=1000 err=boom$/,
    );
    assert.doesNotMatch(line, CONTROL);
  });
});
