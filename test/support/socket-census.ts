/**
 * What the kernel says about an in-process server's connections: the TCP states of the
 * sockets bound to its port (/proc/net/tcp and tcp6) and this process's open file
 * descriptors (/proc/self/fd). A peer the server forgot shows up here as CLOSE-WAIT and
 * an fd that never goes away, whatever the server's own bookkeeping believes.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { eventually } from "./expectations.js";

/** Names of the kernel's TCP states (include/net/tcp_states.h), by their hex code. */
const tcpStateNames: Record<string, string> = {
  "01": "ESTABLISHED",
  "02": "SYN_SENT",
  "03": "SYN_RECV",
  "04": "FIN_WAIT1",
  "05": "FIN_WAIT2",
  "06": "TIME_WAIT",
  "07": "CLOSE",
  "08": "CLOSE_WAIT",
  "09": "LAST_ACK",
  "0A": "LISTEN",
  "0B": "CLOSING",
  "0C": "NEW_SYN_RECV",
};

/** How many sockets with local port `port` are in each TCP state (listening socket included). */
export function socketStates(port: number): Record<string, number> {
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const counts: Record<string, number> = {};
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      // columns: sl, local_address (hexip:hexport), rem_address, st, …
      const columns = line.trim().split(/\s+/);
      if (columns[1]?.endsWith(portHex) !== true) continue;
      const state = tcpStateNames[columns[3] ?? ""] ?? columns[3] ?? "?";
      counts[state] = (counts[state] ?? 0) + 1;
    }
  }
  return counts;
}

/**
 * The kernel timer of each ESTABLISHED server-side socket on `port` (the `tr` and
 * `tm->when` columns): timer 2 on an established socket is the keepalive timer, 0 none;
 * `seconds` is when it fires (clock ticks of 1/100 s).
 */
export function establishedTimers(port: number): { timer: number; seconds: number }[] {
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const timers: { timer: number; seconds: number }[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      // columns: sl, local_address, rem_address, st, tx_queue:rx_queue, tr:tm->when, …
      const columns = line.trim().split(/\s+/);
      if (columns[1]?.endsWith(portHex) !== true || columns[3] !== "01") continue;
      const [timer, when] = (columns[5] ?? "0:0").split(":").map((hex) => parseInt(hex, 16));
      timers.push({ timer: timer!, seconds: when! / 100 });
    }
  }
  return timers;
}

/** Sockets on the server's side of `port` that still hold an fd: all but LISTEN and the kernel-only states. */
export function serverConnections(port: number): number {
  const states = socketStates(port);
  return (states.ESTABLISHED ?? 0) + (states.CLOSE_WAIT ?? 0);
}

/** This process's open file descriptors. */
export function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** This process's open file descriptors and what each points at (`socket:[inode]`, a pipe, a file). */
export function fdTargets(): Map<string, string> {
  const targets = new Map<string, string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      targets.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed between the listing and the read
    }
  }
  return targets;
}

/**
 * Waits until `port` has no server-side connection left and no socket in CLOSE-WAIT;
 * returns how long that took. Fails with the states seen when `ms` passes first.
 */
export async function connectionsGone(port: number, ms: number): Promise<number> {
  const started = performance.now();
  try {
    await eventually(ms, "server-side connections closed", async () => (serverConnections(port) === 0 ? true : undefined), 10);
  } catch {
    throw new Error(`connections on port ${port} still open after ${ms} ms: ${JSON.stringify(socketStates(port))}`);
  }
  return performance.now() - started;
}

/** Each TCP socket's inode with its local and remote port, from /proc/net/tcp and tcp6. */
function tcpSocketsByInode(): Map<string, { local: number; remote: number; state: string }> {
  const sockets = new Map<string, { local: number; remote: number; state: string }>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      // columns: sl, local_address, rem_address, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode
      const columns = line.trim().split(/\s+/);
      if (columns.length < 10) continue;
      const port = (address: string) => parseInt(address.split(":").pop()!, 16);
      sockets.set(columns[9]!, { local: port(columns[1]!), remote: port(columns[2]!), state: tcpStateNames[columns[3]!] ?? columns[3]! });
    }
  }
  return sockets;
}

/**
 * Waits until every fd this process opened since `before` was taken is closed again, but
 * for TCP sockets that touch neither side of `port` (a database pool that grew, say: not
 * the server's peers). Fails after `ms`, naming each fd still open and what it points at.
 * Returns the fd count then.
 */
export async function fdsBackTo(before: Map<string, string>, port: number, ms: number): Promise<number> {
  let held: string[] = [];
  try {
    return await eventually(ms, "fds back to their baseline", async () => {
      const sockets = tcpSocketsByInode();
      const now = fdTargets();
      held = [];
      for (const [fd, target] of now) {
        if (before.get(fd) === target) continue;
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        const tcp = inode === undefined ? undefined : sockets.get(inode);
        if (tcp !== undefined && tcp.local !== port && tcp.remote !== port) continue;
        held.push(`${fd} → ${target}${tcp === undefined ? "" : ` (tcp ${tcp.local} → ${tcp.remote} ${tcp.state})`}`);
      }
      return held.length === 0 ? now.size : undefined;
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}; still open: ${held.join(", ")}`, { cause: error });
  }
}
