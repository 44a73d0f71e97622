/**
 * Protobuf types as JSON Schema (2020-12, the OpenAPI 3.1 dialect) describing their
 * proto3 JSON form, the form REST callers send and receive: lowerCamel field names
 * (json_name), 64-bit integers as strings, enums by value name, bytes as base64, and the
 * well-known types in their special forms (Timestamp RFC 3339, Duration `"1.5s"`, Value
 * any JSON, wrappers as their nullable scalar, Any with `@type`).
 *
 * Messages and enums become components named by their full proto name
 * (`runline.v1.Run`), referenced with `$ref`, so recursive messages are no problem;
 * well-known types are written inline, since they are JSON types rather than objects.
 * Nothing is `required`: proto3 JSON leaves out fields with default values.
 */
import { ScalarType } from "@bufbuild/protobuf";
import type { AnyDesc, DescEnum, DescField, DescFile, DescMessage, DescOneof } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { valueTypeOf, type ValueType } from "../http/transcoding/index.js";
import { anySchema, badRequestComponent, errorInfoComponent, errorSchemaNames, statusComponent } from "./error-schemas.js";
import type { JsonSchemaType, SchemaObject } from "./openapi-types.js";
import { commentOf, joinParagraphs } from "./proto-comments.js";

/**
 * The components a document refers to, collected as they are first referenced, and the
 * proto comments that describe them, with field names as the document's JSON names.
 */
export interface SchemaRegistry {
  /** The element's proto comment, field names in JSON form (proto-comments.ts). */
  commentOf(desc: Exclude<AnyDesc, DescFile>): string | undefined;
  /** A field's comment, plus a note on the oneof it belongs to; undefined when neither exists. */
  fieldDescription(field: DescField): string | undefined;
  /** A field's schema with its comment as description; `$ref` for messages and enums. */
  fieldSchema(field: DescField): SchemaObject;
  /** A message's schema: a `$ref`, or the inline schema of a well-known type. */
  messageSchema(message: DescMessage): SchemaObject;
  /** The `$ref` of an enum (or `null` for google.protobuf.NullValue). */
  enumSchema(desc: DescEnum): SchemaObject;
  /** The JSON properties of `message` except `excluded` ones, keyed by JSON name. */
  propertiesOf(message: DescMessage, excluded?: ReadonlySet<DescField>): Record<string, SchemaObject>;
  /** The `$ref` of google.rpc.Status, the body of every error (its detail components come with it). */
  statusSchema(): SchemaObject;
  /** Every component referenced so far, sorted by name. */
  components(): Record<string, SchemaObject>;
}

/** A new registry with no components yet; `jsonNames` rename fields in comments (proto-comments.ts). */
export function createSchemaRegistry(jsonNames: ReadonlyMap<string, string> = new Map()): SchemaRegistry {
  const components = new Map<string, SchemaObject>();
  /** A placeholder goes in before the build, so a message that contains itself finds its own name. */
  const reference = (name: string, build: () => SchemaObject): SchemaObject => {
    if (!components.has(name)) {
      components.set(name, {});
      components.set(name, build());
    }
    return { $ref: `#/components/schemas/${name}` };
  };
  const registry: SchemaRegistry = {
    commentOf: (desc) => commentOf(desc, jsonNames),
    fieldDescription: (field) =>
      joinParagraphs(commentOf(field, jsonNames), field.oneof === undefined ? undefined : oneofNote(field.oneof)),
    fieldSchema: (field) => describeSchema(typeSchema(registry, field), registry.fieldDescription(field), field.deprecated),
    messageSchema(message) {
      if (message.typeName === errorSchemaNames.status) return registry.statusSchema();
      return wellKnownSchema(message) ?? reference(message.typeName, () => messageComponent(registry, message));
    },
    enumSchema(desc) {
      if (desc.typeName === "google.protobuf.NullValue") return { type: "null" };
      return reference(desc.typeName, () => enumComponent(registry, desc));
    },
    propertiesOf(message, excluded = new Set()) {
      const properties: Record<string, SchemaObject> = {};
      for (const field of message.fields) if (!excluded.has(field)) properties[field.jsonName] = registry.fieldSchema(field);
      return properties;
    },
    statusSchema: () =>
      reference(errorSchemaNames.status, () =>
        statusComponent([
          reference(errorSchemaNames.errorInfo, errorInfoComponent),
          reference(errorSchemaNames.badRequest, badRequestComponent),
        ]),
      ),
    components: () => Object.fromEntries([...components].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  };
  return registry;
}

/** `schema` with a description (joined after one it already has) and the deprecated flag. */
function describeSchema(schema: SchemaObject, description: string | undefined, deprecated = false): SchemaObject {
  const joined = joinParagraphs(description, schema.description);
  const { $ref, description: _joinedAbove, ...shape } = schema;
  // `$ref` first, then what is said about the value, then its shape.
  return {
    ...($ref === undefined ? {} : { $ref }),
    ...(joined === undefined ? {} : { description: joined }),
    ...(deprecated ? { deprecated: true } : {}),
    ...shape,
  };
}

function oneofNote(oneof: DescOneof): string {
  const members = oneof.fields.map((member) => `\`${member.jsonName}\``).join(", ");
  return `At most one of ${members} is set (oneof \`${oneof.name}\`).`;
}

/** The schema of one value of `type`: a singular field's, a list's element, a map's value. */
export function valueSchema(registry: SchemaRegistry, type: ValueType): SchemaObject {
  if (type.kind === "scalar") return scalarSchema(type.scalar);
  if (type.kind === "enum") return registry.enumSchema(type.desc);
  return registry.messageSchema(type.desc);
}

function typeSchema(registry: SchemaRegistry, field: DescField): SchemaObject {
  const value = valueSchema(registry, valueTypeOf(field));
  if (field.fieldKind === "list") return { type: "array", items: value };
  if (field.fieldKind === "map") return { type: "object", additionalProperties: value, ...mapKeySchema(field.mapKey) };
  return value;
}

/** Map keys are JSON object keys, so always strings; integer and bool keys are spelled out. */
function mapKeySchema(key: ScalarType): Pick<SchemaObject, "propertyNames"> {
  switch (key) {
    case ScalarType.STRING:
      return {};
    case ScalarType.BOOL:
      return { propertyNames: { enum: ["true", "false"] } };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { propertyNames: { pattern: "^[0-9]+$" } };
    default:
      return { propertyNames: { pattern: "^-?[0-9]+$" } };
  }
}

/** A schema of exactly one JSON type. */
type SingleTypeSchema = SchemaObject & { type: JsonSchemaType };

/** A scalar's proto3 JSON form. */
export function scalarSchema(scalar: ScalarType): SingleTypeSchema {
  switch (scalar) {
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      // A JSON number cannot hold every 64-bit integer exactly, hence a decimal string.
      return { type: "string", format: "int64", pattern: "^-?[0-9]+$" };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "string", format: "uint64", pattern: "^[0-9]+$" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "uint32" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte", contentEncoding: "base64" };
  }
}

/** The inline schema of a well-known type with a special JSON form; undefined for any other message. */
function wellKnownSchema(message: DescMessage): SchemaObject | undefined {
  if (isWrapperDesc(message)) {
    const inner = scalarSchema(message.fields[0].scalar);
    return { ...inner, type: [inner.type, "null"] };
  }
  switch (message.typeName) {
    case "google.protobuf.Timestamp":
      return { type: "string", format: "date-time" };
    case "google.protobuf.Duration":
      return {
        type: "string",
        pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        description: "A duration in seconds with an `s` suffix, e.g. `1.5s`.",
      };
    case "google.protobuf.FieldMask":
      return { type: "string", description: "Comma-separated field paths in lowerCamelCase, e.g. `name,createTime`." };
    case "google.protobuf.Value":
      return {};
    case "google.protobuf.Struct":
      return { type: "object", additionalProperties: true };
    case "google.protobuf.ListValue":
      return { type: "array", items: {} };
    case "google.protobuf.Any":
      return anySchema();
    default:
      return undefined;
  }
}

function messageComponent(registry: SchemaRegistry, message: DescMessage): SchemaObject {
  const notes = message.oneofs.map(oneofNote);
  const description = joinParagraphs(registry.commentOf(message), ...notes);
  const schema: SchemaObject = { type: "object", properties: registry.propertiesOf(message) };
  return describeSchema(schema, description, message.deprecated);
}

function enumComponent(registry: SchemaRegistry, desc: DescEnum): SchemaObject {
  const values = desc.values.map((value) => ({ name: value.name, comment: registry.commentOf(value) }));
  const commented = values.filter((value) => value.comment !== undefined);
  const list =
    commented.length === 0
      ? undefined
      : commented.map((value) => `- \`${value.name}\`: ${(value.comment ?? "").replace(/\s*\n\s*/g, " ")}`).join("\n");
  return describeSchema(
    { type: "string", enum: values.map((value) => value.name) },
    joinParagraphs(registry.commentOf(desc), list),
    desc.deprecated,
  );
}
