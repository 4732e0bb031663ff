import { sendRequest, type TestRequest, type TestResponse } from "./http-request.js";

/** Sends JSON requests to an admin listener with a bearer key (or the headers given). */
export function adminCaller(
  base: { url: string; ca?: string },
  adminApiKey: string,
  defaults: Partial<TestRequest> = {},
) {
  return (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestResponse> =>
    sendRequest(`${base.url}${path}`, {
      ...defaults,
      ca: base.ca,
      method,
      headers: headers ?? {
        authorization: `Bearer ${adminApiKey}`,
        ...(body !== undefined && { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
}
