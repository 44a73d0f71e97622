/**
 * How a `progress` event (`{fraction, message}` from the SDK's job.progress) is shown:
 * a bar redrawn in place on a terminal, a plain percentage line otherwise, so logs and
 * pipes get one line per event and people get one moving line. The bar's line is fitted
 * to the terminal's width: a line that wraps cannot be redrawn in place.
 */
import { fitToWidth, printable, visibleWidth } from "./terminal-text.js";

/** The data of a progress event, as the SDK sends it. */
export interface Progress {
  /** 0 to 1. */
  readonly fraction: number;
  readonly message: string | undefined;
}

/** Reads `{fraction, message}` from an event's data; undefined when it is not progress-shaped. */
export function progressFrom(data: unknown): Progress | undefined {
  if (data === null || typeof data !== "object") return undefined;
  const { fraction, message } = data as { fraction?: unknown; message?: unknown };
  if (typeof fraction !== "number" || !Number.isFinite(fraction)) return undefined;
  return { fraction: Math.min(1, Math.max(0, fraction)), message: typeof message === "string" ? printable(message) : undefined };
}

/** `42%`, rounded down so that 100% means done. */
export function percentage(progress: Progress): string {
  return `${Math.floor(progress.fraction * 100)}%`;
}

/** `[#########-----------]  42% message`, `width` cells wide. */
export function progressBar(progress: Progress, width = 30): string {
  const filled = Math.round(progress.fraction * width);
  const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
  return `${bar} ${percentage(progress).padStart(4)}${progress.message === undefined ? "" : ` ${progress.message}`}`;
}

/** The widest bar drawn, and the narrowest worth its room. */
const widestBar = 30;
const narrowestBar = 10;
/** Columns of the message kept beside a narrow bar before the bar itself gives way. */
const messageRoom = 12;

/**
 * The progress line for a terminal `width` columns wide, never wider: `prefixes` are the
 * event's prefix from the fullest to the shortest (`#3  <time>  progress`, `#3`). The
 * bar shrinks first (down to 10 cells), then the prefix; when even the shortest prefix
 * leaves no room for the whole message, the message is cut with `…`, and on a very
 * narrow terminal the bar goes too, keeping the percentage.
 */
export function fitProgressLine(prefixes: readonly string[], progress: Progress, width: number): string {
  const percent = percentage(progress).padStart(4);
  const message = progress.message === undefined ? "" : ` ${progress.message}`;
  // Two spaces after the prefix, the brackets and a space around the bar.
  const fixed = (prefix: string) => visibleWidth(prefix) + 2 + 3 + percent.length;
  for (const prefix of prefixes) {
    const cells = Math.min(widestBar, width - fixed(prefix) - visibleWidth(message));
    if (cells >= narrowestBar) return `${prefix}  ${progressBar(progress, cells)}`;
  }
  const shortest = prefixes.at(-1) ?? "";
  const room = width - fixed(shortest) - Math.min(messageRoom, visibleWidth(message));
  const line = room >= narrowestBar ? progressBar(progress, narrowestBar) : `${percent.trimStart()}${message}`;
  return fitToWidth(`${shortest}  ${line}`, width);
}
