import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

/** The repository's deploy/ directory. */
export const DEPLOY_DIR = join(import.meta.dirname, "../../deploy");

export function readDeployYaml<T>(path: string): T {
  return parse(readFileSync(join(DEPLOY_DIR, path), "utf8")) as T;
}

export interface DashboardTarget {
  readonly expr?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}

export interface DashboardPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: readonly DashboardTarget[];
  readonly panels?: readonly DashboardPanel[];
}

export interface Dashboard {
  readonly uid: string;
  readonly panels: readonly DashboardPanel[];
  readonly templating: {
    readonly list: ReadonlyArray<{
      readonly name: string;
      readonly type: string;
      readonly query: unknown;
      readonly current?: { readonly value?: string };
    }>;
  };
}

export function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(join(DEPLOY_DIR, "grafana/dashboards/hopgate.json"), "utf8")) as Dashboard;
}

/** Every panel, including those inside collapsed rows. */
export function allPanels(dashboard: Dashboard): DashboardPanel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

const PROMQL_WORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
  "inf",
  "nan",
]);

/**
 * Metric names a PromQL expression reads: identifiers that are not functions (followed by `(`),
 * not keywords, not label names inside `{...}` or `by (...)`, and not Grafana variables.
 */
export function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "{}")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\[[^\]]*\]/g, "[]")
    .replace(/\$\w+/g, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()/g)) {
    const name = match[1]!;
    if (!PROMQL_WORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

/** One instruction of a Dockerfile: its keyword (upper case) and the rest of its logical line. */
export interface DockerInstruction {
  readonly keyword: string;
  readonly args: string;
}

/** One build stage: `FROM <image> [AS <name>]` and the instructions after it. */
export interface DockerStage {
  readonly image: string;
  readonly name?: string;
  readonly instructions: readonly DockerInstruction[];
}

/**
 * deploy/Dockerfile as build stages: comment lines dropped, `\` continuations joined. Enough for
 * the image's own Dockerfile (no parser directives beyond `# syntax`, no heredocs).
 */
export function readDockerfile(): DockerStage[] {
  const text = readFileSync(join(DEPLOY_DIR, "Dockerfile"), "utf8");
  const lines = text
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n")
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .filter((line) => line.trim() !== "");
  const stages: Array<{ image: string; name?: string; instructions: DockerInstruction[] }> = [];
  for (const line of lines) {
    const [, keyword = "", args = ""] = /^\s*(\S+)\s*(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === "FROM") {
      const [image = "", as, name] = args.split(/\s+/);
      stages.push({ image, ...(as?.toUpperCase() === "AS" && name ? { name } : {}), instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile: ${keyword} before the first FROM`);
      stage.instructions.push({ keyword: keyword.toUpperCase(), args: args.trim() });
    }
  }
  return stages;
}

/** Arguments of the stage's instructions with `keyword`, in order. */
export function instructionArgs(stage: DockerStage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** An exec-form (JSON array) argument, e.g. of ENTRYPOINT, CMD or HEALTHCHECK CMD. */
export function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string"))
    throw new Error(`not an exec-form array: ${args}`);
  return parsed;
}

/** The `ENV key=value ...` settings of a stage (unquoted values, as deploy/Dockerfile writes them). */
export function stageEnv(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of instructionArgs(stage, "ENV")) {
    for (const match of args.matchAll(/(\w+)=(\S*)/g)) env[match[1]!] = match[2]!;
  }
  return env;
}

/** The stage's `HEALTHCHECK [options] CMD [...]` command, as an exec-form argument list. */
export function healthcheckCommand(stage: DockerStage): string[] {
  const [args] = instructionArgs(stage, "HEALTHCHECK");
  if (args === undefined) throw new Error("Dockerfile: no HEALTHCHECK");
  const command = /(?:^|\s)CMD\s+(\[.*\])$/.exec(args);
  if (!command) throw new Error(`Dockerfile: HEALTHCHECK without an exec-form CMD: ${args}`);
  return execForm(command[1]!);
}
