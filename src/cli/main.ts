// The `hopgate` command: parses arguments and hands over to a command; nothing else lives here.
import { Command, CommanderError } from "commander";
import { CONFIG_ERROR_EXIT_CODE } from "../config/config-error.js";
import { isHopGateError } from "../lib/hopgate-error.js";
import { reexecWithJemalloc } from "./allocator.js";
import { commands } from "./commands.js";
import { versionText } from "./version-command.js";

const program = new Command("hopgate")
  .description("HopGate: self-hosted reverse HTTP tunnel gateway")
  .version(versionText(), "-v, --version", "print the version, the Node.js version and the commit")
  .showHelpAfterError(false);
for (const command of commands()) program.addCommand(command);
throwInsteadOfExit(program);

/**
 * Commander settings are not inherited by commands added with addCommand: without this, a usage
 * error in a subcommand (`hopgate client --bogus`) exited 1 from inside commander. Every usage
 * error now reaches the catch below and exits 2, like an invalid configuration.
 */
function throwInsteadOfExit(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) throwInsteadOfExit(sub);
}

/**
 * Runs the command and sets the exit code. Not a top-level await: the same entry is also bundled
 * as one CommonJS file for the single executable (scripts/package-single-file.ts).
 */
async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : CONFIG_ERROR_EXIT_CODE;
    } else if (isHopGateError(error, "config_invalid")) {
      process.stderr.write(`hopgate: ${error.message}\n`);
      process.exitCode = CONFIG_ERROR_EXIT_CODE;
    } else {
      process.stderr.write(`hopgate: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  }
}

reexecWithJemalloc(process.argv.slice(2));
void main();
