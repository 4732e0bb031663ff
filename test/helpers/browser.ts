import { chromium, type Browser, type Page } from "playwright-core";
import type { LifoCleanup } from "./lifo-cleanup.js";

/** Debian's chromium; HOPGATE_CHROMIUM points elsewhere. */
export const chromiumPath = process.env.HOPGATE_CHROMIUM ?? "/usr/bin/chromium";

/** A headless Chromium (no sandbox: tests may run as root in a container). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox"] });
}

/** A fresh page in its own headless browser, closed through `cleanup` when the test ends. */
export async function openBrowserPage(cleanup: LifoCleanup): Promise<Page> {
  const browser = await launchBrowser();
  cleanup(() => browser.close());
  return browser.newPage();
}
