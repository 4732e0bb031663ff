import { isIP } from "node:net";
import { z } from "zod";
import { parseCidr } from "../server/access/ip-rules.js";

/**
 * Zod schemas that turn raw configuration strings into typed values. Each accepts `undefined`
 * only where its wrapper says so; messages are short because the loader adds the variable name.
 */

export function integer(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^\d+$/, "not a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

/** `auto` (the caller computes the value) or a whole number from `min` to `max`. */
export function integerOrAuto(min: number, max: number) {
  return z.union([z.string().trim().toLowerCase().pipe(z.literal("auto")), integer(min, max)]);
}

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

export function boolean() {
  return z
    .string()
    .trim()
    .toLowerCase()
    .refine((value) => TRUE_WORDS.has(value) || FALSE_WORDS.has(value), "not a boolean")
    .transform((value) => TRUE_WORDS.has(value));
}

export interface ListenAddress {
  /** Host to bind; "" means every interface. */
  readonly host: string;
  readonly port: number;
}

/** `host:port`, `:port`, `[::1]:port`; port 0 asks the OS for a free port. */
export function listenAddress() {
  return z
    .string()
    .trim()
    .transform((value, ctx): ListenAddress => {
      const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(value);
      const port = match ? Number(match[3]) : NaN;
      if (!match || port > 65535) {
        ctx.addIssue({ code: "custom", message: "not a host:port address" });
        return z.NEVER;
      }
      return { host: match[1] ?? match[2] ?? "", port };
    });
}

/**
 * `host:port` by which other servers and clients reach this one: a DNS name or an IP address
 * (IPv6 in brackets) and a port from 1 to 65535; kept as written, trimmed.
 */
export function advertiseAddress() {
  return z
    .string()
    .trim()
    .refine((value) => {
      const match = /^(?:\[([0-9a-fA-F:.]+)\]|([a-zA-Z0-9.-]+)):(\d{1,5})$/.exec(value);
      if (!match) return false;
      const port = Number(match[3]);
      if (port < 1 || port > 65535) return false;
      if (match[1] !== undefined) return isIP(match[1]) === 6;
      const host = match[2] ?? "";
      return (
        isIP(host) === 4 ||
        /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(
          host,
        )
      );
    }, "not a host:port address with a port from 1 to 65535");
}

/**
 * Comma-separated list (environment), repeated flag or comma-separated flag values (command
 * line: `--proxy-domains a,b` is `--proxy-domains a --proxy-domains b`); empty items dropped.
 */
export function list<T>(item: z.ZodType<T, string>) {
  return z
    .union([z.string(), z.array(z.string())])
    .transform((raw) =>
      (Array.isArray(raw) ? raw : [raw])
        .flatMap((value) => value.split(","))
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item));
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.string().trim().toLowerCase().pipe(z.enum(values));
}

export function text() {
  return z.string().trim().min(1, "empty");
}

export function httpUrl() {
  return z
    .string()
    .trim()
    .refine((value) => {
      try {
        const url = new URL(value);
        return url.protocol === "http:" || url.protocol === "https:";
      } catch {
        return false;
      }
    }, "not an http(s) URL");
}

/** An IPv4 or IPv6 address (no brackets, no port). */
export function ipAddress() {
  return z
    .string()
    .trim()
    .refine((value) => isIP(value) !== 0, "not an IP address");
}

/** A CIDR block or a bare address (a /32 or /128), IPv4 or IPv6, in canonical form (ip-rules.ts parseCidr). */
export function cidrBlock() {
  return z.string().transform((value, ctx) => {
    const parsed = parseCidr(value);
    if (parsed.ok) return parsed.cidr;
    ctx.addIssue({ code: "custom", message: parsed.reason });
    return z.NEVER;
  });
}

/** Like `listenAddress`, or `off` (any case) for "do not listen", which parses to null. */
export function listenAddressOrOff() {
  return z.union([
    z
      .string()
      .trim()
      .refine((value) => value.toLowerCase() === "off")
      .transform(() => null),
    listenAddress(),
  ]);
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * `key=value` items (Loki stream labels) into a record. Keys follow Prometheus/Loki label-name
 * rules; values may hold anything but a comma (the separator).
 */
export function labelPairs() {
  return list(
    z.string().transform((item, ctx): [string, string] => {
      const eq = item.indexOf("=");
      const key = eq === -1 ? "" : item.slice(0, eq).trim();
      if (!LABEL_NAME.test(key)) {
        ctx.addIssue({ code: "custom", message: `"${item}" is not key=value with a label-name key` });
        return z.NEVER;
      }
      return [key, item.slice(eq + 1).trim()];
    }),
  ).transform((pairs) => Object.fromEntries(pairs) as Readonly<Record<string, string>>);
}
