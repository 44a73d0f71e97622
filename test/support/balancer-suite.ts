/**
 * Whether the tests through a real HAProxy can run here and, when not, a reason that goes
 * into their names. A machine without `haproxy` skips them, saying so; CI never may:
 * under CI=true a missing `haproxy` fails them (.ci/run installs it).
 */
import { findHaproxy } from "./haproxy-cluster.js";

/** Why the balancer tests are skipped here, or undefined when they run (always under CI=true). */
export function balancerSkipReason(): string | undefined {
  if (findHaproxy() !== undefined || process.env.CI === "true") return undefined;
  return "skipped: haproxy is not installed (apt-get install haproxy; under CI=true this fails instead)";
}

/** A suite name with the skip reason, if any, in it: the report then says why it did not run. */
export function balancerSuiteName(name: string): string {
  const reason = balancerSkipReason();
  return reason === undefined ? name : `${name} (${reason})`;
}
