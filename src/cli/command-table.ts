/**
 * Every `runline` command, in the order the help lists them, and the lookup from the
 * words of a command line to the command they name.
 */
import { UsageError } from "./cli-errors.js";
import type { Command } from "./command.js";
import { createKeyCommand, listKeysCommand, revokeKeyCommand } from "./commands/key-commands.js";
import { cancelRunCommand, createRunCommand, getRunCommand, listRunsCommand, resumeRunCommand } from "./commands/run-commands.js";
import { runOutputCommand } from "./commands/run-output-command.js";
import { watchRunCommand } from "./commands/run-watch-command.js";
import { migrateCommand, serveCommand } from "./commands/server-commands.js";
import { createTenantCommand } from "./commands/tenant-commands.js";
import { workerCommand } from "./commands/worker-command.js";
import { createWorkflowCommand, listWorkflowsCommand } from "./commands/workflow-commands.js";

/** All commands. */
export const commands: readonly Command[] = [
  serveCommand,
  migrateCommand,
  workerCommand,
  createWorkflowCommand,
  listWorkflowsCommand,
  createRunCommand,
  getRunCommand,
  listRunsCommand,
  watchRunCommand,
  cancelRunCommand,
  resumeRunCommand,
  runOutputCommand,
  createKeyCommand,
  listKeysCommand,
  revokeKeyCommand,
  createTenantCommand,
];

/** What the first words of a command line name. */
export type Lookup =
  | { readonly kind: "command"; readonly command: Command; readonly rest: readonly string[] }
  /** A group (`runs`) without a known subcommand: `rest` is what followed it. */
  | { readonly kind: "group"; readonly group: string; readonly commands: readonly Command[]; readonly rest: readonly string[] };

/** Finds the command `words` start with; a UsageError for a word that names nothing. */
export function lookUpCommand(words: readonly string[]): Lookup {
  const [first = "", second] = words;
  const single = commands.find((command) => command.path.length === 1 && command.path[0] === first);
  if (single !== undefined) return { kind: "command", command: single, rest: words.slice(1) };
  const group = commands.filter((command) => command.path.length === 2 && command.path[0] === first);
  if (group.length === 0) throw new UsageError(`unknown command "${first}"`, "runline <command> [arguments] [options]  (runline --help lists them)");
  const command = group.find((candidate) => candidate.path[1] === second);
  if (command !== undefined) return { kind: "command", command, rest: words.slice(2) };
  if (second !== undefined && !second.startsWith("-")) {
    throw new UsageError(`unknown command "${first} ${second}"`, `runline ${first} <${group.map((c) => c.path[1]).join("|")}> …  (runline ${first} --help)`);
  }
  return { kind: "group", group: first, commands: group, rest: words.slice(1) };
}
