import type { Command } from "commander";
import { adminCommand } from "./admin-command.js";
import { clientCommand } from "./client-command.js";
import { configCommand } from "./config-command.js";
import { demoCommand } from "./demo-command.js";
import { serverCommand } from "./server-command.js";
import { versionCommand } from "./version-command.js";

/** Every subcommand of `hopgate`, in the order `--help` lists them. */
export function commands(): Command[] {
  return [serverCommand(), clientCommand(), adminCommand(), demoCommand(), configCommand(), versionCommand()];
}
