/**
 * Keep-alive connections for webhook attempts, reused only where the SSRF guard's check
 * holds (issue 13). A new TCP (and TLS) connection per attempt cost the dispatcher more
 * CPU than signing and rendering together, so attempts to one target share sockets; but
 * a pooled socket must never lead somewhere the guard did not check. Hence one agent per
 * target (scheme, host, port) AND the exact set of addresses that host was resolved to
 * and checked for on this attempt: the agent's own resolver answers with those addresses
 * only, so every socket it opens, and therefore every socket it hands out again, is
 * connected to a checked address. When the host's DNS answer changes, the attempt gets
 * another agent; the old one's idle sockets close when it idles out or leaves the cache.
 */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import { LRUCache } from "lru-cache";

/** How the agents are bounded. */
export interface TargetAgentOptions {
  /** Agents kept (targets × address sets); the least recently used one is closed beyond it. */
  readonly maxTargets: number;
  /** Sockets per agent, open and idle (config.webhooks.hostConcurrency). */
  readonly socketsPerTarget: number;
  /** An idle socket is closed after this long (and sooner if the receiver's Keep-Alive header says so). */
  readonly idleMs: number;
}

/** The agents of one dispatcher; close() when it stops. */
export interface TargetAgents {
  /** The agent for `url` whose host was checked to resolve to exactly `addresses`. */
  agentFor(url: URL, addresses: readonly LookupAddress[]): HttpAgent;
  /** Closes every socket of every agent. */
  close(): void;
}

/** Agents that resolve with checkedLookup over the addresses they were made for. */
export function createTargetAgents(options: TargetAgentOptions): TargetAgents {
  const agents = new LRUCache<string, HttpAgent>({
    // Attempts in flight are far fewer than this, so an agent closed for room is an idle one.
    max: options.maxTargets,
    dispose: (agent) => agent.destroy(),
  });
  return {
    agentFor(url, addresses) {
      const key = `${url.protocol}//${url.host}|${addresses
        .map((entry) => entry.address)
        .sort()
        .join(",")}`;
      let agent = agents.get(key);
      if (agent === undefined) {
        const settings = {
          keepAlive: true,
          maxSockets: options.socketsPerTarget,
          maxFreeSockets: options.socketsPerTarget,
          timeout: options.idleMs,
          lookup: checkedLookup(addresses),
        };
        agent = url.protocol === "https:" ? new HttpsAgent(settings) : new HttpAgent(settings);
        agents.set(key, agent);
      }
      return agent;
    },
    close() {
      agents.clear();
    },
  };
}

/**
 * The resolver handed to http(s).request: it answers with the checked addresses and
 * never asks DNS again. Node asks with `all: true` when it races IPv4 and IPv6
 * (autoSelectFamily), and may ask for one family only.
 */
export function checkedLookup(addresses: readonly LookupAddress[]): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : options.family;
    const usable = family === 4 || family === 6 ? addresses.filter((entry) => entry.family === family) : addresses;
    const [first] = usable;
    if (first === undefined) {
      callback(Object.assign(new Error(`${hostname} has no checked IPv${family} address`), { code: "ENOTFOUND" }), "");
    } else if (options.all === true) {
      callback(null, [...usable]);
    } else {
      callback(null, first.address, first.family);
    }
  };
}
