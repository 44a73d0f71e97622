/**
 * A Runline server as a child process (`node --import tsx src/main.ts`), the way an
 * operator runs it, so tests can watch what only a process shows: its stderr (which must
 * stay empty: everything goes through the structured log), its stdout (JSON log lines
 * only), its open descriptors, its memory and CPU, and its sockets' TCP states.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import * as net from "node:net";
import path from "node:path";
import { afterAll } from "vitest";
import { socketStates } from "./socket-census.js";
import { createTestDatabase } from "./test-database.js";
import { testRootKey } from "./test-server.js";

/** One parsed line of the server's pino log. */
export interface LogLine {
  readonly level: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

/** A server process and what can be measured of it from outside. */
export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Parsed stdout lines so far. */
  logLines(): readonly LogLine[];
  /** Stdout lines that are not JSON log lines (each is a failure of "one logger"). */
  strayStdout(): readonly string[];
  /** Open file descriptors (/proc/<pid>/fd). */
  fdCount(): number;
  /** Resident set size in bytes (VmRSS in /proc/<pid>/status). */
  rssBytes(): number;
  /** User + system CPU time in seconds (/proc/<pid>/stat). */
  cpuSeconds(): number;
  /** The server's sockets on its port in CLOSE-WAIT (/proc/net/tcp{,6} state 08). */
  closeWaitCount(): number;
  /** Whether the process is still running. */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/** A TCP port nobody listens on right now (bound to port 0, read, released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function statusField(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match === null ? 0 : Number(match[1]);
}

function cpuTime(pid: number): number {
  // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function watchOutput(child: ChildProcess) {
  let stderr = "";
  let pending = "";
  const lines: LogLine[] = [];
  const stray: string[] = [];
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    const parts = (pending + chunk).split("\n");
    pending = parts.pop()!;
    for (const text of parts) {
      if (text === "") continue;
      try {
        const parsed = JSON.parse(text) as unknown;
        if (typeof parsed === "object" && parsed !== null && typeof (parsed as LogLine).level === "number") lines.push(parsed as LogLine);
        else stray.push(text);
      } catch {
        stray.push(text);
      }
    }
  });
  return { stderr: () => stderr, lines, stray };
}

/**
 * Starts a server process on a free loopback port against a fresh test database (or
 * `databaseUrl`), with the same settings as `startTestServer` but logging at `info`;
 * stopped after the file.
 */
export async function startServerProcess(env: Record<string, string> = {}, databaseUrl?: string): Promise<ServerProcess> {
  const port = await freePort();
  const url = databaseUrl ?? (await createTestDatabase());
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: path.resolve(import.meta.dirname, "../.."),
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: url,
      RUNLINE_ROOT_KEY: testRootKey,
      LOG_LEVEL: "info",
      RUNLINE_DB_POOL_SIZE: "10",
      RUNLINE_SHUTDOWN_GRACE_MS: "2000",
      RUNLINE_DEMO_WORKER: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = watchOutput(child);
  const exited = once(child, "exit");
  let running = true;
  void exited.then(() => (running = false));
  const deadline = Date.now() + 60_000;
  while (!output.lines.some((line) => line.msg?.startsWith("Runline is serving") === true)) {
    if (!running || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server process did not start: ${output.stderr()}${output.stray.join("\n")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid!;
  const server: ServerProcess = {
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    stderr: output.stderr,
    logLines: () => output.lines,
    strayStdout: () => output.stray,
    fdCount: () => readdirSync(`/proc/${pid}/fd`).length,
    rssBytes: () => statusField(pid, "VmRSS") * 1024,
    cpuSeconds: () => cpuTime(pid),
    closeWaitCount: () => socketStates(port).CLOSE_WAIT ?? 0,
    alive: () => running,
    async stop(graceMs = 10_000) {
      if (!running) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  started.add(server);
  void exited.then(() => started.delete(server));
  return server;
}

// Servers started in this file, stopped after it. Registered here, when the test file
// imports this module: an afterAll registered from inside a beforeAll never ran, and
// every server process was left running, orphaned, after its file (four per CI run).
const started = new Set<ServerProcess>();
afterAll(() => Promise.all([...started].map((server) => server.stop())));
