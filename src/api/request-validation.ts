/**
 * Checks every request message, on every protocol, for values no field of ours may
 * hold, before any handler sees it: Timestamps and Durations outside the ranges
 * protobuf defines (their JSON form cannot be written, and Postgres or JavaScript
 * dates overflow), and text containing NUL (U+0000), which Postgres refuses in `text`
 * and `jsonb` (the wire protocol even fails the whole statement), and JSON values nested
 * deeper than maxJsonValueDepth (stored, they could not be read back over binary
 * protobuf). Walks the message by
 * reflection, so a field added tomorrow is covered without a line here. Each field's
 * own, narrower bounds stay with the domain rule that owns them.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import type { Duration, ListValue, Struct, Timestamp, Value } from "@bufbuild/protobuf/wkt";
import { echoed, invalidFields, type FieldViolation, type RunlineError } from "../errors.js";
import { maxDurationSeconds, maxJsonValueDepth, maxTimestampSeconds, minTimestampSeconds } from "../proto-ranges.js";

const maxNanos = 999_999_999;
// Enough to fix a request; a message with thousands of bad strings gets the first few.
const maxViolations = 20;

/** The violations found in `message` (empty when it is clean), fields named by JSON path (`requests[2].scheduleTime`). */
export function findRequestViolations<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, prefix = ""): FieldViolation[] {
  const found: FieldViolation[] = [];
  walkMessage(reflect(schema, message), prefix, found);
  return found;
}

/** INVALID_ARGUMENT with every violation of `message`, or undefined when it is clean. */
export function requestRefusal<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, prefix = ""): RunlineError | undefined {
  const violations = findRequestViolations(schema, message, prefix);
  if (violations.length === 0) return undefined;
  const first = violations[0]!;
  const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : "";
  return invalidFields(`${first.field}: ${first.description}${more}`, violations);
}

function walkMessage(message: ReflectMessage, path: string, found: FieldViolation[]): void {
  switch (message.desc.typeName) {
    case "google.protobuf.Timestamp":
      return checkTimestamp(message.message as Timestamp, path, found);
    case "google.protobuf.Duration":
      return checkDuration(message.message as Duration, path, found);
    case "google.protobuf.Value":
      return walkValue(message.message as Value, path, found);
    case "google.protobuf.Struct":
      return walkStruct(message.message as Struct, path, found);
    case "google.protobuf.ListValue":
      return walkList(message.message as ListValue, path, found);
  }
  for (const field of message.fields) {
    if (found.length >= maxViolations) return;
    if (!message.isSet(field)) continue;
    // JSON names, as clients write the request and as google.rpc.BadRequest shows paths in JSON.
    const name = path === "" ? field.jsonName : `${path}.${field.jsonName}`;
    switch (field.fieldKind) {
      case "scalar":
        checkText(message.get(field), name, found);
        break;
      case "message":
        walkMessage(message.get(field), name, found);
        break;
      case "list": {
        let index = 0;
        for (const item of message.get(field)) {
          if (found.length >= maxViolations) return;
          walkItem(item, `${name}[${index++}]`, found);
        }
        break;
      }
      case "map":
        for (const [key, item] of message.get(field)) {
          if (found.length >= maxViolations) return;
          const entry = `${name}[${echoed(String(key))}]`;
          checkText(key, entry, found);
          walkItem(item, entry, found);
        }
        break;
      case "enum":
        break;
    }
  }
}

/** A list element or map value: a message (reflected), or a scalar. */
function walkItem(item: unknown, path: string, found: FieldViolation[]): void {
  if (isReflectMessage(item)) walkMessage(item, path, found);
  else checkText(item, path, found);
}

function isReflectMessage(value: unknown): value is ReflectMessage {
  return typeof value === "object" && value !== null && "desc" in value && "fields" in value && "message" in value;
}

function checkText(value: unknown, path: string, found: FieldViolation[]): void {
  if (typeof value !== "string") return;
  if (value.includes("\0")) found.push({ field: path, description: "must not contain NUL (U+0000)" });
  // JSON can carry half a UTF-16 surrogate pair (`"\ud800"`), which no UTF-8 text can:
  // stored, it silently became U+FFFD.
  else if (!value.isWellFormed()) found.push({ field: path, description: "must not contain an unpaired UTF-16 surrogate" });
}

function checkTimestamp(value: Timestamp, path: string, found: FieldViolation[]): void {
  if (value.seconds < minTimestampSeconds || value.seconds > maxTimestampSeconds) {
    found.push({ field: path, description: "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z" });
  } else if (value.nanos < 0 || value.nanos > maxNanos) {
    found.push({ field: path, description: "nanos must be between 0 and 999999999" });
  }
}

function checkDuration(value: Duration, path: string, found: FieldViolation[]): void {
  if (value.seconds < -maxDurationSeconds || value.seconds > maxDurationSeconds) {
    found.push({ field: path, description: "must be within ±315576000000 seconds (10,000 years)" });
  } else if (
    value.nanos < -maxNanos ||
    value.nanos > maxNanos ||
    (value.seconds > 0n && value.nanos < 0) ||
    (value.seconds < 0n && value.nanos > 0)
  ) {
    found.push({ field: path, description: "nanos must be within ±999999999 and have the sign of seconds" });
  }
}

/**
 * JSON values are named by their JSON path below the field (`input.items[2].name`).
 * `depth` is the value's own: 1 for the field's value, 2 for its members' …
 */
function walkValue(value: Value, path: string, found: FieldViolation[], depth = 1): void {
  switch (value.kind.case) {
    case "stringValue":
      return checkText(value.kind.value, path, found);
    case "structValue":
      return walkStruct(value.kind.value, path, found, depth);
    case "listValue":
      return walkList(value.kind.value, path, found, depth);
  }
}

function tooDeep(path: string, depth: number, found: FieldViolation[]): boolean {
  if (depth <= maxJsonValueDepth) return false;
  found.push({ field: path, description: `nests JSON values more than ${maxJsonValueDepth} deep` });
  return true;
}

function walkStruct(struct: Struct, path: string, found: FieldViolation[], depth = 1): void {
  for (const [key, member] of Object.entries(struct.fields)) {
    if (found.length >= maxViolations) return;
    const name = `${path}.${echoed(key)}`;
    checkText(key, name, found);
    if (member.kind.case === "structValue" || member.kind.case === "listValue") {
      if (tooDeep(name, depth + 1, found)) return;
    }
    walkValue(member, name, found, depth + 1);
  }
}

function walkList(list: ListValue, path: string, found: FieldViolation[], depth = 1): void {
  for (const [index, item] of list.values.entries()) {
    if (found.length >= maxViolations) return;
    const name = `${path}[${index}]`;
    if (item.kind.case === "structValue" || item.kind.case === "listValue") {
      if (tooDeep(name, depth + 1, found)) return;
    }
    walkValue(item, name, found, depth + 1);
  }
}
