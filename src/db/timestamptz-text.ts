/**
 * Postgres timestamptz text → epoch milliseconds. MikroORM's pg setup returns timestamptz
 * columns as text (`2026-01-02 03:04:05.123456+01`, ISO DateStyle), and `new Date(text)`
 * misreads it at the edges: years 0001–0099 come back as 2001–2099 (V8's rule for
 * two-digit years), and `… BC`, `infinity` and years past 275760 as Invalid Date. Times
 * that far out can only have been stored before the API bounded them or by hand, but a
 * read that clamps them (proto-convert.ts) must know which end of the range they are on.
 */

const hyphen = 0x2d;
const zero = 0x30;

// Year (4+ digits), date, time, optional fraction, offset (Z, ±HH, ±HH:MM or ±HH:MM:SS), era.
const timestamptzPattern = /^(\d{4,})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)( BC)?$/;

/**
 * Epoch milliseconds of `text` (digits below the millisecond dropped, as `Date` drops
 * them); `±Infinity` for `±infinity` and for times beyond JavaScript's dates (±275,760
 * years). Throws on text that is no timestamptz.
 */
export function millisFromTimestamptz(text: string): number {
  // Years 1000–9999 AD, nearly every value: Date parses these right, and faster (0.4 µs
  // against 0.9 µs measured).
  if (text.charCodeAt(4) === hyphen && text.charCodeAt(0) !== zero && !text.endsWith(" BC")) {
    const ms = new Date(text).getTime();
    if (!Number.isNaN(ms)) return ms;
  }
  if (text === "infinity") return Infinity;
  if (text === "-infinity") return -Infinity;
  const match = timestamptzPattern.exec(text);
  if (match === null) throw new RangeError(`not a timestamptz: ${JSON.stringify(text.slice(0, 64))}`);
  const [
    ,
    year,
    month,
    day,
    hour,
    minute,
    second,
    fraction = "",
    ,
    sign,
    offsetHours = "0",
    offsetMinutes = "0",
    offsetSeconds = "0",
    era,
  ] = match;
  // Astronomical numbering: 1 BC is year 0, 2 BC year −1.
  const astronomicalYear = era === undefined ? Number(year) : 1 - Number(year);
  let local = Date.UTC(
    astronomicalYear,
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
    Number(fraction.slice(0, 3).padEnd(3, "0")),
  );
  // Date.UTC takes years 0–99 as 1900–1999; setUTCFullYear takes them as they are.
  if (astronomicalYear >= 0 && astronomicalYear < 100) local = new Date(local).setUTCFullYear(astronomicalYear);
  if (Number.isNaN(local)) return era === undefined ? Infinity : -Infinity;
  const offsetMs = (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds)) * 1000;
  return sign === "-" ? local + offsetMs : local - offsetMs;
}
