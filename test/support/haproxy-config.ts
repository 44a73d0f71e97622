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

/** The configuration file's text for `options`; `haproxy -c -f` accepts it (test/cluster/haproxy-config.test.ts). */
export function haproxyConfig(options: HaproxyConfigOptions): string {
  const checkMs = options.checkIntervalMs ?? 1000;
  const idleMs = options.streamIdleTimeoutMs ?? 3_600_000;
  const lines = [
    "global",
    `    maxconn ${options.maxConnections ?? 8000}`,
    // Streams per client HTTP/2 connection; clients queue calls beyond it.
    `    tune.h2.max-concurrent-streams ${options.clientStreamsPerConnection ?? 100}`,
    ...(options.adminSocket === undefined ? [] : [`    stats socket ${options.adminSocket} mode 600 level admin`]),
    "",
    "defaults",
    "    mode http",
    "    timeout connect 2s",
    // A request's headers must arrive within this; a stream's body never waits on it.
    "    timeout http-request 10s",
    // A watched run may be quiet for long: a stream idle in both directions for this long
    // is ended (clients resume). SSE sends a keep-alive comment every 15 s; RPC streams
    // send nothing while the run is quiet, so this bounds how long they may stay idle.
    `    timeout client ${idleMs}ms`,
    `    timeout server ${idleMs}ms`,
    // For upgraded connections (WebSocket, CONNECT); Runline has none, but a tunnel must
    // not fall back to the short timeouts should one be added in front of it.
    `    timeout tunnel ${idleMs}ms`,
    "    timeout http-keep-alive 65s",
    // Forward each request body as it comes (the default, stated): a client stream or a
    // large ingest is never held back until complete.
    "    no option http-buffer-request",
    // A connection refused by a dead replica is retried on another one.
    "    retries 3",
    "    option redispatch 1",
    "",
    "frontend runline",
    // No `proto` on the bind: HAProxy reads the HTTP/2 preface itself, so h2c (gRPC,
    // Connect over HTTP/2) and HTTP/1.1 (REST, SSE, gRPC-web, Connect) share one port.
    `    bind ${options.frontendHost ?? "127.0.0.1"}:${options.frontendPort}`,
    "    default_backend replicas",
    // Which replica served a call: for operators, and for the tests that kill it.
    "    http-response set-header x-runline-replica %[srv_name]",
    "",
    "backend replicas",
    // Streams are long and uneven: send each new one to the replica serving the fewest.
    "    balance leastconn",
    "    option httpchk",
    // Checks go over HTTP/2 like the calls; HAProxy 2.6 fails an h2 check that has no
    // Host header ("Socket error", measured), so one is named.
    "    http-check send meth GET uri /readyz hdr host runline",
    "    http-check expect status 200",
    // HTTP/2 cleartext to the replicas: gRPC needs it (trailers), and many streams share
    // a few connections. A replica marked down
    // has its streams cut at once, so their clients resume on another one rather than wait
    // on a replica that stopped answering.
    `    default-server proto h2 check inter ${checkMs}ms fall 2 rise 2 on-marked-down shutdown-sessions`,
    ...options.replicas.map((replica) => `    server ${replica.name} ${replica.host}:${replica.port}`),
    "",
  ];
  return lines.join("\n");
}
