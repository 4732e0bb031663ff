import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { z } from "zod";
import { silentLogger } from "../../src/lib/logger.js";
import { createAdminApi } from "../../src/server/admin/admin-api.js";
import { startGateway } from "../helpers/gateway.js";
import { sendRequest, type TestResponse } from "../helpers/http-request.js";
import { tlsFixture } from "../helpers/tls-fixture.js";

// /api/v1/admin/openapi.json against the admin API a real server serves: every route is an
// operation with a unique operationId, and real error answers have a status the operation lists
// and a body of the document's own Error schema (validated by zod from the JSON Schema).

const ADMIN_KEY = "openapi-test-admin-key-0123456789";
const MAX_FAILURES = 2;

interface Operation {
  readonly operationId?: string;
  readonly responses: Record<
    string,
    { content?: Record<string, { schema: { $ref?: string } }>; headers?: Record<string, unknown> }
  >;
}
interface Document {
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: { readonly schemas: Record<string, z.core.JSONSchema.JSONSchema> };
}

/** Hono's `/domains/:domain` as OpenAPI's `/domains/{domain}`. */
const openapiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}");

describe("the admin API's OpenAPI document", () => {
  it("describes every route the server serves, with a unique operationId and the errors around it", async (t) => {
    const gateway = await startGateway(t, { adminApiKey: ADMIN_KEY });
    const admin = adminRequests(gateway.port);
    const document = (await admin("GET", "/openapi.json")).json<Document>();
    const routes = createAdminApi({
      domains: gateway.server.domains,
      access: gateway.server.access,
      adminApiKey: ADMIN_KEY,
      mainDomain: "gateway.test",
      logger: silentLogger(),
    }).routes;
    assert.ok(routes.length >= 9, `routes: ${JSON.stringify(routes)}`);

    const ids: string[] = [];
    for (const route of routes) {
      const operation = document.paths[openapiPath(route.path)]?.[route.method.toLowerCase()];
      assert.ok(operation, `${route.method} ${route.path} is in the document`);
      assert.match(operation.operationId ?? "", /^[a-z][A-Za-z]+$/, `${route.method} ${route.path}`);
      ids.push(operation.operationId!);
      for (const status of ["401", "405", "429", "500", "503"]) {
        const response: Operation["responses"][string] | undefined = operation.responses[status];
        assert.ok(response, `${operation.operationId} lists ${status}`);
        assert.equal(response.content?.["application/json"]?.schema.$ref, "#/components/schemas/Error");
      }
      assert.ok(operation.responses["405"]!.headers?.Allow, `${operation.operationId}: 405 has Allow`);
      assert.ok(
        operation.responses["429"]!.headers?.["Retry-After"],
        `${operation.operationId}: Retry-After`,
      );
    }
    assert.equal(new Set(ids).size, ids.length, `operationIds are unique: ${ids.join(", ")}`);
    const documented = Object.values(document.paths).flatMap((methods) => Object.keys(methods));
    assert.equal(documented.length, routes.length, "no operation without a route");

    // docs/admin-api.md names every operation and every error status the document lists.
    const guide = readFileSync(join(import.meta.dirname, "../../docs/admin-api.md"), "utf8");
    for (const id of ids) assert.ok(guide.includes(`\`${id}\``), `admin-api.md names ${id}`);
    const statuses = new Set(
      Object.values(document.paths).flatMap((methods) =>
        Object.values(methods).flatMap((operation) => Object.keys(operation.responses)),
      ),
    );
    for (const status of statuses) {
      if (!status.startsWith("2"))
        assert.match(guide, new RegExp(`^\\| ${status} +\\| \``, "m"), `errors table: ${status}`);
    }
  });

  it("lists the status of each real error answer, whose body matches its Error schema", async (t) => {
    const gateway = await startGateway(t, {
      adminApiKey: ADMIN_KEY,
      authMaxFailures: String(MAX_FAILURES),
    });
    const admin = adminRequests(gateway.port);
    const document = (await admin("GET", "/openapi.json")).json<Document>();
    const errorSchema = z.fromJSONSchema(document.components.schemas.Error!);

    /** `response` is an answer `operation` documents, with a body of the Error schema. */
    const assertDocumented = (response: TestResponse, method: string, path: string, status: number) => {
      assert.equal(response.status, status, response.text);
      const operation = document.paths[path]?.[method];
      assert.ok(operation, `${method} ${path} is documented`);
      assert.ok(operation.responses[String(status)], `${operation.operationId} lists ${status}`);
      assert.match(String(response.headers["content-type"]), /^application\/json/);
      const parsed = errorSchema.safeParse(response.json());
      assert.ok(parsed.success, `${status} body ${response.text}: ${parsed.error?.message}`);
      for (const [name] of Object.entries(operation.responses[String(status)]!.headers ?? {}))
        assert.ok(response.headers[name.toLowerCase()], `${status} carries ${name}`);
    };

    // 405: PUT on a POST route (the document lists 405 on the path's one operation).
    const wrongMethod = await admin("PUT", "/domains/register", "{}");
    assertDocumented(wrongMethod, "post", "/api/v1/admin/domains/register", 405);
    // 400 and 404 from the routes themselves.
    assertDocumented(await admin("GET", "/domains/exists"), "get", "/api/v1/admin/domains/exists", 400);
    const revoke = await admin("DELETE", "/domains/nobody.example.com");
    assertDocumented(revoke, "delete", "/api/v1/admin/domains/{domain}", 404);
    // 401 for a wrong key, until the address is blocked: then 429, even with the right key.
    for (let failure = 0; failure < MAX_FAILURES; failure++) {
      const wrong = await admin("GET", "/sessions", undefined, "wrong-key-0123456789");
      assertDocumented(wrong, "get", "/api/v1/admin/sessions", 401);
    }
    const blocked = await admin("GET", "/domains?limit=5");
    assertDocumented(blocked, "get", "/api/v1/admin/domains", 429);
  });
});

/** Requests to the server's admin API over TLS, with the admin key unless `key` says otherwise. */
function adminRequests(port: number) {
  return (method: string, path: string, body?: string, key = ADMIN_KEY): Promise<TestResponse> =>
    sendRequest(`https://127.0.0.1:${port}/api/v1/admin${path}`, {
      method,
      ca: tlsFixture().cert,
      headers: {
        host: "gateway.test",
        authorization: `Bearer ${key}`,
        ...(body !== undefined && { "content-type": "application/json" }),
      },
      body,
    });
}
