import type { Command } from "commander";
import { configCommand } from "./config-command.js";

/** Every subcommand of `hopgate`, in the order `--help` lists them. */
export function commands(): Command[] {
  return [configCommand()];
}
