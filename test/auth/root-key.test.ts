import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashSecret } from "../../src/auth/api-keys.js";
import { keepNewRootKey, loadRootKey } from "../../src/auth/root-key.js";
import { createLogger } from "../../src/logger.js";

const folders: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});

describe("the root key", () => {
  const logger = createLogger("silent");

  it("comes from RUNLINE_ROOT_KEY when set", async () => {
    expect(await loadRootKey({ rootKey: "a-root-key-of-enough-length", embeddedDataDir: undefined }, logger)).toEqual({
      hash: hashSecret("a-root-key-of-enough-length"),
      created: undefined,
    });
  });

  it("is generated once with the embedded default, kept only as a hash, and printed once, when kept", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "runline-root-"));
    folders.push(folder);
    const printed: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    const first = await loadRootKey({ rootKey: undefined, embeddedDataDir: folder }, logger);
    expect(first.created).toBeDefined();
    expect(first.hash).toEqual(hashSecret(first.created!.secret));
    // Made, not yet kept: a start that fails before it serves leaves no key nobody saw.
    expect(existsSync(path.join(folder, "root-key.sha256"))).toBe(false);
    expect(printed.join("")).toBe("");
    await keepNewRootKey(first.created!);
    const secret = /rl_[A-Za-z0-9_-]+/.exec(printed.join(""))?.[0];
    expect(secret).toBe(first.created!.secret);
    const stored = await readFile(path.join(folder, "root-key.sha256"), "utf8");
    expect(stored).not.toContain(secret!);
    printed.length = 0;
    const second = await loadRootKey({ rootKey: undefined, embeddedDataDir: folder }, logger);
    expect(second).toEqual({ hash: first.hash, created: undefined });
    expect(printed.join("")).not.toContain("rl_");
  });

  it("is not kept by a start that fails before it serves: the next start makes its own", async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), "runline-root-"));
    folders.push(folder);
    const failedStart = await loadRootKey({ rootKey: undefined, embeddedDataDir: folder }, logger);
    const nextStart = await loadRootKey({ rootKey: undefined, embeddedDataDir: folder }, logger);
    expect(nextStart.created).toBeDefined();
    expect(nextStart.created!.secret).not.toBe(failedStart.created!.secret);
  });

  it("is absent with DATABASE_URL and no RUNLINE_ROOT_KEY, which disables AdminService", async () => {
    expect(await loadRootKey({ rootKey: undefined, embeddedDataDir: undefined }, logger)).toEqual({ hash: undefined, created: undefined });
  });
});
