/**
 * A hostile JSON message as a REST request, following the RPC's `google.api.http`
 * binding: path variables filled from the message's fields (percent-encoded byte by
 * byte, so NUL and broken UTF-8 arrive as such), the rest in the body (`body: "*"`) or
 * in the query string (no body), where repeated fields repeat their key and messages
 * flatten to `field.sub=value`.
 */
import { JsonEntries, jsonText, RawJson, type JsonNode } from "./hostile-json.js";
import type { RestBinding } from "./rpc-catalog.js";

/** Every byte outside the unreserved set percent-encoded; lone surrogates as their three WTF-8 bytes. */
export function percentEncode(text: string): string {
  let encoded = "";
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (/^[A-Za-z0-9\-._~]$/.test(char)) encoded += char;
    else if (code >= 0xd800 && code <= 0xdfff)
      encoded +=
        `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
    else for (const byte of Buffer.from(char, "utf8")) encoded += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return encoded;
}

/** A node as query or path text: strings as they are, everything else as JSON. */
function asText(node: JsonNode): string {
  if (typeof node === "string") return node;
  if (node instanceof RawJson) return node.text;
  return jsonText(node);
}

function queryPairs(name: string, node: JsonNode, depth: number): [string, string][] {
  if (Array.isArray(node)) return node.flatMap((each: JsonNode) => queryPairs(name, each, depth));
  if (node instanceof JsonEntries && depth > 0) return node.entries.flatMap(([key, each]) => queryPairs(`${name}.${key}`, each, depth - 1));
  return [[name, asText(node)]];
}

/** The HTTP method, path with query, and body (if any) of `message` sent through `binding`. */
export function restRequestParts(binding: RestBinding, message: JsonNode, pathSegments: readonly string[] | undefined) {
  const entries = message instanceof JsonEntries ? [...message.entries] : [];
  const camel = (name: string) => name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
  const segments = binding.pathFields.map((field, index) => {
    const override = pathSegments?.[index];
    if (override !== undefined) return /%/.test(override) ? override : percentEncode(override);
    const found = entries.findIndex(([key]) => key === field || key === camel(field));
    if (found < 0) return "x";
    const [, value] = entries.splice(found, 1)[0]!;
    return percentEncode(asText(value)) || "x";
  });
  let index = 0;
  const path = binding.template.replace(/\{[^}]+\}/g, () => segments[index++] ?? "x");
  if (binding.body === "*") {
    // A body that is not an object is sent whole: the transcoder must refuse it.
    const body = message instanceof JsonEntries ? jsonText(new JsonEntries(entries)) : jsonText(message);
    return { method: binding.httpMethod, path, body };
  }
  const query = entries
    .flatMap(([key, value]) => queryPairs(key, value, 1))
    .map(([key, value]) => `${percentEncode(key)}=${percentEncode(value)}`)
    .join("&");
  return { method: binding.httpMethod, path: query === "" ? path : `${path}?${query}`, body: undefined };
}
