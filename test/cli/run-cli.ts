/**
 * Runs the real `runline` binary (bin/runline.js under this Node) as a child process,
 * with an environment holding only what the test gives it (no RUNLINE_* leaking in from
 * the shell) and colours off, and collects its output and exit code.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const binary = fileURLToPath(new URL("../../bin/runline.js", import.meta.url));

/** How a finished command went. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A command still running: its output so far, and its end. */
export interface RunningCli {
  readonly child: ChildProcess;
  /** stdout so far. */
  stdout(): string;
  /** Resolves once stdout matches `pattern` (rejects if the process ends first). */
  waitForOutput(pattern: RegExp): Promise<void>;
  readonly exited: Promise<CliResult>;
}

function cleanEnvironment(env: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("RUNLINE_")));
  return { ...inherited, NO_COLOR: "1", ...env };
}

/** Starts `runline …args`. */
export function startCli(args: readonly string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, [binary, ...args], { env: cleanEnvironment(env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    stdout: () => stdout,
    exited,
    waitForOutput: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(stdout)) return;
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
        check();
        void exited.then((result) =>
          reject(new Error(`runline exited (${result.code}) before printing ${pattern}: ${result.stdout}${result.stderr}`)),
        );
      }),
  };
}

/** Runs `runline …args` to the end. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).exited;
}
