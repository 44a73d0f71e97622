/**
 * What a run page shows beside its events: the input, the output (result, interrupt or
 * error), the definition snapshot the run was created with, and the webhook deliveries
 * about it. Output and deliveries change with the run's status, so the page re-reads
 * them on each status event; the definition never changes and is read once.
 */
import type { Run, RunOutput } from "../gen/runline/v1/run_pb.js";
import { DeliveryOutcome, type WebhookDelivery } from "../gen/runline/v1/webhooks_service_pb.js";
import { h, on, replaceChildren } from "./dom.js";
import { formatTime, isoTime, plainJson, prettyJson } from "./format.js";
import type { ViewContext } from "./view.js";

/** The sections and how to refresh them. */
export interface RunDetails {
  readonly sections: readonly HTMLElement[];
  /** Shows the run's input. */
  showRun(run: Run): void;
  /** Re-reads the output; resolves with it (undefined when the call failed). */
  refreshOutput(): Promise<RunOutput | undefined>;
  /** Re-reads the webhook deliveries. */
  refreshDeliveries(): Promise<void>;
}

/** Details of `runId`, read through `context`; calls stop when `signal` aborts. */
export function runDetails(context: ViewContext, runId: string, signal: AbortSignal): RunDetails {
  const input = h("pre", { class: "json" }, "…");
  const output = h("div", { class: "output" }, "…");
  const definition = h("div", {}, "…");
  const deliveries = h("div", {}, "…");
  const refreshButton = h("button", { type: "button" }, "Refresh deliveries");
  const details: RunDetails = {
    sections: [
      h("section", {}, h("h2", {}, "Input"), input),
      h("section", {}, h("h2", {}, "Output"), output),
      h("section", {}, h("h2", {}, "Definition"), definition),
      h("section", {}, h("h2", {}, "Webhook deliveries"), deliveries, refreshButton),
    ],
    showRun(run) {
      input.textContent = prettyJson(plainJson(run.input));
    },
    async refreshOutput() {
      try {
        const answer = await context.clients.runs.getRunOutput({ runId }, { signal });
        replaceChildren(output, ...outputParts(answer.output));
        return answer.output;
      } catch (error) {
        context.report(error);
        return undefined;
      }
    },
    async refreshDeliveries() {
      try {
        const answer = await context.clients.webhooks.listWebhookDeliveries({ runId, pageSize: 50 }, { signal });
        replaceChildren(deliveries, deliveriesTable(answer.deliveries));
      } catch (error) {
        context.report(error);
      }
    },
  };
  on(refreshButton, "click", () => void details.refreshDeliveries());
  void context.clients.runs.getRunDefinition({ runId }, { signal }).then(
    (answer) =>
      replaceChildren(
        definition,
        h("p", {}, `Workflow ${answer.workflowId}, version ${answer.workflowVersion}`),
        h("pre", { class: "json" }, prettyJson(plainJson(answer.definition))),
        h("details", {}, h("summary", {}, "Input schema"), h("pre", { class: "json" }, prettyJson(plainJson(answer.inputSchema)))),
      ),
    (error: unknown) => context.report(error),
  );
  return details;
}

function outputParts(output: RunOutput | undefined): Node[] {
  switch (output?.outcome.case) {
    case "result":
      return [h("p", {}, "Result:"), h("pre", { class: "json" }, prettyJson(plainJson(output.outcome.value)))];
    case "interrupt": {
      const interrupt = output.outcome.value;
      return [
        h("p", {}, `Waiting for input: ${interrupt.reason === "" ? "(no reason given)" : interrupt.reason}`),
        h("pre", { class: "json" }, prettyJson(plainJson(interrupt.payload))),
      ];
    }
    case "error":
      return [
        h(
          "p",
          { class: "run-error" },
          `Error${output.outcome.value.code === "" ? "" : ` ${output.outcome.value.code}`}: ${output.outcome.value.message}`,
        ),
      ];
    default:
      return [h("p", {}, "No output yet.")];
  }
}

function deliveriesTable(deliveries: readonly WebhookDelivery[]): HTMLElement {
  if (deliveries.length === 0) return h("p", {}, "No webhook deliveries for this run.");
  return h(
    "table",
    { class: "deliveries" },
    h("caption", { class: "visually-hidden" }, "Webhook deliveries, newest first"),
    h(
      "thead",
      {},
      h("tr", {}, ...["Type", "URL", "Outcome", "Last attempt", "Created", "Next attempt"].map((name) => h("th", { scope: "col" }, name))),
    ),
    h(
      "tbody",
      {},
      ...deliveries.map((delivery) => {
        const last = delivery.attempts.at(-1);
        const lastText = last === undefined ? "none yet" : last.httpStatus !== 0 ? `HTTP ${last.httpStatus}` : last.error;
        return h(
          "tr",
          {},
          h("td", {}, delivery.type),
          h("td", {}, delivery.url),
          h("td", {}, DeliveryOutcome[delivery.outcome] ?? String(delivery.outcome)),
          h("td", {}, `${lastText} (${delivery.attempts.length} attempt${delivery.attempts.length === 1 ? "" : "s"})`),
          h("td", {}, h("time", { datetime: isoTime(delivery.createTime) }, formatTime(delivery.createTime))),
          h("td", {}, formatTime(delivery.nextAttemptTime)),
        );
      }),
    ),
  );
}
