/**
 * `npm start` as an operator runs it (`node --import tsx src/main.ts`, configured by the
 * environment alone), with stdout and stderr in one pipe as a terminal shows them, so
 * tests can read what a start prints, in order, and how it exits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { afterAll } from "vitest";

const repository = path.resolve(import.meta.dirname, "../..");

/** A started `src/main.ts` process. */
export interface MainProcess {
  readonly child: ChildProcess;
  /** Everything printed so far, stdout and stderr interleaved as written. */
  output(): string;
  /** Resolves once the output matches `pattern`; rejects if the process exits first or `timeoutMs` passes. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** The exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 15 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** How a start that ended went. */
export interface StartOutcome {
  readonly exitCode: number | null;
  readonly output: string;
  readonly durationMs: number;
}

const running = new Set<MainProcess>();
afterAll(() => Promise.all([...running].map((main) => main.stop())));

/**
 * Spawns src/main.ts with only PATH, HOME and `env` (the test's own environment does not
 * leak in). Pass RUNLINE_DATA_DIR or DATABASE_URL: the default data folder is the
 * repository's own `.runline`.
 */
export function spawnMain(env: Record<string, string>): MainProcess {
  const child = spawn("/bin/sh", ["-c", `exec "${process.execPath}" --import tsx src/main.ts 2>&1`], {
    cwd: repository,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "ignore"],
  });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  const main: MainProcess = {
    child,
    output: () => output,
    exited,
    async waitFor(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let ended = false;
      void exited.then(() => (ended = true));
      while (!pattern.test(output)) {
        if (ended) throw new Error(`exited before printing ${String(pattern)}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`no ${String(pattern)} within ${timeoutMs} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
  running.add(main);
  void exited.then(() => running.delete(main));
  return main;
}

/** Starts src/main.ts and waits for it to exit by itself (killed after `timeoutMs`, exit code null). */
export async function attemptStart(env: Record<string, string>, timeoutMs = 30_000): Promise<StartOutcome> {
  const started = performance.now();
  const main = spawnMain(env);
  const timer = setTimeout(() => main.child.kill("SIGKILL"), timeoutMs);
  const exitCode = await main.exited;
  clearTimeout(timer);
  return { exitCode, output: main.output(), durationMs: Math.round(performance.now() - started) };
}
