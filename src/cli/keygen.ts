/** `cloakpipe keygen <file>`: write a new random key file. */
import { generateKeyFile } from '../crypto/keyfile.js';
import { KEY_LEN } from '../crypto/sizes.js';
import { KEYGEN_SYNOPSIS } from './args.js';
import { UsageError } from './errors.js';

/** `cloakpipe keygen --help`. */
export const KEYGEN_HELP =
  `usage: ${KEYGEN_SYNOPSIS}\n\n` +
  `Write ${KEY_LEN} random bytes to <file>, created with mode 0600; an existing file is never\n` +
  'overwritten. Give the same file to both ends with -k.\n';

/**
 * Run keygen with `argv` (after the word `keygen`); resolves with the exit code. `--help` or
 * `-h` prints KEYGEN_HELP on stdout. Throws UsageError for a bad command line and KeyFileError
 * when the file cannot be written.
 */
export function keygen(argv: string[]): number {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    process.stdout.write(KEYGEN_HELP);
    return 0;
  }
  if (argv.length !== 1 || argv[0]!.startsWith('-'))
    throw new UsageError(
      argv.length === 0 ? 'keygen needs the file to write' : `keygen: unexpected ${argv.join(' ')}`,
      'keygen',
    );
  generateKeyFile(argv[0]!);
  process.stderr.write(`cloakpipe: wrote a new ${KEY_LEN}-byte key to ${argv[0]} (mode 0600)\n`);
  return 0;
}
