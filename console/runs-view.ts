/**
 * The runs list: filters by status, workflow and labels, keyset paging with the API's
 * page tokens (a stack of the tokens that led here, so Previous needs no offset), and
 * live updates by re-reading the page shown every 3 s while the tab is visible (and at
 * once when it is shown again). One
 * indexed ListRuns per tab every 3 s is cheaper than a stream per listed run, and it
 * also shows runs that did not exist when the page was read. The table is redrawn only
 * when a run on it changed, and keeps the keyboard focus where it was.
 */
import type { Run, RunStatus } from "../gen/runline/v1/run_pb.js";
import { append, h, on, replaceChildren, uniqueId } from "./dom.js";
import { formatLabels, formatTime, isoTime, parseLabels, runStatuses, statusName } from "./format.js";
import { pageHeading, type View, type ViewContext } from "./view.js";

const pageSize = 20;
const refreshMs = 3000;

/** The filters as ListRuns takes them. */
interface RunsFilter {
  status: RunStatus[];
  workflow: string;
  labels: Record<string, string>;
}

/** The runs list page. */
export function runsView(context: ViewContext): View {
  const abort = new AbortController();
  let filter: RunsFilter = { status: [], workflow: "", labels: {} };
  // tokens[i] reads page i + 1; the last one is the page shown.
  let tokens = [""];
  let nextToken = "";
  let shown = "";

  const caption = h("caption", {});
  const body = h("tbody", {});
  const table = h(
    "table",
    { class: "runs" },
    caption,
    h(
      "thead",
      {},
      h("tr", {}, ...["Run", "Workflow", "Status", "Labels", "Created", "Updated"].map((name) => h("th", { scope: "col" }, name))),
    ),
    body,
  );
  const previous = on(h("button", { type: "button" }, "Previous page"), "click", () => {
    if (tokens.length > 1) tokens = tokens.slice(0, -1);
    void load(true);
  });
  const next = on(h("button", { type: "button" }, "Next page"), "click", () => {
    if (nextToken !== "") tokens = [...tokens, nextToken];
    void load(true);
  });

  // The read in flight: a new filter or page aborts it; a periodic refresh waits for it.
  let inFlight: AbortController | undefined;
  async function load(changedPage: boolean): Promise<void> {
    if (!changedPage && inFlight !== undefined) return;
    inFlight?.abort();
    const call = new AbortController();
    inFlight = call;
    try {
      const request = { ...filter, pageSize, pageToken: tokens.at(-1) ?? "" };
      const response = await context.clients.runs.listRuns(request, { signal: AbortSignal.any([abort.signal, call.signal]) });
      nextToken = response.nextPageToken;
      previous.disabled = tokens.length === 1;
      next.disabled = nextToken === "";
      caption.textContent = `Runs, newest first: page ${tokens.length}`;
      const fingerprint = response.runs.map((run) => `${run.id}:${run.status}:${run.updateTime?.seconds}:${run.updateTime?.nanos}`).join();
      if (changedPage || fingerprint !== shown) {
        shown = fingerprint;
        drawRows(body, response.runs);
      }
    } catch (error) {
      if (!call.signal.aborted) context.report(error);
    } finally {
      if (inFlight === call) inFlight = undefined;
    }
  }

  const filters = filterForm((chosen) => {
    filter = chosen;
    tokens = [""];
    void load(true);
  }, context);
  const timer = setInterval(() => {
    if (!document.hidden) void load(false);
  }, refreshMs);
  // A tab shown again is brought up to date at once rather than at the next tick.
  const onVisible = (): void => {
    if (!document.hidden) void load(false);
  };
  document.addEventListener("visibilitychange", onVisible);
  void load(true);
  const element = h(
    "section",
    {},
    pageHeading("Runs"),
    filters,
    h("p", { class: "hint" }, "This list updates every 3 seconds."),
    table,
    h("nav", { class: "pager", "aria-label": "Pages of runs" }, previous, next),
  );
  return {
    title: "Runs",
    element,
    dispose() {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
      abort.abort();
    },
  };
}

/** Redraws the rows, putting the focus back on the same run's link if it was on one. */
function drawRows(body: HTMLTableSectionElement, runs: readonly Run[]): void {
  const focusedRun = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.runId : undefined;
  if (runs.length === 0) {
    replaceChildren(body, h("tr", {}, h("td", { colspan: 6 }, "No runs match these filters.")));
    return;
  }
  replaceChildren(body, ...runs.map(runRow));
  if (focusedRun !== undefined) body.querySelector<HTMLElement>(`a[data-run-id="${CSS.escape(focusedRun)}"]`)?.focus();
}

function runRow(run: Run): HTMLTableRowElement {
  const status = statusName(run.status);
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: `#/runs/${run.id}`, "data-run-id": run.id, class: "run-id" }, run.id)),
    h("td", {}, run.workflowSlug),
    h("td", {}, h("span", { class: `status status-${status.toLowerCase()}` }, status)),
    h("td", {}, formatLabels(run.labels)),
    h("td", {}, h("time", { datetime: isoTime(run.createTime) }, formatTime(run.createTime))),
    h("td", {}, h("time", { datetime: isoTime(run.updateTime) }, formatTime(run.updateTime))),
  );
}

/** The filter form; `apply` receives the chosen filter on submit. */
function filterForm(apply: (filter: RunsFilter) => void, context: ViewContext): HTMLFormElement {
  const statusBoxes = runStatuses.map((status) => {
    const id = uniqueId("status");
    const box = h("input", { type: "checkbox", id, value: String(status) });
    return { status, box, element: h("span", { class: "choice" }, box, h("label", { for: id }, statusName(status))) };
  });
  const workflowId = uniqueId("workflow");
  const workflow = h("input", { id: workflowId, type: "text", autocomplete: "off" });
  const labelsId = uniqueId("labels");
  const labels = h("input", { id: labelsId, type: "text", placeholder: "env=prod, team=payments", autocomplete: "off" });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter runs" },
    h("fieldset", { class: "statuses" }, h("legend", {}, "Status"), ...statusBoxes.map((choice) => choice.element)),
    h("div", { class: "field" }, h("label", { for: workflowId }, "Workflow (id or slug)"), workflow),
    h("div", { class: "field" }, h("label", { for: labelsId }, "Labels (key=value, comma separated)"), labels),
  );
  const submit = h("button", { type: "submit" }, "Apply filters");
  const reset = h("button", { type: "reset" }, "Clear filters");
  append(form, h("div", { class: "buttons" }, submit, reset));
  on(form, "submit", (event) => {
    event.preventDefault();
    try {
      apply({
        status: statusBoxes.filter((choice) => choice.box.checked).map((choice) => choice.status),
        workflow: workflow.value.trim(),
        labels: parseLabels(labels.value),
      });
    } catch (error) {
      context.report(error);
    }
  });
  // After the browser cleared the controls.
  on(form, "reset", () => setTimeout(() => apply({ status: [], workflow: "", labels: {} })));
  return form;
}
