/**
 * Where webhooks may go: the SSRF guard's rules (issue 13). A webhook URL is chosen by a
 * tenant, and the server POSTs to it from inside the deployment's network, so without
 * these rules a tenant could reach loopback services, private networks or the cloud
 * metadata endpoint. Only public unicast addresses pass, unless the server's allow-list
 * (`RUNLINE_WEBHOOK_ALLOW`: host names and CIDRs) names the host or the address, which is
 * how tests and private deployments reach local receivers; `http://` is only for those.
 *
 * Addresses are classified by ipaddr.js's range names; anything it does not call
 * `unicast` is refused (deny by default), except the IPv6 forms that carry an IPv4
 * address (6to4, Teredo, NAT64), which are judged by the IPv4 address they carry.
 * checkTargetUrl is syntactic (create time); send-webhook.ts applies checkAddress to
 * every resolved address at delivery time.
 */
import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** The allow-list, parsed once at start-up: exact host names and address ranges. */
export interface TargetPolicy {
  /** Host names (lowercase ASCII, no trailing dot) whose every address is accepted, and that may use http://. */
  readonly hosts: ReadonlySet<string>;
  /** Ranges whose addresses are accepted whatever their class; a literal IP inside one may use http://. */
  readonly ranges: readonly (readonly [Address, number])[];
}

/** Thrown by parseAllowList for an entry that is neither a host name nor a CIDR; names the entry. */
export class AllowListError extends Error {
  constructor(
    /** The entry as written. */
    readonly entry: string,
  ) {
    super(`allow-list entry "${entry}" is neither a host name nor a CIDR (e.g. hooks.internal, 10.0.0.0/8, fd00::/8)`);
    this.name = "AllowListError";
  }
}

/** The longest URL accepted: longer ones are more likely an attack than an endpoint. */
const maxTargetUrlLength = 2048;

/** The problem reported for http:// to a host the allow-list does not name. */
const httpsOnly = "must be https:// (http:// only for allowed hosts)";

/** One label of a host name: letters, digits, hyphens, underscores (seen in internal DNS). */
const hostLabel = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Parses the allow-list text (comma-separated; blanks around entries and empty entries
 * ignored). A bare IP counts as a one-address range. Throws AllowListError for a bad
 * entry, so the server refuses to start on a typo instead of silently allowing less.
 */
export function parseAllowList(text: string): TargetPolicy {
  const hosts = new Set<string>();
  const ranges: (readonly [Address, number])[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const range = parseRange(entry);
    if (range !== undefined) {
      ranges.push(range);
      continue;
    }
    const host = normalizeHostName(entry);
    if (host === undefined) throw new AllowListError(entry);
    hosts.add(host);
  }
  return { hosts, ranges };
}

/**
 * Checks a webhook URL without resolving it (create time): absolute http(s) URL of at
 * most 2048 characters, no credentials, http:// only for allowed hosts, and no literal IP
 * outside public unicast unless allowed. Returns the problem, or undefined when the URL
 * is acceptable. Names that resolve to refused addresses are caught at delivery time.
 */
export function checkTargetUrl(url: string, policy: TargetPolicy): string | undefined {
  if (url.length > maxTargetUrlLength) return `must be at most ${maxTargetUrlLength} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "must be an absolute URL";
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return httpsOnly;
  if (parsed.username !== "" || parsed.password !== "") return "must not contain credentials";
  const host = targetHost(parsed);
  const literal = isIP(host) === 0 ? undefined : ipaddr.parse(host);
  const allowed = policy.hosts.has(host) || (literal !== undefined && inAllowedRange(literal, policy));
  if (parsed.protocol === "http:" && !allowed) return httpsOnly;
  if (literal !== undefined && !allowed) {
    const refusal = refusedRange(literal);
    if (refusal !== undefined) return `must not point at a non-public address (${host} is ${refusal})`;
  }
  return undefined;
}

/**
 * The URL's host as the allow-list and the resolver see it: lowercase, IPv6 without
 * brackets, no trailing dot (the WHATWG parser has already made names ASCII and
 * normalised IPv4 forms such as `0x7f.1` to dotted quads).
 */
export function targetHost(url: URL): string {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/**
 * Judges one resolved address of `host` for delivery: undefined when it may be connected
 * to, else why not (which address, which range). An allowed host name accepts all its
 * addresses, an allowed range the addresses inside it.
 */
export function checkAddress(address: string, host: string, policy: TargetPolicy): string | undefined {
  if (policy.hosts.has(host)) return undefined;
  if (isIP(address) === 0) return `${host} resolved to "${address}", which is not an IP address`;
  const parsed = ipaddr.parse(address);
  if (inAllowedRange(parsed, policy)) return undefined;
  const refusal = refusedRange(parsed);
  if (refusal === undefined) return undefined;
  const subject = host === address ? address : `${host} resolves to ${address}, which`;
  return `${subject} is ${refusal}, and the allow-list does not name it`;
}

/** Whether an allowed range holds the address (IPv4-mapped IPv6 is compared as IPv4). */
function inAllowedRange(address: Address, policy: TargetPolicy): boolean {
  const plain = unmapped(address);
  return policy.ranges.some(([base, bits]) => base.kind() === plain.kind() && plain.match(base, bits));
}

/**
 * Why an address is not public unicast (e.g. "private (10.0.0.0/8 class)"), or undefined
 * when it is. IPv4-mapped IPv6 is judged as the IPv4 address; 6to4, Teredo and NAT64
 * addresses by the IPv4 address they embed, since that is where the packets end up.
 */
function refusedRange(address: Address): string | undefined {
  const plain = unmapped(address);
  const range = plain.range();
  if (range === "unicast") {
    // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291) is unicast to ipaddr; no receiver lives there.
    const compatible = plain.kind() === "ipv6" && (plain as ipaddr.IPv6).parts.slice(0, 6).every((part) => part === 0);
    return compatible ? "in the deprecated IPv4-compatible range (::/96)" : undefined;
  }
  if (plain.kind() === "ipv6") {
    const embedded = embeddedIPv4(plain as ipaddr.IPv6, range);
    if (embedded !== undefined) {
      const inner = refusedRange(embedded);
      return inner === undefined ? undefined : `${range} carrying ${embedded.toString()}, which is ${inner}`;
    }
  }
  return `in the ${range} range`;
}

/** The IPv4 address inside a 6to4 (bits 16–47), Teredo (client, bits 96–127 inverted) or NAT64 (last 32 bits) address. */
function embeddedIPv4(address: ipaddr.IPv6, range: string): ipaddr.IPv4 | undefined {
  const bytes = address.toByteArray();
  if (range === "6to4") return new ipaddr.IPv4(bytes.slice(2, 6));
  if (range === "teredo") return new ipaddr.IPv4(bytes.slice(12, 16).map((byte) => byte ^ 0xff));
  if (range === "rfc6052") return new ipaddr.IPv4(bytes.slice(12, 16));
  return undefined;
}

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as the IPv4 address it stands for. */
function unmapped(address: Address): Address {
  return address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

/**
 * A CIDR or bare IP entry as a range (IPv4-mapped IPv6 as IPv4), undefined if the entry
 * is no address. node:net's strict isIP, not ipaddr's parser, decides what is an address:
 * ipaddr reads `010.0.0.0` as octal (8.0.0.0), which is not what anyone writing it means.
 */
function parseRange(entry: string): readonly [Address, number] | undefined {
  const [ip = "", bits, extra] = entry.split("/");
  const version = isIP(ip);
  if (version === 0 || extra !== undefined) return undefined;
  const maxBits = version === 4 ? 32 : 128;
  if (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits)) return undefined;
  const base = ipaddr.parse(ip);
  const prefix = bits === undefined ? maxBits : Number(bits);
  if (base.kind() === "ipv6" && (base as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
    return [(base as ipaddr.IPv6).toIPv4Address(), prefix - 96];
  }
  return [base, prefix];
}

/** A host name entry in the form targetHost gives (lowercase ASCII, no trailing dot), or undefined if it is not one. */
function normalizeHostName(entry: string): string | undefined {
  const ascii = domainToASCII(entry.endsWith(".") ? entry.slice(0, -1) : entry);
  if (ascii === "" || ascii.length > 253) return undefined;
  const labels = ascii.split(".");
  // A numeric last label makes the URL parser read the host as IPv4: such a name never matches.
  if (/^(?:\d+|0x[0-9a-f]*)$/.test(labels.at(-1) ?? "")) return undefined;
  return labels.every((label) => hostLabel.test(label)) ? ascii : undefined;
}
