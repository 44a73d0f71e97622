/**
 * Descriptions from proto comments. The comments are the API's reference (house style:
 * every service, RPC, message and field has one), so the document repeats them rather
 * than saying anything of its own. They exist only where the descriptors carry source
 * info: in a protoc plugin's request, not in the descriptors embedded in gen/*_pb.ts.
 *
 * Comments name fields as the proto does (`after_sequence`); REST callers write their
 * JSON names (`afterSequence`), so a code span that names a field of the described
 * files (jsonNamesOf) is rewritten to the JSON name.
 */
import type { AnyDesc, DescFile, DescMessage } from "@bufbuild/protobuf";
import { getComments } from "@bufbuild/protoplugin";

/** A commented element: anything but a file. */
type CommentedDesc = Exclude<AnyDesc, DescFile>;

/**
 * The element's leading comment (its trailing one when it has none) as Markdown: the
 * one space after each `//` removed, line breaks kept (CommonMark reads them as spaces),
 * field names in code spans as their `jsonNames`. Undefined when there is no comment.
 */
export function commentOf(desc: CommentedDesc, jsonNames: ReadonlyMap<string, string>): string | undefined {
  const comments = getComments(desc);
  const text = comments.leading ?? comments.trailing;
  if (text === undefined) return undefined;
  const cleaned = text
    .split("\n")
    .map((line) => (line.startsWith(" ") ? line.slice(1) : line).trimEnd())
    .join("\n")
    .trim();
  return cleaned === "" ? undefined : withJsonNames(cleaned, jsonNames);
}

/** A code span holding a field name or a dotted path of them: `after_sequence`, `webhook.intermediate_status`. */
const fieldPathSpan = /`([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)`/g;

/** `text` with every field name in a code span replaced by its JSON name (unknown names stay). */
function withJsonNames(text: string, jsonNames: ReadonlyMap<string, string>): string {
  return text.replace(fieldPathSpan, (_span, path: string) => {
    const renamed = path.split(".").map((name) => jsonNames.get(name) ?? name);
    return `\`${renamed.join(".")}\``;
  });
}

/**
 * Proto name → JSON name of the fields of `files` and the files they import, for names
 * that differ. When two fields share a proto name but not a JSON name (a `json_name`
 * option on one), the first one found wins: comments rarely say which message they mean.
 */
export function jsonNamesOf(files: Iterable<DescFile>): ReadonlyMap<string, string> {
  const names = new Map<string, string>();
  const visitMessage = (message: DescMessage): void => {
    for (const field of message.fields) if (field.name !== field.jsonName && !names.has(field.name)) names.set(field.name, field.jsonName);
    message.nestedMessages.forEach(visitMessage);
  };
  const seen = new Set<DescFile>();
  const visitFile = (file: DescFile): void => {
    if (seen.has(file)) return;
    seen.add(file);
    file.messages.forEach(visitMessage);
    file.dependencies.forEach(visitFile);
  };
  for (const file of files) visitFile(file);
  return names;
}

/** The first sentence of `text` (up to a full stop followed by a space or the end), for summaries. */
export function firstSentence(text: string): string {
  const paragraph = text.split(/\n\s*\n/)[0] ?? text;
  const flat = paragraph.replace(/\s*\n\s*/g, " ");
  const end = /\.(\s|$)/.exec(flat);
  return end === null ? flat : flat.slice(0, end.index + 1);
}

/** Joins the non-empty parts with blank lines (Markdown paragraphs); undefined when none is left. */
export function joinParagraphs(...parts: (string | undefined)[]): string | undefined {
  const kept = parts.filter((part): part is string => part !== undefined && part !== "");
  return kept.length === 0 ? undefined : kept.join("\n\n");
}
