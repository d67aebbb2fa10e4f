/**
 * Integer parsing with Redis's exact rules: `string2ll` (`util.c@7.0.15`), which both Redis (for
 * request headers) and hiredis (for reply headers and `:` integers) use. No leading `+`, no
 * leading zeros, no `-0`, at most 20 characters, within the range of a C `long long`.
 */
import { LONG_STR_SIZE } from './limits.js';
import { MINUS } from './types.js';

const ZERO = 0x30;
const NINE = 0x39;
/** `LLONG_MAX` and `-LLONG_MIN` as digit strings, for the 19-digit range check. */
const LLONG_MAX_TEXT = '9223372036854775807';
const LLONG_MIN_ABS_TEXT = '9223372036854775808';
const LLONG_DIGITS = LLONG_MAX_TEXT.length;

/**
 * Parse the first `len` bytes of `bytes` as Redis's `string2ll` does. Returns the value (exact up
 * to 2^53, rounded above, which is past every limit the scanners apply) or NaN when `string2ll`
 * would fail. Only the first LONG_STR_SIZE bytes are read: a longer `len` is always NaN, so a
 * caller may stop storing bytes after LONG_STR_SIZE while still counting them. Never throws.
 */
export function string2ll(bytes: Uint8Array, len: number): number {
  if (len === 0 || len >= LONG_STR_SIZE) return Number.NaN;
  if (len === 1 && bytes[0] === ZERO) return 0;
  let p = 0;
  const negative = bytes[0] === MINUS;
  if (negative) {
    p = 1;
    if (len === 1) return Number.NaN;
  }
  const first = bytes[p]!;
  if (first <= ZERO || first > NINE) return Number.NaN;
  let v = 0;
  for (let i = p; i < len; i++) {
    const c = bytes[i]!;
    if (c < ZERO || c > NINE) return Number.NaN;
    v = v * 10 + (c - ZERO);
  }
  const digits = len - p;
  if (digits > LLONG_DIGITS) return Number.NaN;
  if (digits === LLONG_DIGITS) {
    let text = '';
    for (let i = p; i < len; i++) text += String.fromCharCode(bytes[i]!);
    if (text > (negative ? LLONG_MIN_ABS_TEXT : LLONG_MAX_TEXT)) return Number.NaN;
  }
  return negative ? -v : v;
}

/** `string2ll` over a latin1 string (request arguments, decoded reply fields); NaN on failure. */
export function string2llText(text: string): number {
  if (text.length === 0 || text.length >= LONG_STR_SIZE) return Number.NaN;
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0xff;
  return string2ll(bytes, bytes.length);
}

/** True for an ASCII decimal digit byte. */
export function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}
