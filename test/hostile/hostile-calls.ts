/**
 * One generated hostile call: an RPC from the catalog, a protocol that can carry it, a
 * key that reaches its handler, a hostile message in that protocol's encoding, and now
 * and then hostile framing on top (a wrong envelope length, a compressed flag with no
 * compression, a timeout header out of range, a wrong content type, bad base64 in a
 * Connect GET). `toWireRequest` turns it into the exact bytes the wire client sends.
 */
import fc from "fast-check";
import { catalog, type CatalogEntry, type KeyKind, type RestBinding } from "./rpc-catalog.js";
import { hostileJsonMessage, jsonText, type FieldFixtures, type JsonNode } from "./hostile-json.js";
import { hostileBinaryMessage } from "./hostile-protobuf.js";
import { hostileString } from "./hostile-values.js";
import { restRequestParts } from "./rest-request.js";

/** How a call reaches the server. */
export type Protocol = "grpc" | "grpc-web" | "connect-proto" | "connect-json" | "connect-get" | "rest";

/** Framing added on top of the message, or none. */
export type Framing =
  | { readonly kind: "plain" }
  | { readonly kind: "compressed-flag" }
  | { readonly kind: "length"; readonly delta: number }
  | { readonly kind: "encoding"; readonly name: string }
  | { readonly kind: "timeout"; readonly value: string }
  | { readonly kind: "content-type"; readonly value: string }
  | { readonly kind: "get-message"; readonly query: string };

/** A generated call, before it is put on the wire. */
export interface HostileCall {
  readonly entry: CatalogEntry;
  readonly protocol: Protocol;
  readonly key: KeyKind;
  /** Binary for gRPC, gRPC-web, Connect binary; JSON for Connect JSON and REST. A Connect GET carries either. */
  readonly payload: Uint8Array | JsonNode;
  readonly rest: RestBinding | undefined;
  /** Path segments that replace the ones the message would give (REST). */
  readonly pathSegments: readonly string[] | undefined;
  readonly framing: Framing;
}

function protocolsFor(entry: CatalogEntry): Protocol[] {
  if (entry.method.methodKind === "bidi_streaming" || entry.method.methodKind === "client_streaming")
    return ["grpc", "connect-proto", "connect-json"];
  const protocols: Protocol[] = ["grpc", "grpc-web", "connect-proto", "connect-json"];
  if (entry.connectGet) protocols.push("connect-get");
  if (entry.rest.length > 0) protocols.push("rest");
  return protocols;
}

const timeoutValues = ["99999999H", "0n", "1n", "-1S", "abc", "99999999999S", "1.5S", "", "9999999999999999999n", "100000000m"];
const connectTimeoutValues = ["-1", "0", "99999999999", "abc", "1e3", "10000000000000000000", "1.5"];

function framingFor(protocol: Protocol, unary: boolean): fc.Arbitrary<Framing> {
  const enveloped = protocol === "grpc" || protocol === "grpc-web" || (!unary && protocol.startsWith("connect"));
  const options: fc.WeightedArbitrary<Framing>[] = [{ arbitrary: fc.constant({ kind: "plain" }), weight: 16 }];
  const add = (arbitrary: fc.Arbitrary<Framing>) => options.push({ arbitrary, weight: 1 });
  if (enveloped) {
    add(fc.constant({ kind: "compressed-flag" }));
    add(fc.constantFrom(-3, -1, 7, 4096, 2 ** 31, 2 ** 32 - 1).map((delta) => ({ kind: "length", delta })));
  }
  if (protocol !== "connect-get")
    add(fc.constantFrom("gzip", "br", "snappy", "identity, gzip", "\u0001").map((name) => ({ kind: "encoding", name })));
  add(
    fc
      .constantFrom(
        ...(protocol.startsWith("connect")
          ? connectTimeoutValues
          : protocol === "rest"
            ? ["-1", "abc", "1e309", "99999999999", "NaN"]
            : timeoutValues),
      )
      .map((value) => ({ kind: "timeout", value })),
  );
  add(
    fc
      .constantFrom(
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-16",
        "application/grpc+json",
        "application/proto",
        "application/connect+json",
        "multipart/form-data; boundary=x",
        "",
      )
      .map((value) => ({ kind: "content-type", value })),
  );
  if (protocol === "connect-get") {
    add(
      fc
        .constantFrom(
          "encoding=proto&base64=1&message=!!!",
          "encoding=proto&base64=1&message=YQ===",
          "encoding=proto&message=%ff%fe",
          "encoding=json&message=%7B",
          "encoding=proto&compression=gzip&base64=1&message=AAAA",
          "encoding=bogus&message=",
          "encoding=proto&base64=1",
          "encoding=json&message=%ED%A0%80",
        )
        .map((query) => ({ kind: "get-message", query })),
    );
  }
  return fc.oneof(...options);
}

/** Hostile calls to every RPC of the catalog over every protocol that can carry it. */
export function hostileCall(fixtures: FieldFixtures): fc.Arbitrary<HostileCall> {
  const messages = new Map(
    catalog.map((entry) => [
      entry,
      { binary: hostileBinaryMessage(entry.method.input, fixtures), json: hostileJsonMessage(entry.method.input, fixtures) },
    ]),
  );
  return fc.constantFrom(...catalog).chain((entry) =>
    fc.constantFrom(...protocolsFor(entry)).chain((protocol) => {
      const { binary, json } = messages.get(entry)!;
      const payload =
        protocol === "connect-json" || protocol === "rest" ? json : protocol === "connect-get" ? fc.oneof(binary, json) : binary;
      return fc.record({
        entry: fc.constant(entry),
        protocol: fc.constant(protocol),
        key: fc.constantFrom(...entry.keys),
        payload: payload as fc.Arbitrary<Uint8Array | JsonNode>,
        rest: protocol === "rest" ? fc.constantFrom(...entry.rest) : fc.constant(undefined),
        pathSegments:
          protocol === "rest"
            ? fc.option(
                fc.array(fc.oneof(hostileString, fc.constantFrom("%", "%zz", "%00", "..", "%2F", "a%ED%A0%80", "%C0%80")), {
                  minLength: 1,
                  maxLength: 2,
                }),
                { freq: 4, nil: undefined },
              )
            : fc.constant(undefined),
        framing: framingFor(protocol, entry.method.methodKind === "unary"),
      });
    }),
  );
}

function envelope(payload: Uint8Array, framing: Framing): Uint8Array {
  const head = Buffer.alloc(5);
  head[0] = framing.kind === "compressed-flag" ? 1 : 0;
  const length = framing.kind === "length" ? (payload.length + framing.delta) % 2 ** 32 : payload.length;
  head.writeUInt32BE(Math.max(0, length), 1);
  return Buffer.concat([head, payload]);
}

const base64Url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/** The call's request as the wire client sends it, with `key` as the bearer token. */
export function toWireRequest(call: HostileCall, key: string) {
  const { entry, protocol, framing } = call;
  const streaming = entry.method.methodKind !== "unary";
  const deadlineSeconds = entry.mayWait ? 2 : 10;
  const timeoutMs = deadlineSeconds * 1000 + 4000;
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  const binary = call.payload instanceof Uint8Array ? call.payload : Buffer.from(jsonText(call.payload));
  let body: Uint8Array | undefined = binary;
  let path = entry.path;
  let method = "POST";
  const transport =
    protocol === "grpc" ||
    protocol === "connect-proto" ||
    (streaming && protocol === "connect-json" && entry.method.methodKind !== "server_streaming")
      ? "h2"
      : "h1";
  switch (protocol) {
    case "grpc":
    case "grpc-web":
      Object.assign(
        headers,
        protocol === "grpc"
          ? { "content-type": "application/grpc", te: "trailers" }
          : { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      );
      headers["grpc-timeout"] = `${deadlineSeconds}S`;
      body = envelope(binary, framing);
      break;
    case "connect-proto":
    case "connect-json": {
      const codec = protocol === "connect-proto" ? "proto" : "json";
      headers["content-type"] = streaming ? `application/connect+${codec}` : `application/${codec}`;
      headers["connect-protocol-version"] = "1";
      headers["connect-timeout-ms"] = String(deadlineSeconds * 1000);
      if (streaming) body = envelope(binary, framing);
      break;
    }
    case "connect-get": {
      method = "GET";
      body = undefined;
      headers["connect-timeout-ms"] = String(deadlineSeconds * 1000);
      const message =
        call.payload instanceof Uint8Array
          ? `encoding=proto&base64=1&message=${base64Url(call.payload)}`
          : `encoding=json&message=${encodeURIComponent(jsonText(call.payload))}`;
      path = `${entry.path}?connect=v1&${framing.kind === "get-message" ? framing.query : message}`;
      break;
    }
    case "rest": {
      const parts = restRequestParts(call.rest!, call.payload as JsonNode, call.pathSegments);
      ({ method, path } = parts);
      body = parts.body === undefined ? undefined : Buffer.from(parts.body);
      if (body !== undefined) headers["content-type"] = "application/json";
      headers["x-server-timeout"] = String(deadlineSeconds);
      break;
    }
  }
  if (framing.kind === "encoding")
    headers[
      protocol === "grpc" || protocol === "grpc-web"
        ? "grpc-encoding"
        : streaming && protocol !== "rest"
          ? "connect-content-encoding"
          : "content-encoding"
    ] = framing.name;
  if (framing.kind === "timeout")
    headers[protocol === "rest" ? "x-server-timeout" : protocol.startsWith("connect") ? "connect-timeout-ms" : "grpc-timeout"] =
      framing.value;
  if (framing.kind === "content-type") headers["content-type"] = framing.value;
  return { transport, method, path, headers, body, streaming, timeoutMs } as const;
}
