/**
 * How a `progress` event (`{fraction, message}` from the SDK's job.progress) is shown:
 * a bar redrawn in place on a terminal, a plain percentage line otherwise, so logs and
 * pipes get one line per event and people get one moving line.
 */

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
  return { fraction: Math.min(1, Math.max(0, fraction)), message: typeof message === "string" ? message : undefined };
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
