/**
 * Prints a run's events as they arrive, one line each; `progress` events become a bar
 * redrawn in place on a terminal (any other event first moves past it), or a plain
 * percentage line when stdout is a pipe or a file.
 */
import type { RunEvent } from "../../gen/runline/v1/run_pb.js";
import type { Output } from "./output.js";
import { percentage, progressBar, progressFrom } from "./progress-bar.js";
import { eventLine, eventPrefix, plainJson } from "./run-format.js";

/** Prints events in order; call end() once the stream is over. */
export interface EventPrinter {
  print(event: RunEvent): void;
  /** Finishes a bar left on the current line. */
  end(): void;
}

// ANSI: carriage return, then erase the whole line.
const redrawLine = "\r\u001b[2K";

/** An EventPrinter over `out`. */
export function createEventPrinter(out: Output): EventPrinter {
  let barOnLine = false;
  const endBar = () => {
    if (barOnLine) out.write("\n");
    barOnLine = false;
  };
  return {
    print(event) {
      const progress = event.type === "progress" ? progressFrom(plainJson(event.data)) : undefined;
      if (progress === undefined) {
        endBar();
        out.line(eventLine(out, event));
      } else if (out.interactive) {
        out.write(`${redrawLine}${eventPrefix(out, event)}  ${progressBar(progress)}`);
        barOnLine = true;
      } else {
        out.line(`${eventPrefix(out, event)}  ${percentage(progress)}${progress.message === undefined ? "" : ` ${progress.message}`}`);
      }
    },
    end: endBar,
  };
}
