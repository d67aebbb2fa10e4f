/**
 * Loads the JSON test vectors in test/vectors/ (see its README for the source of each).
 * The files are read from the source tree at run time, resolved from this file's compiled
 * location dist/test/helpers/ (three levels up is the project root).
 */
import { readFileSync } from 'node:fs';

/** SHA-256 digests (FIPS 180-2). */
export interface Sha256Vector {
  readonly name: string;
  readonly messageHex: string;
  readonly digestHex: string;
}

/** HMAC-SHA256 (RFC 4231). */
export interface HmacVector {
  readonly name: string;
  readonly keyHex: string;
  readonly dataHex: string;
  readonly macHex: string;
}

/** PBKDF2-HMAC-SHA256 (RFC 7914 §11). */
export interface Pbkdf2Vector {
  readonly name: string;
  readonly passwordHex: string;
  readonly saltHex: string;
  readonly c: number;
  readonly dkLen: number;
  readonly dkHex: string;
}

/** AES-256-CTR (NIST SP 800-38A F.5.5). */
export interface AesCtrVector {
  readonly name: string;
  readonly keyHex: string;
  readonly counterHex: string;
  readonly plaintextHex: string;
  readonly ciphertextHex: string;
}

/** The RFC 3526 group-14 prime. */
export interface ModpGroup {
  readonly source: string;
  readonly bits: number;
  readonly generator: number;
  readonly primeHex: string;
}

/** One connection through the real spiped, both ends -f (see capture-spiped.mjs). */
export interface SpipedCapture {
  readonly source: string;
  readonly how: readonly string[];
  readonly spipedVersion: string;
  readonly keyFileHex: string;
  readonly keyHex: string;
  readonly plaintextHex: string;
  readonly clientToServerHex: string;
  readonly serverToClientHex: string;
}

interface VectorFile<T> {
  readonly source: string;
  readonly vectors: readonly T[];
}

/** Parse test/vectors/`name` as JSON. Throws if it is missing or malformed. */
export function readVectorFile<T>(name: string): T {
  const url = new URL(`../../../test/vectors/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

/** The `vectors` array of a vector file; throws if it is empty (a test must test something). */
function list<T>(name: string): readonly T[] {
  const file = readVectorFile<VectorFile<T>>(name);
  if (!Array.isArray(file.vectors) || file.vectors.length === 0)
    throw new Error(`${name}: no vectors`);
  return file.vectors;
}

export const sha256Vectors = (): readonly Sha256Vector[] => list('sha256.json');
export const hmacVectors = (): readonly HmacVector[] => list('hmac-sha256.json');
export const pbkdf2Vectors = (): readonly Pbkdf2Vector[] => list('pbkdf2-sha256.json');
export const aesCtrVectors = (): readonly AesCtrVector[] => list('aes-256-ctr.json');
export const modpGroup14 = (): ModpGroup => readVectorFile('modp-group14.json');
export const spipedCapture = (): SpipedCapture => readVectorFile('spiped-capture.json');

/** Hex (any case) to bytes; throws on odd length or a non-hex digit. */
export function hex(s: string): Buffer {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s))
    throw new Error(`not hex: ${s.slice(0, 40)}`);
  return Buffer.from(s, 'hex');
}

/** Bytes to lower-case hex, for readable assertion diffs. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}
