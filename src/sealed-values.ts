/**
 * Secrets kept in the database that must stay usable (for signing), so cannot be stored
 * hashed: each is encrypted with AES-256-GCM under a 32-byte key, a random 12-byte IV per
 * value, stored as iv | tag | ciphertext, with the owning row named as associated data so
 * a ciphertext copied into another row does not open. Webhook secrets and access-token
 * signing keys use it, each under its own key from server_secrets.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const ivBytes = 12;
const tagBytes = 16;

/** `value` encrypted under `key`, bound to `owner` (associated data). */
export function sealValue(key: Buffer, value: string | Buffer, owner: Buffer): Buffer {
  const iv = randomBytes(ivBytes);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(owner);
  const ciphertext = Buffer.concat([typeof value === "string" ? cipher.update(value, "utf8") : cipher.update(value), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
}

/** The value `sealed` holds; throws when the key, the owner or the bytes are not those it was sealed with. */
export function openValue(key: Buffer, sealed: Buffer, owner: Buffer): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, ivBytes));
  decipher.setAAD(owner);
  decipher.setAuthTag(sealed.subarray(ivBytes, ivBytes + tagBytes));
  return Buffer.concat([decipher.update(sealed.subarray(ivBytes + tagBytes)), decipher.final()]);
}
