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
