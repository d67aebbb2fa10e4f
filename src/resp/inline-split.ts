/**
 * Redis's `sdssplitargs` (`sds.c@7.0.15`), the splitter of inline commands (`cluster slots\r\n`
 * typed over telnet), as an incremental byte-at-a-time state machine, so a request scanner can
 * classify an inline command without holding its line. Quoting rules, exactly as Redis:
 * - blanks (C `isspace`: space, \t \n \v \f \r) separate tokens; an unquoted token ends at
 *   space, \t, \n, \r or NUL (not at \v or \f);
 * - `"…"` understands `\xHH`, `\n \r \t \b \a` and `\<any>`; `'…'` understands only `\'`;
 *   a quote may open mid-token (`a"b c"` is one token, `ab c`);
 * - a closing quote must be followed by a blank or the end, and an unclosed quote is an error;
 * - a NUL byte ends the string (C semantics): the rest of the line is ignored.
 * Only the first RECORDED_ARGS tokens are kept, each cut to RECORDED_ARG_BYTES.
 */
import { RECORDED_ARG_BYTES, RECORDED_ARGS, RECORDED_BYTES } from './limits.js';

const BLANK = 0;
const TOKEN = 1;
const DQ = 2; // inside "…"
const DQ_ESC = 3; // after \ inside "…"
const DQ_HEX1 = 4; // after \x inside "…"
const DQ_HEX2 = 5; // after \xH inside "…"
const DQ_CLOSE = 6; // after the closing "
const SQ = 7; // inside '…'
const SQ_ESC = 8; // after \ inside '…'
const SQ_CLOSE = 9; // after the closing '
const DONE = 10; // a NUL ended the string
const ERROR = 11; // a quote error; the line is a protocol error

const BACKSLASH = 0x5c;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const X = 0x78;

/** C `isspace` in the C locale. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/** The escape `\c` inside double quotes. */
function escaped(c: number): number {
  switch (c) {
    case 0x6e: // n
      return 0x0a;
    case 0x72: // r
      return 0x0d;
    case 0x74: // t
      return 0x09;
    case 0x62: // b
      return 0x08;
    case 0x61: // a
      return 0x07;
    default:
      return c;
  }
}

/** Incremental sdssplitargs over one line (without its `\n`, and without a `\r` just before it). */
export class InlineSplitter {
  #state = BLANK;
  #hex = 0;
  #argc = 0;
  readonly #bytes = new Uint8Array(RECORDED_BYTES);
  readonly #lens = new Array<number>(RECORDED_ARGS).fill(0);
  #cut = false;

  /** Start a new line. */
  reset(): void {
    this.#state = BLANK;
    this.#argc = 0;
    this.#lens.fill(0);
    this.#cut = false;
  }

  /** Feed the next byte of the line. */
  feed(c: number): void {
    switch (this.#state) {
      case BLANK:
        if (isSpace(c)) return;
        if (c === 0) return this.#finish();
        this.#argc++;
        this.#state = TOKEN;
        return this.#token(c);
      case TOKEN:
        return this.#token(c);
      case DQ:
        if (c === BACKSLASH) this.#state = DQ_ESC;
        else if (c === DQUOTE) this.#state = DQ_CLOSE;
        else if (c === 0) this.#state = ERROR;
        else this.#append(c);
        return;
      case DQ_ESC:
        if (c === X) this.#state = DQ_HEX1;
        else if (c === 0) this.#state = ERROR;
        else {
          this.#append(escaped(c));
          this.#state = DQ;
        }
        return;
      case DQ_HEX1:
        if (hexValue(c) >= 0) {
          this.#hex = c;
          this.#state = DQ_HEX2;
        } else this.#notHex(c);
        return;
      case DQ_HEX2:
        if (hexValue(c) >= 0) {
          this.#append(hexValue(this.#hex) * 16 + hexValue(c));
          this.#state = DQ;
        } else this.#notHex(this.#hex, c);
        return;
      case SQ:
        if (c === BACKSLASH) this.#state = SQ_ESC;
        else if (c === SQUOTE) this.#state = SQ_CLOSE;
        else if (c === 0) this.#state = ERROR;
        else this.#append(c);
        return;
      case SQ_ESC:
        this.#state = SQ;
        if (c === SQUOTE) this.#append(SQUOTE);
        else {
          this.#append(BACKSLASH);
          this.feed(c);
        }
        return;
      case DQ_CLOSE:
      case SQ_CLOSE:
        if (c === 0) this.#finish();
        else this.#state = isSpace(c) ? BLANK : ERROR;
        return;
      default: // DONE, ERROR: the rest of the line does not matter
        return;
    }
  }

  /** The line ended: true if it split cleanly, false on a quote error (a Redis protocol error). */
  end(): boolean {
    if (this.#state !== DONE && this.#state !== ERROR) this.#finish();
    return this.#state === DONE;
  }

  /** Tokens on the line (valid after end()). */
  get argc(): number {
    return this.#argc;
  }

  /** True if a recorded token was longer than RECORDED_ARG_BYTES and was cut. */
  get truncated(): boolean {
    return this.#cut;
  }

  /** The first min(argc, RECORDED_ARGS) tokens, latin1-decoded (valid after end()). */
  args(): string[] {
    const out: string[] = [];
    const n = Math.min(this.#argc, RECORDED_ARGS);
    for (let a = 0; a < n; a++) {
      let s = '';
      const off = a * RECORDED_ARG_BYTES;
      for (let k = off; k < off + this.#lens[a]!; k++) s += String.fromCharCode(this.#bytes[k]!);
      out.push(s);
    }
    return out;
  }

  /**
   * `\x` inside double quotes not followed by two hex digits is an ordinary escape of `x`: keep
   * the `x` and the bytes read after it as plain characters, then go on with the last one.
   */
  #notHex(...after: number[]): void {
    this.#append(X);
    this.#state = DQ;
    const last = after.pop()!;
    for (const c of after) this.#append(c);
    this.feed(last);
  }

  #token(c: number): void {
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.#state = BLANK;
    else if (c === 0) this.#finish();
    else if (c === DQUOTE) this.#state = DQ;
    else if (c === SQUOTE) this.#state = SQ;
    else this.#append(c);
  }

  /** End of string (end of line or NUL): an open quote is an error. */
  #finish(): void {
    const s = this.#state;
    this.#state = s === BLANK || s === TOKEN || s === DQ_CLOSE || s === SQ_CLOSE ? DONE : ERROR;
  }

  #append(c: number): void {
    const a = this.#argc - 1;
    if (a >= RECORDED_ARGS) return;
    const len = this.#lens[a]!;
    if (len >= RECORDED_ARG_BYTES) {
      this.#cut = true;
      return;
    }
    this.#bytes[a * RECORDED_ARG_BYTES + len] = c;
    this.#lens[a] = len + 1;
  }
}
