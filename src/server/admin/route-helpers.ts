import type { z } from "@hono/zod-openapi";
import { errorResponse } from "./admin-schemas.js";

const ERROR_DESCRIPTIONS = {
  400: "Invalid input; the message names the problem",
  401: "Missing or wrong bearer token",
  403: "The client API key does not belong to the domain",
  404: "Unknown domain",
  409: "Domain already registered",
  413: "Body larger than 64 KiB",
  415: "Body is not application/json",
  503: "Admin API disabled (no HOP_ADMIN_API_KEY) or store unreachable",
} as const;

/** An OpenAPI response with a JSON body. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A JSON request body, required. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

/** Error responses of a route: 401 and 503 always, plus `statuses`. */
export function errorResponses<S extends keyof typeof ERROR_DESCRIPTIONS>(...statuses: S[]) {
  const all = [...new Set<keyof typeof ERROR_DESCRIPTIONS>([...statuses, 401, 503])];
  return Object.fromEntries(
    all.map((status) => [status, jsonResponse(errorResponse, ERROR_DESCRIPTIONS[status])]),
  ) as Record<S | 401 | 503, ReturnType<typeof jsonResponse<typeof errorResponse>>>;
}
