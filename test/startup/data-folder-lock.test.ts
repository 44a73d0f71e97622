/**
 * The data folder's lock (src/startup/data-folder-lock.ts): a live holder is named, a
 * holder on another host or a file that is not a lock is never taken over, a release
 * removes only the process's own lock, and of several processes racing for one stale
 * lock exactly one gets it.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lockDataFolder } from "../../src/startup/data-folder-lock.js";
import { StartFailure } from "../../src/startup/start-failure.js";

const folders: string[] = [];
afterAll(() => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));

async function dataFolder(): Promise<string> {
  const folder = await mkdtemp(path.join(os.tmpdir(), "runline-lock-"));
  folders.push(folder);
  return folder;
}

async function refusal(dataDir: string): Promise<string> {
  const outcome = await lockDataFolder(dataDir).then(
    (lock) => (lock.release(), undefined),
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(StartFailure);
  return (outcome as Error).message;
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks after boot. */
function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

describe("the data folder lock", () => {
  it("records this process and is removed by release", async () => {
    const dataDir = await dataFolder();
    const lock = await lockDataFolder(dataDir);
    expect(JSON.parse(await readFile(lock.file, "utf8"))).toMatchObject({ pid: process.pid, host: os.hostname() });
    lock.release();
    expect(existsSync(lock.file)).toBe(false);
  });

  it("is refused while the process it names runs, naming its pid", async () => {
    const dataDir = await dataFolder();
    const holder = spawn("sleep", ["60"]);
    try {
      const record = { pid: holder.pid, host: os.hostname(), startTicks: startTicks(holder.pid!) };
      await writeFile(path.join(dataDir, "runline.lock"), JSON.stringify(record));
      expect(await refusal(dataDir)).toContain(`${dataDir} is in use by another Runline (pid ${holder.pid})`);
    } finally {
      holder.kill();
    }
  });

  it("is never taken over from another host, nor from a file that is not a lock", async () => {
    const dataDir = await dataFolder();
    const lockFile = path.join(dataDir, "runline.lock");
    await writeFile(lockFile, JSON.stringify({ pid: 1, host: "another-host" }));
    expect(await refusal(dataDir)).toContain("(pid 1 on host another-host)");
    await writeFile(lockFile, "hello\n");
    expect(await refusal(dataDir)).toContain(`${lockFile} is not a Runline lock`);
    expect(await readFile(lockFile, "utf8")).toBe("hello\n");
  });

  it("on release, leaves alone a lock another process wrote in its place", async () => {
    const dataDir = await dataFolder();
    const lock = await lockDataFolder(dataDir);
    await writeFile(lock.file, JSON.stringify({ pid: 1, host: "another-host" }));
    lock.release();
    expect(existsSync(lock.file)).toBe(true);
  });

  it("goes to exactly one of four processes racing for a stale lock", { timeout: 90_000 }, async () => {
    const module = path.resolve(import.meta.dirname, "../../src/startup/data-folder-lock.ts");
    // Each contender imports the lock, waits for the same moment, tries, says how it went,
    // and holds what it got until it is killed.
    const contender = `
      const { lockDataFolder } = await import(${JSON.stringify(module)});
      const [dataDir, goAt] = [process.argv[1], Number(process.argv[2])];
      while (Date.now() < goAt) await new Promise((resolve) => setTimeout(resolve, 1));
      try { await lockDataFolder(dataDir); console.log("held"); } catch (error) { console.log("refused: " + error.message); }
      setInterval(() => {}, 1000);`;
    for (let round = 0; round < 2; round += 1) {
      const dataDir = await dataFolder();
      await writeFile(path.join(dataDir, "runline.lock"), JSON.stringify({ pid: 2 ** 22 + 1, host: os.hostname() }));
      const goAt = Date.now() + 8000;
      const contenders = Array.from({ length: 4 }, () =>
        spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", contender, dataDir, String(goAt)], {
          stdio: ["ignore", "pipe", "inherit"],
        }),
      );
      try {
        const said = await Promise.all(
          contenders.map(async (child) => {
            const [line] = (await once(child.stdout.setEncoding("utf8"), "data")) as [string];
            return line.trim();
          }),
        );
        expect(
          said.filter((line) => line === "held"),
          said.join("\n"),
        ).toHaveLength(1);
        const winner = contenders[said.indexOf("held")]!.pid;
        expect(JSON.parse(await readFile(path.join(dataDir, "runline.lock"), "utf8"))).toMatchObject({ pid: winner });
      } finally {
        for (const child of contenders) child.kill();
        await Promise.all(
          contenders.map((child) => (child.exitCode === null && child.signalCode === null ? once(child, "exit") : undefined)),
        );
      }
    }
  });
});
