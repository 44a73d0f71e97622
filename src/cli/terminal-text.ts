/**
 * Text as a terminal shows it: how many columns a string takes (escape sequences take
 * none, CJK characters and emoji take two, combining marks ride on their base), and
 * cutting a line to a width without breaking the escape sequences in it. A line redrawn
 * in place must never reach the terminal's last column: once it wraps, `\r` returns to
 * the wrapped half only and every redraw leaves a partial line behind.
 */

// A CSI sequence (colours, erase line) is ESC, then `[`, parameters, intermediates and a final byte.
const escape = 0x1b;
const controlSequenceRest = /\[[0-?]*[ -/]*[@-~]/y;

// East Asian Wide and Fullwidth blocks, and emoji drawn as pictures by default.
const wideCharacter =
  /^[\p{Emoji_Presentation}\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{20000}-\u{3FFFD}]/u;

const zeroWidthCharacter = /^[\p{Mn}\p{Me}\p{Cf}]/u;

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

// C0 and C1 controls, DEL included (Unicode's Cc): a newline, a carriage return or an
// escape in another program's text would move the cursor or restyle the terminal.
const controlCharacters = /\p{Cc}/gu;

/** A piece of a line: an escape sequence (no width) or one grapheme with its width. */
type Piece = { readonly text: string; readonly width: number };

function graphemeWidth(grapheme: string): number {
  if (wideCharacter.test(grapheme)) return 2;
  return zeroWidthCharacter.test(grapheme) ? 0 : 1;
}

function piecesOf(text: string): Piece[] {
  const pieces: Piece[] = [];
  let plain = "";
  const flushPlain = () => {
    for (const { segment } of graphemes.segment(plain)) pieces.push({ text: segment, width: graphemeWidth(segment) });
    plain = "";
  };
  for (let index = 0; index < text.length;) {
    controlSequenceRest.lastIndex = index + 1;
    const match = text.charCodeAt(index) === escape ? controlSequenceRest.exec(text) : null;
    if (match === null) {
      plain += text[index];
      index += 1;
      continue;
    }
    flushPlain();
    pieces.push({ text: text.slice(index, index + 1 + match[0].length), width: 0 });
    index += 1 + match[0].length;
  }
  flushPlain();
  return pieces;
}

/** Text from elsewhere (an executor's progress message) made safe to print on one line: controls become spaces. */
export function printable(text: string): string {
  return text.replace(controlCharacters, " ");
}

/** The columns `text` takes on a terminal. */
export function visibleWidth(text: string): number {
  return piecesOf(text).reduce((sum, piece) => sum + piece.width, 0);
}

/**
 * `text` cut to at most `width` columns, ending in `…` when cut. Escape sequences past
 * the cut are kept (they take no room), so a colour opened before it is still closed.
 */
export function fitToWidth(text: string, width: number): string {
  const pieces = piecesOf(text);
  if (pieces.reduce((sum, piece) => sum + piece.width, 0) <= width) return text;
  let used = 0;
  let cut = false;
  let fitted = "";
  for (const piece of pieces) {
    if (piece.width === 0 && (piece.text.charCodeAt(0) === escape || !cut)) fitted += piece.text;
    else if (!cut && used + piece.width <= width - 1) {
      fitted += piece.text;
      used += piece.width;
    } else if (!cut) {
      cut = true;
      fitted += "…";
    }
  }
  return fitted;
}
