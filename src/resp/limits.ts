/**
 * Sizes and limits of the RESP layer, each named and derived from its source
 * (redis/redis 7.0.15 `server.h`, `networking.c`, `util.c`; redis/hiredis `read.h`).
 * A proxy faces untrusted bytes in both directions, so every count, length and depth it
 * parses is capped here; nothing in src/resp/ allocates in proportion to a value it scans.
 */

/** Carriage return, the first byte of every RESP line terminator. */
export const CR = 0x0d;
/** Line feed, the second byte of every RESP line terminator. */
export const LF = 0x0a;
/** Bytes of a line terminator (`\r\n`). */
export const CRLF_LEN = 2;

/** Longest integer text `string2ll` accepts is LONG_STR_SIZE − 1 = 20 chars (`util.c`, `server.h`). */
export const LONG_STR_SIZE = 21;
/** C `INT_MAX`: the largest multibulk count Redis accepts in a request (`networking.c`). */
export const INT_MAX = 2 ** 31 - 1;

/** `PROTO_INLINE_MAX_SIZE` (`server.h`): longest inline request, and longest `*`/`$` header line. */
export const PROTO_INLINE_MAX_SIZE = 64 * 1024;
/** Default `proto-max-bulk-len` (`config.c`): largest bulk argument Redis accepts in a request. */
export const PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;

/** Default deepest nesting of aggregates in a reply (hiredis allows 7; Redis replies need ~4). */
export const DEFAULT_MAX_DEPTH = 128;
/** Default largest aggregate count in a reply: hiredis `REDIS_READER_MAX_ARRAY_ELEMENTS`, 2^32 − 1. */
export const DEFAULT_MAX_ELEMENTS = 2 ** 32 - 1;
/**
 * Default largest bulk length in a reply. Bulks are streamed, never held, so this is a sanity
 * cap only; hiredis has none below LLONG_MAX and Redis can be configured past 512 MB.
 */
export const DEFAULT_MAX_BULK_LENGTH = Number.MAX_SAFE_INTEGER;
/**
 * Default longest line of a non-string scalar or header in a reply (`: , ( # _ .`, every length
 * and count), and longest top-level simple error held to be checked for `-MOVED`/`-ASK`.
 * Simple strings (`+`, and `-` that are not held) are streamed and have no cap.
 */
export const DEFAULT_MAX_LINE_LENGTH = PROTO_INLINE_MAX_SIZE;
/** Default largest reply buffered whole for rewriting (topology replies are ~100 B per node). */
export const DEFAULT_CAPTURE_CAP = 16 * 1024 * 1024;

/** How many leading arguments of each request are recorded (enough for `CLIENT REPLY OFF`). */
export const RECORDED_ARGS = 3;
/** How many bytes of each recorded argument are kept (longer ones are cut and flagged). */
export const RECORDED_ARG_BYTES = 64;
/** Scratch bytes for the recorded arguments of one request. */
export const RECORDED_BYTES = RECORDED_ARGS * RECORDED_ARG_BYTES;

/** The largest hash slot (16384 slots, `cluster.h` CLUSTER_SLOTS − 1). */
export const MAX_SLOT = 16383;
/** The largest TCP port. */
export const MAX_PORT = 65535;
