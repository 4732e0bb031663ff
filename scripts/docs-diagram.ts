// `npm run docs:diagram` renders docs/architecture.dot (Graphviz) into docs/architecture.svg and
// docs/architecture.png; `--check` (in `npm run check` and CI) fails when either is stale.
import { join, relative } from "node:path";
import { diagramFiles, diagramProblems, renderDiagram } from "./architecture-diagram.js";

const root = join(import.meta.dirname, "..");
const files = diagramFiles(join(root, "docs"));

if (process.argv.includes("--check")) {
  const problems = diagramProblems(files);
  if (problems.length > 0) {
    for (const problem of problems)
      console.error(`architecture diagram: ${problem.replaceAll(`${root}/`, "")}`);
    console.error("run `npm run docs:diagram` (needs Graphviz) and commit the result");
    process.exit(1);
  }
  console.log("architecture diagram is up to date");
} else {
  const { widthPx, heightPx } = renderDiagram(files);
  console.log(
    `rendered ${relative(root, files.svg)} and ${relative(root, files.png)} (${widthPx}x${heightPx} px)`,
  );
}
