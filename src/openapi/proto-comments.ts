/**
 * Descriptions from proto comments. The comments are the API's reference (house style:
 * every service, RPC, message and field has one), so the document repeats them rather
 * than saying anything of its own. They exist only where the descriptors carry source
 * info: in a protoc plugin's request, not in the descriptors embedded in gen/*_pb.ts.
 */
import type { AnyDesc, DescFile } from "@bufbuild/protobuf";
import { getComments } from "@bufbuild/protoplugin";

/**
 * The element's leading comment (its trailing one when it has none) as Markdown: the
 * one space after each `//` removed, line breaks kept (CommonMark reads them as spaces).
 * Undefined when there is no comment.
 */
export function commentOf(desc: Exclude<AnyDesc, DescFile>): string | undefined {
  const comments = getComments(desc);
  const text = comments.leading ?? comments.trailing;
  if (text === undefined) return undefined;
  const cleaned = text
    .split("\n")
    .map((line) => (line.startsWith(" ") ? line.slice(1) : line).trimEnd())
    .join("\n")
    .trim();
  return cleaned === "" ? undefined : cleaned;
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
