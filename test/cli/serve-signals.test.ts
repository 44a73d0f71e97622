/**
 * `runline serve` stops as a server should when told to: SIGTERM or SIGINT to the real
 * binary shuts it down gracefully, exit 0, its port closed. Through `npx runline serve`
 * npm forwards SIGTERM to the `sh -c` it started, not to the server, and that shell
 * dies of it: the server still stops (it notices its parent gone) and no orphan keeps
 * listening.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import * as net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";
import { createTestDatabase } from "../support/test-database.js";
import { testRootKey } from "../support/test-server.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
/** Generous for two shared cores: a graceful stop takes well under a second here. */
const stopBoundMs = 15_000;

interface Serving {
  readonly child: ChildProcess;
  readonly port: number;
  /** Resolves once every process holding the stdout pipe (the server included) has exited. */
  readonly closed: Promise<number | null>;
  logMessages(): string[];
}

const started: ChildProcess[] = [];
// Each command runs in its own process group, so a failed test still ends all of it.
afterAll(() => {
  for (const child of started) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // The group has ended: what a passing test leaves.
    }
  }
});

async function startServing(command: string, args: readonly string[]): Promise<Serving> {
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("RUNLINE_")));
  const child = spawn(command, args, {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: await createTestDatabase(),
      RUNLINE_ROOT_KEY: testRootKey,
      RUNLINE_DEMO_WORKER: "0",
      RUNLINE_SHUTDOWN_GRACE_MS: "2000",
      LOG_LEVEL: "info",
    },
  });
  started.push(child);
  let stdout = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.resume();
  const closed = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const logMessages = () =>
    stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg: string; signal?: string })
      .map((line) => (line.signal === undefined ? line.msg : `${line.msg} (${line.signal})`));
  const deadline = Date.now() + 60_000;
  while (!logMessages().some((message) => message.startsWith("Runline is serving"))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start: ${stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, port, closed, logMessages };
}

/** Whether something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("connect", () => resolve(true)).on("error", () => resolve(false));
    socket.on("connect", () => socket.destroy());
  });
}

/** Node processes running `runline` with PORT=`port` in their environment: the server itself. */
function serverProcesses(port: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const environment = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
        const commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        const [program = "", script = ""] = commandLine;
        return environment.includes(`PORT=${port}`) && path.basename(program) === "node" && /runline(\.js)?$/.test(script);
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    })
    .map(Number);
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

async function stopsWithin(serving: Serving, ms: number): Promise<{ code: number | null; elapsedMs: number }> {
  const start = performance.now();
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), ms).unref());
  const code = await Promise.race([serving.closed, timer]);
  expect(code, `still running ${ms} ms after the signal`).not.toBe("timeout");
  return { code: code as number | null, elapsedMs: performance.now() - start };
}

describe("runline serve", () => {
  it.each(["SIGTERM", "SIGINT"] as const)("shuts down gracefully on %s: exit 0, the port closed", { timeout: 90_000 }, async (signal) => {
    const serving = await startServing(process.execPath, [path.join(root, "bin/runline.js"), "serve"]);
    expect(await listening(serving.port)).toBe(true);
    serving.child.kill(signal);
    const { code } = await stopsWithin(serving, stopBoundMs);
    expect(code).toBe(0);
    expect(await listening(serving.port)).toBe(false);
    expect(serving.logMessages()).toContain(`shutting down (${signal})`);
  });

  it("under npx, SIGTERM to npm stops the server behind npm's shell: no orphan keeps listening", { timeout: 90_000 }, async () => {
    const serving = await startServing("npx", ["runline", "serve"]);
    const [server] = serverProcesses(serving.port);
    expect(server).toBeDefined();
    // The chain this is about: npm, then the shell npm started, then the server.
    expect(parentOf(parentOf(server!))).toBe(serving.child.pid);
    serving.child.kill("SIGTERM");
    const { elapsedMs } = await stopsWithin(serving, stopBoundMs);
    expect(await listening(serving.port)).toBe(false);
    expect(serverProcesses(serving.port)).toEqual([]);
    expect(serving.logMessages()).toContain("shutting down (SIGTERM)");
    expect(elapsedMs).toBeLessThan(stopBoundMs);
  });
});
