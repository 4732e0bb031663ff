import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { samePlan, type DomainPlan } from "../../src/config/domain-plan.js";
import { parseServiceSpec, type ServiceSpec } from "../../src/config/service-spec.js";

function plan(service: string): DomainPlan {
  const spec = parseServiceSpec(service) as ServiceSpec;
  assert.equal(typeof spec, "object", service);
  return { domain: "app.example.com", apiKey: "k".repeat(64), services: [spec] };
}

describe("samePlan (what SIGHUP leaves alone)", () => {
  it("tells a service's protocol apart: http:// and h2c:// of one origin are different plans", () => {
    assert.ok(samePlan(plan("web=http://127.0.0.1:9000"), plan("web=http://127.0.0.1:9000")));
    assert.ok(samePlan(plan("web=h2c://127.0.0.1:9000"), plan("web=h2c://127.0.0.1:9000")));
    assert.ok(!samePlan(plan("web=http://127.0.0.1:9000"), plan("web=h2c://127.0.0.1:9000")));
    assert.ok(!samePlan(plan("web=https://127.0.0.1:9000"), plan("web=h2://127.0.0.1:9000")));
  });
});
