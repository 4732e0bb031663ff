import { createHash } from "node:crypto";
import { z } from "@hono/zod-openapi";
import { maskUrlSecrets } from "../../lib/secret.js";
import { AMBIGUOUS_PATH_FORMS } from "../../protocol/ambiguous-path.js";
import { parseCidr } from "./ip-rules.js";
import { hashPassword } from "./password-hash.js";
import type { StoredAccessPolicy } from "./stored-policy.js";

/**
 * A domain's visitor access policy (docs/access.md) as the admin API sees it: what the admin
 * sends (passwords and the secret in clear, validated by `accessPolicyInput`) and what the admin
 * reads back (`PublicAccessPolicy`: usernames, lists, header name and limit, and the forward-auth
 * URL with its query values masked, `?token=***`). The stored form is in stored-policy.ts; this
 * module, with the OpenAPI schemas, loads with the admin API.
 */

const MAX_USERS = 50;
const MAX_BLOCKS = 1000;
const MIN_PASSWORD_CHARS = 8;
const MIN_SECRET_CHARS = 16;
/** RFC 9110 §5.6.2 token characters. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Fields the secret header may not be: they frame or route the request, or are hop-by-hop. */
const RESERVED_HEADERS = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "te",
  "upgrade",
  "keep-alive",
  "proxy-connection",
  "trailer",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "forwarded",
  "x-request-id",
]);

const cidrList = (field: string) =>
  z
    .array(
      z.string({ error: `${field} entries must be strings` }).transform((value, ctx) => {
        const parsed = parseCidr(value);
        if (parsed.ok) return parsed.cidr;
        ctx.addIssue({ code: "custom", message: parsed.reason });
        return z.NEVER;
      }),
      { error: `${field} must be an array of CIDR blocks` },
    )
    .max(MAX_BLOCKS, `${field} holds at most ${MAX_BLOCKS} blocks`)
    .default([])
    .openapi({
      description: "IPv4 or IPv6 CIDR blocks (a bare address is a /32 or /128)",
      example: ["10.0.0.0/8"],
    });

const username = z
  .string({ error: "username must be a string" })
  .min(1, "username is required")
  .max(128, "username is longer than 128 characters")
  .refine((value) => !value.includes(":"), "username may not contain a colon (RFC 7617 §2)")
  // eslint-disable-next-line no-control-regex
  .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), "username may not contain control characters");

const headerName = z
  .string({ error: "secret_header.name must be a string" })
  .max(64, "secret_header.name is longer than 64 characters")
  .regex(TOKEN, "secret_header.name must be an HTTP field name")
  .transform((value) => value.toLowerCase())
  .refine((value) => !RESERVED_HEADERS.has(value), "secret_header.name is a field the gateway itself uses");

const FORMS = AMBIGUOUS_PATH_FORMS.join(", ");

/** Forward auth's opt-out of the ambiguous-path refusal (ambiguous-path.ts, docs/access.md). */
const allowAmbiguousPaths = z
  .array(
    z.enum(AMBIGUOUS_PATH_FORMS, {
      error: (issue) => `${JSON.stringify(issue.input)} is not a path form: one of ${FORMS}`,
    }),
    { error: `forward_auth.allow_ambiguous_paths must be an array of ${FORMS}` },
  )
  .refine(
    (forms) => new Set(forms).size === forms.length,
    "forward_auth.allow_ambiguous_paths names a form twice",
  )
  .default([])
  .openapi({
    description:
      "Path forms let through to the auth service and the backend, as the backend gets them, instead of refused with 400: encoded_slash (%2F), encoded_backslash (%5C), double_encoded (%252F, %255C, %252E, also deeper), semicolon (;). Only for a backend that routes on the path as sent, never on a decoded or parameter-stripped one",
    example: ["encoded_slash"],
  });

/** The body of `PUT /api/v1/admin/domains/{domain}/access`. Every rule that is set must pass. */
export const accessPolicyInput = z
  .object(
    {
      basic_auth: z
        .array(
          z.object({
            username,
            password: z
              .string({ error: "password must be a string" })
              .min(MIN_PASSWORD_CHARS, `password must be at least ${MIN_PASSWORD_CHARS} characters`)
              .max(1024, "password is longer than 1024 characters"),
          }),
          { error: "basic_auth must be an array of users" },
        )
        .max(MAX_USERS, `basic_auth holds at most ${MAX_USERS} users`)
        .default([])
        .refine(
          (users) => new Set(users.map((user) => user.username)).size === users.length,
          "basic_auth has a username twice",
        )
        .openapi({ description: "HTTP basic auth users; passwords are stored as scrypt hashes" }),
      allow: cidrList("allow").openapi({
        description: "When not empty, only peers in these blocks are let in (403 otherwise)",
      }),
      deny: cidrList("deny").openapi({
        description: "Peers in these blocks are refused (403), before allow",
      }),
      secret_header: z
        .object(
          {
            name: headerName,
            value: z
              .string({ error: "secret_header.value must be a string" })
              .min(MIN_SECRET_CHARS, `secret_header.value must be at least ${MIN_SECRET_CHARS} characters`)
              .max(4096, "secret_header.value is longer than 4096 characters")
              .regex(/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/, "secret_header.value must be visible ASCII"),
          },
          { error: "secret_header must be an object with name and value" },
        )
        .optional()
        .openapi({
          description: "A header every request must carry with exactly this value (403 otherwise)",
        }),
      rate_limit_per_second: z
        .number({ error: "rate_limit_per_second must be a number" })
        .positive("rate_limit_per_second must be positive")
        .max(1_000_000, "rate_limit_per_second is at most 1000000")
        .optional()
        .openapi({
          description: "Requests per second for the whole domain (burst: one second's worth); 429 beyond",
        }),
      forward_auth: z
        .object(
          {
            url: z
              .string({ error: "forward_auth.url must be a string" })
              .max(2048, "forward_auth.url is longer than 2048 characters")
              .refine((url) => URL.canParse(url), "forward_auth.url must be an absolute URL")
              .refine(
                (url) => /^https?:$/.test(new URL(url).protocol),
                "forward_auth.url must be http or https",
              )
              .refine(
                (url) => new URL(url).username === "" && new URL(url).password === "",
                "forward_auth.url may not carry credentials (user:password@): they would be sent as basic auth only to visitors that send no Authorization of their own; put a token in a query parameter instead (shown masked: ?token=***)",
              ),
            copy_headers: z
              .array(
                z
                  .string()
                  .regex(TOKEN, "forward_auth.copy_headers must be HTTP field names")
                  .transform((name) => name.toLowerCase())
                  .refine(
                    (name) => !RESERVED_HEADERS.has(name) && name !== "authorization" && name !== "cookie",
                    "forward_auth.copy_headers holds a field the gateway or the visitor owns",
                  ),
              )
              .max(32, "forward_auth.copy_headers holds at most 32 names")
              .default([]),
            timeout_ms: z
              .number({ error: "forward_auth.timeout_ms must be a number" })
              .int("forward_auth.timeout_ms must be a whole number")
              .min(100, "forward_auth.timeout_ms is at least 100")
              .max(60_000, "forward_auth.timeout_ms is at most 60000")
              .default(5000),
            allow_ambiguous_paths: allowAmbiguousPaths,
          },
          {
            // A misspelt option must not read as a missing url.
            error: (issue) =>
              issue.code === "unrecognized_keys"
                ? `forward_auth has no field ${issue.keys.join(", ")}`
                : "forward_auth must be an object with url",
          },
        )
        .strict()
        .optional()
        .openapi({
          description:
            "Ask this URL about every request (2xx admits, any other answer goes to the visitor); copy_headers of a 2xx answer go to the backend",
        }),
    },
    {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `unknown field ${issue.keys.join(", ")}`
          : "body must be a JSON object",
    },
  )
  .strict()
  .refine(
    (policy) => !(policy.basic_auth.length > 0 && policy.secret_header?.name === "authorization"),
    "secret_header.name cannot be authorization when basic_auth is set",
  )
  .openapi("AccessPolicyInput");

export type AccessPolicyInput = z.infer<typeof accessPolicyInput>;

export const publicAccessPolicy = z
  .object({
    basic_auth: z.array(z.object({ username: z.string() })),
    allow: z.array(z.string()),
    deny: z.array(z.string()),
    secret_header: z.object({ name: z.string() }).optional(),
    rate_limit_per_second: z.number().optional(),
    forward_auth: z
      .object({
        url: z.string().openapi({
          description: "As stored but with every query parameter value masked: ?token=***&rd=***",
          example: "https://sso.example.com/oauth2/auth?token=***",
        }),
        copy_headers: z.array(z.string()),
        timeout_ms: z.number().int(),
        allow_ambiguous_paths: z.array(z.enum(AMBIGUOUS_PATH_FORMS)),
      })
      .optional(),
  })
  .openapi("AccessPolicy");

export type PublicAccessPolicy = z.infer<typeof publicAccessPolicy>;

/** SHA-256 of a secret header value, as stored. */
export function digestSecret(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** Hashes the passwords and the secret: the result holds no plaintext. */
export async function toStoredPolicy(input: AccessPolicyInput): Promise<StoredAccessPolicy> {
  const users = [];
  for (const user of input.basic_auth)
    users.push({ username: user.username, hash: await hashPassword(user.password) });
  return {
    basic_auth: users,
    allow: input.allow,
    deny: input.deny,
    ...(input.secret_header && {
      secret_header: { name: input.secret_header.name, sha256: digestSecret(input.secret_header.value) },
    }),
    ...(input.rate_limit_per_second !== undefined && { rate_limit_per_second: input.rate_limit_per_second }),
    ...(input.forward_auth && { forward_auth: storedForwardAuth(input.forward_auth) }),
  };
}

export function toPublicPolicy(policy: StoredAccessPolicy): PublicAccessPolicy {
  return {
    basic_auth: policy.basic_auth.map((user) => ({ username: user.username })),
    allow: policy.allow,
    deny: policy.deny,
    ...(policy.secret_header && { secret_header: { name: policy.secret_header.name } }),
    ...(policy.rate_limit_per_second !== undefined && {
      rate_limit_per_second: policy.rate_limit_per_second,
    }),
    ...(policy.forward_auth && {
      forward_auth: {
        url: maskUrlSecrets(policy.forward_auth.url),
        copy_headers: policy.forward_auth.copy_headers,
        timeout_ms: policy.forward_auth.timeout_ms,
        allow_ambiguous_paths: policy.forward_auth.allow_ambiguous_paths ?? [],
      },
    }),
  };
}

/**
 * Stored without `allow_ambiguous_paths` when it is empty, so that a server of an older release
 * sharing the store reads the same policy; one that is not empty it drops (it does not know
 * the field), which refuses those paths: closed, not open.
 */
function storedForwardAuth(
  input: NonNullable<AccessPolicyInput["forward_auth"]>,
): NonNullable<StoredAccessPolicy["forward_auth"]> {
  const { allow_ambiguous_paths: forms, ...rest } = input;
  return forms.length === 0 ? rest : { ...rest, allow_ambiguous_paths: forms };
}
