/**
 * Forms generated from a JSON Schema: a run's input schema (start a run) and an
 * interrupt's resume schema (resume it). An object schema becomes one labelled control
 * per property: text for strings, number inputs for numbers and integers (with their
 * bounds), a checkbox for booleans, a select for enums, a JSON text area for anything
 * nested. Required properties are marked in the label and enforced by the browser's own
 * validation (so are bounds and lengths; a `pattern` is not, as HTML anchors it and JSON
 * Schema does not); the server validates again, and its message is what the person sees if
 * they disagree. Any other schema (or none) is edited as raw JSON.
 */
import { append, h, uniqueId } from "./dom.js";

/** The part of JSON Schema the generated forms understand. */
interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
}

/** A generated form: its controls and how to read them back as JSON. */
export interface SchemaForm {
  /** The controls, to be placed inside a `<form>`. */
  readonly element: HTMLElement;
  /** The JSON value the controls hold; throws an Error naming the field when one does not parse. */
  read(): unknown;
}

/** A control and how to read its value (undefined: leave the property out). */
interface Field {
  readonly element: HTMLElement;
  read(): unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function typeOf(schema: JsonSchema): string | undefined {
  return Array.isArray(schema.type) ? schema.type.find((type) => type !== "null") : schema.type;
}

/** A form for `schema`; `legend` names the whole value (e.g. "Input"). */
export function schemaForm(schema: unknown, legend: string): SchemaForm {
  if (!isObject(schema) || !isObject(schema.properties) || (typeOf(schema as JsonSchema) ?? "object") !== "object") {
    const field = jsonField(legend, false, undefined, schema === undefined ? "Any JSON value." : "Any JSON value matching the schema.");
    return { element: field.element, read: () => field.read() ?? null };
  }
  const objectSchema = schema as JsonSchema;
  const required = new Set(objectSchema.required ?? []);
  const fields = Object.entries(objectSchema.properties ?? {}).map(
    ([name, property]) => [name, fieldFor(name, isObject(property) ? property : {}, required.has(name))] as const,
  );
  const element = h("fieldset", { class: "schema-form" }, h("legend", {}, legend));
  if (objectSchema.description !== undefined) append(element, h("p", { class: "hint" }, objectSchema.description));
  for (const [, field] of fields) append(element, field.element);
  return {
    element,
    read: () => {
      const value: Record<string, unknown> = {};
      for (const [name, field] of fields) {
        const fieldValue = field.read();
        if (fieldValue !== undefined) value[name] = fieldValue;
      }
      return value;
    },
  };
}

function fieldFor(name: string, schema: JsonSchema, required: boolean): Field {
  const label = schema.title ?? name;
  if (Array.isArray(schema.enum) && schema.enum.every((value) => ["string", "number", "boolean"].includes(typeof value))) {
    return enumField(label, required, schema);
  }
  switch (typeOf(schema)) {
    case "boolean":
      return booleanField(label, schema);
    case "number":
    case "integer":
      return numberField(label, required, schema);
    case "string":
      return stringField(label, required, schema);
    default:
      return jsonField(label, required, schema.default, schema.description ?? "JSON.");
  }
}

/** The label (with its required mark), the hint, and their ids for `aria-describedby`. */
function labelParts(label: string, required: boolean, description: string | undefined) {
  const id = uniqueId("field");
  const hintId = description === undefined ? undefined : `${id}-hint`;
  const labelElement = h("label", { for: id }, label, required && h("span", { class: "required" }, " (required)"));
  const hint = hintId === undefined ? undefined : h("span", { class: "hint", id: hintId }, description);
  return { id, hintId, labelElement, hint };
}

function enumField(label: string, required: boolean, schema: JsonSchema): Field {
  const choices = schema.enum ?? [];
  const { id, hintId, labelElement, hint } = labelParts(label, required, schema.description);
  const select = h("select", { id, required, "aria-describedby": hintId });
  if (!required) append(select, h("option", { value: "" }, "(none)"));
  choices.forEach((choice, index) =>
    append(select, h("option", { value: String(index), selected: choice === schema.default }, String(choice))),
  );
  return {
    element: h("div", { class: "field" }, labelElement, select, hint),
    read: () => (select.value === "" ? undefined : choices[Number(select.value)]),
  };
}

function booleanField(label: string, schema: JsonSchema): Field {
  // Never `required`: on a checkbox that would mean "must be ticked"; unticked is false.
  const { id, hintId, labelElement, hint } = labelParts(label, false, schema.description);
  const input = h("input", { id, type: "checkbox", checked: schema.default === true, "aria-describedby": hintId });
  return { element: h("div", { class: "field checkbox" }, input, labelElement, hint), read: () => input.checked };
}

function numberField(label: string, required: boolean, schema: JsonSchema): Field {
  const { id, hintId, labelElement, hint } = labelParts(label, required, schema.description);
  const input = h("input", {
    id,
    type: "number",
    required,
    step: typeOf(schema) === "integer" ? 1 : "any",
    min: schema.minimum,
    max: schema.maximum,
    value: typeof schema.default === "number" ? schema.default : undefined,
    "aria-describedby": hintId,
  });
  return {
    element: h("div", { class: "field" }, labelElement, input, hint),
    read: () => (input.value === "" ? undefined : Number(input.value)),
  };
}

function stringField(label: string, required: boolean, schema: JsonSchema): Field {
  const { id, hintId, labelElement, hint } = labelParts(label, required, schema.description);
  const input = h("input", {
    id,
    type: "text",
    required,
    minlength: schema.minLength,
    maxlength: schema.maxLength,
    value: typeof schema.default === "string" ? schema.default : undefined,
    "aria-describedby": hintId,
  });
  return {
    element: h("div", { class: "field" }, labelElement, input, hint),
    read: () => (input.value === "" && !required ? undefined : input.value),
  };
}

function jsonField(label: string, required: boolean, initial: unknown, description: string): Field {
  const { id, hintId, labelElement, hint } = labelParts(label, required, description);
  const text = initial === undefined ? "" : JSON.stringify(initial, null, 2);
  const area = h("textarea", { id, required, rows: 4, spellcheck: "false", "aria-describedby": hintId }, text);
  return {
    element: h("div", { class: "field" }, labelElement, area, hint),
    read: () => {
      if (area.value.trim() === "") return undefined;
      try {
        return JSON.parse(area.value) as unknown;
      } catch {
        throw new Error(`${label}: not valid JSON`);
      }
    },
  };
}
