import { spawn } from "node:child_process";

/** Runs Debian's `promtool check metrics` on a scrape; resolves with its exit code and output. */
export function promtoolCheckMetrics(scrape: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.end(scrape);
  });
}

/** Sample lines (not comments) of a Prometheus text scrape. */
export function sampleLines(scrape: string): string[] {
  return scrape.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}

/** Metric family names declared by `# TYPE` lines. */
export function metricFamilies(scrape: string): Set<string> {
  const names = new Set<string>();
  for (const match of scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)) names.add(match[1]!);
  return names;
}

/** Value of the one sample whose name and labels are exactly `series`, e.g. `a_total{x="1"}`. */
export function sampleValue(scrape: string, series: string): number | undefined {
  const line = sampleLines(scrape).find((sample) => sample.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
