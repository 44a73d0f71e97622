/**
 * The `runline` command line as a commander program, built from the command table: one
 * commander command per entry (grouped under its first word, as in `runs get`), with its
 * positionals and options, and an action that runs it. commander parses and dispatches;
 * help-text.ts renders the help from commander's metadata; commander's refusals become
 * UsageErrors carrying the usage line of the command they were for, so the error report
 * prints them like every other failure and the process exits 2.
 */
import { Command as CommanderCommand, CommanderError, Option } from "commander";
import { UsageError } from "./cli-errors.js";
import type { Arguments, Command, OptionSpec } from "./command.js";
import { commands } from "./command-table.js";
import { openConnection, type Connection } from "./connection.js";
import { exitCodes } from "./exit-codes.js";
import { formatHelp, groupUsageLine, programUsageLine, usageLine } from "./help-text.js";
import { createOutput } from "./output.js";

/** Options every command that talks to a server takes, after its own. */
const clientOptions: readonly OptionSpec[] = [
  { name: "server", type: "string", value: "<url>", help: "server base URL (default $RUNLINE_SERVER, else http://localhost:8080)" },
  { name: "key", type: "string", value: "<api-key>", help: "API key (default $RUNLINE_API_KEY)" },
  { name: "json", type: "boolean", help: "print the response as proto3 JSON" },
];

/** What a run of the command line reports back to main.ts. */
export interface CommandLineHooks {
  /** Called with the server a command connects to (named when it cannot be reached). */
  onConnect(server: string): void;
}

function commanderOption(spec: OptionSpec): Option {
  const option = new Option(`--${spec.name}${spec.value === undefined ? "" : ` ${spec.value}`}`, spec.help);
  if (spec.type === "boolean") return option;
  // commander keeps the last value of a repeated option; a repeatable one collects them all.
  if (spec.multiple === true) {
    option.description += " (repeatable)";
    option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
  }
  return option;
}

/** The first unknown option among what commander left unparsed, as parseArgs named it (`--colour`). */
function unknownFlag(command: CommanderCommand): string {
  return (command.args.find((word) => word.startsWith("-")) ?? "").split("=")[0]!;
}

/** commander's own text, without its `error: ` prefix and suggestions. */
function commanderMessage(error: CommanderError): string {
  return error.message.replace(/^error: /, "").split("\n")[0]!;
}

/** A refusal of the program itself: no command, or a word that names none. */
function programRefusal(program: CommanderCommand, error: CommanderError): Error {
  if (error.code === "commander.help") {
    // No command: the help, on stdout with exit 0 when asked for, else on stderr with exit 2.
    const asked = program.opts().help === true;
    (asked ? process.stdout : process.stderr).write(program.helpInformation());
    return new CommanderError(asked ? exitCodes.ok : exitCodes.usage, error.code, error.message);
  }
  const word = error.code === "commander.unknownOption" ? unknownFlag(program) : (program.args[0] ?? "");
  return new UsageError(`unknown command "${word}"`, programUsageLine);
}

/** A refusal of a group (`runs`) without a known command after it. */
function groupRefusal(group: CommanderCommand, error: CommanderError): Error {
  const name = group.name();
  if (error.code === "commander.help" && group.opts().help === true) {
    process.stdout.write(group.helpInformation());
    return new CommanderError(exitCodes.ok, "commander.helpDisplayed", error.message);
  }
  const messages: Record<string, () => string> = {
    "commander.help": () => `"${name}" needs a command`,
    "commander.unknownCommand": () => `unknown command "${name} ${group.args[0] ?? ""}"`,
    "commander.unknownOption": () => `unknown option "${unknownFlag(group)}"`,
  };
  return new UsageError((messages[error.code] ?? (() => commanderMessage(error)))(), groupUsageLine(group));
}

/** A refusal of a command's own line: options and positionals. */
function commandRefusal(command: CommanderCommand, error: CommanderError): Error {
  const expected = command.registeredArguments;
  const messages: Record<string, () => string> = {
    "commander.missingArgument": () => `missing <${expected[command.args.length]?.name() ?? ""}>`,
    "commander.excessArguments": () => `unexpected argument "${command.args[expected.length] ?? ""}"`,
    "commander.unknownOption": () => `Unknown option '${unknownFlag(command)}'`,
  };
  return new UsageError((messages[error.code] ?? (() => commanderMessage(error)))(), usageLine(command));
}

/** Makes commander throw instead of exiting: help shown (exit 0) as is, refusals as UsageErrors. */
function refuseWithUsage(command: CommanderCommand): void {
  command.exitOverride((error) => {
    if (error.exitCode === 0) throw error;
    if (command.parent === null) throw programRefusal(command, error);
    throw command.commands.length > 0 ? groupRefusal(command, error) : commandRefusal(command, error);
  });
  // Every refusal is printed by the error report; commander's own error output is not used.
  command.configureOutput({ writeErr: () => {} });
  command.configureHelp({ formatHelp });
}

/** A group or the program: `-h`/`--help` is its own option, read when no command follows. */
function asCommandHolder(command: CommanderCommand): CommanderCommand {
  refuseWithUsage(command);
  return command.helpOption(false).addOption(new Option("-h, --help").hideHelp()).enablePositionalOptions();
}

/** The parsed line of `command`, read through commander's option values. */
function argumentsOf(command: CommanderCommand): Arguments {
  const byName = new Map(command.options.map((option) => [option.name(), option]));
  const all = (name: string): string[] => {
    const option = byName.get(name);
    const value: unknown = option === undefined ? undefined : command.getOptionValue(option.attributeName());
    return [value].flat().filter((item): item is string => typeof item === "string");
  };
  return {
    positionals: command.args,
    string: (name) => all(name).at(-1),
    strings: all,
    flag: (name) => byName.has(name) && command.getOptionValue(byName.get(name)!.attributeName()) === true,
    required(name) {
      const value = all(name).at(-1);
      if (value === undefined) throw new UsageError(`missing --${name}`);
      return value;
    },
  };
}

/** Runs `spec` for its parsed commander command; resolves to the exit code. */
async function runCommand(spec: Command, command: CommanderCommand, hooks: CommandLineHooks): Promise<number> {
  const args = argumentsOf(command);
  let connection: Connection | undefined;
  const connect = () => {
    connection ??= openConnection({ server: args.string("server"), key: args.string("key"), env: process.env }, spec.key);
    hooks.onConnect(connection.server);
    return connection;
  };
  try {
    return (await spec.run({ args, out: createOutput(args.flag("json")), connect })) ?? exitCodes.ok;
  } catch (error) {
    // A bad option value found while running: show the usage of the command it was for.
    if (error instanceof UsageError && error.usage === undefined) throw new UsageError(error.message, usageLine(command));
    throw error;
  }
}

/** The program with every command of the table; `exit` receives the exit code of the command that ran. */
function createProgram(hooks: CommandLineHooks, exit: (code: number) => void): CommanderCommand {
  const program = asCommandHolder(new CommanderCommand("runline"));
  const groups = new Map<string, CommanderCommand>();
  for (const spec of commands) {
    const [first = "", second] = spec.path;
    let parent = program;
    if (second !== undefined) {
      parent = groups.get(first) ?? asCommandHolder(program.command(first).helpCommand(false));
      groups.set(first, parent);
    }
    const command = parent
      .command(second ?? first)
      .summary(spec.summary)
      .helpOption("--help", "show this help");
    refuseWithUsage(command);
    for (const name of spec.positionals) command.argument(`<${name}>`);
    for (const option of [...spec.options, ...(spec.key === "none" ? [] : clientOptions)]) command.addOption(commanderOption(option));
    if (spec.notes !== undefined) command.addHelpText("after", `\n${spec.notes}`);
    command.action(async () => exit(await runCommand(spec, command, hooks)));
  }
  return program;
}

/** Parses `words` (what followed `runline`), runs the command they name and resolves to its exit code. */
export async function runCommandLine(words: readonly string[], hooks: CommandLineHooks): Promise<number> {
  let exitCode: number = exitCodes.ok;
  try {
    await createProgram(hooks, (code) => (exitCode = code)).parseAsync([...words], { from: "user" });
  } catch (error) {
    // commander stopped by itself: after printing help (0) or the program's help on stderr (2).
    if (error instanceof CommanderError) return error.exitCode;
    throw error;
  }
  return exitCode;
}
