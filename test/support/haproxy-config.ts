/**
 * The HAProxy configuration for Runline replicas, as text: the one the cluster harness
 * runs and the README's worked example, so what operators read is what the tests prove.
 * Each setting says why it is there; the long-stream ones are the point of it.
 */

/** One Runline replica as HAProxy sees it. */
export interface BackendReplica {
  /** The server's name in HAProxy: shown in `x-runline-replica` and in `show stat`. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** What the generated configuration depends on; every field but the first two has a default. */
export interface HaproxyConfigOptions {
  /** The one port clients reach, for HTTP/1.1 and h2c (HTTP/2 prior knowledge) alike. */
  readonly frontendPort: number;
  readonly replicas: readonly BackendReplica[];
  /** Address the frontend binds. Default: `127.0.0.1`. */
  readonly frontendHost?: string;
  /** A Unix socket for the runtime API (`show stat`, `disable server`); none when undefined. */
  readonly adminSocket?: string;
  /**
   * Health-check interval in ms (`inter`); a replica is marked down after `fall` (2)
   * failed checks and up after `rise` (2) good ones. Default: 1000.
   */
  readonly checkIntervalMs?: number;
  /** Idle time after which HAProxy ends a stream (`timeout client` and `timeout server`). Default: 3600000 (1 h). */
  readonly streamIdleTimeoutMs?: number;
  /** Concurrent streams HAProxy accepts on one client HTTP/2 connection (`tune.h2.max-concurrent-streams`). Default: 100. */
  readonly clientStreamsPerConnection?: number;
  /** Client connections the whole balancer accepts at once (`maxconn`; it needs about two descriptors each). Default: 8000. */
  readonly maxConnections?: number;
}

/** `ms` as HAProxy reads it, in the largest whole unit (`1h`, `30s`, `250ms`). */
function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * The configuration file's text for `options`, with a comment on each setting that
 * matters to Runline; `haproxy -c` accepts it (test/cluster/balancer-protocols.test.ts).
 */
export function haproxyConfig(options: HaproxyConfigOptions): string {
  const check = duration(options.checkIntervalMs ?? 1000);
  const idle = duration(options.streamIdleTimeoutMs ?? 3_600_000);
  const lines = [
    "global",
    `    maxconn ${options.maxConnections ?? 8000}`,
    "    # Calls one client HTTP/2 connection may have open at once; clients queue beyond it.",
    `    tune.h2.max-concurrent-streams ${options.clientStreamsPerConnection ?? 100}`,
    ...(options.adminSocket === undefined ? [] : [`    stats socket ${options.adminSocket} mode 600 level admin`]),
    "",
    "defaults",
    "    mode http",
    "    timeout connect 2s",
    "    # A request's headers must come within this; a stream's body never waits on it.",
    "    timeout http-request 10s",
    "    # A stream idle both ways this long is cut (its client resumes). SSE sends a",
    "    # keep-alive comment every 15 s; RPC streams send nothing while the run is quiet.",
    `    timeout client ${idle}`,
    `    timeout server ${idle}`,
    "    # Upgraded connections (WebSocket): none today, but never the short timeouts.",
    `    timeout tunnel ${idle}`,
    "    timeout http-keep-alive 65s",
    "    # Pass request bodies on as they come (the default, stated).",
    "    no option http-buffer-request",
    "    # A connection refused by a dead replica is retried on another one.",
    "    retries 3",
    "    option redispatch 1",
    "",
    "frontend runline",
    "    # No `proto`: HAProxy spots the HTTP/2 preface, so h2c (gRPC, Connect) and",
    "    # HTTP/1.1 (REST, SSE, gRPC-web, Connect) share the port.",
    `    bind ${options.frontendHost ?? "127.0.0.1"}:${options.frontendPort}`,
    "    default_backend replicas",
    "    # Which replica served a call: for operators, and for tests that kill it.",
    "    http-response set-header x-runline-replica %[srv_name]",
    "",
    "backend replicas",
    "    # Streams are long and uneven: each new one goes to the replica serving fewest.",
    "    balance leastconn",
    "    option httpchk",
    '    # HAProxy 2.6 fails an HTTP/2 check without a Host header ("Socket error").',
    "    http-check send meth GET uri /readyz hdr host runline",
    "    http-check expect status 200",
    "    # HTTP/2 cleartext to the replicas (gRPC needs it; calls share few connections).",
    "    # A replica marked down has its streams cut at once, so their clients resume",
    "    # elsewhere instead of waiting on a replica that stopped answering.",
    `    default-server proto h2 check inter ${check} fall 2 rise 2 on-marked-down shutdown-sessions`,
    ...options.replicas.map((replica) => `    server ${replica.name} ${replica.host}:${replica.port}`),
    "",
  ];
  return lines.join("\n");
}
