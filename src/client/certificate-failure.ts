/**
 * Recognises a failed verification of the server's TLS certificate in a tunnel's end reason, so
 * that the client can say what to do about it. Node reports these with OpenSSL's texts for the
 * X509_V_ERR_* codes ("self-signed certificate", "unable to verify the first certificate",
 * "unable to get local issuer certificate", "certificate has expired", ...) and, for a name
 * mismatch, tls.checkServerIdentity's "Hostname/IP does not match certificate's altnames".
 */
const VERIFICATION_FAILURE = /certificate|altnames/i;

export function isCertificateFailure(reason: string): boolean {
  return VERIFICATION_FAILURE.test(reason);
}

/** The log message for it: names both ways out, the right one first. */
export const CERTIFICATE_FAILURE_MESSAGE =
  "cannot verify the server's certificate: trust its CA with --ca-file (HOP_CLIENT_CA_FILE), " +
  "or for development only skip verification with --insecure (HOP_CLIENT_INSECURE); reconnecting";
