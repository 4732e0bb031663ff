import type { z } from "@hono/zod-openapi";
import { errorResponse } from "./admin-schemas.js";

const ERROR_DESCRIPTIONS = {
  400: "Invalid input; the message names the problem",
  401: "Missing or wrong bearer token",
  403: "The client API key does not belong to the domain",
  404: "Unknown domain",
  409: "Domain already registered",
  413: "Body larger than 64 KiB",
  405: "Another method than the route's; the Allow header names it",
  415: "Body is not application/json",
  429: "Too many failed authentications from this address; retry after Retry-After seconds",
  500: "Internal error; the message is always `internal error`",
  503: "Admin API disabled (no HOP_ADMIN_API_KEY) or store unreachable",
} as const;

/** Headers that come with some error statuses (RFC 9110 §10.2.1 Allow, §10.2.3 Retry-After). */
const ERROR_HEADERS: Partial<Record<keyof typeof ERROR_DESCRIPTIONS, Record<string, HeaderObject>>> = {
  405: { Allow: { description: "The methods the route accepts", schema: { type: "string" } } },
  429: {
    "Retry-After": { description: "Seconds until the address may try again", schema: { type: "integer" } },
  },
};

interface HeaderObject {
  readonly description: string;
  readonly schema: { readonly type: "string" | "integer" };
}

/** An OpenAPI response with a JSON body. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A JSON request body, required. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

/** Statuses every admin route can answer, before or around the route itself (admin-api.ts). */
const ALWAYS = [401, 405, 429, 500, 503] as const;
type Always = (typeof ALWAYS)[number];

/** Error responses of a route: 401, 405, 429, 500 and 503 always, plus `statuses`. */
export function errorResponses<S extends keyof typeof ERROR_DESCRIPTIONS>(...statuses: S[]) {
  const all = [...new Set<keyof typeof ERROR_DESCRIPTIONS>([...statuses, ...ALWAYS])].sort((a, b) => a - b);
  return Object.fromEntries(
    all.map((status) => {
      const headers = ERROR_HEADERS[status];
      return [
        status,
        { ...jsonResponse(errorResponse, ERROR_DESCRIPTIONS[status]), ...(headers && { headers }) },
      ];
    }),
  ) as Record<S | Always, ReturnType<typeof jsonResponse<typeof errorResponse>>>;
}
