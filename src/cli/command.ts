/**
 * What a `runline` command is: the words that select it, its options (one list that both
 * the parser and the help text read), and the function that does the work. Commands are
 * plain objects, so the command table is a list anyone can read top to bottom.
 */
import type { Connection, KeyKind } from "./connection.js";
import type { Output } from "./output.js";

/** One option of a command; the parser and the help are both built from these. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `input`. */
  readonly name: string;
  /** `string` takes a value; `boolean` is a switch. */
  readonly type: "string" | "boolean";
  /** Whether it may be repeated (values collected in order; default false). */
  readonly multiple?: boolean;
  /** Placeholder shown in help, e.g. `<json|@file>` (string options only). */
  readonly value?: string;
  /** One line for the help. */
  readonly help: string;
}

/** The parsed command line of one command. */
export interface Arguments {
  /** Positional arguments in order (their count is already checked). */
  readonly positionals: readonly string[];
  /** A string option's value, if given (the last one when repeated). */
  string(name: string): string | undefined;
  /** Every value of a repeatable option, in order. */
  strings(name: string): readonly string[];
  /** Whether a switch was given. */
  flag(name: string): boolean;
  /** A string option that must be given; a UsageError with the usage line otherwise. */
  required(name: string): string;
}

/** What a command's `run` gets. */
export interface CommandContext {
  readonly args: Arguments;
  readonly out: Output;
  /** The server and key to use; throws for missing or malformed ones (only client commands call it). */
  connect(): Connection;
}

/** A command such as `runs create`. */
export interface Command {
  /** The words that select it, e.g. `["runs", "create"]`. */
  readonly path: readonly string[];
  /** One line for the command list. */
  readonly summary: string;
  /** Required positional arguments, by name (e.g. `["run-id"]`). */
  readonly positionals: readonly string[];
  readonly options: readonly OptionSpec[];
  /** Which key it sends; `none` also means it takes no --server/--key/--json. */
  readonly key: KeyKind;
  /** Extra help text after the options (examples, exit codes). */
  readonly notes?: string;
  /** Does the work; resolves to the exit code (0 when omitted). */
  run(context: CommandContext): Promise<number | void>;
}
