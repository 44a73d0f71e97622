/**
 * What the console tells a person: errors in an `role="alert"` region (read out at
 * once by screen readers) and confirmations in a `role="status"` one (read out when
 * idle). An error is the API's own message (ConnectError.rawMessage), as a caller of the
 * API would see it, not a translation.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** Shows `error` in the alert region and returns its code; clears any confirmation. */
export function showError(error: unknown): Code {
  // An aborted call is the console's own doing (it left the page): nothing to say.
  if (error instanceof Error && error.name === "AbortError") return Code.Canceled;
  if (error instanceof ConnectError && error.code === Code.Canceled) return Code.Canceled;
  setText("notice-status", "");
  // The console's own checks (a label without "=", JSON that does not parse) throw plain errors.
  if (!(error instanceof ConnectError)) {
    setText("notice-error", error instanceof Error ? error.message : String(error));
    return Code.InvalidArgument;
  }
  setText("notice-error", `${codeName(error.code)}: ${error.rawMessage}`);
  return error.code;
}

/** Shows `message` in the status region and clears any error. */
export function showStatus(message: string): void {
  setText("notice-error", "");
  setText("notice-status", message);
}

/** Clears both regions. */
export function clearNotices(): void {
  setText("notice-error", "");
  setText("notice-status", "");
}

/** The gRPC name of `code`, as the API documents it (e.g. `invalid_argument`). */
function codeName(code: Code): string {
  return Code[code].replace(/[A-Z]/g, (letter, offset: number) => `${offset === 0 ? "" : "_"}${letter.toLowerCase()}`);
}

function setText(id: string, text: string): void {
  const region = document.getElementById(id);
  if (region !== null) region.textContent = text;
}
