import { Command } from "commander";
import { HOPGATE_COMMIT, HOPGATE_VERSION } from "../lib/version.js";

/**
 * What `hopgate --version` and `hopgate version` print: HopGate's version, the Node.js version
 * that runs it (inside a single executable too), and the git commit of the build when known.
 */
export function versionText(): string {
  const commit = HOPGATE_COMMIT === undefined ? "" : ` (commit ${HOPGATE_COMMIT})`;
  return `hopgate ${HOPGATE_VERSION}${commit}, Node.js ${process.versions.node}`;
}

/** `hopgate version`: the same line as `hopgate --version`. */
export function versionCommand(): Command {
  return new Command("version")
    .description("Print HopGate's version, the Node.js version and the build's commit")
    .action(() => {
      process.stdout.write(`${versionText()}\n`);
    });
}
