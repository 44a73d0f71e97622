/**
 * Start a run: pick a workflow, fill in a form generated from its latest version's
 * input schema (or type the input as raw JSON), add labels, and go to the new run's
 * page. Each submission carries its own idempotency key, so a retried request cannot
 * start the run twice.
 */
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { Workflow } from "../gen/runline/v1/workflows_service_pb.js";
import { append, h, on, replaceChildren, uniqueId } from "./dom.js";
import { parseLabels, plainJson } from "./format.js";
import { showStatus } from "./notices.js";
import { schemaForm, type SchemaForm } from "./schema-form.js";
import { pageHeading, type View, type ViewContext } from "./view.js";

/** Workflows listed at most (10 pages of 100): a console, not a catalogue browser. */
const maxPages = 10;

async function allWorkflows(context: ViewContext, signal: AbortSignal): Promise<Workflow[]> {
  const workflows: Workflow[] = [];
  let pageToken = "";
  for (let page = 0; page < maxPages; page++) {
    const answer = await context.clients.workflows.listWorkflows({ pageSize: 100, pageToken }, { signal });
    workflows.push(...answer.workflows);
    pageToken = answer.nextPageToken;
    if (pageToken === "") break;
  }
  return workflows.sort((a, b) => a.slug.localeCompare(b.slug));
}

/** The start-a-run page. */
export function startView(context: ViewContext): View {
  const abort = new AbortController();
  const workflowId = uniqueId("workflow");
  const workflow = h("select", { id: workflowId, required: true }, h("option", { value: "" }, "Loading workflows…"));
  // A bare fieldset around the generated one, only so that it can be disabled as a whole.
  const generated = h("fieldset", { class: "bare" }, h("p", {}, "Pick a workflow to see its input form."));
  const rawId = uniqueId("raw");
  const rawToggle = h("input", { id: rawId, type: "checkbox" });
  const rawInputId = uniqueId("raw-input");
  const rawInput = h("textarea", { id: rawInputId, rows: 8, spellcheck: "false" }, "{}");
  const raw = h("div", { class: "field", hidden: true }, h("label", { for: rawInputId }, "Input (JSON)"), rawInput);
  const labelsId = uniqueId("labels");
  const labels = h("input", { id: labelsId, type: "text", autocomplete: "off", placeholder: "env=dev, ticket=42" });
  const submit = h("button", { type: "submit" }, "Start run");
  let fields: SchemaForm | undefined;

  const showSchema = async (slug: string): Promise<void> => {
    fields = undefined;
    if (slug === "") return replaceChildren(generated, h("p", {}, "Pick a workflow to see its input form."));
    try {
      const { version } = await context.clients.workflows.getWorkflowVersion({ workflow: slug, version: 0 }, { signal: abort.signal });
      fields = schemaForm(plainJson(version?.inputSchema), `Input of ${slug} (version ${version?.version ?? "?"})`);
      replaceChildren(generated, fields.element);
    } catch (error) {
      context.report(error);
    }
  };
  on(workflow, "change", () => void showSchema(workflow.value));
  on(rawToggle, "change", () => {
    // A disabled fieldset is left out of the browser's validation, so hidden required fields do not block.
    generated.disabled = rawToggle.checked;
    generated.hidden = rawToggle.checked;
    raw.hidden = !rawToggle.checked;
    if (rawToggle.checked && fields !== undefined) {
      try {
        rawInput.value = JSON.stringify(fields.read(), null, 2);
      } catch {
        // The form holds JSON that does not parse: keep what the text area had.
      }
    }
  });

  const form = h(
    "form",
    { class: "start-form", "aria-label": "Start a run" },
    h("div", { class: "field" }, h("label", { for: workflowId }, "Workflow"), workflow),
    generated,
    h("div", { class: "field checkbox" }, rawToggle, h("label", { for: rawId }, "Type the input as raw JSON")),
    raw,
    h("div", { class: "field" }, h("label", { for: labelsId }, "Labels (key=value, comma separated)"), labels),
    h("div", { class: "buttons" }, submit),
  );
  on(form, "submit", (event) => {
    event.preventDefault();
    submit.disabled = true;
    void (async () => {
      try {
        const value = rawToggle.checked ? parseRawInput(rawInput.value) : (fields?.read() ?? null);
        const request = { workflow: workflow.value, input: fromJson(ValueSchema, value as JsonValue), labels: parseLabels(labels.value) };
        const { run } = await context.clients.runs.createRun({ ...request, idempotencyKey: crypto.randomUUID() }, { signal: abort.signal });
        showStatus(`Run ${run?.id ?? ""} started.`);
        context.navigate(`#/runs/${run?.id ?? ""}`);
      } catch (error) {
        context.report(error);
      } finally {
        submit.disabled = false;
      }
    })();
  });

  void allWorkflows(context, abort.signal).then(
    (workflows) => {
      replaceChildren(workflow, h("option", { value: "" }, workflows.length === 0 ? "No workflows yet" : "Choose a workflow"));
      for (const item of workflows) append(workflow, h("option", { value: item.slug }, `${item.slug} (version ${item.latestVersion})`));
    },
    (error: unknown) => context.report(error),
  );
  return { title: "Start a run", element: h("section", {}, pageHeading("Start a run"), form), dispose: () => abort.abort() };
}

function parseRawInput(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error("Input (JSON): not valid JSON");
  }
}
