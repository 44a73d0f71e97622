/**
 * A throwaway self-signed certificate for TLS listeners in tests (made by the openssl
 * command line, valid one day, CN and subjectAltName = the host name, localhost unless
 * given; clients pass rejectUnauthorized: false or trust it as a CA).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A new PEM certificate for `hostName` and its key. */
export function createSelfSignedCertificate(hostName = "localhost"): { cert: Buffer; key: Buffer } {
  const directory = mkdtempSync(join(tmpdir(), "listener-tls-"));
  try {
    const [keyPath, certPath] = [join(directory, "key.pem"), join(directory, "cert.pem")];
    execFileSync(
      "/usr/bin/openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        `/CN=${hostName}`,
        "-addext",
        `subjectAltName=DNS:${hostName}`,
        "-keyout",
        keyPath,
        "-out",
        certPath,
      ],
      { stdio: "ignore" },
    );
    return { cert: readFileSync(certPath), key: readFileSync(keyPath) };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
