/**
 * Stops a long-running command (`serve`, `worker`) that npm started when npm itself is
 * told to stop. `npx runline serve` (like `npm exec` and npm scripts) runs
 * `sh -c "runline serve"` and forwards SIGTERM and SIGINT to that shell only. Debian's
 * dash does not exec its last command: it stays our parent, dies of the SIGTERM, npm
 * exits, and the server, never signalled, would keep listening as an orphan (measured:
 * `kill -TERM <npx pid>` left it serving). The shell's death is the only trace of the
 * signal that reaches us, so we take it as the SIGTERM it was and stop gracefully.
 *
 * Not covered: a SIGINT sent to npm's pid alone. Dash waits for its child then, so
 * nothing dies and nothing reaches us; Ctrl-C in a terminal signals the whole process
 * group, this process included, and is handled as usual.
 */

/** How often the parent is checked: a getppid(2) call, so the cost is nothing. */
const checkEveryMs = 250;

/**
 * When npm started this process (it sets `npm_lifecycle_event`: `npx` for npx and npm
 * exec, the script's name for npm run), sends this process SIGTERM once its parent has
 * gone. Only once the command listens for SIGTERM: before that (a server still starting)
 * the default action would kill it mid-way, so the check waits for it.
 */
export function stopWhenNpmShellEnds(): void {
  if (process.env.npm_lifecycle_event === undefined) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent || process.listenerCount("SIGTERM") === 0) return;
    clearInterval(timer);
    process.kill(process.pid, "SIGTERM");
  }, checkEveryMs);
  // The check never keeps the process alive by itself.
  timer.unref();
}
