/**
 * The SSRF guard's rules without the network: the allow-list (RUNLINE_WEBHOOK_ALLOW) is
 * parsed strictly, naming a bad entry, and a webhook URL is checked at create time
 * (absolute http(s), https:// unless allowed, no credentials, at most 2048 characters,
 * no literal non-public address unless allowed).
 */
import { describe, expect, it } from "vitest";
import { AllowListError, checkTargetUrl, parseAllowList } from "../../src/webhooks/target-policy.js";

const none = parseAllowList("");
const httpsOnly = "must be https:// (http:// only for allowed hosts)";

describe("parseAllowList", () => {
  it("reads host names (any case, trailing dot) and IPv4/IPv6 CIDRs, ignoring blanks and empty entries", () => {
    const policy = parseAllowList(" Hooks.Internal. , 127.0.0.1/32,,fd00::/8, 10.1.2.3 ,");
    expect([...policy.hosts]).toEqual(["hooks.internal"]);
    expect(policy.ranges.map(([base, bits]) => `${base.toString()}/${bits}`)).toEqual(["127.0.0.1/32", "fd00::/8", "10.1.2.3/32"]);
  });

  it("reads an IPv4-mapped IPv6 range as the IPv4 range it stands for", () => {
    const policy = parseAllowList("::ffff:10.0.0.0/104");
    expect(policy.ranges.map(([base, bits]) => `${base.toString()}/${bits}`)).toEqual(["10.0.0.0/8"]);
  });

  it.each([
    "10.0.0.0/33",
    "fd00::/129",
    "10.0.0.0/8/8",
    "010.0.0.0/8",
    "10.1",
    "http://hooks.internal",
    "hooks.internal:8080",
    "*.example.com",
    "two words",
    "-leading.example",
  ])("refuses %j, naming it", (entry) => {
    let thrown: unknown;
    try {
      parseAllowList(`127.0.0.1/32,${entry},hooks.internal`);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AllowListError);
    expect((thrown as AllowListError).entry).toBe(entry);
    expect((thrown as Error).message).toContain(`"${entry}"`);
  });
});

describe("checkTargetUrl", () => {
  it("accepts a public https:// URL with port, path and query", () => {
    expect(checkTargetUrl("https://hooks.example.com:8443/runline?team=a", none)).toBeUndefined();
    expect(checkTargetUrl("https://93.184.216.34/hook", none)).toBeUndefined();
    expect(checkTargetUrl("https://[2606:4700::1111]/hook", none)).toBeUndefined();
  });

  it.each([
    ["hooks.example.com/path", "must be an absolute URL"],
    ["/relative", "must be an absolute URL"],
    ["ftp://hooks.example.com/", httpsOnly],
    ["file:///etc/passwd", httpsOnly],
    ["https://user:secret@hooks.example.com/", "must not contain credentials"],
    ["https://token@hooks.example.com/", "must not contain credentials"],
    [`https://hooks.example.com/${"a".repeat(2048)}`, "must be at most 2048 characters"],
  ])("refuses %j: %s", (url, problem) => {
    expect(checkTargetUrl(url, none)).toBe(problem);
  });

  it("refuses http:// unless the host name is allowed or the literal IP is in an allowed range", () => {
    const policy = parseAllowList("hooks.internal,127.0.0.1/32,fd00::/8");
    expect(checkTargetUrl("http://hooks.example.com/", policy)).toBe(httpsOnly);
    expect(checkTargetUrl("http://127.0.0.2/", policy)).toBe(httpsOnly);
    expect(checkTargetUrl("http://hooks.internal/", none)).toBe(httpsOnly);
    expect(checkTargetUrl("http://HOOKS.internal.:8080/x", policy)).toBeUndefined();
    expect(checkTargetUrl("http://127.0.0.1:9000/x", policy)).toBeUndefined();
    expect(checkTargetUrl("http://[fd00::5]/x", policy)).toBeUndefined();
  });

  it.each([
    ["https://127.0.0.1/", "loopback"],
    ["https://0x7f.1/", "loopback"],
    ["https://2130706433/", "loopback"],
    ["https://[::1]/", "loopback"],
    ["https://10.0.0.1/", "private"],
    ["https://172.16.5.4/", "private"],
    ["https://192.168.1.1/", "private"],
    ["https://169.254.169.254/latest/meta-data/", "linkLocal"],
    ["https://100.64.0.1/", "carrierGradeNat"],
    ["https://224.0.0.1/", "multicast"],
    ["https://0.0.0.0/", "unspecified"],
    ["https://255.255.255.255/", "broadcast"],
    ["https://[fc00::1]/", "uniqueLocal"],
    ["https://[fe80::1]/", "linkLocal"],
    ["https://[::ffff:127.0.0.1]/", "loopback"],
    ["https://[::ffff:10.0.0.1]/", "private"],
  ])("refuses the literal address in %s (%s) already at create time", (url, range) => {
    expect(checkTargetUrl(url, none)).toMatch(new RegExp(`^must not point at a non-public address \\(.* ${range}`));
  });

  it("accepts a literal non-public address inside an allowed range", () => {
    expect(checkTargetUrl("https://10.0.0.7/", parseAllowList("10.0.0.0/8"))).toBeUndefined();
    expect(checkTargetUrl("https://[::ffff:10.0.0.7]/", parseAllowList("10.0.0.0/8"))).toBeUndefined();
  });

  it("leaves names to delivery time: a name is not resolved here", () => {
    expect(checkTargetUrl("https://localhost/", none)).toBeUndefined();
  });
});
