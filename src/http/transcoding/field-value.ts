/**
 * The text form of field values in URLs (path variables, query parameters, the
 * `Last-Event-ID` header). Scalars read as their proto3 JSON form without quotes, as
 * vanguard-go reads them: integers in decimal (64-bit ones too), floats with `NaN` and
 * `±Infinity`, bools as `true`/`false`, bytes as standard or URL-safe base64 with or
 * without padding, enums by value name or number. Well-known types read as their JSON
 * string: Timestamp (RFC 3339), Duration (`1.5s`), FieldMask (comma-separated paths,
 * lowerCamel or snake_case), wrappers by their inner value; Value, Struct and ListValue
 * read as JSON text (a Value that is not valid JSON is taken as a string).
 */
import { create, fromJson, ScalarType } from "@bufbuild/protobuf";
import type { DescEnum, DescField, DescMessage, JsonValue, Message } from "@bufbuild/protobuf";

/** The type of one value: a singular field's own, a list's element, a map's value. */
export type ValueType =
  | { readonly kind: "scalar"; readonly scalar: ScalarType }
  | { readonly kind: "enum"; readonly desc: DescEnum }
  | { readonly kind: "message"; readonly desc: DescMessage };

const wrapperTypes = new Set(
  ["DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue"].map(
    (name) => `google.protobuf.${name}`,
  ),
);
const textFormTypes = new Set([
  ...wrapperTypes,
  ...["Timestamp", "Duration", "FieldMask", "Value", "Struct", "ListValue"].map((name) => `google.protobuf.${name}`),
]);

/** The type of the values `field` holds. */
export function valueTypeOf(field: DescField): ValueType {
  // A list's elements and a map's values have a kind of their own; singular fields are
  // theirs. Whatever the field kind, protobuf-es sets `scalar`, `enum` or `message` as
  // that kind says, which TypeScript cannot follow through the union.
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind === "map" ? field.mapKind : field.fieldKind;
  if (kind === "scalar") return { kind, scalar: field.scalar! };
  if (kind === "enum") return { kind, desc: field.enum! };
  return { kind, desc: field.message! };
}

/** Whether values of this type can be written as text at all (messages only if well-known). */
export function hasTextForm(type: ValueType): boolean {
  return type.kind !== "message" || textFormTypes.has(type.desc.typeName);
}

/**
 * Parses one text value: a scalar (bigint for 64-bit integers), an enum number, or a
 * message. Throws an Error whose message says what was expected.
 */
export function parseTextValue(type: ValueType, text: string): unknown {
  switch (type.kind) {
    case "scalar":
      return parseScalar(type.scalar, text);
    case "enum":
      return parseEnum(type.desc, text);
    case "message":
      return parseMessage(type.desc, text);
  }
}

const int32Range = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const uint32Range = { min: 0n, max: 2n ** 32n - 1n };
const int64Range = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const uint64Range = { min: 0n, max: 2n ** 64n - 1n };
const maxFloat32 = 3.4028234663852886e38;

function parseScalar(scalar: ScalarType, text: string): unknown {
  switch (scalar) {
    case ScalarType.STRING:
      return text;
    case ScalarType.BOOL:
      if (text === "true" || text === "false") return text === "true";
      throw new Error(`expected true or false, got "${text}"`);
    case ScalarType.BYTES:
      return parseBase64(text);
    case ScalarType.DOUBLE:
      return parseFloat64(text);
    case ScalarType.FLOAT: {
      const value = parseFloat64(text);
      if (Number.isFinite(value) && Math.abs(value) > maxFloat32) throw new Error(`"${text}" is out of range for a float`);
      return value;
    }
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return Number(parseInteger(text, int32Range, "a 32-bit integer"));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return Number(parseInteger(text, uint32Range, "an unsigned 32-bit integer"));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return parseInteger(text, int64Range, "a 64-bit integer");
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return parseInteger(text, uint64Range, "an unsigned 64-bit integer");
  }
}

function parseInteger(text: string, range: { min: bigint; max: bigint }, expected: string): bigint {
  if (!/^-?\d+$/.test(text)) throw new Error(`expected ${expected}, got "${text}"`);
  const value = BigInt(text);
  if (value < range.min || value > range.max) throw new Error(`"${text}" is out of range for ${expected}`);
  return value;
}

function parseFloat64(text: string): number {
  if (text === "NaN") return Number.NaN;
  if (text === "Infinity") return Number.POSITIVE_INFINITY;
  if (text === "-Infinity") return Number.NEGATIVE_INFINITY;
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`expected a number, got "${text}"`);
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`"${text}" is out of range for a double`);
  return value;
}

/**
 * Standard or URL-safe alphabet, padding optional. A space reads as '+': form encoding
 * turns an unescaped '+' in a query string into a space before we see it.
 */
function parseBase64(text: string): Uint8Array {
  const normalized = text.replaceAll(" ", "+");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(normalized) || normalized.replace(/=+$/, "").length % 4 === 1) {
    throw new Error(`expected base64, got "${text}"`);
  }
  return new Uint8Array(Buffer.from(normalized.replaceAll("-", "+").replaceAll("_", "/"), "base64"));
}

function parseEnum(desc: DescEnum, text: string): number {
  if (/^-?\d+$/.test(text)) {
    const number = Number(parseInteger(text, int32Range, "an enum number"));
    // Open (proto3) enums keep unknown numbers, as the binary format does.
    if (desc.open || desc.values.some((value) => value.number === number)) return number;
  }
  const value = desc.values.find((candidate) => candidate.name === text);
  if (value === undefined) throw new Error(`"${text}" is not a value of ${desc.typeName}`);
  return value.number;
}

function parseMessage(desc: DescMessage, text: string): Message {
  const name = desc.typeName;
  try {
    if (wrapperTypes.has(name)) {
      const inner = desc.fields[0];
      if (inner === undefined || inner.fieldKind !== "scalar") throw new Error(`${name} has no value field`);
      return create(desc, { value: parseScalar(inner.scalar, text) });
    }
    if (name === "google.protobuf.FieldMask") return create(desc, { paths: parseFieldMaskPaths(text) });
    if (name === "google.protobuf.Value") return fromJson(desc, parseJsonOr(text, text));
    if (name === "google.protobuf.Struct" || name === "google.protobuf.ListValue") return fromJson(desc, JSON.parse(text) as JsonValue);
    if (name === "google.protobuf.Timestamp" || name === "google.protobuf.Duration") return fromJson(desc, text);
  } catch (error) {
    throw new Error(`expected a ${name} (${describeTextForm(name)}), got "${text}"`, { cause: error });
  }
  throw new Error(`${name} has no text form; set its fields one by one`);
}

function parseJsonOr(text: string, fallback: JsonValue): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return fallback;
  }
}

/** Comma-separated; lowerCamel (the JSON form) or snake_case paths. */
function parseFieldMaskPaths(text: string): string[] {
  if (text === "") return [];
  return text.split(",").map((path) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(path)) throw new Error(`"${path}" is not a field path`);
    return path.includes("_") ? path : path.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
  });
}

/** How a well-known type is written as text or JSON, with an example, for error messages. */
export function describeTextForm(typeName: string): string {
  switch (typeName) {
    case "google.protobuf.Timestamp":
      return 'RFC 3339, e.g. "2024-01-02T03:04:05Z"';
    case "google.protobuf.Duration":
      return 'seconds with an "s" suffix, e.g. "1.5s"';
    case "google.protobuf.FieldMask":
      return 'comma-separated field paths, e.g. "name,labels"';
    case "google.protobuf.Struct":
    case "google.protobuf.ListValue":
      return "JSON text";
    default:
      return "its JSON form";
  }
}
