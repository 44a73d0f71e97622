/**
 * A run's events as they arrive: the latest `progress` event as a bar (the SDK's
 * `job.progress(fraction, message)` sends `{fraction, message}`), the `status` events
 * as a timeline, and every event in a table.
 */
import type { RunEvent } from "../gen/runline/v1/run_pb.js";
import { append, h, replaceChildren, uniqueId } from "./dom.js";
import { formatTime, isoTime, plainJson, statusName } from "./format.js";

/** Rows the event table keeps: the newest ones (a long run may report thousands). */
const maxRows = 500;

/** The panel and how to feed it. */
export interface EventsPanel {
  /** The progress, timeline and events sections. */
  readonly sections: readonly HTMLElement[];
  /** Shows `events` (in sequence order, after the ones already shown). */
  add(events: readonly RunEvent[]): void;
}

/** Reads `{fraction, message}` from a progress event's data; undefined when it is not that shape. */
function progressOf(data: unknown): { fraction: number; message: string | undefined } | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const { fraction, message } = data as { fraction?: unknown; message?: unknown };
  if (typeof fraction !== "number" || !Number.isFinite(fraction)) return undefined;
  return { fraction: Math.min(1, Math.max(0, fraction)), message: typeof message === "string" ? message : undefined };
}

/** An empty panel. */
export function eventsPanel(): EventsPanel {
  const barId = uniqueId("progress");
  const bar = h("progress", { id: barId, max: 1, value: 0 });
  const progressText = h("p", { class: "progress-text" }, "No progress reported yet.");
  const progress = h(
    "section",
    { class: "progress" },
    h("h2", {}, "Progress"),
    h("label", { for: barId, class: "visually-hidden" }, "Run progress"),
    bar,
    progressText,
  );
  const timeline = h("ol", { class: "timeline" });
  const timelineSection = h("section", {}, h("h2", {}, "Status timeline"), timeline);
  const rows = h("tbody", {});
  const table = h(
    "table",
    { class: "events" },
    h("caption", { class: "visually-hidden" }, "Events, oldest first"),
    h("thead", {}, h("tr", {}, ...["#", "Time", "Type", "Data"].map((name) => h("th", { scope: "col" }, name)))),
    rows,
  );
  const trimmed = h("p", { class: "hint", hidden: true }, `Only the newest ${maxRows} events are shown.`);
  const eventsSection = h("section", {}, h("h2", {}, "Events"), trimmed, table);
  return {
    sections: [progress, timelineSection, eventsSection],
    add(events) {
      for (const event of events) {
        const data = plainJson(event.data);
        const time = h("time", { datetime: isoTime(event.createTime) }, formatTime(event.createTime));
        if (event.type === "status") {
          append(
            timeline,
            h(
              "li",
              {},
              h("span", { class: `status status-${statusName(event.status).toLowerCase()}` }, statusName(event.status)),
              " ",
              time.cloneNode(true),
            ),
          );
        }
        const shown = progressOf(data);
        if (event.type === "progress" && shown !== undefined) {
          bar.value = shown.fraction;
          const percent = `${Math.floor(shown.fraction * 100)}%`;
          replaceChildren(progressText, shown.message === undefined ? percent : `${percent}: ${shown.message}`);
        }
        const summary = event.type === "status" ? statusName(event.status) : data === undefined ? "" : JSON.stringify(data);
        append(
          rows,
          h("tr", {}, h("td", {}, String(event.sequence)), h("td", {}, time), h("td", {}, event.type), h("td", {}, h("code", {}, summary))),
        );
      }
      while (rows.rows.length > maxRows) {
        rows.deleteRow(0);
        trimmed.hidden = false;
      }
    },
  };
}
