/**
 * What a person may do to a run: cancel it while it is live, rerun it once it is
 * terminal (RerunRun: same workflow version, input and labels), delete it, and answer
 * its interrupt through a form generated from the interrupt's resume schema.
 */
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { RunStatus, type Run, type RunOutput } from "../gen/runline/v1/run_pb.js";
import { h, on, replaceChildren } from "./dom.js";
import { isTerminal, plainJson } from "./format.js";
import { showStatus } from "./notices.js";
import { schemaForm } from "./schema-form.js";
import type { ViewContext } from "./view.js";

/** The action buttons and the resume form. */
export interface RunActions {
  readonly element: HTMLElement;
  /** Enables what `run` allows and shows the resume form while `output` holds an interrupt. */
  update(run: Run, output: RunOutput | undefined): void;
}

/** Runs `work` with `button` disabled, reporting a failure; the button is enabled again after. */
async function pressed(button: HTMLButtonElement, context: ViewContext, work: () => Promise<void>): Promise<void> {
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    context.report(error);
  } finally {
    button.disabled = false;
  }
}

/** Actions on `runId`. */
export function runActions(context: ViewContext, runId: string): RunActions {
  let current: Run | undefined;
  const cancel = h("button", { type: "button" }, "Cancel run");
  const rerun = h("button", { type: "button" }, "Rerun");
  const remove = h("button", { type: "button", class: "danger" }, "Delete run");
  const resume = h("div", { class: "resume" });
  let shownInterrupt = "";
  on(
    cancel,
    "click",
    () =>
      void pressed(cancel, context, async () => {
        const { run } = await context.clients.runs.cancelRun({ runId });
        showStatus(`Cancellation requested: the run is ${RunStatus[run?.status ?? RunStatus.UNSPECIFIED]}.`);
      }),
  );
  on(
    rerun,
    "click",
    () =>
      void pressed(rerun, context, async () => {
        const { run } = await context.clients.runs.rerunRun({ runId, idempotencyKey: crypto.randomUUID() });
        showStatus(`Rerun started as run ${run?.id ?? ""}.`);
        context.navigate(`#/runs/${run?.id ?? ""}`);
      }),
  );
  on(remove, "click", () => {
    if (!window.confirm(`Delete run ${runId} and its events? This cannot be undone.`)) return;
    void pressed(remove, context, async () => {
      await context.clients.runs.deleteRun({ runId });
      showStatus(`Run ${runId} deleted.`);
      context.navigate("#/runs");
    });
  });
  const sync = (): void => {
    cancel.disabled = current === undefined || isTerminal(current.status) || current.status === RunStatus.CANCELLING;
    rerun.disabled = current === undefined || !isTerminal(current.status);
  };
  sync();
  return {
    element: h("section", { class: "actions" }, h("h2", {}, "Actions"), h("div", { class: "buttons" }, cancel, rerun, remove), resume),
    update(run, output) {
      current = run;
      sync();
      const interrupt = run.status === RunStatus.INTERRUPTED && output?.outcome.case === "interrupt" ? output.outcome.value : undefined;
      if (interrupt === undefined) {
        shownInterrupt = "";
        replaceChildren(resume);
      } else if (interrupt.id !== shownInterrupt) {
        shownInterrupt = interrupt.id;
        replaceChildren(resume, resumeForm(context, runId, interrupt.id, plainJson(interrupt.resumeSchema)));
      }
    },
  };
}

function resumeForm(context: ViewContext, runId: string, interruptId: string, schema: unknown): HTMLFormElement {
  const fields = schemaForm(schema, "Resume input");
  const submit = h("button", { type: "submit" }, "Resume run");
  const form = h("form", { class: "resume-form", "aria-label": "Resume the run" }, fields.element, submit);
  on(form, "submit", (event) => {
    event.preventDefault();
    void pressed(submit, context, async () => {
      const input = fromJson(ValueSchema, fields.read() as JsonValue);
      await context.clients.runs.resumeRun({ runId, interruptId, input });
      showStatus("Resumed: the run is queued again.");
    });
  });
  return form;
}
