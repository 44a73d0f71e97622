/**
 * Parses the words after a command's name with util.parseArgs, from the same option
 * list the help is printed from. Client commands also take --server, --key and --json;
 * every command takes --help. Unknown options and a wrong number of arguments are
 * UsageErrors that carry the command's usage line.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UsageError } from "./cli-errors.js";
import type { Arguments, Command, OptionSpec } from "./command.js";

/** Options every command that talks to a server takes. */
export const clientOptions: readonly OptionSpec[] = [
  { name: "server", type: "string", value: "<url>", help: "server base URL (default $RUNLINE_SERVER, else http://localhost:8080)" },
  { name: "key", type: "string", value: "<api-key>", help: "API key (default $RUNLINE_API_KEY)" },
  { name: "json", type: "boolean", help: "print the response as proto3 JSON" },
];

const helpOption: OptionSpec = { name: "help", type: "boolean", help: "show this help" };

/** Every option `command` accepts, its own first. */
export function optionsOf(command: Command): readonly OptionSpec[] {
  return [...command.options, ...(command.key === "none" ? [] : clientOptions), helpOption];
}

/** `runline runs get <run-id> [options]`. */
export function usageLine(command: Command): string {
  const positionals = command.positionals.map((name) => `<${name}>`).join(" ");
  return ["runline", ...command.path, positionals, "[options]"].filter((part) => part !== "").join(" ");
}

function parserConfig(options: readonly OptionSpec[]): ParseArgsOptionsConfig {
  return Object.fromEntries(options.map((option) => [option.name, { type: option.type, multiple: option.multiple === true }]));
}

/** What parseArgs says, trimmed to the part a person needs ("Unknown option '--x'"). */
function parseProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split(". ")[0]!.replace(/\.$/, "");
}

/** Parses `words` for `command`; `help` is true when --help was given (positionals are then not checked). */
export function parseCommandLine(command: Command, words: readonly string[]): { args: Arguments; help: boolean } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...words], options: parserConfig(optionsOf(command)), allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(parseProblem(error), usageLine(command));
  }
  const values = parsed.values as Record<string, string | boolean | (string | boolean)[] | undefined>;
  const help = values.help === true;
  if (!help && parsed.positionals.length !== command.positionals.length) {
    const problem = parsed.positionals.length < command.positionals.length
      ? `missing <${command.positionals[parsed.positionals.length]}>`
      : `unexpected argument "${parsed.positionals[command.positionals.length]}"`;
    throw new UsageError(problem, usageLine(command));
  }
  const all = (name: string): string[] => [values[name]].flat().filter((value): value is string => typeof value === "string");
  return {
    help,
    args: {
      positionals: parsed.positionals,
      string: (name) => all(name).at(-1),
      strings: all,
      flag: (name) => values[name] === true,
      required(name) {
        const value = all(name).at(-1);
        if (value === undefined) throw new UsageError(`missing --${name}`, usageLine(command));
        return value;
      },
    },
  };
}
