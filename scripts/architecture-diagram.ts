// The architecture diagram: docs/architecture.dot (Graphviz) rendered to an SVG and a PNG. Both
// renderings carry the SHA-256 of the source they came from, so that the staleness check needs
// neither Graphviz nor byte-identical output (which differs between Graphviz versions and fonts).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pngSize, readPngText, withPngText } from "./png-text.js";

export interface DiagramFiles {
  source: string;
  svg: string;
  png: string;
}

/** The PNG is for places that do not show SVG; the brief asks for at least this width. */
export const MIN_PNG_WIDTH_PX = 2400;
const TARGET_PNG_WIDTH_PX = 2800;
/** Part of the digest: bump it when the rendering options below change. */
const RENDERING = "dot -Tsvg; dot -Tpng at 2800 px; v1";
const STAMP_KEY = "hopgate-diagram-source-sha256";
const SVG_STAMP = new RegExp(`<!-- ${STAMP_KEY}: ([0-9a-f]{64}) -->`);

export function diagramFiles(docsDir: string): DiagramFiles {
  return {
    source: join(docsDir, "architecture.dot"),
    svg: join(docsDir, "architecture.svg"),
    png: join(docsDir, "architecture.png"),
  };
}

export function sourceDigest(sourceText: string): string {
  return createHash("sha256").update(`${RENDERING}\n${sourceText}`).digest("hex");
}

function dot(args: string[], sourcePath: string): Buffer {
  try {
    return execFileSync("dot", [...args, sourcePath], {
      maxBuffer: 256 * 1024 * 1024,
      stdio: ["ignore", "pipe", "inherit"],
    });
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === "ENOENT";
    throw new Error(
      missing ? "Graphviz `dot` not found (apt-get install graphviz)" : `dot ${args.join(" ")} failed`,
      { cause },
    );
  }
}

/** The drawing's width in points from the root <svg width="...pt">, as Graphviz writes it. */
function svgWidthPt(svg: string): number {
  const width = /<svg[^>]*\swidth="([\d.]+)pt"/.exec(svg)?.[1];
  if (width === undefined) throw new Error("dot wrote an SVG without a width in pt");
  return Number(width);
}

/** Renders `files.source` into `files.svg` and `files.png`, each stamped with the source digest. */
export function renderDiagram(files: DiagramFiles): { widthPx: number; heightPx: number } {
  const digest = sourceDigest(readFileSync(files.source, "utf8"));
  const svg = dot(["-Tsvg"], files.source).toString("utf8");
  // The stamp goes right after the XML declaration, before Graphviz's own comments.
  const declarationEnd = svg.startsWith("<?xml") ? svg.indexOf("?>") + 2 : 0;
  const stamped = `${svg.slice(0, declarationEnd)}\n<!-- ${STAMP_KEY}: ${digest} -->${svg.slice(declarationEnd)}`;
  // 72 points per inch: this dpi makes the PNG TARGET_PNG_WIDTH_PX wide (padding included).
  const dpi = Math.ceil((TARGET_PNG_WIDTH_PX * 72) / svgWidthPt(svg));
  const png = withPngText(dot(["-Tpng", `-Gdpi=${dpi}`], files.source), STAMP_KEY, digest);
  const size = pngSize(png);
  if (size.widthPx < MIN_PNG_WIDTH_PX) {
    throw new Error(`dot rendered the PNG ${size.widthPx} px wide, below ${MIN_PNG_WIDTH_PX} px`);
  }
  writeFileSync(files.svg, stamped.endsWith("\n") ? stamped : `${stamped}\n`);
  writeFileSync(files.png, png);
  return size;
}

/** What is wrong with the committed renderings; empty when both match the source. */
export function diagramProblems(files: DiagramFiles): string[] {
  const digest = sourceDigest(readFileSync(files.source, "utf8"));
  const problems: string[] = [];
  if (!existsSync(files.svg)) problems.push(`${files.svg} is missing`);
  else if (SVG_STAMP.exec(readFileSync(files.svg, "utf8"))?.[1] !== digest) {
    problems.push(`${files.svg} was not rendered from the current ${files.source}`);
  }
  if (!existsSync(files.png)) problems.push(`${files.png} is missing`);
  else {
    const png = readFileSync(files.png);
    if (readPngText(png, STAMP_KEY) !== digest) {
      problems.push(`${files.png} was not rendered from the current ${files.source}`);
    }
    const { widthPx } = pngSize(png);
    if (widthPx < MIN_PNG_WIDTH_PX)
      problems.push(`${files.png} is ${widthPx} px wide, below ${MIN_PNG_WIDTH_PX} px`);
  }
  return problems;
}
