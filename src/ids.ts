/**
 * Identifiers: UUID version 7 (RFC 9562), time-ordered so that new rows land at the
 * right edge of the B-tree indexes instead of at random pages.
 */
import { randomBytes } from "node:crypto";

/** A new UUIDv7 string. */
export function newId(): string {
  const bytes = randomBytes(16);
  const millis = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((millis >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a syntactically valid UUID; anything else can never name a stored row. */
export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}
