/**
 * Runline as operators scale it out: several replica processes on one Postgres behind a
 * real HAProxy (Debian's `haproxy`, no container), HTTP/1.1 and h2c to clients on one
 * port, HTTP/2 to the replicas. The harness writes the configuration (haproxy-config.ts),
 * starts everything, and stops everything itself; should its process die first, a reaper
 * (orphan-reaper.ts) kills what it started. Free of vitest, so the bench can build on it;
 * tests register `cluster.stop()` in a top-level `afterAll`.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as net from "node:net";
import os from "node:os";
import path from "node:path";
import { startReplica, type ClusterReplica, type ReplicaOptions } from "./cluster-replica.js";
import { freePort } from "./free-port.js";
import { haproxyConfig, type HaproxyConfigOptions } from "./haproxy-config.js";
import { startReaper, type Reaper } from "./orphan-reaper.js";

/** How to start a cluster; only the database and the root key are required. */
export interface HaproxyClusterOptions extends Pick<ReplicaOptions, "databaseUrl" | "rootKey" | "logLevel" | "poolSize" | "env"> {
  /** How many replicas. Default: 3. */
  readonly replicas?: number;
  /** HAProxy settings (haproxy-config.ts documents each and its default). */
  readonly balancer?: Omit<HaproxyConfigOptions, "frontendPort" | "replicas" | "adminSocket">;
}

/** A running cluster. */
export interface HaproxyCluster {
  /** `http://127.0.0.1:<port>`: the balancer, for every protocol. */
  readonly url: string;
  /** The replicas now, in HAProxy's order (a restarted one replaces the one it restarts). */
  readonly replicas: readonly ClusterReplica[];
  /** The configuration HAProxy runs with. */
  readonly config: string;
  /** The replica HAProxy calls `name` (what `x-runline-replica` says). */
  replicaNamed(name: string): ClusterReplica;
  /** Each replica's state as HAProxy sees it now (`UP`, `DOWN`, `UP 1/2` …), from the runtime API. */
  serverStates(): Promise<ReadonlyMap<string, string>>;
  /**
   * What a supervisor does after a crash: kills the replica `name` if it still runs, starts
   * a new process on its port, and resolves once HAProxy's health checks see it UP again.
   */
  restartReplica(name: string): Promise<ClusterReplica>;
  /** Stops HAProxy and every replica still running, and removes the cluster's files. */
  stop(): Promise<void>;
}

/** Where Debian puts `haproxy` (root's PATH has it, other users' may not). */
const sbinFolders = ["/usr/sbin", "/usr/local/sbin", "/sbin"];

/** The `haproxy` executable on PATH or in the sbin folders, or undefined when it is not installed. */
export function findHaproxy(): string | undefined {
  const folders = [...(process.env.PATH ?? "").split(path.delimiter), ...sbinFolders].filter((folder) => folder !== "");
  for (const folder of folders) {
    const candidate = path.join(folder, "haproxy");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; the next folder
    }
  }
  return undefined;
}

/** Sends one command to HAProxy's runtime API on `socketPath` and returns its whole answer. */
async function runtimeCommand(socketPath: string, command: string): Promise<string> {
  const socket = net.createConnection(socketPath);
  let answer = "";
  socket.setEncoding("utf8").on("data", (chunk: string) => (answer += chunk));
  await once(socket, "connect");
  socket.end(`${command}\n`);
  await once(socket, "close");
  return answer;
}

/** The rows of `show stat` for the servers of the `replicas` backend, each as column name → value. */
function replicaRows(showStat: string): Map<string, Record<string, string>> {
  const [header = "", ...rows] = showStat.split("\n");
  const columns = header.replace(/^# /, "").split(",");
  const servers = new Map<string, Record<string, string>>();
  for (const row of rows) {
    const fields = Object.fromEntries(row.split(",").map((value, index) => [columns[index], value]));
    if (fields.pxname === "replicas" && fields.svname !== "BACKEND") servers.set(fields.svname!, fields);
  }
  return servers;
}

/** The `status` column of `show stat` for each server of the `replicas` backend. */
function replicaStates(showStat: string): Map<string, string> {
  return new Map([...replicaRows(showStat)].map(([name, fields]) => [name, fields.status ?? ""]));
}

/** Each replica's state with its last health check's outcome, for error messages. */
function describeChecks(showStat: string): string {
  return [...replicaRows(showStat)]
    .map(([name, fields]) => `${name} ${fields.status} (${fields.check_status} ${fields.last_chk})`)
    .join("; ");
}

/** The settings of the replica `name` (undefined options left out: exactOptionalPropertyTypes). */
function replicaOptions(options: HaproxyClusterOptions, reaper: Reaper, name: string, port?: number): ReplicaOptions {
  const { databaseUrl, rootKey, logLevel, poolSize, env } = options;
  return {
    name,
    databaseUrl,
    rootKey,
    reaper,
    ...(logLevel === undefined ? {} : { logLevel }),
    ...(poolSize === undefined ? {} : { poolSize }),
    ...(env === undefined ? {} : { env }),
    ...(port === undefined ? {} : { port }),
  };
}

/** Starts every replica at once; should one fail, stops the others and throws its error. */
async function startReplicas(options: HaproxyClusterOptions, reaper: Reaper): Promise<ClusterReplica[]> {
  const count = options.replicas ?? 3;
  const settled = await Promise.allSettled(
    Array.from({ length: count }, (_, index) => startReplica(replicaOptions(options, reaper, `r${index + 1}`))),
  );
  const started = settled.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failed = settled.find((result) => result.status === "rejected");
  if (failed === undefined) return started;
  await Promise.all(started.map((replica) => replica.kill()));
  throw failed.reason;
}

/** Starts HAProxy on `configFile` and resolves once its runtime API shows every replica UP. */
async function startBalancer(binary: string, configFile: string, socketPath: string, replicaCount: number, reaper: Reaper) {
  // -db: stay in the foreground, so the child is HAProxy itself and its alerts reach stderr.
  const child = spawn(binary, ["-db", "-f", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let output = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  reaper.watch(child.pid!);
  const exited = once(child, "exit");
  let running = true;
  void exited.then(() => {
    running = false;
    reaper.forget(child.pid!);
  });
  const stop = async () => {
    if (!running) return;
    // SIGTERM is HAProxy's hard stop: open streams end now instead of draining for an hour.
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(killer);
  };
  try {
    await waitUntilAllUp(socketPath, replicaCount, 20_000, () => (running ? undefined : `haproxy exited at start: ${output}`));
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

/** Polls the runtime API until `count` replicas are UP; fails after `ms`, or as soon as `failure()` names one. */
async function waitUntilAllUp(socketPath: string, count: number, ms: number, failure: () => string | undefined = () => undefined) {
  const deadline = Date.now() + ms;
  for (;;) {
    const failed = failure();
    if (failed !== undefined) throw new Error(failed);
    const showStat = await runtimeCommand(socketPath, "show stat").catch(() => "");
    const states = replicaStates(showStat);
    if (states.size === count && [...states.values()].every((state) => state === "UP")) return;
    if (Date.now() > deadline) throw new Error(`haproxy did not see every replica UP within ${ms} ms: ${describeChecks(showStat)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts `options.replicas` (3) Runline processes on `options.databaseUrl` and HAProxy in
 * front of them on a free loopback port. Throws when `haproxy` is not installed (see
 * findHaproxy) or anything fails to start, having stopped what it started.
 */
export async function startHaproxyCluster(options: HaproxyClusterOptions): Promise<HaproxyCluster> {
  const binary = findHaproxy();
  if (binary === undefined) throw new Error("haproxy is not installed (Debian: apt-get install haproxy)");
  const folder = await mkdtemp(path.join(os.tmpdir(), "runline-haproxy-"));
  const socketPath = path.join(folder, "admin.sock");
  const reaper = startReaper();
  let replicas: ClusterReplica[] = [];
  try {
    replicas = await startReplicas(options, reaper);
    const frontendPort = await freePort();
    const config = haproxyConfig({
      ...options.balancer,
      frontendPort,
      adminSocket: socketPath,
      replicas: replicas.map((replica) => ({ name: replica.name, host: "127.0.0.1", port: replica.port })),
    });
    const configFile = path.join(folder, "haproxy.cfg");
    await writeFile(configFile, config);
    const balancer = await startBalancer(binary, configFile, socketPath, replicas.length, reaper);
    const replicaNamed = (name: string) => {
      const found = replicas.find((replica) => replica.name === name);
      if (found === undefined) throw new Error(`no replica named ${JSON.stringify(name)}`);
      return found;
    };
    const waitForAll = (ms = 20_000) => waitUntilAllUp(socketPath, replicas.length, ms);
    return {
      url: `http://127.0.0.1:${frontendPort}`,
      get replicas() {
        return replicas;
      },
      config,
      replicaNamed,
      serverStates: async () => replicaStates(await runtimeCommand(socketPath, "show stat")),
      async restartReplica(name) {
        const old = replicaNamed(name);
        await old.kill();
        const fresh = await startReplica(replicaOptions(options, reaper, name, old.port));
        replicas = replicas.map((replica) => (replica === old ? fresh : replica));
        await waitForAll();
        return fresh;
      },
      async stop() {
        await balancer.stop();
        await Promise.all(replicas.map((replica) => replica.stop()));
        reaper.release();
        await rm(folder, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(replicas.map((replica) => replica.kill()));
    reaper.release();
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
}
