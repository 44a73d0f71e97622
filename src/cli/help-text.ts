/**
 * The `--help` texts: the command list, a group's commands (`runline runs --help`) and
 * one command's options, all rendered from the command table so they cannot go stale.
 */
import type { Command, OptionSpec } from "./command.js";
import { optionsOf, usageLine } from "./command-line.js";
import { exitCodeHelp } from "./exit-codes.js";

function commandName(command: Command): string {
  return [...command.path, ...command.positionals.map((name) => `<${name}>`)].join(" ");
}

function commandList(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => commandName(command).length));
  return commands.map((command) => `  ${commandName(command).padEnd(width)}  ${command.summary}`).join("\n");
}

function optionLabel(option: OptionSpec): string {
  return `--${option.name}${option.value === undefined ? "" : ` ${option.value}`}`;
}

/** `runline --help`: every command and the exit codes. */
export function programHelp(commands: readonly Command[]): string {
  return `runline: start, follow and manage runs on a Runline server

usage: runline <command> [arguments] [options]

commands:
${commandList(commands)}

Commands that call a server take --server <url> ($RUNLINE_SERVER, default http://localhost:8080),
--key <api-key> ($RUNLINE_API_KEY; admin commands try $RUNLINE_ROOT_KEY first) and --json.
Run 'runline <command> --help' for a command's options.

${exitCodeHelp}
`;
}

/** `runline runs --help`: the commands of one group. */
export function groupHelp(group: string, commands: readonly Command[]): string {
  return `usage: runline ${group} <command> [arguments] [options]

commands:
${commandList(commands)}

Run 'runline ${group} <command> --help' for a command's options.
`;
}

/** `runline runs create --help`. */
export function commandHelp(command: Command): string {
  const options = optionsOf(command);
  const width = Math.max(...options.map((option) => optionLabel(option).length));
  const lines = options.map((option) => `  ${optionLabel(option).padEnd(width)}  ${option.help}${option.multiple === true ? " (repeatable)" : ""}`);
  return `usage: ${usageLine(command)}

${command.summary}

options:
${lines.join("\n")}
${command.notes === undefined ? "" : `\n${command.notes}\n`}`;
}
