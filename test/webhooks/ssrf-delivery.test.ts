/**
 * The SSRF guard at delivery time (sendWebhook): every address the host resolves to is
 * checked, and the connection goes to a checked address without asking DNS again. DNS is
 * played by an injected resolver (made-up names), except for `localhost`; receivers are
 * real servers on loopback, trusted through a test certificate where https:// is needed.
 */
import { once } from "node:events";
import https from "node:https";
import type { AddressInfo, LookupFunction } from "node:net";
import { isIP } from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendWebhook } from "../../src/webhooks/send-webhook.js";
import { parseAllowList, type TargetPolicy } from "../../src/webhooks/target-policy.js";
import { createSelfSignedCertificate } from "../support/tls-certificate.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";

const none = parseAllowList("");
const request = (url: string) => ({ url, headers: { "content-type": "application/json" }, body: '{"type":"run.succeeded"}' });
const send = (url: string, policy: TargetPolicy, lookup?: LookupFunction) =>
  sendWebhook(request(url), { policy, timeoutMs: 5_000, ...(lookup === undefined ? {} : { lookup }) });

/** A resolver for made-up names: each call answers with `answer(callNumber)`; counts calls. */
function fakeDns(answer: (call: number) => readonly string[]): { lookup: LookupFunction; calls: () => number } {
  let calls = 0;
  const lookup: LookupFunction = (hostname, options, callback) => {
    const addresses = answer(calls++).map((address) => ({ address, family: isIP(address) }));
    setImmediate(() => {
      if (options.all === true) callback(null, addresses);
      else callback(null, addresses[0]?.address ?? "", addresses[0]?.family);
    });
  };
  return { lookup, calls: () => calls };
}

/** Each refused address with why it is refused, as the reason says it. */
const refusedAddresses = [
  ["127.0.0.1", "in the loopback range"],
  ["::1", "in the loopback range"],
  ["10.20.30.40", "in the private range"],
  ["172.16.0.1", "in the private range"],
  ["192.168.0.1", "in the private range"],
  ["169.254.169.254", "in the linkLocal range"],
  ["100.64.1.2", "in the carrierGradeNat range"],
  ["224.0.0.1", "in the multicast range"],
  ["0.0.0.0", "in the unspecified range"],
  ["fc00::1", "in the uniqueLocal range"],
  ["fe80::1", "in the linkLocal range"],
  ["::ffff:127.0.0.1", "in the loopback range"],
  ["::ffff:10.0.0.1", "in the private range"],
  ["2002:a00:1::1", "6to4 carrying 10.0.0.1, which is in the private range"],
] as const;

describe("sendWebhook refuses non-public addresses", () => {
  it.each(refusedAddresses)("as a literal IP: %s (%s)", async (address, why) => {
    const host = isIP(address) === 6 ? `[${address}]` : address;
    const result = await send(`https://${host}/hook`, none);
    expect(result.kind).toBe("refused");
    expect(result.kind === "refused" && result.reason).toContain(why);
  });

  it.each(refusedAddresses)("behind a name resolving to %s (%s)", async (address, why) => {
    const dns = fakeDns(() => [address]);
    const result = await send("https://hooks.example.test/hook", none, dns.lookup);
    expect(result).toMatchObject({
      kind: "refused",
      reason: `hooks.example.test resolves to ${address}, which is ${why}, and the allow-list does not name it`,
    });
  });

  it("behind localhost, resolved by the system resolver", async () => {
    const result = await send("https://localhost/hook", none);
    expect(result.kind).toBe("refused");
    expect(result.kind === "refused" && result.reason).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), which is in the loopback range/);
  });

  it("when one of the name's addresses is private, whichever comes first", async () => {
    for (const addresses of [
      ["93.184.216.34", "10.0.0.1"],
      ["10.0.0.1", "93.184.216.34"],
      ["2606:4700::1111", "fd12::1"],
    ]) {
      const result = await send("https://mixed.example.test/", none, fakeDns(() => addresses).lookup);
      expect(result.kind).toBe("refused");
      expect(result.kind === "refused" && result.reason).toContain(addresses.find((a) => /^(10\.|fd)/.test(a)));
    }
  });

  it("refuses http:// to a public host, before any lookup", async () => {
    const dns = fakeDns(() => ["93.184.216.34"]);
    const result = await send("http://hooks.example.test/", none, dns.lookup);
    expect(result).toMatchObject({ kind: "refused", reason: "URL must be https:// (http:// only for allowed hosts)" });
    expect(dns.calls()).toBe(0);
  });
});

describe("sendWebhook lets the allow-list through", () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver({ script: () => ({ status: 200, body: "ok" }) });
  });
  afterAll(() => receiver.close());

  it("a loopback address inside an allowed CIDR, over http://", async () => {
    const result = await send(receiver.url("/cidr"), parseAllowList("127.0.0.1/32"));
    expect(result).toMatchObject({ kind: "answered", status: 200, body: "ok" });
    expect(receiver.received().at(-1)?.path).toBe("/cidr");
  });

  it("an allowed host name, whatever it resolves to, keeping its Host header", async () => {
    const dns = fakeDns(() => ["127.0.0.1"]);
    const url = `http://hooks.internal:${receiver.port}/named`;
    const result = await send(url, parseAllowList("Hooks.Internal"), dns.lookup);
    expect(result).toMatchObject({ kind: "answered", status: 200 });
    expect(receiver.received().at(-1)).toMatchObject({ path: "/named", headers: { host: `hooks.internal:${receiver.port}` } });
    expect(dns.calls()).toBe(1);
  });

  it("but not an address outside the allowed CIDR", async () => {
    const result = await send(`http://127.0.0.2:${receiver.port}/`, parseAllowList("127.0.0.1/32"));
    expect(result.kind).toBe("refused");
  });
});

/** An https receiver on `address` for `hostName`: counts TLS connections, records SNI and Host, answers 200. */
async function startTlsReceiver(address: string, certificate: { cert: Buffer; key: Buffer }, port = 0) {
  const seen = { connections: 0, serverNames: [] as string[], hosts: [] as string[] };
  const server = https.createServer(certificate, (incoming, response) => {
    seen.hosts.push(incoming.headers.host ?? "");
    incoming.resume().on("end", () => response.writeHead(200).end(`hello from ${address}`));
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    seen.connections += 1;
    seen.serverNames.push(typeof socket.servername === "string" ? socket.servername : "");
  });
  server.listen(port, address);
  await once(server, "listening");
  return { seen, port: (server.address() as AddressInfo).port, close: () => server.close() };
}

describe("sendWebhook connects to the address it checked", () => {
  const hostName = "rebind.example.test";
  const certificate = createSelfSignedCertificate(hostName);
  let checked: Awaited<ReturnType<typeof startTlsReceiver>>;
  let forbidden: Awaited<ReturnType<typeof startTlsReceiver>>;
  beforeAll(async () => {
    tls.setDefaultCACertificates([...tls.getCACertificates("default"), certificate.cert.toString()]);
    checked = await startTlsReceiver("127.0.0.2", certificate);
    forbidden = await startTlsReceiver("127.0.0.1", certificate, checked.port);
  });
  afterAll(() => {
    checked.close();
    forbidden.close();
  });

  it("a name answering an allowed address first and a forbidden one after is asked once and never reaches the second", async () => {
    // 127.0.0.2 stands for a public address (allowed by CIDR); 127.0.0.1 is not allowed.
    const dns = fakeDns((call) => (call === 0 ? ["127.0.0.2"] : ["127.0.0.1"]));
    const result = await send(`https://${hostName}:${checked.port}/hook`, parseAllowList("127.0.0.2/32"), dns.lookup);
    expect(result).toMatchObject({ kind: "answered", status: 200, body: "hello from 127.0.0.2" });
    expect(dns.calls()).toBe(1);
    expect(checked.seen).toEqual({ connections: 1, serverNames: [hostName], hosts: [`${hostName}:${checked.port}`] });
    expect(forbidden.seen.connections).toBe(0);
  });
});
