import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { adminSettings, type AdminConfig } from "../config/admin-settings.js";
import { readCaFile } from "../config/ca-file.js";
import { HopGateError, type HopGateErrorCode } from "../lib/hopgate-error.js";

/** An admin API answer: the HTTP status and the parsed JSON body, success or not. */
export interface AdminAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export interface AdminClient {
  /** Sends one request; resolves for any JSON answer, rejects when there is none (HopGateError). */
  send(
    method: string,
    path: string,
    options?: { query?: Record<string, string | undefined>; body?: unknown },
  ): Promise<AdminAnswer>;
}

/** The admin API over node:http(s), with the bearer key, extra CA or --insecure from `config`. */
export function createAdminClient(config: AdminConfig): AdminClient {
  const ca = config.caFile === undefined ? undefined : readCaFile(config.caFile, adminSettings.caFile);
  return {
    send: (method, path, options = {}) => {
      const url = new URL(`${config.serverUrl}${path}`);
      for (const [name, value] of Object.entries(options.query ?? {})) {
        if (value !== undefined) url.searchParams.set(name, value);
      }
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      const headers: Record<string, string> = {
        authorization: `Bearer ${config.adminApiKey}`,
        accept: "application/json",
      };
      if (payload !== undefined) headers["content-type"] = "application/json";
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      return new Promise((resolve, reject) => {
        const req = send(url, {
          method,
          headers,
          ca,
          rejectUnauthorized: !config.insecure,
          timeout: config.timeoutSeconds * 1000,
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${config.timeoutSeconds} s`)));
        req.on("error", (error) => reject(unreachable(url, error)));
        req.on("response", (res) => readAnswer(res, url).then(resolve, reject));
        req.end(payload);
      });
    },
  };
}

/** Throws the server's own error message (with its code) for a non-2xx answer. */
export function expectSuccess(answer: AdminAnswer): Record<string, unknown> {
  if (answer.status >= 200 && answer.status < 300 && answer.body.success === true) return answer.body;
  const error = answer.body.error as { code?: unknown; message?: unknown } | undefined;
  const message = typeof error?.message === "string" ? error.message : "request failed";
  const code = typeof error?.code === "string" ? error.code : "internal";
  throw new HopGateError(code as HopGateErrorCode, `server answered ${answer.status} (${code}): ${message}`);
}

function readAnswer(res: IncomingMessage, url: URL): Promise<AdminAnswer> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
    res.on("error", (error) => reject(unreachable(url, error)));
    res.on("end", () => {
      const body = parseJsonObject(text);
      if (body) resolve({ status: res.statusCode ?? 0, body });
      else
        reject(
          new HopGateError(
            "protocol_violation",
            `${url.origin} answered ${res.statusCode} without a HopGate JSON body`,
          ),
        );
    });
  });
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function unreachable(url: URL, error: Error): HopGateError {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  const hint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)
    ? " (trust its CA with --ca-file, or --insecure)"
    : "";
  return new HopGateError("unavailable", `cannot reach ${url.origin}: ${error.message}${hint}`, {
    cause: error,
  });
}
