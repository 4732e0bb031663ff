import { chromium, type Browser, type Page } from "playwright-core";
import type { LifoCleanup } from "./lifo-cleanup.js";

/** Debian's Chromium (apt-get install chromium); HOPGATE_CHROMIUM points at another build. */
export const chromiumPath = process.env.HOPGATE_CHROMIUM ?? "/usr/bin/chromium";

/** A headless Chromium driven by playwright-core; the caller closes it. */
export async function launchBrowser(): Promise<Browser> {
  // --no-sandbox: tests and CI run as root, where Chromium refuses its sandbox.
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox"] });
}

/** A fresh page in its own browser, closed by `cleanup` when the test ends. */
export async function openBrowserPage(cleanup: LifoCleanup): Promise<Page> {
  const browser = await launchBrowser();
  cleanup(() => browser.close());
  return browser.newPage();
}
