/**
 * The `--help` texts: the command list, a group's commands (`runline runs --help`) and
 * one command's options. commander parses the command line; these texts are rendered
 * from its metadata (the commands, their arguments and options), so they cannot go
 * stale, in the layout the CLI has always printed rather than commander's own.
 */
import type { Command as CommanderCommand, Help } from "commander";
import { exitCodeHelp } from "./exit-codes.js";

/** The words that select `command`, without the program's name (`["runs", "get"]`). */
export function wordsOf(command: CommanderCommand): string[] {
  const words: string[] = [];
  for (let current = command; current.parent !== null; current = current.parent) words.unshift(current.name());
  return words;
}

function positionalsOf(command: CommanderCommand): string[] {
  return command.registeredArguments.map((argument) => `<${argument.name()}>`);
}

/** `runline runs get <run-id> [options]`. */
export function usageLine(command: CommanderCommand): string {
  return ["runline", ...wordsOf(command), ...positionalsOf(command), "[options]"].join(" ");
}

/** `runline runs <create|get|…> …  (runline runs --help)`: what a group expects after its name. */
export function groupUsageLine(group: CommanderCommand): string {
  const name = wordsOf(group).join(" ");
  return `runline ${name} <${group.commands.map((command) => command.name()).join("|")}> …  (runline ${name} --help)`;
}

/** The program's usage line, shown under an unknown command. */
export const programUsageLine = "runline <command> [arguments] [options]  (runline --help lists them)";

/** The commands that do something (not groups), in the order they were added. */
function leavesOf(command: CommanderCommand): CommanderCommand[] {
  return command.commands.flatMap((sub) => (sub.commands.length === 0 ? [sub] : leavesOf(sub)));
}

function commandList(commands: readonly CommanderCommand[]): string {
  const names = commands.map((command) => [...wordsOf(command), ...positionalsOf(command)].join(" "));
  const width = Math.max(...names.map((name) => name.length));
  return commands.map((command, index) => `  ${names[index]!.padEnd(width)}  ${command.summary()}`).join("\n");
}

/** `runline --help`: every command and the exit codes. */
function programHelp(program: CommanderCommand): string {
  return `runline: start, follow and manage runs on a Runline server

usage: runline <command> [arguments] [options]

commands:
${commandList(leavesOf(program))}

Commands that call a server take --server <url> ($RUNLINE_SERVER, default http://localhost:8080),
--key <api-key> ($RUNLINE_API_KEY; admin commands try $RUNLINE_ROOT_KEY first) and --json.
Run 'runline <command> --help' for a command's options.

${exitCodeHelp}
`;
}

/** `runline runs --help`: the commands of one group. */
function groupHelp(group: CommanderCommand): string {
  const name = wordsOf(group).join(" ");
  return `usage: runline ${name} <command> [arguments] [options]

commands:
${commandList(group.commands)}

Run 'runline ${name} <command> --help' for a command's options.
`;
}

/** `runline runs create --help`, up to its options (the notes follow as commander's after-help text). */
function commandHelp(command: CommanderCommand, helper: Help): string {
  const options = helper.visibleOptions(command);
  const width = Math.max(...options.map((option) => option.flags.length));
  const lines = options.map((option) => `  ${option.flags.padEnd(width)}  ${option.description}`);
  return `usage: ${usageLine(command)}

${command.summary()}

options:
${lines.join("\n")}
`;
}

/** The help of any command of the program: commander's `formatHelp`, replaced. */
export function formatHelp(command: CommanderCommand, helper: Help): string {
  if (command.parent === null) return programHelp(command);
  if (command.commands.length > 0) return groupHelp(command);
  return commandHelp(command, helper);
}
