/**
 * The webhook receiver of the `webhooks` group, in a process of its own (forked by
 * webhooks.ts), as a real receiver is another service: in the bench process it shared an
 * event loop with the executors, so every delivery it read delayed a CompleteRun. It
 * answers 200 after `delayMs` (argv[2]) and reports what arrived to its parent in
 * batches every 100 ms: [path, webhook-id, run id, arrival time (ms since the epoch), the
 * body's `timestamp` in ms]. A real receiver parses the body too, so parsing it here for
 * the timestamp is part of its cost, not the bench's.
 */
import { startWebhookReceiver } from "../test/support/webhook-receiver.js";

/** One arrival, as sent to the parent. */
export type Arrival = [path: string, webhookId: string, runId: string, arrivalTime: number, commitTime: number];

const delayMs = Number(process.argv[2] ?? 5);
const pending: Arrival[] = [];
const receiver = await startWebhookReceiver({
  keepRequests: false,
  onRequest: (request) => {
    if (request.runId === undefined) return;
    const { timestamp } = JSON.parse(request.body) as { timestamp: string };
    pending.push([request.path, request.webhookId, request.runId, request.arrivalTime, Date.parse(timestamp)]);
  },
  script: () => ({ status: 200, delayMs }),
});
const flush = setInterval(() => {
  if (pending.length > 0) process.send?.({ arrivals: pending.splice(0) });
}, 100);
process.send?.({ port: receiver.port });
process.on("disconnect", () => {
  clearInterval(flush);
  void receiver.close().finally(() => process.exit(0));
});
