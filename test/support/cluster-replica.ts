/**
 * One Runline replica of a cluster: the real server entry (`node --import tsx
 * src/main.ts`) as a child process, as an operator runs it, so that `kill -9` ends it
 * the way a crashed machine does. Free of vitest, so the bench can start replicas too;
 * whoever starts one stops it, and a reaper (orphan-reaper.ts) kills it should the
 * parent die first.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { createInterface } from "node:readline";
import { freePort } from "./free-port.js";
import type { Reaper } from "./orphan-reaper.js";

/** A replica process and what a test does to it. */
export interface ClusterReplica {
  /** Its name in HAProxy (`r1`, `r2` …), sent back in `x-runline-replica`. */
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** `http://127.0.0.1:<port>`: the replica itself, bypassing the balancer. */
  readonly url: string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Log lines at warn or above, and anything on stderr (at most the first 50). */
  problems(): readonly string[];
  /** SIGSTOP: a hung machine; the process keeps its sockets open and answers nothing. `kill()` still ends it. */
  freeze(): void;
  /** `kill -9`: no shutdown, no goodbye to clients; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (a graceful shutdown), SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** How to start a replica. */
export interface ReplicaOptions {
  readonly name: string;
  readonly databaseUrl: string;
  readonly rootKey: string;
  /** Kills the replica should the parent die without stopping it. */
  readonly reaper: Reaper;
  /** `LOG_LEVEL`. Default: `warn` (a line per call at `info` is noise at bench rates). */
  readonly logLevel?: string;
  /** `RUNLINE_DB_POOL_SIZE`. Default: 10. */
  readonly poolSize?: number;
  /** Further server settings, applied last. */
  readonly env?: Readonly<Record<string, string>>;
  /** The port to listen on (a restarted replica keeps its port, so HAProxy finds it again). Default: a free one. */
  readonly port?: number;
  /** How long start-up may take before it counts as failed. Default: 60000 ms. */
  readonly startTimeoutMs?: number;
}

const repositoryRoot = path.resolve(import.meta.dirname, "../..");
const keptProblems = 50;

// pino writes the level first; every line is read (a full pipe would stall the server).
const pinoLevel = /^\{"level":(\d+)/;

/** Resolves once `GET /readyz` answers 200; rejects when the process exits first or `ms` pass. */
async function waitUntilReady(url: string, exited: () => string | undefined, problems: readonly string[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ended = exited();
    if (ended !== undefined) throw new Error(`replica at ${url} ended (${ended}) before it was ready: ${problems.join("\n")}`);
    const status = await fetch(`${url}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`replica at ${url} not ready within ${ms} ms: ${problems.join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts a replica on a free loopback port and resolves once its `/readyz` says 200. */
export async function startReplica(options: ReplicaOptions): Promise<ClusterReplica> {
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, ["--import", "tsx", path.join("src", "main.ts")], {
    cwd: repositoryRoot,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: options.databaseUrl,
      RUNLINE_ROOT_KEY: options.rootKey,
      LOG_LEVEL: options.logLevel ?? "warn",
      RUNLINE_DB_POOL_SIZE: String(options.poolSize ?? 10),
      RUNLINE_SHUTDOWN_GRACE_MS: "2000",
      RUNLINE_DEMO_WORKER: "0",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const problems: string[] = [];
  const keep = (line: string) => problems.length < keptProblems && problems.push(line);
  createInterface({ input: child.stderr! }).on("line", keep);
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const level = pinoLevel.exec(line)?.[1];
    if (level === undefined ? line.trim() !== "" : Number(level) >= 40) keep(line);
  });
  const pid = child.pid!;
  options.reaper.watch(pid);
  child.once("exit", () => options.reaper.forget(pid));
  const exited = once(child, "exit");
  let ending: string | undefined;
  child.once("exit", (code, signal) => (ending = signal === null ? `exit code ${code}` : `signal ${signal}`));
  const end = async (signal: NodeJS.Signals, graceMs: number) => {
    if (ending !== undefined) return;
    child.kill(signal);
    const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(killer);
  };
  const replica: ClusterReplica = {
    name: options.name,
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    alive: () => ending === undefined,
    problems: () => problems,
    freeze: () => child.kill("SIGSTOP"),
    kill: () => end("SIGKILL", 0),
    stop: (graceMs = 10_000) => end("SIGTERM", graceMs),
  };
  try {
    await waitUntilReady(replica.url, () => ending, problems, options.startTimeoutMs ?? 60_000);
  } catch (error) {
    await replica.kill();
    throw error;
  }
  return replica;
}
