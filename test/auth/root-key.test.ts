import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashSecret } from "../../src/auth/api-keys.js";
import { loadRootKeyHash } from "../../src/auth/root-key.js";
import { createLogger } from "../../src/logger.js";

const folders: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});

describe("the root key", () => {
  const logger = createLogger("silent");

  it("comes from RUNLINE_ROOT_KEY when set", async () => {
    expect(await loadRootKeyHash({ rootKey: "a-root-key-of-enough-length", embeddedDataDir: undefined }, logger)).toEqual(
      hashSecret("a-root-key-of-enough-length"),
    );
  });

  it("is generated once with the embedded default, printed once, and kept only as a hash", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "runline-root-"));
    folders.push(folder);
    const printed: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    const first = await loadRootKeyHash({ rootKey: undefined, embeddedDataDir: folder }, logger);
    const secret = /rl_[A-Za-z0-9_-]+/.exec(printed.join(""))?.[0];
    expect(secret).toBeDefined();
    expect(first).toEqual(hashSecret(secret!));
    const stored = await readFile(path.join(folder, "root-key.sha256"), "utf8");
    expect(stored).not.toContain(secret!);
    printed.length = 0;
    const second = await loadRootKeyHash({ rootKey: undefined, embeddedDataDir: folder }, logger);
    expect(second).toEqual(first);
    expect(printed.join("")).not.toContain("rl_");
  });

  it("is absent with DATABASE_URL and no RUNLINE_ROOT_KEY, which disables AdminService", async () => {
    expect(await loadRootKeyHash({ rootKey: undefined, embeddedDataDir: undefined }, logger)).toBeUndefined();
  });
});
