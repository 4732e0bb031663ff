import { z } from "zod";
import { AMBIGUOUS_PATH_FORMS } from "../../protocol/ambiguous-path.js";
import { parseCidr } from "./ip-rules.js";
import { parsePasswordHash } from "./password-hash.js";

/**
 * A domain's access policy as the store keeps it (JSON in `domains.access_policy`): scrypt
 * hashes and a SHA-256 digest, never a password or the secret in clear. Validated again when
 * read, since another server or a hand edit may have written it.
 */
export const storedAccessPolicy = z.object({
  basic_auth: z.array(
    z.object({
      username: z.string(),
      hash: z.string().refine((hash) => parsePasswordHash(hash) !== undefined, "not a scrypt hash"),
    }),
  ),
  allow: z.array(z.string().refine((block) => parseCidr(block).ok, "not a CIDR block")),
  deny: z.array(z.string().refine((block) => parseCidr(block).ok, "not a CIDR block")),
  secret_header: z.object({ name: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
  rate_limit_per_second: z.number().positive().optional(),
  forward_auth: z
    .object({
      url: z.string().refine((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol)),
      copy_headers: z.array(z.string()),
      timeout_ms: z.number().int().positive(),
      /** Absent in policies stored before it existed: nothing allowed. A form this server does not know makes the policy invalid (closed). */
      allow_ambiguous_paths: z.array(z.enum(AMBIGUOUS_PATH_FORMS)).optional(),
    })
    .optional(),
});

export type StoredAccessPolicy = z.infer<typeof storedAccessPolicy>;

/** A stored policy, or "invalid" for one that does not parse: such a domain lets nobody in. */
export type PolicyEntry = StoredAccessPolicy | "invalid";

/** Reads a stored policy; anything that is not one (bad JSON included) is "invalid". */
export function parseStoredPolicy(text: string): PolicyEntry {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return "invalid"; // as unusable as a policy that does not validate, and as closed
  }
  const parsed = storedAccessPolicy.safeParse(json);
  return parsed.success ? parsed.data : "invalid";
}
