/**
 * A server stream opened with an access token ends when the token does: at its expiry,
 * or once the key that minted it is revoked (within the refresh period and one check),
 * with the UNAUTHENTICATED a new call would get. A token is not a ticket to keep reading
 * for as long as a connection lasts; a browser's EventSource, refused on reconnecting,
 * then stops.
 */
import type { Caller } from "../auth/caller.js";
import type { AccessTokenIssuer } from "../auth/access-tokens.js";
import { refusedToken, unverifiableToken } from "./auth-refusals.js";

/** How often an idle stream re-checks its token for revocation. */
const recheckMs = 1000;

/** `messages` while `caller`'s token lives; then it fails (the handler is returned, so it stops). */
export async function* whileTokenLives<T>(messages: AsyncIterable<T>, caller: Caller, tokens: AccessTokenIssuer): AsyncIterable<T> {
  const iterator = messages[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<T>> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  try {
    for (;;) {
      const refusal = tokens.recheck(caller);
      if (refusal !== undefined) throw refusal === "unverifiable" ? unverifiableToken() : refusedToken(refusal);
      const untilExpiry = (caller.token?.expireTime.getTime() ?? Infinity) - Date.now();
      const tick = new Promise<"tick">(
        (resolve) => (timer = setTimeout(() => resolve("tick"), Math.max(0, Math.min(recheckMs, untilExpiry)))),
      );
      // One next() at a time: a tick leaves it pending for the next turn.
      pending ??= iterator.next();
      const outcome = await Promise.race([pending, tick]);
      clearTimeout(timer);
      if (outcome === "tick") continue;
      pending = undefined;
      if (outcome.done === true) {
        finished = true;
        return;
      }
      yield outcome.value;
    }
  } finally {
    clearTimeout(timer);
    // Not awaited: a handler parked in a wait ends when the call's signal aborts, which
    // ending this stream brings about.
    if (!finished) void iterator.return?.()?.catch(() => undefined);
  }
}
