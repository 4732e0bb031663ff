import { z } from "zod";
import { isFieldValue } from "../protocol/http-syntax.js";
import { domainName } from "./domain-schema.js";
import { parseServiceTarget, pathPrefixProblem } from "./service-spec.js";

const SERVICE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

const serviceSchema = z.strictObject({
  name: z.string().regex(SERVICE_NAME, "must be letters, digits, '-' or '_' (at most 63)"),
  prefix: z
    .string()
    .superRefine((value, ctx) => {
      const problem = pathPrefixProblem(value);
      if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
    })
    .default("/"),
  url: z.string().transform((value, ctx) => {
    const target = parseServiceTarget(value.trim());
    if (typeof target === "string") {
      ctx.addIssue({ code: "custom", message: target });
      return z.NEVER;
    }
    return target;
  }),
  host_header: z
    .string()
    .min(1, "empty")
    .refine((value) => isFieldValue(value), "not a valid header value")
    .optional(),
  tls_skip_verify: z.boolean().optional(),
  ca_file: z.string().min(1, "empty").optional(),
  timeout_seconds: z.number().positive("must be more than 0").max(3600, "at most 3600").optional(),
});

const domainSchema = z
  .strictObject({
    domain: domainName({ allowAuto: true }),
    api_key: z
      .string()
      .regex(/^[A-Za-z0-9_-]{16,256}$/, "not an API key")
      .optional(),
    api_key_file: z.string().min(1, "empty").optional(),
    services: z.array(serviceSchema).min(1, "at least one service"),
  })
  .superRefine((entry, ctx) => {
    if ((entry.api_key === undefined) === (entry.api_key_file === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["api_key"],
        message: "set exactly one of api_key and api_key_file",
      });
    }
    const names = new Set<string>();
    entry.services.forEach((service, index) => {
      if (names.has(service.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["services", index, "name"],
          message: `"${service.name}" is defined twice`,
        });
      }
      names.add(service.name);
      if (service.tls_skip_verify && service.ca_file !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["services", index, "ca_file"],
          message: "set ca_file or tls_skip_verify, not both",
        });
      }
    });
  });

/**
 * The client's config file (`hopgate client --config hopgate.yaml`): the server, and every
 * domain this one process serves with its services. Keys are snake_case as in cloudflared's
 * `config.yml`; unknown keys are errors, so that a typo never silently drops a setting.
 */
export const clientFileSchema = z
  .strictObject({
    server: z.string().min(1, "empty"),
    ca_file: z.string().min(1, "empty").optional(),
    domains: z.array(domainSchema).min(1, "at least one domain"),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.domains.forEach((entry, index) => {
      if (seen.has(entry.domain)) {
        ctx.addIssue({
          code: "custom",
          path: ["domains", index, "domain"],
          message: `"${entry.domain}" is listed twice`,
        });
      }
      seen.add(entry.domain);
    });
  });

export type ClientFileInput = z.output<typeof clientFileSchema>;
