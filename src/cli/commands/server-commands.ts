/**
 * `runline serve` and `runline migrate`: the server's own entry points, reached from the
 * CLI. They import the modules `npm start` and `npm run migrate` run, so there is one
 * start-up path, configured by the environment as README.md documents.
 */
import type { Command } from "../command.js";
import { stopWhenNpmShellEnds } from "../npm-shell-watch.js";

const environmentNotes = `Configured by the environment, not flags: PORT, HOST, DATABASE_URL (unset: embedded
Postgres under RUNLINE_DATA_DIR), RUNLINE_ROOT_KEY, LOG_LEVEL, TLS_CERT_FILE/TLS_KEY_FILE,
RUNLINE_DEMO_WORKER and the others README.md lists.`;

/** `serve`. */
export const serveCommand: Command = {
  path: ["serve"],
  summary: "start the server (gRPC, gRPC-web, Connect and REST on one port); stops on SIGTERM/SIGINT",
  positionals: [],
  options: [],
  key: "none",
  notes: environmentNotes,
  async run() {
    // src/main.ts starts the server when loaded and owns the process from then on:
    // signals, graceful shutdown and the exit code (the CLI's own, as it runs in this
    // process). Under npx, npm's SIGTERM reaches us only as our parent shell's death.
    stopWhenNpmShellEnds();
    await import("../../main.js");
  },
};

/** `migrate`. */
export const migrateCommand: Command = {
  path: ["migrate"],
  summary: "apply pending database migrations and exit (the server also migrates at start)",
  positionals: [],
  options: [],
  key: "none",
  notes: environmentNotes,
  async run() {
    // The module migrates when loaded (top-level await), so the import settles when it is done.
    await import("../../db/migrate-command.js");
  },
};
