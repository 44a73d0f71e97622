/**
 * The JSON a REST response carries for an RPC's response message: the whole message in
 * proto3 JSON, or with `response_body` just that field. A selected field that is unset
 * still yields its JSON zero value (`[]`, `{}`, `0`, `""`), or `null` for an unset message
 * or optional field, so the body is always valid JSON.
 */
import { toJson } from "@bufbuild/protobuf";
import type { JsonObject, JsonValue, Message, Registry } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import type { RestBinding } from "./http-bindings.js";

/** The response body for `message` as `binding` says. */
export function responseJson(binding: RestBinding, message: Message, registry: Registry): JsonValue {
  const schema = binding.method.output;
  const field = binding.responseBody;
  if (field === undefined) return toJson(schema, message, { registry });
  if (field.fieldKind === "message") {
    const reflected = reflect(schema, message);
    return reflected.isSet(field) ? toJson(field.message, (reflected.get(field) as ReflectMessage).message, { registry }) : null;
  }
  const whole = toJson(schema, message, { registry, alwaysEmitImplicit: true }) as JsonObject;
  return whole[field.jsonName] ?? null;
}
