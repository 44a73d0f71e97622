/**
 * One Runline per data folder. The embedded Postgres in `<dataDir>/pg` refuses a second
 * postmaster, but only after the second Runline has started its own and with a message
 * nobody saw (`failed to start: undefined`); this lock refuses it first, naming the pid
 * that holds the folder.
 *
 * The lock is `<dataDir>/runline.lock`, one JSON line: the holder's pid, host name, and
 * on Linux the boot id and the process's start time. It is created whole and atomically
 * (written to a draft, then hard-linked into place, which fails if the lock exists), and
 * removed when the process exits, however it exits short of SIGKILL or a power cut.
 *
 * A lock left behind is stale when its pid is not running on this host, or is running
 * but is another process (a reused pid: another boot, or another start time); a lock
 * from another host is never judged stale. A stale lock is taken over under a guard,
 * `runline.lock.takeover`, made the same exclusive way: its holder alone may delete the
 * lock, and only after reading it again unchanged, so two starters racing for one stale
 * lock cannot both end up holding it (the race test in test/startup/ found that they did
 * without the guard).
 */
import { readFileSync, unlinkSync } from "node:fs";
import { link, mkdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { StartFailure } from "./start-failure.js";

/** The identity a lock records. */
interface Holder {
  readonly pid: number;
  readonly host: string;
  /** /proc/sys/kernel/random/boot_id, where there is one. */
  readonly bootId?: string;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot), where there is one. */
  readonly startTicks?: string;
}

/** A held lock. */
export interface DataFolderLock {
  readonly file: string;
  /** Removes the lock if it is still this process's; safe to call more than once. */
  release(): void;
}

function readTextIfAny(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

function startTicksOf(pid: number): string | undefined {
  const stat = readTextIfAny(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

function ownIdentity(): Holder {
  const bootId = readTextIfAny("/proc/sys/kernel/random/boot_id");
  const startTicks = startTicksOf(process.pid);
  return {
    pid: process.pid,
    host: hostname(),
    ...(bootId === undefined ? {} : { bootId }),
    ...(startTicks === undefined ? {} : { startTicks }),
  };
}

function parseHolder(text: string): Holder | undefined {
  try {
    const parsed = JSON.parse(text) as Partial<Holder>;
    return Number.isSafeInteger(parsed.pid) && typeof parsed.host === "string" ? (parsed as Holder) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process a lock names may still be running (when in doubt, it is). */
function isRunning(holder: Holder, self: Holder): boolean {
  if (holder.host !== self.host) return true;
  if (holder.pid === self.pid) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: a process of another user has that pid, so it runs.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  if (holder.bootId !== undefined && self.bootId !== undefined && holder.bootId !== self.bootId) return false;
  const ticks = startTicksOf(holder.pid);
  return holder.startTicks === undefined || ticks === undefined || ticks === holder.startTicks;
}

async function readLock(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Links `draft` into place as `file`; false if `file` exists. */
async function linkExclusive(draft: string, file: string): Promise<boolean> {
  try {
    await link(draft, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/**
 * Replaces the stale lock `staleText` with this process's (`draft`), holding the guard
 * meanwhile; false when another starter holds the guard or got the lock first.
 */
async function takeOverStale(file: string, staleText: string, draft: string, self: Holder): Promise<boolean> {
  const guard = `${file}.takeover`;
  if (!(await linkExclusive(draft, guard))) {
    const guardHolder = parseHolder((await readLock(guard)) ?? "");
    if (guardHolder !== undefined && !isRunning(guardHolder, self)) {
      throw new StartFailure("RUNLINE_DATA_DIR", `pid ${guardHolder.pid} stopped while taking over a stale lock; delete ${guard}`);
    }
    return false;
  }
  try {
    // Unchanged under the guard, so nobody took it over meanwhile: the file deleted is the stale one.
    if ((await readLock(file)) !== staleText) return false;
    await unlink(file);
    // A starter that saw no lock at all may have linked its own first: then it holds the folder.
    return await linkExclusive(draft, file);
  } finally {
    await unlink(guard);
  }
}

function inUse(dataDir: string, file: string, holder: Holder, self: Holder): StartFailure {
  const where = holder.host === self.host ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.host}`;
  return new StartFailure(
    "RUNLINE_DATA_DIR",
    `${dataDir} is in use by another Runline (${where}); stop it or use another folder (if no Runline runs there, delete ${file})`,
  );
}

async function makeFolder(dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (error) {
    throw new StartFailure("RUNLINE_DATA_DIR", `cannot create ${dataDir} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/** Takes the data folder's lock (creating the folder), or throws a StartFailure naming its holder. */
export async function lockDataFolder(dataDir: string): Promise<DataFolderLock> {
  await makeFolder(dataDir);
  const file = path.join(dataDir, "runline.lock");
  const self = ownIdentity();
  const text = JSON.stringify(self) + "\n";
  const draft = `${file}.draft-${process.pid}`;
  try {
    await writeFile(draft, text, { mode: 0o644 });
    // Each round ends held, refused, or behind another starter's takeover (milliseconds).
    for (let round = 0; round < 100; round += 1) {
      if (await linkExclusive(draft, file)) return heldLock(file, text);
      const found = await readLock(file);
      if (found === undefined) continue;
      const holder = parseHolder(found);
      if (holder === undefined) {
        throw new StartFailure("RUNLINE_DATA_DIR", `${file} is not a Runline lock; delete it if no Runline uses ${dataDir}`);
      }
      if (isRunning(holder, self)) throw inUse(dataDir, file, holder, self);
      if (await takeOverStale(file, found, draft, self)) return heldLock(file, text);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new StartFailure("RUNLINE_DATA_DIR", `${dataDir}: other Runlines are starting on it at the same moment; try again`);
  } catch (error) {
    if (error instanceof StartFailure) throw error;
    throw new StartFailure("RUNLINE_DATA_DIR", `cannot lock ${dataDir} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  } finally {
    await rm(draft, { force: true });
  }
}

function heldLock(file: string, text: string): DataFolderLock {
  const release = () => {
    process.removeListener("exit", release);
    // Only this process's own lock: never one a later holder wrote after a takeover.
    if (readTextIfAny(file) === text.trim()) {
      try {
        unlinkSync(file);
      } catch {
        // Already gone: nothing to release.
      }
    }
  };
  process.on("exit", release);
  return { file, release };
}
