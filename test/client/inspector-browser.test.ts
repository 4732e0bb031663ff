import assert from "node:assert/strict";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startBackend } from "../helpers/backend.js";
import { openBrowserPage } from "../helpers/browser.js";
import { startGateway, startTestClient } from "../helpers/gateway.js";
import { lifoCleanup } from "../helpers/lifo-cleanup.js";
import { tempDir } from "../helpers/temp-dir.js";
import { visit } from "../helpers/visit.js";

describe("request inspector page in Chromium", () => {
  it("shows a request sent through the tunnel without reload, and replay shows the new answer", async (t) => {
    const cleanup = lifoCleanup(t);
    const gateway = await startGateway(t);
    let count = 0;
    const backend = await startBackend(t, (_req, res) => {
      count++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ answer: `number ${count}` }));
    });
    const key = await gateway.register("page.example.test");
    const client = startTestClient(t, gateway, "page.example.test", key, [`web=${backend.url}`], {
      inspect: "127.0.0.1:0",
    });
    await client.connected;
    const url = (await client.handle).inspectorUrl ?? "";
    const page = await openBrowserPage(cleanup);
    await page.goto(url);
    await page.getByText("live").waitFor({ timeout: 60_000 });
    assert.equal((await visit(gateway.port, "page.example.test", "/hello-from-test")).status, 200);
    const row = page.locator("tr.row", { hasText: "/hello-from-test" });
    await row.waitFor({ timeout: 60_000 });
    await row.click();
    await page.locator("pre.body", { hasText: "number 1" }).waitFor({ timeout: 60_000 });
    await page.locator("#replay").click();
    await page.locator("pre.body", { hasText: "number 2" }).waitFor({ timeout: 60_000 });
    assert.match(await page.locator("#detail-status").innerText(), /replay of #1/);
    const shot = join(await tempDir(t), "inspector.png");
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.screenshot({ path: shot });
    if (process.env.HOPGATE_INSPECTOR_SCREENSHOT)
      await copyFile(shot, process.env.HOPGATE_INSPECTOR_SCREENSHOT);
  });
});
