/**
 * `runline worker`: the demo executor as its own process. It performs the demo
 * workflows (echo, sleep, flaky, approval) of the key's tenant with the worker SDK
 * against --server, and on SIGINT/SIGTERM stops claiming, lets running handlers finish
 * (or gives their runs back) and exits 0. Errors that retrying cannot fix (bad key,
 * unknown workflow) stop it with their exit code; an unreachable server is retried.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { demoWorkflows } from "../../demo/demo-workflows.js";
import { createWorker } from "../../sdk/create-worker.js";
import { parseCountArgument, splitList } from "../argument-values.js";
import { UsageError } from "../cli-errors.js";
import type { Command } from "../command.js";
import { reportError } from "../error-report.js";
import { stopWhenNpmShellEnds } from "../npm-shell-watch.js";

// Codes a retry cannot fix: the worker stops instead of looping on them.
const fatalCodes = new Set([Code.Unauthenticated, Code.PermissionDenied, Code.NotFound, Code.InvalidArgument]);

const gracefulStopMs = 10_000;

function chosenWorkflows(names: readonly string[]) {
  if (names.length === 0) return demoWorkflows;
  return names.map((name) => {
    const workflow = demoWorkflows.find((candidate) => candidate.slug === name);
    if (workflow === undefined)
      throw new UsageError(`--workflows: no demo workflow "${name}" (one of ${demoWorkflows.map((w) => w.slug).join(", ")})`);
    return workflow;
  });
}

/** Resolves when SIGINT or SIGTERM arrives, with the signal's name. */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** `worker`. */
export const workerCommand: Command = {
  path: ["worker"],
  summary: "run the demo executor (echo, sleep, flaky, approval) for the key's tenant; needs the worker scope",
  positionals: [],
  options: [
    {
      name: "workflows",
      type: "string",
      value: "<list>",
      help: `demo workflows to perform (default all: ${demoWorkflows.map((w) => w.slug).join(",")})`,
    },
    { name: "concurrency", type: "string", value: "<n>", help: "runs performed at once (default 4)" },
  ],
  key: "tenant",
  notes: "The tenant must have workflows with these slugs (create them with 'runline workflows create').",
  async run({ args, connect }) {
    const workflows = chosenWorkflows(splitList(args.strings("workflows")));
    const concurrency = parseCountArgument("concurrency", args.string("concurrency") ?? "4");
    const { server, apiKey } = connect();
    let fatal: ((error: unknown) => void) | undefined;
    const failed = new Promise<unknown>((resolve) => (fatal = resolve));
    const handlers = new Map(workflows.map((workflow) => [workflow.slug, workflow.handler]));
    const worker = createWorker({
      server,
      apiKey,
      workflows: workflows.map((workflow) => workflow.slug),
      concurrency,
      handler: async (job) => {
        const handler = handlers.get(job.run.workflowSlug);
        if (handler === undefined) throw new Error(`this worker has no handler for workflow ${job.run.workflowSlug}`);
        return handler(job);
      },
      onError(error) {
        if (error instanceof ConnectError && fatalCodes.has(error.code)) fatal?.(error);
        else process.stderr.write(`${reportError(error, server).lines.join("\n")} (retrying)\n`);
      },
    });
    stopWhenNpmShellEnds();
    process.stderr.write(`runline worker: performing ${[...handlers.keys()].join(", ")} for ${server}; Ctrl-C or SIGTERM stops\n`);
    const outcome = await Promise.race([stopSignal().then((signal) => ({ signal })), failed.then((error) => ({ error }))]);
    await worker.stop({ graceMs: gracefulStopMs });
    if ("error" in outcome) throw outcome.error;
    process.stderr.write(`runline worker: stopped (${outcome.signal})\n`);
  },
};
