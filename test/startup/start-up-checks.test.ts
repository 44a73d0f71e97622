/**
 * `npm start` fails early and clearly: what can be checked before anything starts (the
 * configuration, the TLS files, the port, the database, the data folder) is checked
 * first. A failed start prints one line naming the variable, no stack trace, and exits
 * 2 (3 when the database cannot be used), in seconds, before an embedded cluster is
 * initialised or a root key made. Each case runs the real entry point in its own process.
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";
import { attemptStart, spawnMain, type StartOutcome } from "../support/start-attempt.js";
import { createTestDatabase } from "../support/test-database.js";
import { createSelfSignedCertificate } from "../support/tls-certificate.js";

const folders: string[] = [];
afterAll(() => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));

/** A new folder Postgres (running as its own user under root) can enter. */
async function scratchFolder(): Promise<string> {
  const folder = await mkdtemp(path.join(os.tmpdir(), "runline-start-"));
  await chmod(folder, 0o755);
  folders.push(folder);
  return folder;
}

/** A start on a free loopback port with a data folder that does not exist yet. */
async function startEnvironment(): Promise<{ env: Record<string, string>; dataDir: string }> {
  const dataDir = path.join(await scratchFolder(), "data");
  const env = { HOST: "127.0.0.1", PORT: String(await freePort()), RUNLINE_DATA_DIR: dataDir, RUNLINE_DEMO_WORKER: "0" };
  return { env, dataDir };
}

/** One line matching `line`, no stack trace, `exitCode`, within a bound far above the ~2 s measured. */
function expectRefused(outcome: StartOutcome, exitCode: number, line: RegExp): void {
  expect(outcome.exitCode, outcome.output).toBe(exitCode);
  const lines = outcome.output.trimEnd().split("\n");
  expect(lines, outcome.output).toHaveLength(1);
  expect(lines[0]).toMatch(line);
  expect(outcome.output).not.toMatch(/^\s+at /m);
  expect(outcome.durationMs).toBeLessThan(20_000);
}

describe("a start that cannot succeed is refused before anything starts", () => {
  it("LOG_LEVEL=loud: the value echoed, the levels listed, exit 2, no data folder made", async () => {
    const { env, dataDir } = await startEnvironment();
    const outcome = await attemptStart({ ...env, LOG_LEVEL: "loud" });
    expectRefused(
      outcome,
      2,
      /^runline: bad configuration: LOG_LEVEL: "loud" is not a level; expected one of fatal, error, warn, info, debug, trace, silent$/,
    );
    expect(existsSync(dataDir)).toBe(false);
  });

  it("RUNLINE_DEMO_WORKER=maybe: the value echoed, what is accepted listed, exit 2", async () => {
    const { env, dataDir } = await startEnvironment();
    const outcome = await attemptStart({ ...env, RUNLINE_DEMO_WORKER: "maybe" });
    expectRefused(
      outcome,
      2,
      /^runline: bad configuration: RUNLINE_DEMO_WORKER: "maybe" is neither on nor off; expected 1, true, on, yes \(on\) or 0, false, off, no \(off\)$/,
    );
    expect(existsSync(dataDir)).toBe(false);
  });

  it("a TLS file that does not exist is named, with its path", async () => {
    const { env, dataDir } = await startEnvironment();
    const folder = await scratchFolder();
    const { key } = createSelfSignedCertificate();
    await writeFile(path.join(folder, "key.pem"), key);
    const certFile = path.join(folder, "missing-cert.pem");
    const outcome = await attemptStart({ ...env, TLS_CERT_FILE: certFile, TLS_KEY_FILE: path.join(folder, "key.pem") });
    expectRefused(outcome, 2, new RegExp(`^runline: cannot start: TLS_CERT_FILE: ${certFile} does not exist$`));
    expect(existsSync(dataDir)).toBe(false);
  });

  it("a TLS key that is not the certificate's is named", async () => {
    const { env } = await startEnvironment();
    const folder = await scratchFolder();
    await writeFile(path.join(folder, "cert.pem"), createSelfSignedCertificate().cert);
    await writeFile(path.join(folder, "other-key.pem"), createSelfSignedCertificate().key);
    const outcome = await attemptStart({
      ...env,
      TLS_CERT_FILE: path.join(folder, "cert.pem"),
      TLS_KEY_FILE: path.join(folder, "other-key.pem"),
    });
    expectRefused(outcome, 2, /^runline: cannot start: TLS_KEY_FILE: \S+other-key\.pem is not the key of the certificate in \S+cert\.pem/);
  });

  it("a port in use is named, with the port and the interface", async () => {
    const { env, dataDir } = await startEnvironment();
    const holder = net.createServer().listen(Number(env.PORT), "127.0.0.1");
    await once(holder, "listening");
    try {
      const outcome = await attemptStart(env);
      expectRefused(outcome, 2, new RegExp(`^runline: cannot start: PORT: ${env.PORT} is already in use on 127\\.0\\.0\\.1`));
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      holder.close();
    }
  });

  it.runIf(process.getuid?.() === 0)("as root, a data folder the postgres user cannot enter is named, with its mode", async () => {
    const locked = await mkdtemp(path.join(os.tmpdir(), "runline-start-"));
    folders.push(locked);
    const { env } = await startEnvironment();
    const outcome = await attemptStart({ ...env, RUNLINE_DATA_DIR: path.join(locked, "data") });
    expectRefused(
      outcome,
      2,
      new RegExp(`^runline: cannot start: RUNLINE_DATA_DIR: .*cannot enter ${locked} \\(mode 700\\); chmod 755 it`),
    );
    expect(existsSync(path.join(locked, "data"))).toBe(false);
  });

  it("a HOST that is not an address of this machine is named", async () => {
    const { env, dataDir } = await startEnvironment();
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): documentation only, never a machine's address.
    const outcome = await attemptStart({ ...env, HOST: "192.0.2.1" });
    expectRefused(outcome, 2, /^runline: cannot start: HOST: 192\.0\.2\.1 is not an address of this machine$/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it("a DATABASE_URL that does not parse is named and not echoed (it may hold a password)", async () => {
    const { env } = await startEnvironment();
    const outcome = await attemptStart({ ...env, DATABASE_URL: "postgres://runline:s3cret@db:notaport/runline" });
    expectRefused(outcome, 2, /^runline: bad configuration: DATABASE_URL: not a URL Runline can use/);
    expect(outcome.output).not.toContain("s3cret");
  });

  it("a database nobody answers for: DATABASE_URL named, where, and exit 3", async () => {
    const { env } = await startEnvironment();
    const port = await freePort();
    const outcome = await attemptStart({ ...env, DATABASE_URL: `postgres://runline:s3cret@127.0.0.1:${port}/runline` });
    expectRefused(
      outcome,
      3,
      new RegExp(`^runline: cannot start: DATABASE_URL: cannot use runline@127\\.0\\.0\\.1:${port}/runline: connection refused`),
    );
    expect(outcome.output).not.toContain("s3cret");
  });

  it("a database that refuses the login: Postgres's reason and SQLSTATE, no password, exit 3", async () => {
    const { env } = await startEnvironment();
    const url = new URL(await createTestDatabase());
    url.password = "not-the-password";
    const outcome = await attemptStart({ ...env, DATABASE_URL: url.toString() });
    expectRefused(
      outcome,
      3,
      /^runline: cannot start: DATABASE_URL: cannot use postgres@127\.0\.0\.1:\d+\/test_\w+: .*password.* \(SQLSTATE 28P01\)$/,
    );
    expect(outcome.output).not.toContain("not-the-password");
  });
});

/** The pid of a process that has exited (its pid is free, unless reused since). */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ["-e", ""]);
  return pid!;
}

describe("the data folder is one Runline's", () => {
  it("a second start on a folder in use names the pid holding it and exits 2; the first keeps serving", async () => {
    const { env, dataDir } = await startEnvironment();
    const first = spawnMain(env);
    await first.waitFor(/Runline is serving/, 60_000);
    const lock = JSON.parse(await readFile(path.join(dataDir, "runline.lock"), "utf8")) as { pid: number };
    expect(lock.pid).toBe(first.child.pid);
    const second = await attemptStart({ ...env, PORT: String(await freePort()) });
    expectRefused(
      second,
      2,
      new RegExp(`^runline: cannot start: RUNLINE_DATA_DIR: ${dataDir} is in use by another Runline \\(pid ${first.child.pid}\\)`),
    );
    expect(second.output).not.toContain("undefined");
    const health = await fetch(`http://127.0.0.1:${env.PORT}/healthz`);
    expect(health.status).toBe(200);
    expect(await first.stop()).toBe(0);
    expect(existsSync(path.join(dataDir, "runline.lock"))).toBe(false);
  });

  it("prints a new root key once, framed, after the server's own start-up lines", async () => {
    const { env, dataDir } = await startEnvironment();
    const first = spawnMain(env);
    await first.waitFor(/={72}\n\n/, 60_000);
    const output = first.output();
    const serving = output.indexOf("Runline is serving");
    const frame = /\n={72}\n {2}Runline root key, shown this once[^\n]*\n\n {4}(rl_[\w-]+)\n[\s\S]*?\n={72}\n/.exec(output);
    expect(frame, output).not.toBeNull();
    expect(serving).toBeGreaterThan(-1);
    expect(frame!.index).toBeGreaterThan(serving);
    expect(await readFile(path.join(dataDir, "root-key.sha256"), "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
    expect(await first.stop()).toBe(0);
    // Once: the next start finds the hash and prints no key.
    const again = spawnMain({ ...env, PORT: String(await freePort()) });
    await again.waitFor(/Runline is serving/, 60_000);
    expect(again.output()).not.toMatch(/rl_[\w-]{20,}/);
    expect(await again.stop()).toBe(0);
  });

  it("a lock left by a process that died is taken over, and so is one whose pid now names another process", async () => {
    const { env, dataDir } = await startEnvironment();
    const lockFile = path.join(dataDir, "runline.lock");
    // Another process alive under the recorded pid, but not the one that took the lock: its start time differs.
    const sleeper = spawn("sleep", ["60"]);
    try {
      for (const stale of [
        { pid: deadPid(), host: os.hostname() },
        { pid: sleeper.pid!, host: os.hostname(), startTicks: "1" },
      ]) {
        await mkdir(dataDir, { recursive: true });
        await writeFile(lockFile, JSON.stringify(stale) + "\n");
        const started = spawnMain(env);
        await started.waitFor(/Runline is serving/, 60_000);
        expect(JSON.parse(await readFile(lockFile, "utf8"))).toMatchObject({ pid: started.child.pid, host: os.hostname() });
        expect(await started.stop()).toBe(0);
      }
    } finally {
      sleeper.kill();
    }
  });
});
