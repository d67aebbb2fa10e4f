/** `cloakpipe keygen <file>`: write a new random key file. */
import { generateKeyFile } from '../crypto/keyfile.js';
import { UsageError } from './errors.js';

/**
 * Run keygen with `argv` (after the word `keygen`); resolves with the exit code. Throws
 * UsageError for a bad command line and KeyFileError when the file cannot be written.
 */
export function keygen(argv: string[]): number {
  if (argv.length !== 1 || argv[0]!.startsWith('-'))
    throw new UsageError(
      argv.length === 0 ? 'keygen needs the file to write' : `keygen: unexpected ${argv.join(' ')}`,
      'keygen',
    );
  generateKeyFile(argv[0]!);
  process.stderr.write(`cloakpipe: wrote a new 32-byte key to ${argv[0]} (mode 0600)\n`);
  return 0;
}
