import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { pathToFileURL } from "node:url";
import {
  diagramFiles,
  diagramProblems,
  MIN_PNG_WIDTH_PX,
  renderDiagram,
} from "../../scripts/architecture-diagram.js";
import { openBrowserPage } from "../helpers/browser.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { tempDir } from "../helpers/temp-dir.js";

const root = join(import.meta.dirname, "../..");
const committed = diagramFiles(join(root, "docs"));

/** Issue 16's component names, flows and store fields, each with how often it must be drawn. */
const expectedTexts: Array<[text: string, minCount: number]> = [
  ["External Users / Browsers", 1],
  ["Administrator", 1],
  ["HopGate Server (public edge)", 1],
  ["HTTPS listener :443", 1],
  ["HTTP listener :80", 1],
  ["ACME HTTP-01", 1],
  ["redirect to HTTPS", 1],
  ["Tunnel endpoint (gRPC) on :443", 1],
  ["Admin API /api/v1/admin", 1],
  ["POST /domains/register", 1],
  ["POST /domains/unregister", 1],
  ["Bearer admin key", 1],
  ["Reverse proxy core", 1],
  ["routes by domain (Host) and longest path prefix", 1],
  ["ACME certificate manager", 1],
  ["Tunnel session manager", 1],
  ["Metrics and logging", 1],
  ["Prometheus", 1],
  ["Loki", 1],
  ["Grafana", 1],
  ["PostgreSQL", 1],
  ["embedded SQLite (default", 1],
  ["Domain", 1],
  ["id", 1],
  ["domain (unique)", 1],
  ["client_api_key (SHA-256 digest)", 1],
  ["memo", 1],
  ["created_at, updated_at", 1],
  ["Private network A", 1],
  ["Private network B", 1],
  ["Private network C", 1],
  ["HopGate client", 3],
  ["Tunnel client", 3],
  ["Client proxy", 3],
  ["Local service", 3],
  ["127.0.0.1:", 3],
  // The three flows, numbered: the visitor's request, the admin flow, the tunnel establishment.
  ...["U1", "U2", "U3", "U4", "U5", "U6", "U7"].map((step): [string, number] => [step, 1]),
  ...["A1", "A2", "A3", "A4"].map((step): [string, number] => [step, 1]),
  ...["T1", "T2", "T3", "T4", "T5"].map((step): [string, number] => [step, 1]),
  ["long-lived gRPC stream over HTTP/2", 1],
  ["first frame StreamOpen control-0:", 1],
  ["domain + client API key + metadata", 1],
  ["StreamData (body chunks)", 1],
];

// Page scripts, run in Chromium (the project's TypeScript has no DOM library).
interface Drawing {
  root: string;
  parseErrors: number;
  texts: Array<{ text: string; inside: boolean }>;
}
const READ_DRAWING = `(() => {
  const svg = document.documentElement;
  const page = svg.getBoundingClientRect();
  const texts = [...document.querySelectorAll("text")].map((text) => {
    const b = text.getBoundingClientRect();
    const inside = b.width > 0 && b.left >= page.left && b.top >= page.top && b.right <= page.right && b.bottom <= page.bottom;
    return { text: (text.textContent || "").replace(/\\s+/g, " ").trim(), inside };
  });
  return { root: svg.localName, parseErrors: document.querySelectorAll("parsererror").length, texts };
})()`;

interface ImageSize {
  id: string;
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
}
const IMAGE_SIZES = `["svg", "png"].map((id) => {
  const img = document.getElementById(id);
  return { id, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight };
})`;

async function copyOfCommittedDiagram(t: TestContext) {
  const copy = diagramFiles(await tempDir(t, "hopgate-diagram-"));
  copyFileSync(committed.source, copy.source);
  copyFileSync(committed.svg, copy.svg);
  copyFileSync(committed.png, copy.png);
  return copy;
}

describe("architecture diagram (docs/architecture.svg and .png)", () => {
  it("loads in headless Chromium and names every component, flow step and store field", async (t) => {
    const page = await openBrowserPage(lifoCleanup(t));
    const response = await page.goto(pathToFileURL(committed.svg).href);
    assert.ok(response?.ok(), "the SVG file loads");
    const drawing = await page.evaluate<Drawing>(READ_DRAWING);
    assert.equal(drawing.root, "svg", "the document is an SVG drawing, not an error page");
    assert.equal(drawing.parseErrors, 0, "the SVG parses");
    const outside = drawing.texts.filter((text) => !text.inside).map((text) => text.text);
    assert.deepEqual(outside, [], "every label is drawn (not empty) inside the drawing");
    for (const [expected, minCount] of expectedTexts) {
      const count = drawing.texts.filter(({ text }) => text.includes(expected)).length;
      assert.ok(count >= minCount, `"${expected}" is drawn ${count} times, expected at least ${minCount}`);
    }
  });

  it("shows as an image in a page, the PNG at least 2400 px wide", async (t) => {
    const dir = await tempDir(t, "hopgate-diagram-page-");
    const pagePath = join(dir, "index.html");
    writeFileSync(
      pagePath,
      `<!doctype html><img id="svg" src="${pathToFileURL(committed.svg).href}">` +
        `<img id="png" src="${pathToFileURL(committed.png).href}">`,
    );
    const page = await openBrowserPage(lifoCleanup(t));
    await page.goto(pathToFileURL(pagePath).href, { waitUntil: "load" });
    const sizes = await page.evaluate<ImageSize[]>(IMAGE_SIZES);
    for (const size of sizes) {
      assert.ok(
        size.complete && size.naturalWidth > 0 && size.naturalHeight > 0,
        `${size.id} decodes: ${JSON.stringify(size)}`,
      );
    }
    const png = sizes.find((size) => size.id === "png");
    assert.ok(
      png !== undefined && png.naturalWidth >= MIN_PNG_WIDTH_PX,
      `PNG is ${png?.naturalWidth} px wide`,
    );
  });

  it("is up to date with docs/architecture.dot (npm run docs:diagram:check passes)", () => {
    assert.deepEqual(diagramProblems(committed), []);
    const output = execFileSync(process.execPath, ["--import", "tsx", "scripts/docs-diagram.ts", "--check"], {
      cwd: root,
      encoding: "utf8",
    });
    assert.match(output, /up to date/);
  });

  it("is shown at the top of the README's Architecture section", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("\n## Architecture\n") + "\n## Architecture\n".length);
    const firstLine = section.split("\n").find((line) => line.trim() !== "");
    assert.match(firstLine ?? "", /^!\[[^\]]+\]\(docs\/architecture\.svg\)$/);
    assert.ok(readme.includes("](docs/architecture.png)"), "README links the PNG");
  });

  it("the staleness check reports both renderings when the source changes", async (t) => {
    const copy = await copyOfCommittedDiagram(t);
    writeFileSync(
      copy.source,
      readFileSync(copy.source, "utf8").replace("Reverse proxy core", "Reverse proxy"),
    );
    const problems = diagramProblems(copy);
    assert.equal(problems.length, 2, problems.join("\n"));
    assert.match(problems[0] ?? "", /architecture\.svg was not rendered from the current/);
    assert.match(problems[1] ?? "", /architecture\.png was not rendered from the current/);
  });

  it("the staleness check reports a rendering that is missing or from another source", async (t) => {
    const copy = await copyOfCommittedDiagram(t);
    writeFileSync(
      copy.svg,
      readFileSync(copy.svg, "utf8").replace(/sha256: [0-9a-f]{64}/, `sha256: ${"0".repeat(64)}`),
    );
    assert.deepEqual(diagramProblems(copy), [`${copy.svg} was not rendered from the current ${copy.source}`]);
    copyFileSync(committed.svg, copy.svg);
    rmSync(copy.png);
    assert.deepEqual(diagramProblems(copy), [`${copy.png} is missing`]);
    writeFileSync(copy.png, "");
    assert.throws(() => diagramProblems(copy), /not a PNG file/);
  });

  it("renders a changed source with Graphviz into renderings the check accepts", async (t) => {
    const copy = await copyOfCommittedDiagram(t);
    writeFileSync(
      copy.source,
      readFileSync(copy.source, "utf8").replace("Reverse proxy core", "Reverse proxy core (changed)"),
    );
    const { widthPx } = renderDiagram(copy);
    assert.ok(widthPx >= MIN_PNG_WIDTH_PX, `PNG is ${widthPx} px wide`);
    assert.deepEqual(diagramProblems(copy), []);
    assert.match(readFileSync(copy.svg, "utf8"), /Reverse proxy core \(changed\)/);
  });
});
