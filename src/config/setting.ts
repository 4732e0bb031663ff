import type { z } from "zod";

/**
 * One configuration value: where it comes from (environment variable, `.env`, flag), how it is
 * validated, and how it is documented. The README's configuration table is generated from these.
 */
export interface Setting<T> {
  /** Environment variable name; the original HopGate names are kept. */
  readonly env: string;
  /** Long command-line flag, e.g. `--proxy-timeout-seconds`. */
  readonly flag: string;
  /** "value" takes an argument, "switch" is a boolean flag, "list" may repeat. */
  readonly kind: "value" | "switch" | "list";
  readonly description: string;
  /** What a valid value looks like, for the one-line error message. */
  readonly expected: string;
  /** Raw default, parsed like any other input; undefined means "unset". */
  readonly default?: string;
  /**
   * How the value is shown in error messages and `hopgate config`: "key" masked whole (at most
   * 4 leading characters of a long one in an error), "url" with its passwords masked (maskDsn:
   * the user info's and any `password`-like parameter's).
   */
  readonly secret?: "key" | "url";
  /** Parses the raw string (or list of strings for "list") into the typed value. */
  readonly schema: z.ZodType<T, unknown>;
}

export type SettingTable = Readonly<Record<string, Setting<unknown>>>;

export type ConfigOf<S extends SettingTable> = {
  readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never;
};

/** Identity helper that keeps each setting's value type for `ConfigOf`. */
export function defineSettings<S extends Record<string, Setting<unknown>>>(settings: S): S {
  return settings;
}

export function setting<T>(spec: Setting<T>): Setting<T> {
  return spec;
}
