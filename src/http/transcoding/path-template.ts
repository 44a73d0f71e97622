/**
 * Parses `google.api.http` path templates (google/api/http.proto):
 *
 *     Template = "/" Segments [ ":" Verb ] ;
 *     Segment  = "*" | "**" | LITERAL | "{" FieldPath [ "=" Segments ] "}" ;
 *
 * into segments the route trie can index and variables that say which segments fill
 * which request field. Parsing happens once at start-up, so every mistake is reported
 * with the template and the position it was found at, never at request time.
 */

/** One segment of a template: what a single path segment (or the rest of the path) must be. */
export type TemplateSegment =
  | { readonly kind: "literal"; readonly value: string }
  /** `*`: exactly one non-empty segment. */
  | { readonly kind: "wildcard" }
  /** `**`: zero or more segments, always the last one of a template. */
  | { readonly kind: "deep-wildcard" };

/** A `{field.path=…}` variable: the segments `start` up to `end` fill that request field. */
export interface TemplateVariable {
  /** Proto field names from the request message down, e.g. `["nested", "name"]`. */
  readonly fieldPath: readonly string[];
  /** Index of the variable's first segment. */
  readonly start: number;
  /** Index after its last segment; undefined when it ends in `**` and so runs to the path's end. */
  readonly end: number | undefined;
}

/** A parsed template, ready for the route trie. */
export interface PathTemplate {
  /** The template as written in the annotation, for messages. */
  readonly source: string;
  readonly segments: readonly TemplateSegment[];
  /** The `:verb` suffix without its colon, or undefined. */
  readonly verb: string | undefined;
  readonly variables: readonly TemplateVariable[];
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses `source`; throws an Error naming the template and what is wrong with it. */
export function parsePathTemplate(source: string): PathTemplate {
  const parser = createParser(source);
  if (!source.startsWith("/")) parser.fail("must start with '/'");
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];
  parser.position = 1;
  parseSegments(parser, segments, variables, false);
  let verb: string | undefined;
  if (parser.peek() === ":") {
    parser.position += 1;
    verb = readLiteral(parser);
    if (verb === "") parser.fail("empty verb after ':'");
  }
  if (!parser.atEnd()) parser.fail(`unexpected '${parser.peek() ?? ""}'`);
  checkDeepWildcardIsLast(parser, segments);
  checkVariablesAreDistinct(parser, variables);
  return { source, segments, verb, variables };
}

interface Parser {
  position: number;
  peek(): string | undefined;
  atEnd(): boolean;
  fail(problem: string): never;
}

function createParser(source: string): Parser {
  return {
    position: 0,
    peek() {
      return source[this.position];
    },
    atEnd() {
      return this.position >= source.length;
    },
    fail(problem) {
      throw new Error(`invalid path template "${source}" at offset ${this.position}: ${problem}`);
    },
  };
}

/** Reads `Segment { "/" Segment }`; inside a variable, stops at '}' and allows no nested variable. */
function parseSegments(parser: Parser, segments: TemplateSegment[], variables: TemplateVariable[], inVariable: boolean): void {
  for (;;) {
    const next = parser.peek();
    if (next === "{") {
      if (inVariable) parser.fail("a variable cannot contain another variable");
      parseVariable(parser, segments, variables);
    } else {
      segments.push(parseSegment(parser));
    }
    if (parser.peek() !== "/") return;
    parser.position += 1;
  }
}

function parseSegment(parser: Parser): TemplateSegment {
  if (parser.peek() === "*") {
    parser.position += 1;
    if (parser.peek() !== "*") return { kind: "wildcard" };
    parser.position += 1;
    return { kind: "deep-wildcard" };
  }
  const literal = readLiteral(parser);
  if (literal === "") parser.fail("empty segment");
  return { kind: "literal", value: decodeLiteral(parser, literal) };
}

/** Reads up to the next character with a meaning in the grammar. */
function readLiteral(parser: Parser): string {
  let literal = "";
  for (let next = parser.peek(); next !== undefined && !"/{}*:=".includes(next); next = parser.peek()) {
    literal += next;
    parser.position += 1;
  }
  return literal;
}

/** Literals may be written percent-encoded; the trie compares decoded segments. */
function decodeLiteral(parser: Parser, literal: string): string {
  try {
    return decodeURIComponent(literal);
  } catch {
    return parser.fail(`invalid percent-encoding in "${literal}"`);
  }
}

function parseVariable(parser: Parser, segments: TemplateSegment[], variables: TemplateVariable[]): void {
  parser.position += 1; // "{"
  let name = "";
  for (let next = parser.peek(); next !== undefined && next !== "=" && next !== "}"; next = parser.peek()) {
    name += next;
    parser.position += 1;
  }
  const fieldPath = name.split(".");
  if (!fieldPath.every((part) => identifier.test(part))) parser.fail(`"${name}" is not a field path`);
  const start = segments.length;
  if (parser.peek() === "=") {
    parser.position += 1;
    parseSegments(parser, segments, variables, true);
  } else {
    segments.push({ kind: "wildcard" }); // `{name}` is `{name=*}`
  }
  if (parser.peek() !== "}") parser.fail(`variable "${name}" is not closed with '}'`);
  parser.position += 1;
  const endsDeep = segments.at(-1)?.kind === "deep-wildcard";
  variables.push({ fieldPath, start, end: endsDeep ? undefined : segments.length });
}

function checkDeepWildcardIsLast(parser: Parser, segments: readonly TemplateSegment[]): void {
  const index = segments.findIndex((segment) => segment.kind === "deep-wildcard");
  if (index !== -1 && index !== segments.length - 1) parser.fail("'**' must be the last segment");
}

function checkVariablesAreDistinct(parser: Parser, variables: readonly TemplateVariable[]): void {
  const seen = new Set<string>();
  for (const variable of variables) {
    const name = variable.fieldPath.join(".");
    if (seen.has(name)) parser.fail(`variable "${name}" appears twice`);
    seen.add(name);
  }
}
