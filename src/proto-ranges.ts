/**
 * The ranges google.protobuf.Timestamp and Duration can carry (timestamp.proto,
 * duration.proto), in the units each user needs: whole seconds to check a request, and
 * milliseconds to clamp a stored value or cap an interval in SQL. One place, so that the
 * boundary, the reads and the claims agree on where the range ends.
 */

/** 0001-01-01T00:00:00Z, in seconds since the epoch. */
export const minTimestampSeconds = -62_135_596_800n;
/** 9999-12-31T23:59:59Z, in seconds since the epoch (nanos may add up to 999,999,999). */
export const maxTimestampSeconds = 253_402_300_799n;
/** ±10,000 years, in seconds. */
export const maxDurationSeconds = 315_576_000_000n;

/** The first millisecond a Timestamp can carry. */
export const minTimestampMs = Number(minTimestampSeconds) * 1000;
/** The last millisecond a Timestamp can carry. */
export const maxTimestampMs = Number(maxTimestampSeconds) * 1000 + 999;
/** The longest Duration, in milliseconds. */
export const maxDurationMs = Number(maxDurationSeconds) * 1000;

/**
 * How deep a JSON value in a request (google.protobuf.Value, Struct, ListValue: a run's
 * input, an event's data, a schema) may nest: `[[1]]` is 2 deep. Each level costs two
 * protobuf messages (Value, then Struct or ListValue), and protobuf-es (the server's REST
 * layer, connect-node clients, our SDK) refuses binary nested more than 100 messages
 * deep, counting the messages that carry the value (WorkResponse → lease → Run → input).
 * At 32 every stored value stays readable on every protocol with room to spare; the
 * decoders' own limits are the only ones beyond it, and they differ by protocol.
 */
export const maxJsonValueDepth = 32;
