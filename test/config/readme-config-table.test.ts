import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { configurationMarkdown } from "../../src/config/config-table.js";
import { adminSettings } from "../../src/config/admin-settings.js";
import { clientSettings } from "../../src/config/client-settings.js";
import { serverSettings } from "../../src/config/server-settings.js";
import type { SettingTable } from "../../src/config/setting.js";

const readme = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");

describe("README configuration tables", () => {
  it("match the settings schemas exactly (run `npm run docs:config` after changing a setting)", () => {
    const start = readme.indexOf("<!-- config-table:start");
    const end = readme.indexOf("<!-- config-table:end -->");
    assert.ok(start !== -1 && end > start, "README.md has the config-table markers");
    const generated = readme
      .slice(readme.indexOf("-->", start) + 3, end)
      .replace("<!-- prettier-ignore-start -->", "")
      .replace("<!-- prettier-ignore-end -->", "")
      .trim();
    assert.equal(generated, configurationMarkdown().trim());
  });

  it("name every environment variable and flag of every program", () => {
    const tables: SettingTable[] = [serverSettings, clientSettings, adminSettings];
    for (const table of tables) {
      for (const setting of Object.values(table)) {
        assert.ok(readme.includes(`\`${setting.env}\``), `${setting.env} is documented`);
        assert.ok(readme.includes(`\`${setting.flag}`), `${setting.flag} is documented`);
      }
    }
  });
});
