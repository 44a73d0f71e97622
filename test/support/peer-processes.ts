/**
 * Client processes that tests kill or freeze. A peer that dies for real (kill -9) or
 * stops answering (SIGSTOP) can only be a separate process: its kernel then closes its
 * sockets, or keeps them open with nobody behind them, exactly as in production.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { afterAll } from "vitest";
import { within } from "./expectations.js";

/** A running peer: its process, and the lines it printed so far. */
export interface PeerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Lines printed on stdout so far. */
  lines(): readonly string[];
  /** Resolves with the first line matching `pattern` (now or later); fails after `ms`. */
  line(pattern: RegExp, ms: number): Promise<string>;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();
afterAll(async () => {
  for (const child of running) {
    child.kill("SIGCONT");
    child.kill("SIGKILL");
  }
  await Promise.all([...running].map((child) => (child.exitCode === null && child.signalCode === null ? once(child, "exit") : undefined)));
});

/**
 * Starts `node --import tsx <script> ...args` (script relative to test/support) and waits
 * until it prints `ready`. Killed after the test file if still running.
 */
export async function startPeer(script: string, args: readonly string[], readyWithinMs = 20_000): Promise<PeerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, script), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const lines: string[] = [];
  const waiting = new Set<() => void>();
  let stderr = "";
  let buffered = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split("\n");
    buffered = complete.pop()!;
    lines.push(...complete);
    for (const wake of waiting) wake();
  });
  const line = (pattern: RegExp, ms: number) =>
    within(
      ms,
      `peer ${script} printing ${pattern}`,
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const found = lines.find((candidate) => pattern.test(candidate));
          if (found !== undefined) {
            waiting.delete(check);
            resolve(found);
          } else if (child.exitCode !== null) {
            reject(new Error(`peer ${script} exited (${child.exitCode}): ${stderr}`));
          }
        };
        waiting.add(check);
        child.once("exit", check);
        check();
      }),
    );
  const peer: PeerProcess = {
    child,
    pid: child.pid!,
    lines: () => lines,
    line,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    },
  };
  await line(/^ready$/, readyWithinMs);
  return peer;
}
