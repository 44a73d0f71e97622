/**
 * What a terminal of a given width shows after some output: a small emulator of the few
 * things a line-oriented CLI sends (printable ASCII, CR, LF, erase-line, colours), with
 * the autowrap of xterm: writing the last column leaves the cursor there, and the next
 * printable character starts a new row. It counts those wraps, so a test can tell a
 * line that fitted from one the terminal had to break. Any other control sequence is an
 * error: the test should know what the program sends.
 */

/** The screen after the output, and the facts a test asserts on. */
export interface Screen {
  /** The rows written, top to bottom, trailing spaces removed. */
  readonly rows: readonly string[];
  /** How many times a row was full and the terminal wrapped onto a new one. */
  readonly wraps: number;
  /** Each line as drawn between CR/LF, without colours, in order (redraws included). */
  readonly drawn: readonly string[];
}

const escape = "\u001b";

/** Replays `output` on a terminal `columns` wide. */
export function renderScreen(output: string, columns: number): Screen {
  const rows: string[][] = [[]];
  const drawn: string[] = [];
  let row = 0;
  let column = 0;
  let pendingWrap = false;
  let wraps = 0;
  let line = "";
  const endLine = () => {
    if (line !== "") drawn.push(line);
    line = "";
  };
  for (let index = 0; index < output.length; index += 1) {
    const character = output[index]!;
    if (character === escape) {
      const match = /^\[([0-9;]*)([A-Za-z])/.exec(output.slice(index + 1));
      if (match === null) throw new Error(`unexpected escape at ${index}: ${JSON.stringify(output.slice(index, index + 8))}`);
      index += match[0].length;
      const [, parameter, command] = match;
      if (command === "m") continue;
      if (command !== "K") throw new Error(`unexpected control sequence ESC[${parameter}${command}`);
      const cells = rows[row]!;
      if (parameter === "2") cells.length = 0;
      else if (parameter === "" || parameter === "0") cells.length = Math.min(cells.length, column);
      else throw new Error(`unexpected erase ESC[${parameter}K`);
      continue;
    }
    if (character === "\r" || character === "\n") {
      endLine();
      pendingWrap = false;
      if (character === "\r") column = 0;
      else rows[++row] ??= [];
      continue;
    }
    if (character < " ") throw new Error(`unexpected control character ${character.charCodeAt(0)} at ${index}`);
    if (pendingWrap) {
      wraps += 1;
      rows[++row] ??= [];
      column = 0;
      pendingWrap = false;
    }
    const cells = rows[row]!;
    while (cells.length < column) cells.push(" ");
    cells[column] = character;
    line += character;
    if (column === columns - 1) pendingWrap = true;
    else column += 1;
  }
  endLine();
  const text = rows.map((cells) => cells.join("").trimEnd());
  while (text.length > 0 && text.at(-1) === "") text.pop();
  return { rows: text, wraps, drawn };
}
