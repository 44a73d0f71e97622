/**
 * A guard against orphans: a tiny process that SIGKILLs the processes it was told of as
 * soon as its parent is gone, however the parent went. An `exit` hook is not enough: a
 * vitest worker ends by a signal without running it, and nothing runs after SIGKILL.
 * The reaper reads its stdin, a pipe from the parent; the kernel closes that pipe when
 * the parent dies, and the reaper's stdin ends. Plain JavaScript, so it starts in
 * milliseconds without a loader.
 */
import { spawn } from "node:child_process";
import type { Socket } from "node:net";

/** The processes to kill should this process die first. */
export interface Reaper {
  /** Kill `pid` should this process die first. */
  watch(pid: number): void;
  /** `pid` ended or was stopped on purpose: forget it (its number may be reused). */
  forget(pid: number): void;
  /** Nothing left to guard: the reaper exits. */
  release(): void;
}

// One line per instruction: `+pid`, `-pid`, or `done`.
const reaperScript = `
const pids = new Set();
let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  const lines = (pending + chunk).split("\\n");
  pending = lines.pop();
  for (const line of lines) {
    if (line === "done") process.exit(0);
    if (line.startsWith("+")) pids.add(Number(line.slice(1)));
    if (line.startsWith("-")) pids.delete(Number(line.slice(1)));
  }
});
process.stdin.on("end", () => {
  for (const pid of pids) {
    try { process.kill(pid, "SIGKILL"); } catch {}
  }
  process.exit(0);
});
`;

/** Starts a reaper; it holds neither this process's event loop nor its exit. */
export function startReaper(): Reaper {
  const child = spawn(process.execPath, ["-e", reaperScript], { stdio: ["pipe", "ignore", "ignore"] });
  child.unref();
  const input = child.stdin as Socket;
  input.unref();
  // A reaper that died (it should not) must not fail its parent with EPIPE.
  input.on("error", () => {});
  const send = (line: string) => {
    if (input.writable) input.write(`${line}\n`);
  };
  return {
    watch: (pid) => send(`+${pid}`),
    forget: (pid) => send(`-${pid}`),
    release: () => send("done"),
  };
}
