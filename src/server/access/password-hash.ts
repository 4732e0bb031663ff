import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * scrypt password hashes in a PHC-like string (https://github.com/P-H-C/phc-string-format):
 * `$scrypt$ln=15,r=8,p=1$<salt, base64>$<hash, base64>`. Cost 2^15 × r=8 takes 32 MiB and
 * tens of milliseconds per check (OWASP Password Storage Cheat Sheet's scrypt minimum is 2^17
 * with r=8 for interactive logins; HopGate checks far more often, once per uncached request,
 * and bounds the work with a queue).
 */
export const SCRYPT_COST_LOG2 = 15;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Largest cost accepted from a stored string, so a bad row cannot ask for gigabytes. */
const MAX_COST_LOG2 = 17;

interface ScryptParams {
  readonly costLog2: number;
  readonly blockSize: number;
  readonly parallelism: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

const PHC =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/** Parses a stored hash; undefined when it is not one of ours or its parameters are out of bounds. */
export function parsePasswordHash(text: string): ScryptParams | undefined {
  const match = PHC.exec(text);
  if (!match) return undefined;
  const [, ln, r, p, salt = "", hash = ""] = match;
  const params = {
    costLog2: Number(ln),
    blockSize: Number(r),
    parallelism: Number(p),
    salt: Buffer.from(salt, "base64"),
    hash: Buffer.from(hash, "base64"),
  };
  const bounded =
    params.costLog2 >= 10 &&
    params.costLog2 <= MAX_COST_LOG2 &&
    params.blockSize >= 1 &&
    params.blockSize <= 16 &&
    params.parallelism === 1 &&
    params.salt.length >= 8 &&
    params.hash.length >= 16;
  return bounded ? params : undefined;
}

/** A new hash of `password` with a random salt. */
export async function hashPassword(password: string, costLog2 = SCRYPT_COST_LOG2): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, {
    costLog2,
    blockSize: BLOCK_SIZE,
    parallelism: PARALLELISM,
    salt,
    hash: Buffer.alloc(HASH_BYTES),
  });
  return `$scrypt$ln=${costLog2},r=${BLOCK_SIZE},p=${PARALLELISM}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/**
 * A hash in the format and at the cost of hashPassword's whose hash bytes are random, not derived
 * from any password: checking a password against it costs what a real check costs, and no
 * password matches it (short of finding a 256-bit preimage).
 */
export function decoyPasswordHash(): string {
  const salt = randomBytes(SALT_BYTES).toString("base64");
  const hash = randomBytes(HASH_BYTES).toString("base64");
  return `$scrypt$ln=${SCRYPT_COST_LOG2},r=${BLOCK_SIZE},p=${PARALLELISM}$${salt}$${hash}`;
}

/** Whether `password` matches `stored`, compared in constant time; false for an unparsable hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const params = parsePasswordHash(stored);
  if (!params) return false;
  const derived = await derive(password, params);
  return timingSafeEqual(derived, params.hash);
}

function derive(password: string, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: 2 ** params.costLog2,
    r: params.blockSize,
    p: params.parallelism,
    // scrypt needs 128·N·r bytes; node's default maxmem (32 MiB) is exactly 2^15 × 8's.
    maxmem: 256 * 2 ** params.costLog2 * params.blockSize,
  };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFC"), params.salt, params.hash.length, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}
