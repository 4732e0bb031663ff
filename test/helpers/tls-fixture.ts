import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TlsFixture {
  readonly cert: string;
  readonly key: string;
}

let cached: TlsFixture | undefined;

/** A throwaway self-signed certificate for localhost, 127.0.0.1 and *.test names (made with openssl). */
export function tlsFixture(): TlsFixture {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "hopgate-tls-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:*.example.test,DNS:gateway.test",
      ],
      { stdio: "ignore" },
    );
    cached = {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
