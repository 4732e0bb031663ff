import { HopGateError } from "../lib/hopgate-error.js";

/** A configuration value that failed validation; `message` is the one line shown to the operator. */
export class ConfigError extends HopGateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("config_invalid", message, options);
  }
}

/** Exit code for invalid configuration or usage (as `sysexits`' EX_USAGE is 64, we follow the brief: 2). */
export const CONFIG_ERROR_EXIT_CODE = 2;
