/**
 * Everything the CLI prints to stdout goes through here: human lines and aligned tables
 * by default, proto3 JSON (toJson) with `--json`. Colours come from util.styleText, which
 * leaves text plain when stdout is not a terminal or NO_COLOR is set.
 */
import { styleText } from "node:util";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

/** A styleText format such as `green` or `bold`. */
export type Style = Parameters<typeof styleText>[0];

/** A table cell: plain text, or text with a style applied after alignment. */
export type Cell = string | { readonly text: string; readonly style: Style };

/** The CLI's stdout. */
export interface Output {
  /** `--json` was given: print messages as proto3 JSON, nothing else. */
  readonly json: boolean;
  /** stdout is a terminal, so a line may be redrawn in place. */
  readonly interactive: boolean;
  /** The terminal's width now (it may be resized while a run is followed); 80 when it does not say. */
  columns(): number;
  /** Prints one line. */
  line(text?: string): void;
  /** Prints text as is (no newline added). */
  write(text: string): void;
  /** Prints a message as indented proto3 JSON. */
  message<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void;
  /** Prints a message as proto3 JSON on one line (for streams: one message per line). */
  messageLine<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void;
  /** Prints rows under a header, columns aligned. */
  table(header: readonly string[], rows: readonly (readonly Cell[])[]): void;
  /** Styles text when colours are on. */
  paint(style: Style, text: string): string;
}

function textOf(cell: Cell): string {
  return typeof cell === "string" ? cell : cell.text;
}

/** Columns of a terminal that reports none (a pty nobody sized), unless COLUMNS says. */
const defaultColumns = 80;

/** The Output over process.stdout (or `stream`: the live view of `runs create --wait` goes to stderr). */
export function createOutput(json: boolean, stream: NodeJS.WriteStream = process.stdout): Output {
  const paint = (style: Style, text: string) => styleText(style, text, { stream });
  const write = (text: string) => void stream.write(text);
  return {
    json,
    interactive: stream.isTTY === true,
    columns: () => (stream.isTTY === true && stream.columns > 0 ? stream.columns : Number(process.env.COLUMNS) || defaultColumns),
    line: (text = "") => write(`${text}\n`),
    write,
    message: (schema, message) => write(`${JSON.stringify(toJson(schema, message), null, 2)}\n`),
    messageLine: (schema, message) => write(`${JSON.stringify(toJson(schema, message))}\n`),
    paint,
    table(header, rows) {
      const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => textOf(row[column] ?? "").length)));
      const render = (cells: readonly Cell[], styleAll?: Style) =>
        cells
          .map((cell, column) => {
            const padded = column === cells.length - 1 ? textOf(cell) : textOf(cell).padEnd(widths[column]!);
            const style = styleAll ?? (typeof cell === "string" ? undefined : cell.style);
            return style === undefined ? padded : paint(style, padded);
          })
          .join("  ");
      write(`${render(header, "bold")}\n`);
      for (const row of rows) write(`${render(row)}\n`);
    },
  };
}
