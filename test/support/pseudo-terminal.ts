/**
 * The `runline` binary in a real pseudo-terminal of a chosen size, through util-linux
 * `script` (no native module): `stty cols N` sizes the terminal, so process.stdout.isTTY
 * and .columns are what a person's terminal gives. What the program wrote to the
 * terminal comes back byte for byte (the terminal turns "\n" into "\r\n"); stdout and
 * stderr share the terminal, as they do on a screen.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const binary = fileURLToPath(new URL("../../bin/runline.js", import.meta.url));

/** A command running in a terminal. */
export interface TerminalRun {
  /** Everything written to the terminal so far. */
  output(): string;
  /** Resolves once the output matches `pattern` (rejects if the command ends first). */
  waitForOutput(pattern: RegExp): Promise<void>;
  /** The command's exit code (script -e passes it on) and the whole output. */
  readonly exited: Promise<{ readonly code: number | null; readonly output: string }>;
  /** Ends the command now (cleanup of a failed test). */
  kill(): void;
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Runs `runline …args` in a terminal `columns` wide, with colours on (TERM=xterm-256color) and `env` added. */
export function startInTerminal(args: readonly string[], env: Record<string, string>, columns: number): TerminalRun {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("RUNLINE_") && !["NO_COLOR", "FORCE_COLOR", "COLUMNS"].includes(name)),
  );
  const command = `stty cols ${columns} rows 60 && exec ${[process.execPath, binary, ...args].map(shellQuote).join(" ")}`;
  const child = spawn("script", ["--quiet", "--flush", "--return", "--command", command, "/dev/null"], {
    env: { ...inherited, TERM: "xterm-256color", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  const listeners = new Set<() => void>();
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
    for (const listener of listeners) listener();
  });
  const exited = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
  return {
    output: () => output,
    exited,
    kill: () => void child.kill("SIGKILL"),
    waitForOutput: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output)) return;
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
        check();
        void exited.then(() => reject(new Error(`runline exited before printing ${pattern}: ${JSON.stringify(output)}`)));
      }),
  };
}
