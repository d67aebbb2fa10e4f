/**
 * The CLI's one error convention: code below main() throws one of these (or a KeyFileError from
 * the key loader), and main() alone turns it into output and an exit code (see main.ts).
 */

/**
 * The command line of `command` is wrong: main() prints the message, then that command's
 * one-line synopsis and a pointer to its --help, and exits 1.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: 'tunnel' | 'keygen' | 'spipe' = 'tunnel',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The flags were fine but start-up failed (cannot resolve, listen, read a file, switch user):
 * main() prints the message without usage and exits 1.
 */
export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}
