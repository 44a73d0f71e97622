/**
 * The Runline side of the bench: the server as its own process (`src/main.ts`, so the
 * load generator and the server never share an event loop), and clients speaking
 * Connect binary over HTTP/2 cleartext, as a production caller would.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { createInterface } from "node:readline";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { workerSessionOptions } from "../src/sdk/create-worker.js";
import { AdminService, Scope } from "../gen/runline/v1/admin_service_pb.js";
import { RunsService } from "../gen/runline/v1/runs_service_pb.js";
import { WorkflowsService } from "../gen/runline/v1/workflows_service_pb.js";
import type { Operation } from "./load.js";
import { freePort } from "../test/support/free-port.js";

/** A server process started by the bench. */
export interface RunlineProcess {
  readonly url: string;
  /** The server's process id (for CPU accounting). */
  readonly pid: number;
  /** Warn-or-worse log lines the server wrote (at most `keptLogLines`), and stderr. */
  readonly problems: readonly string[];
  /** How the server ended if it ended before `stop()` (crashed or killed), else undefined. */
  unexpectedExit(): string | undefined;
  /** SIGTERM (graceful: a CPU profile, if asked for, is written), SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/** Options for startRunlineProcess. */
export interface RunlineProcessOptions {
  readonly repositoryRoot: string;
  readonly databaseUrl: string;
  readonly rootKey: string;
  readonly poolSize: number;
  /** When set, the server runs with `--cpu-prof` and writes its profile here on exit. */
  readonly cpuProfileDirectory: string | undefined;
  /** Further server settings (e.g. RUNLINE_WEBHOOK_ALLOW for the webhooks group's receiver). */
  readonly env?: Readonly<Record<string, string>>;
}

const keptLogLines = 20;
const startTimeoutMs = 60_000;

// pino writes the level first; every call's line is read, so this stays a cheap match.
const pinoLevel = /^\{"level":(\d+)/;

/** True for a pino line at warn (40) or above, or any line that is not pino's. */
function isProblem(line: string): boolean {
  const level = pinoLevel.exec(line)?.[1];
  return level === undefined ? line.trim() !== "" : Number(level) >= 40;
}

/** Resolves when the server logs that it is serving; rejects if it exits first. */
function waitUntilServing(child: ChildProcess, problems: string[]): Promise<void> {
  const lines = createInterface({ input: child.stdout! });
  createInterface({ input: child.stderr! }).on("line", (line) => problems.length < keptLogLines && problems.push(line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
    child.once("exit", (code) => reject(new Error(`the server exited with ${code} before serving: ${problems.join("\n")}`)));
    // After start-up every line is still read (a full pipe would stall the server), and
    // only problems are kept.
    lines.on("line", (line) => {
      if (line.includes("Runline is serving")) {
        clearTimeout(timer);
        resolve();
      } else if (isProblem(line) && problems.length < keptLogLines) problems.push(line);
    });
  });
}

/** Starts `src/main.ts` on a free loopback port and waits until it serves. */
export async function startRunlineProcess(options: RunlineProcessOptions): Promise<RunlineProcess> {
  const port = await freePort();
  const profiling = options.cpuProfileDirectory === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDirectory}`];
  // Node with tsx's loader, rather than the tsx CLI, so the server is one process:
  // signals reach it directly and --cpu-prof profiles the server and nothing else.
  const child = spawn(process.execPath, [...profiling, "--import", "tsx", path.join("src", "main.ts")], {
    cwd: options.repositoryRoot,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: options.databaseUrl,
      RUNLINE_ROOT_KEY: options.rootKey,
      RUNLINE_DB_POOL_SIZE: String(options.poolSize),
      // "info": the start-up line needs it, and deployments run at it (a line per call).
      LOG_LEVEL: "info",
      // The demo executor serves its own tenant only; off, so the server does bench work alone.
      RUNLINE_DEMO_WORKER: "0",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const problems: string[] = [];
  const exited = once(child, "exit");
  let stopping = false;
  let unexpected: string | undefined;
  child.once("exit", (code, signal) => {
    if (!stopping) unexpected = signal === null ? `exit code ${code}` : `signal ${signal}`;
  });
  // Should the bench die first (an uncaught error, Ctrl-C), the server must not outlive it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stop = async () => {
    stopping = true;
    process.off("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(killer);
  };
  try {
    await waitUntilServing(child, problems);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, problems, unexpectedExit: () => unexpected, stop };
}

/** Sends `key` as the bearer token on every call. */
export function bearer(key: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
}

/** Connect binary over h2c with the SDK's socket options (Nagle's algorithm off): one HTTP/2 connection. */
export function h2Transport(baseUrl: string, interceptors: Interceptor[]): Transport {
  return createConnectTransport({
    baseUrl,
    httpVersion: "2",
    useBinaryFormat: true,
    nodeOptions: workerSessionOptions(baseUrl),
    interceptors,
  });
}

/** A client over h2Transport: every caller's calls share its connection. */
export function clientOf<S extends Parameters<typeof createClient>[0]>(service: S, baseUrl: string, key: string): Client<S> {
  return createClient(service, h2Transport(baseUrl, [bearer(key)])) as Client<S>;
}

/** A google.protobuf.Value from plain JSON. */
export const jsonValue = (json: JsonValue) => fromJson(ValueSchema, json);

/** The workflow every scenario runs: no executor is needed to create its runs. */
export const benchWorkflow = "counter";

/**
 * Makes a tenant named `slug`, an admin key and the `counter` workflow through the API,
 * as a user would, and returns the key. Each scenario group has a tenant of its own, so
 * one group's runs never show up in another's queue.
 */
export async function createBenchTenant(baseUrl: string, rootKey: string, slug: string): Promise<string> {
  const admin = clientOf(AdminService, baseUrl, rootKey);
  const { tenant } = await admin.createTenant({ slug });
  const { secret } = await admin.createApiKey({ tenant: tenant!.id, scopes: [Scope.ADMIN] });
  await clientOf(WorkflowsService, baseUrl, secret).createWorkflow({
    slug: benchWorkflow,
    definition: jsonValue({ kind: "counter" }),
    inputSchema: jsonValue({ type: "object", properties: { n: { type: "integer" } }, required: ["n"] }),
  });
  return secret;
}

/** The Runline operations the scenarios drive. */
export interface RunlineClient {
  readonly createRun: Operation;
  readonly ingestEvents: Operation;
}

/** Makes the `bench` tenant and one run per caller, and returns the scenarios' operations. */
export async function connectRunline(
  baseUrl: string,
  rootKey: string,
  callers: number,
  events: readonly { type: string; data: JsonValue }[],
): Promise<RunlineClient> {
  const secret = await createBenchTenant(baseUrl, rootKey, "bench");
  const runs = clientOf(RunsService, baseUrl, secret);
  const runIds: string[] = [];
  for (let caller = 0; caller < callers; caller++)
    runIds.push((await runs.createRun({ workflow: benchWorkflow, input: jsonValue({ n: caller }) })).run!.id);
  const batch = events.map((event) => ({ type: event.type, data: jsonValue(event.data) }));
  let created = 0;
  return {
    createRun: async () => {
      await runs.createRun({ workflow: benchWorkflow, input: jsonValue({ n: created++ }) });
      return 1;
    },
    ingestEvents: async (caller) => (await runs.ingestRunEvents({ runId: runIds[caller]!, events: batch })).events.length,
  };
}
