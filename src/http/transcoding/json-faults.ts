/**
 * Says where a JSON request body that protobuf-es refused went wrong, and how: the full
 * path of the field in JSON names (`template.webhook.url`, `requests[2].timeout`,
 * `labels[team]`), and what was expected there (`expected a 32-bit integer, got "ten"`),
 * so a google.rpc.BadRequest field violation can point at the culprit. protobuf-es stops
 * at the first fault with a message that names a field by its proto name alone, without
 * its parents (`cannot decode field runline.v1.RunWebhook.url from JSON: 5`); this walks
 * the parsed JSON beside the descriptors instead, and only after a decode has failed, so
 * requests that decode pay nothing. Malformed JSON is reported with the parser's own
 * words, which in Node name the position (`at position 1 (line 1 column 2)`) for most
 * faults; an unexpected token is named but not placed. What the walk cannot place (a
 * duplicate key: JSON.parse keeps the last) is reported for the whole body (field "",
 * as Google's APIs do for an unparsable payload) with protobuf-es's own reason.
 */
import { fromJson, ScalarType } from "@bufbuild/protobuf";
import type { DescEnum, DescField, DescMessage, DescOneof, JsonValue, Registry } from "@bufbuild/protobuf";
import { describeTextForm, parseTextValue, valueTypeOf, type ValueType } from "./field-value.js";

/** One fault of a JSON body: the field's JSON path ("" for the body as a whole) and what is wrong with it. */
export interface JsonFault {
  readonly field: string;
  readonly description: string;
}

/**
 * Where and why `text` does not decode as `schema`. `decodeError` is what the decoder
 * threw; its reason is used when the walk finds no single field at fault.
 */
export function findJsonFault(schema: DescMessage, text: string, decodeError: unknown, registry?: Registry): JsonFault {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (error) {
    // The parser's own words, which say it is JSON that failed: "… in JSON at position 1 (line 1 column 2)".
    return { field: "", description: (error as Error).message };
  }
  return messageFault(schema, json, "", { registry, depth: 0 }) ?? { field: "", description: decoderReason(decodeError) };
}

/** The Status message for a fault: `path: description`, or the description alone for the whole body. */
export function jsonFaultMessage(fault: JsonFault): string {
  return fault.field === "" ? `invalid JSON body: ${fault.description}` : `${fault.field}: ${fault.description}`;
}

const wrapperTypes = new Set(
  ["DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue"].map(
    (name) => `google.protobuf.${name}`,
  ),
);
/** Messages whose JSON is not an object of their fields: judged whole, by decoding them. */
const wellKnownJson = new Set([
  ...wrapperTypes,
  ...["Any", "Timestamp", "Duration", "FieldMask", "Struct", "Value", "ListValue"].map((name) => `google.protobuf.${name}`),
]);

/** What the walk carries down: the registry for Any, and how many messages deep it is. */
interface Walk {
  readonly registry: Registry | undefined;
  readonly depth: number;
}

// protobuf-es's own limit: a body nested deeper was refused for that, and the walk must
// not overflow the stack on it either.
const maxDepth = 100;

function messageFault(desc: DescMessage, json: JsonValue, path: string, outer: Walk): JsonFault | undefined {
  const walk = { registry: outer.registry, depth: outer.depth + 1 };
  if (walk.depth > maxDepth) return { field: path, description: `nests messages more than ${maxDepth} deep` };
  const { registry } = walk;
  if (wellKnownJson.has(desc.typeName)) return wellKnownFault(desc, json, path, registry);
  if (!isObject(json)) return { field: path, description: `expected a JSON object (${desc.typeName}), got ${shown(json)}` };
  const keysByField = new Map<DescField, string>();
  const membersByOneof = new Map<DescOneof, DescField>();
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((candidate) => candidate.jsonName === key) ?? desc.fields.find((candidate) => candidate.name === key);
    if (field === undefined)
      return { field: joined(path, shortened(key)), description: `unknown field: ${desc.typeName} has no field "${shortened(key)}"` };
    const fieldPath = joined(path, field.jsonName);
    const earlierKey = keysByField.get(field);
    if (earlierKey !== undefined) return { field: fieldPath, description: `is given twice, as "${earlierKey}" and as "${key}"` };
    keysByField.set(field, key);
    if (value === null) continue;
    const other = field.oneof === undefined ? undefined : membersByOneof.get(field.oneof);
    if (other !== undefined)
      return { field: fieldPath, description: `cannot be set together with ${other.jsonName} (oneof ${field.oneof!.name})` };
    if (field.oneof !== undefined) membersByOneof.set(field.oneof, field);
    const fault = fieldFault(desc, field, value, fieldPath, walk);
    if (fault !== undefined) return fault;
  }
  return undefined;
}

/**
 * A well-known type, judged whole. Struct, Value and ListValue of the right JSON kind can
 * fail only by nesting too deep; an Any, by its type; the others by not being their form.
 */
function wellKnownFault(desc: DescMessage, json: JsonValue, path: string, registry: Registry | undefined): JsonFault | undefined {
  try {
    fromJson(desc, json, registry === undefined ? {} : { registry });
    return undefined;
  } catch (error) {
    if (desc.typeName === "google.protobuf.Any") return { field: path, description: decoderReason(error) };
    const rightKind =
      desc.typeName === "google.protobuf.Value" ||
      (desc.typeName === "google.protobuf.Struct" && isObject(json)) ||
      (desc.typeName === "google.protobuf.ListValue" && Array.isArray(json));
    if (rightKind) return { field: path, description: `nests JSON values more than ${maxDepth} deep` };
    return { field: path, description: expected({ kind: "message", desc }, json) };
  }
}

function fieldFault(parent: DescMessage, field: DescField, value: JsonValue, path: string, walk: Walk): JsonFault | undefined {
  const decodesAs = (json: JsonValue): boolean => decodes(parent, { [field.jsonName]: json }, walk.registry);
  switch (field.fieldKind) {
    case "message":
      return messageFault(field.message, value, path, walk);
    case "list": {
      if (!Array.isArray(value)) return { field: path, description: `expected a JSON array, got ${shown(value)}` };
      const index = firstFailing(value, decodesAs);
      return index === undefined ? undefined : itemFault(field, value[index]!, `${path}[${index}]`, walk);
    }
    case "map": {
      if (!isObject(value)) return { field: path, description: `expected a JSON object, got ${shown(value)}` };
      const entries = Object.entries(value);
      for (const [key] of entries) {
        const problem = mapKeyProblem(field.mapKey, key);
        if (problem !== undefined) return { field: `${path}[${shortened(key)}]`, description: `invalid map key: ${problem}` };
      }
      const index = firstFailing(entries, (part) => decodesAs(Object.fromEntries(part)));
      if (index === undefined) return undefined;
      const [key, item] = entries[index]!;
      return itemFault(field, item, `${path}[${shortened(key)}]`, walk);
    }
    default:
      return decodesAs(value) ? undefined : { field: path, description: expected(valueTypeOf(field), value) };
  }
}

/**
 * The index of the first element of `items` that does not decode, or undefined when all
 * do. Elements decode independently, so halving finds it in about one decode of the list
 * in all; judging each element alone costs ten times the decode of the whole (measured:
 * 4 s for a million numbers), which a caller could make the server pay at will.
 */
function firstFailing<T>(items: T[], decodesPart: (part: T[]) => boolean): number | undefined {
  if (decodesPart(items)) return undefined;
  // Invariant: items[low, high) does not decode.
  let low = 0;
  let high = items.length;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (decodesPart(items.slice(low, middle))) low = middle;
    else high = middle;
  }
  return low;
}

/** The fault of one list element or map value that does not decode: inside it for a message, else its type. */
function itemFault(field: DescField, item: JsonValue, path: string, walk: Walk): JsonFault {
  if (item === null) return { field: path, description: "must not be null" };
  const type = valueTypeOf(field);
  if (type.kind !== "message") return { field: path, description: expected(type, item) };
  return messageFault(type.desc, item, path, walk) ?? { field: path, description: expected(type, item) };
}

/** Why `key` cannot be a key of a map whose keys are `scalar`s (JSON writes every key as a string), or undefined. */
function mapKeyProblem(scalar: ScalarType, key: string): string | undefined {
  try {
    parseTextValue({ kind: "scalar", scalar }, key);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function decodes(desc: DescMessage, json: JsonValue, registry: Registry | undefined): boolean {
  try {
    fromJson(desc, json, registry === undefined ? {} : { registry });
    return true;
  } catch {
    return false;
  }
}

/** "expected …, got …" for a value of `type`. */
function expected(type: ValueType, value: JsonValue): string {
  return `expected ${expectation(type)}, got ${shown(value)}`;
}

function expectation(type: ValueType): string {
  switch (type.kind) {
    case "scalar":
      return scalarExpectation(type.scalar);
    case "enum":
      return enumExpectation(type.desc);
    case "message": {
      const inner = type.desc.fields[0];
      if (wrapperTypes.has(type.desc.typeName) && inner?.fieldKind === "scalar") return scalarExpectation(inner.scalar);
      return `a ${type.desc.typeName} (${describeTextForm(type.desc.typeName)})`;
    }
  }
}

// Enums with more values than this are named by type, not listed.
const maxListedEnumValues = 16;

function enumExpectation(desc: DescEnum): string {
  if (desc.values.length > maxListedEnumValues) return `a value of ${desc.typeName}`;
  return `one of ${desc.values.map((value) => value.name).join(", ")}`;
}

function scalarExpectation(scalar: ScalarType): string {
  switch (scalar) {
    case ScalarType.STRING:
      return "a string";
    case ScalarType.BOOL:
      return "true or false";
    case ScalarType.BYTES:
      return "base64 text";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return "a number";
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return "a 32-bit integer";
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return "an unsigned 32-bit integer";
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return "a 64-bit integer (a number or a decimal string)";
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return "an unsigned 64-bit integer (a number or a decimal string)";
  }
}

/** protobuf-es's reason without its "cannot decode message X from JSON: " preamble. */
function decoderReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^cannot decode (message |field )?\S+ from JSON:?\s*/, "");
}

function isObject(json: JsonValue): json is { [key: string]: JsonValue } {
  return typeof json === "object" && json !== null && !Array.isArray(json);
}

function joined(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

// Values and keys echoed in a fault are cut to this many characters: the fault travels
// in a message and a trailer, and a caller fixing a request needs only the start.
const maxShownLength = 64;

function shortened(text: string): string {
  const cut = text.length <= maxShownLength ? text : `${text.slice(0, maxShownLength)}…`;
  // Control characters are escaped: a key may hold any, and these texts reach logs and terminals.
  return Array.from(cut, (char) =>
    char < " " || char === "\u007f" ? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}` : char,
  ).join("");
}

function shown(value: JsonValue): string {
  return shortened(preview(value, maxShownLength));
}

/**
 * JSON text of `value`, stopped soon after `limit` characters: only the start is shown,
 * and JSON.stringify of a value nested ten thousand deep (10 KB of "[") overflows the stack.
 */
function preview(value: JsonValue, limit: number): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const isArray = Array.isArray(value);
  let text = isArray ? "[" : "{";
  for (const key in value) {
    if (text.length > limit) break;
    const item = (value as Record<string, JsonValue>)[key]!;
    text += `${text.length > 1 ? "," : ""}${isArray ? "" : `${JSON.stringify(key)}:`}${preview(item, limit - text.length)}`;
  }
  return `${text}${isArray ? "]" : "}"}`;
}
