/**
 * A small whole-value RESP2/RESP3 decoder and encoder for the frames the reply scanner CAPTURES
 * (topology replies: small, bounded by the cluster's size). Text is kept as latin1 strings, one
 * char per byte, and every token is kept as sent, so encode(decode(x)) is x byte for byte for any
 * reply Redis writes (canonical lengths and counts). Streamed RESP3 forms are refused.
 */
import { CR, DEFAULT_MAX_DEPTH, LF, LONG_STR_SIZE } from './limits.js';
import { string2ll } from './numbers.js';
import { TYPE_KIND, T } from './types.js';

/** Line-typed values: simple string, simple error, integer, double, boolean, big number, null. */
export type SimpleType = '+' | '-' | ':' | ',' | '#' | '(' | '_';
/** Length-prefixed values: bulk string, bulk error, verbatim string. */
export type BulkType = '$' | '!' | '=';
/** Counted values: array, map, set, push, attribute. */
export type AggregateType = '*' | '%' | '~' | '>' | '|';

/** A simple (line) value; `text` is the line without its type byte and CRLF. */
export interface RespSimple {
  readonly type: SimpleType;
  readonly text: string;
  readonly attribute?: RespAggregate;
}
/** A bulk value; `data` is null for a RESP2 null (`$-1`). */
export interface RespBulk {
  readonly type: BulkType;
  readonly data: string | null;
  readonly attribute?: RespAggregate;
}
/**
 * An aggregate; `items` is null for a RESP2 null array (`*-1`). Maps and attributes hold their
 * keys and values flattened (k1, v1, k2, v2, …), like a RESP2 `*2k` reply.
 */
export interface RespAggregate {
  readonly type: AggregateType;
  readonly items: readonly RespValue[] | null;
  readonly attribute?: RespAggregate;
}
/** Any decoded value, with the RESP3 attribute that preceded it, if any. */
export type RespValue = RespSimple | RespBulk | RespAggregate;

/** Why a captured frame did not decode. */
export type DecodeFailure = 'malformed' | 'truncated' | 'trailing-bytes' | 'too-deep' | 'streamed';

/** Result of decodeValue. */
export type DecodeResult =
  | { readonly ok: true; readonly value: RespValue }
  | { readonly ok: false; readonly reason: DecodeFailure; readonly detail: string };

class Fail {
  constructor(
    readonly reason: DecodeFailure,
    readonly detail: string,
  ) {}
}

/**
 * Decode exactly one value (with any attributes before it) from `bytes`. Fails, without
 * throwing, on malformed input, on bytes after the value, on streamed forms, and past `maxDepth`
 * nested aggregates (the recursion is bounded by it).
 */
export function decodeValue(bytes: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH): DecodeResult {
  const d = new Decoder(bytes, maxDepth);
  try {
    const value = d.value(0);
    if (d.pos !== bytes.length)
      return {
        ok: false,
        reason: 'trailing-bytes',
        detail: `${bytes.length - d.pos} bytes after the value`,
      };
    return { ok: true, value };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, reason: e.reason, detail: e.detail };
    throw e;
  }
}

class Decoder {
  pos = 0;
  constructor(
    readonly b: Uint8Array,
    readonly maxDepth: number,
  ) {}

  value(depth: number): RespValue {
    if (depth > this.maxDepth) throw new Fail('too-deep', `more than ${this.maxDepth} levels`);
    const type = this.b[this.pos];
    if (type === undefined) throw new Fail('truncated', 'value expected');
    const kind = TYPE_KIND[type]!;
    const t = String.fromCharCode(type);
    this.pos++;
    const line = this.line();
    if (kind === T.AGG) {
      if (line === '?') throw new Fail('streamed', 'streamed aggregate');
      const n = this.int(line);
      if (n < -1) throw new Fail('malformed', `count ${line}`);
      if (t === '|') {
        const attribute: RespAggregate = {
          type: '|',
          items: this.items(2 * Math.max(n, 0), depth),
        };
        return withAttribute(this.value(depth + 1), attribute);
      }
      const items = n === -1 ? null : this.items(t === '%' ? 2 * n : n, depth);
      return { type: t as AggregateType, items };
    }
    if (kind === T.BULK) {
      if (line === '?') throw new Fail('streamed', 'streamed string');
      const n = this.int(line);
      if (n < -1) throw new Fail('malformed', `length ${line}`);
      if (n === -1) return { type: t as BulkType, data: null };
      const end = this.pos + n;
      if (end + 2 > this.b.length) throw new Fail('truncated', 'bulk payload');
      if (this.b[end] !== CR || this.b[end + 1] !== LF)
        throw new Fail('malformed', 'bulk without CRLF');
      const data = Buffer.from(this.b.buffer, this.b.byteOffset + this.pos, n).toString('latin1');
      this.pos = end + 2;
      return { type: t as BulkType, data };
    }
    checkSimple(kind, line);
    return { type: t as SimpleType, text: line };
  }

  items(n: number, depth: number): RespValue[] {
    const out: RespValue[] = [];
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }

  /** The rest of the line up to CRLF, as latin1; pos moves past the CRLF. */
  line(): string {
    const b = this.b;
    let at = this.pos;
    for (;;) {
      at = b.indexOf(CR, at);
      if (at < 0 || at + 1 >= b.length) throw new Fail('truncated', 'line without CRLF');
      if (b[at + 1] === LF) break;
      at++;
    }
    const s = Buffer.from(b.buffer, b.byteOffset + this.pos, at - this.pos).toString('latin1');
    this.pos = at + 2;
    return s;
  }

  int(text: string): number {
    const v = lineInteger(text);
    if (Number.isNaN(v)) throw new Fail('malformed', `not an integer: ${text.slice(0, 24)}`);
    return v;
  }
}

/** An attribute goes before any attributes `v` already has (they were read after it). */
function withAttribute(v: RespValue, a: RespAggregate): RespValue {
  return {
    ...v,
    attribute: v.attribute === undefined ? a : (withAttribute(v.attribute, a) as RespAggregate),
  };
}

function lineInteger(text: string): number {
  return text.length < LONG_STR_SIZE
    ? string2ll(Buffer.from(text, 'latin1'), text.length)
    : Number.NaN;
}

function checkSimple(kind: number, line: string): void {
  let ok: boolean;
  switch (kind) {
    case T.TEXT:
      ok = true;
      break;
    case T.INT:
      ok = !Number.isNaN(lineInteger(line));
      break;
    case T.DOUBLE:
      ok = line.length > 0;
      break;
    case T.BOOL:
      ok = line.length === 1 && 'tTfF'.includes(line);
      break;
    case T.NULL:
      ok = line.length === 0;
      break;
    case T.BIG:
      ok = /^-?[0-9]+$/.test(line);
      break;
    default:
      throw new Fail(
        kind === T.END ? 'streamed' : 'malformed',
        `bad type byte in a captured frame`,
      );
  }
  if (!ok) throw new Fail('malformed', `bad scalar: ${line.slice(0, 24)}`);
}

/** Encode `v` (and its attribute, first) as RESP; counts and lengths are computed afresh. */
export function encodeValue(v: RespValue): Uint8Array {
  const parts: string[] = [];
  encodeInto(v, parts);
  return Buffer.from(parts.join(''), 'latin1');
}

function encodeInto(v: RespValue, parts: string[]): void {
  if (v.attribute !== undefined) encodeInto(v.attribute, parts);
  if ('text' in v) parts.push(`${v.type}${v.text}\r\n`);
  else if ('data' in v)
    parts.push(v.data === null ? `${v.type}-1\r\n` : `${v.type}${v.data.length}\r\n${v.data}\r\n`);
  else if (v.items === null) parts.push(`${v.type}-1\r\n`);
  else {
    const pairs = v.type === '%' || v.type === '|';
    parts.push(`${v.type}${pairs ? v.items.length / 2 : v.items.length}\r\n`);
    for (const item of v.items) encodeInto(item, parts);
  }
}

/** A bulk string value. */
export function bulk(data: string): RespBulk {
  return { type: '$', data };
}

/**
 * A command as a client sends it: an array of bulk strings, each argument's UTF-8 bytes (so any
 * byte may appear in it), encoded.
 */
export function encodeCommand(args: readonly string[]): Buffer {
  const items = args.map((a) => bulk(Buffer.from(a, 'utf8').toString('latin1')));
  return Buffer.from(encodeValue({ type: '*', items }));
}

/** An integer value. */
export function integer(n: number): RespSimple {
  return { type: ':', text: String(n) };
}

/** The text of a bulk or simple string value, or null for anything else (nulls included). */
export function textOf(v: RespValue | undefined): string | null {
  if (v === undefined) return null;
  if ('data' in v) return v.type === '!' ? null : v.data;
  if ('text' in v) return v.type === '+' ? v.text : null;
  return null;
}

/** The value of an integer, or null. */
export function integerOf(v: RespValue | undefined): number | null {
  if (v === undefined || !('text' in v) || v.type !== ':') return null;
  return Number(v.text);
}

/** True for an error (`-`, `!`) or a null (`_`, `$-1`, `*-1`): replies a rewriter leaves alone. */
export function isErrorOrNull(v: RespValue): boolean {
  if (v.type === '-' || v.type === '!' || v.type === '_') return true;
  return ('data' in v && v.data === null) || ('items' in v && v.items === null);
}
