/**
 * A run's page: its summary, actions, live events (progress bar, status timeline, event
 * table) over a gRPC-web stream, and its input, output, definition and webhook
 * deliveries. Each status event re-reads the run, its output and its deliveries, which
 * is what a status change can alter.
 */
import { RunStatus, type Run } from "../gen/runline/v1/run_pb.js";
import { h, replaceChildren } from "./dom.js";
import { eventsPanel } from "./run-events-panel.js";
import { formatLabels, formatTime, statusName } from "./format.js";
import { runActions } from "./run-actions.js";
import { runDetails } from "./run-details.js";
import { followRun } from "./run-follower.js";
import { pageHeading, type View, type ViewContext } from "./view.js";

/** How long after the run's end its deliveries are read once more (the outbox sends them just after). */
const lateDeliveriesMs = 2000;

/** The page of run `runId`. */
export function runView(context: ViewContext, runId: string): View {
  const abort = new AbortController();
  const summary = h("dl", { class: "summary" });
  const streamState = h("p", { class: "stream-state" }, "Connecting to the run's events…");
  const actions = runActions(context, runId);
  const panel = eventsPanel();
  const details = runDetails(context, runId, abort.signal);
  let lateTimer: ReturnType<typeof setTimeout> | undefined;

  const refresh = async (): Promise<void> => {
    const [run, output] = await Promise.all([
      context.clients.runs.getRun({ runId }, { signal: abort.signal }).then(
        (answer) => answer.run,
        (error: unknown) => {
          context.report(error);
          return undefined;
        },
      ),
      details.refreshOutput(),
    ]);
    if (run === undefined) return;
    showSummary(summary, run);
    actions.update(run, output);
  };

  let firstBatch = true;
  void followRun(context.clients, runId, abort.signal, {
    onRun(run) {
      streamState.textContent = "Following the run's events live.";
      showSummary(summary, run);
      details.showRun(run);
    },
    onEvents(events) {
      panel.add(events);
      // Output, actions and deliveries follow the status: read them with the first batch
      // (which holds the run's first status event) and after each status change.
      if (firstBatch || events.some((event) => event.type === "status")) {
        firstBatch = false;
        void refresh();
        void details.refreshDeliveries();
      }
    },
    onEnd() {
      streamState.textContent = "The run has finished; every event is shown.";
      lateTimer = setTimeout(() => void details.refreshDeliveries(), lateDeliveriesMs);
    },
    onError(error, retrying) {
      if (retrying) streamState.textContent = "The event stream was interrupted; reconnecting…";
      else {
        streamState.textContent = "The event stream ended.";
        context.report(error);
      }
    },
  });

  const title = `Run ${runId}`;
  const element = h(
    "article",
    { class: "run" },
    h("p", {}, h("a", { href: "#/runs" }, "← All runs")),
    pageHeading(title),
    summary,
    streamState,
    actions.element,
    ...panel.sections,
    ...details.sections,
  );
  return {
    title,
    element,
    dispose() {
      abort.abort();
      clearTimeout(lateTimer);
    },
  };
}

function showSummary(summary: HTMLDListElement, run: Run): void {
  const status = statusName(run.status);
  const entries: [string, Node | string][] = [
    ["Status", h("span", { class: `status status-${status.toLowerCase()}`, "data-testid": "run-status" }, status)],
    ["Workflow", `${run.workflowSlug} (version ${run.workflowVersion})`],
    ["Attempt", run.maxAttempts > 0 ? `${run.attempt} of ${run.maxAttempts}` : String(run.attempt)],
    ["Labels", formatLabels(run.labels) || "(none)"],
    ["Created", formatTime(run.createTime)],
    ["Started", formatTime(run.startTime) || "not yet"],
    ["Ended", formatTime(run.endTime) || (run.status === RunStatus.INTERRUPTED ? "waiting for input" : "not yet")],
  ];
  if (run.rerunOf !== "") entries.push(["Rerun of", h("a", { href: `#/runs/${run.rerunOf}` }, run.rerunOf)]);
  replaceChildren(summary, ...entries.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}
