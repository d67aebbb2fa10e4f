/**
 * Key files: K = SHA-256 of the whole file (spiped main.c), `-` for standard input.
 * Reading never logs key bytes; the raw file contents are zeroed once hashed.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { zeroize } from './bytes.js';
import { KEY_LEN } from './sizes.js';

/** A key file could not be read; `message` names the file and the OS reason. */
export class KeyFileError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    action: 'read' | 'write' | 'use' = 'read',
    what = 'key file',
  ) {
    super(`cannot ${action} ${what} ${path}: ${reason}`);
    this.name = 'KeyFileError';
  }
}

/**
 * Read a file that holds a secret (`-` = standard input). Warns when a regular file is readable
 * by group or others, saying what a reader could do (`exposure`). Throws KeyFileError (naming
 * `what`, the file and the OS reason) when it is missing or unreadable. Zero `raw` when done.
 */
export function readSecretFile(
  path: string,
  what: string,
  exposure: string,
): { raw: Buffer; warnings: string[] } {
  const warnings: string[] = [];
  let raw: Buffer;
  try {
    if (path === '-') {
      raw = readFileSync(0);
    } else {
      const fd = openSync(path, 'r');
      try {
        const st = fstatSync(fd);
        if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
        if (st.isFile() && (st.mode & 0o044) !== 0) {
          const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
          warnings.push(
            `${what} ${path} is readable by ${st.mode & 0o004 ? 'others' : 'its group'} (mode ${mode}): ` +
              `${exposure}; fix with: chmod 600 ${path}`,
          );
        }
        raw = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason =
      e.code === 'ENOENT'
        ? 'no such file (ENOENT)'
        : e.code === 'EACCES' || e.code === 'EPERM'
          ? permissionReason(path, e.code)
          : e.code
            ? `${e.message.split(',')[0]} (${e.code})`
            : e.message;
    throw new KeyFileError(path, reason, 'read', what);
  }
  return { raw, warnings };
}

/**
 * Why `path` could not be opened, for the usual container case (the file belongs to root or to
 * another uid): who this process runs as, and the file's owner and mode when it can be seen.
 */
function permissionReason(path: string, code: string): string {
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  const self = `this process runs as uid ${uid} (gid ${gid})`;
  try {
    const st = statSync(path);
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    return (
      `permission denied (${code}): ${self}; the file is owned by uid ${st.uid} (gid ${st.gid}) ` +
      `with mode ${mode}; fix with: chown ${uid} ${path} (or run as its owner)`
    );
  } catch {
    return `permission denied (${code}): ${self}, and cannot see the file's owner and mode (check the directories above it)`;
  }
}

/** The derived key and any warnings about how it was stored. */
export interface LoadedKey {
  /** Where it came from (`-` for standard input). */
  readonly path: string;
  /** K = SHA-256(file contents), KEY_LEN bytes. Zero it when done. */
  readonly key: Uint8Array;
  /** Human-readable warnings (permissions, short key); never contain key bytes. */
  readonly warnings: readonly string[];
}

/** Below this many bytes a key file cannot hold 256 bits of entropy. */
export const MIN_KEY_FILE_BYTES = 32;

/** How loadKeyFile treats an empty file. */
export interface LoadKeyOptions {
  /**
   * Accept an empty file (K = SHA-256 of nothing, which anyone can compute) with a warning
   * instead of refusing it: the CLI's --insecure-empty-key, for tests only.
   */
  readonly allowEmpty?: boolean;
}

/**
 * Read `path` (or standard input for `-`) and derive K. Warns when a regular file is readable by
 * group or others, and when it is shorter than MIN_KEY_FILE_BYTES.
 * Throws KeyFileError when the file is missing or unreadable, and when it is empty (unless
 * `options.allowEmpty`): an empty key is no secret, so it fails closed, naming `cloakpipe keygen`.
 */
export function loadKeyFile(path: string, options: LoadKeyOptions = {}): LoadedKey {
  const { raw, warnings } = readSecretFile(
    path,
    'key file',
    'anyone who can read it can decrypt and impersonate this tunnel',
  );
  if (raw.length === 0 && options.allowEmpty !== true)
    throw new KeyFileError(
      path,
      'the file is empty, and an empty key is no secret; make a key with: cloakpipe keygen FILE ' +
        '(or pass --insecure-empty-key to accept it anyway)',
      'use',
    );
  if (raw.length < MIN_KEY_FILE_BYTES) {
    warnings.push(
      `key file ${path} holds only ${raw.length} bytes: a key needs at least ${MIN_KEY_FILE_BYTES} random bytes ` +
        '(make one with: cloakpipe keygen FILE)',
    );
  }
  const key = sha256(raw);
  zeroize(raw);
  return { path, key, warnings };
}

/**
 * Write KEY_LEN random bytes to a new file with mode 0600. Refuses to overwrite an existing file
 * (throws KeyFileError with EEXIST).
 */
export function generateKeyFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason =
      e.code === 'EEXIST'
        ? 'file exists; refusing to overwrite a key (EEXIST)'
        : `${e.code ?? e.message}`;
    throw new KeyFileError(path, reason, 'write');
  }
  const bytes = randomBytes(KEY_LEN);
  try {
    writeSync(fd, bytes);
  } finally {
    zeroize(bytes);
    closeSync(fd);
  }
}
