/**
 * A throwaway self-signed certificate for TLS listeners in tests (made by the openssl
 * command line, valid one day, CN=localhost; clients pass rejectUnauthorized: false).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A new PEM certificate and its key. */
export function createSelfSignedCertificate(): { cert: Buffer; key: Buffer } {
  const directory = mkdtempSync(join(tmpdir(), "listener-tls-"));
  try {
    const [keyPath, certPath] = [join(directory, "key.pem"), join(directory, "cert.pem")];
    execFileSync(
      "/usr/bin/openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", keyPath, "-out", certPath],
      { stdio: "ignore" },
    );
    return { cert: readFileSync(certPath), key: readFileSync(keyPath) };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
