/**
 * The values an attacker reaches for, shared by the JSON and the binary generators:
 * text that Postgres or UTF-8 decoders refuse, numbers past every range, and Timestamps
 * and Durations outside protobuf's valid range (0001-01-01..9999-12-31, ±315,576,000,000 s)
 * or at its very edges. Each list mixes the edges that are valid with those that are not,
 * so a server that refuses valid input is as visible as one that takes invalid input.
 */
import fc from "fast-check";

/** 1 MiB of text: long enough to hit body, header, trailer and column limits. */
export const megabyte = "a".repeat(1024 * 1024);

/** Strings with NUL, lone surrogates, control and bidi characters, and sheer length. */
export const hostileStrings: readonly string[] = [
  "",
  " ",
  "\u0000",
  "run\u0000id",
  "\ud800",
  "\udfff\ud800",
  "a\ud83d",
  "\u202eevil",
  "\ufeff",
  "\r\nX-Injected: 1",
  "../../etc/passwd",
  "%00",
  "%",
  "%zz",
  "'; drop table runs; --",
  "{{7*7}}",
  "${jndi:x}",
  "\u{1f600}".repeat(3000),
  "é".repeat(70_000),
  megabyte,
  `${megabyte}\u0000`,
  "00000000-0000-0000-0000-000000000000",
  "01a20fd7-8fdc-7b9f-8721-709c9fa631d2",
];

/** Random strings over every code point, lone surrogates included. */
export const randomString = fc.string({ unit: "binary", maxLength: 40 });

/** A string: mostly the curated ones, sometimes random. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...hostileStrings), weight: 3 },
  { arbitrary: randomString, weight: 1 },
);

/** Integers past int32, uint32, int64 and uint64, and the edges themselves. */
export const hostileIntegers: readonly bigint[] = [
  0n,
  -1n,
  2n ** 31n - 1n,
  2n ** 31n,
  -(2n ** 31n),
  -(2n ** 31n) - 1n,
  2n ** 32n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  2n ** 64n - 1n,
  10n ** 15n,
  -(10n ** 15n),
];

/** Valid Timestamp bounds in seconds since the epoch: 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
export const timestampBounds = { min: -62_135_596_800n, max: 253_402_300_799n } as const;

/** The Duration bound in seconds, either sign. */
export const durationBound = 315_576_000_000n;

/** Timestamp seconds and nanos, in range and out of it. */
export const hostileTimestampParts: readonly (readonly [bigint, number])[] = [
  [timestampBounds.max, 999_999_999],
  [timestampBounds.max + 1n, 0],
  [timestampBounds.min, 0],
  [timestampBounds.min - 1n, 0],
  [10n ** 15n, 0],
  [-(10n ** 15n), 0],
  [2n ** 63n - 1n, 0],
  [-(2n ** 63n), 0],
  [0n, -1],
  [0n, 1_000_000_000],
  [0n, 2 ** 31 - 1],
];

/** Duration seconds and nanos, in range and out of it, with mismatched signs. */
export const hostileDurationParts: readonly (readonly [bigint, number])[] = [
  [durationBound, 0],
  [durationBound + 1n, 0],
  [-durationBound - 1n, 0],
  [10n ** 15n, 0],
  [-(10n ** 15n), 0],
  [2n ** 63n - 1n, 0],
  [-(2n ** 63n), 0],
  [-5n, 0],
  [1n, -1],
  [-1n, 1],
  [0n, 1_000_000_000],
  [0n, -(2 ** 31)],
];

/** Timestamps as proto3 JSON text (and things that only look like it). */
export const hostileTimestampTexts: readonly string[] = [
  "9999-12-31T23:59:59.999999999Z",
  "10000-01-01T00:00:00Z",
  "0001-01-01T00:00:00Z",
  "0000-12-31T23:59:59Z",
  "-0001-01-01T00:00:00Z",
  "+275760-09-13T00:00:01Z",
  "2024-02-30T00:00:00Z",
  "2024-13-01T00:00:00Z",
  "2024-01-01T24:00:00Z",
  "2024-01-01T00:00:60Z",
  "2024-01-01T00:00:00",
  "2024-01-01T00:00:00+25:00",
  "2024-01-01T00:00:00.1234567891Z",
  "2024-01-01",
  "now",
  "",
  "1e20",
  "NaN",
];

/** Durations as proto3 JSON text. */
export const hostileDurationTexts: readonly string[] = [
  "315576000000s",
  "315576000001s",
  "-315576000001s",
  "1000000000000000s",
  "-1000000000000000s",
  "99999999999999999999s",
  "1.0000000001s",
  "-1s",
  "-0s",
  "1e3s",
  "NaNs",
  "Infinitys",
  "s",
  "1",
  "1m",
  "1h",
  "",
  " 1s",
  "0x10s",
];

/** Enum values no enum defines: unknown numbers and names, and names in the wrong form. */
export const hostileEnumJson: readonly (string | number)[] = [
  999,
  -1,
  2 ** 31 - 1,
  2 ** 31,
  1.5,
  "BOGUS_VALUE",
  "",
  "run_status_queued",
  "1",
  "RUN_STATUS_QUEUED ",
  "\u0000",
];

/** Nesting depths for google.protobuf.Value/Struct and for raw JSON. */
export const nestingDepths: readonly number[] = [64, 101, 1000, 5000];
