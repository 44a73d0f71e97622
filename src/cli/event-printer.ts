/**
 * Prints a run's events as they arrive, one line each; `progress` events become a bar
 * redrawn in place on a terminal (any other event first moves past it), or a plain
 * percentage line when stdout is a pipe or a file. The redrawn line is fitted to the
 * terminal's width as it is at each event, one column short of it: a line that filled
 * the last column would leave the cursor where some terminals wrap on the next write.
 */
import type { RunEvent } from "../../gen/runline/v1/run_pb.js";
import type { Output } from "./output.js";
import { fitProgressLine, percentage, progressFrom } from "./progress-bar.js";
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
        const number = out.paint("dim", `#${event.sequence}`);
        const prefixes = [eventPrefix(out, event), `${number}  ${event.type}`, number];
        out.write(`${redrawLine}${fitProgressLine(prefixes, progress, out.columns() - 1)}`);
        barOnLine = true;
      } else {
        out.line(`${eventPrefix(out, event)}  ${percentage(progress)}${progress.message === undefined ? "" : ` ${progress.message}`}`);
      }
    },
    end: endBar,
  };
}
