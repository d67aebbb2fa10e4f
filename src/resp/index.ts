/**
 * The RESP layer of the cluster mode: pure scanners and rewriters over bytes, no I/O. It imports
 * nothing from the rest of cloakpipe (it is the bottom of its own layer).
 *
 * A connection pipeline uses it like this:
 * - client → server: `RequestScanner.push(chunk)` observes each request (the bytes are forwarded
 *   unchanged); `classifyCommand()` says which replies will name nodes and which change pairing;
 * - server → client: `ReplyScanner.push(chunk)` returns `pass` views to forward as they are,
 *   `captured` frames the capture callback asked for, and `redirect` frames for every top-level
 *   `-MOVED`/`-ASK`;
 * - for a captured topology reply: `extractNodes()` → open listeners → `rewriteTopology()`
 *   (`extractExecNodes`/`rewriteExec` for EXEC), and `rewriteRedirect()` for redirects.
 */
export { type CommandKind, classifyCommand, helloVersion, topologyOf } from './commands.js';
export {
  CR,
  DEFAULT_CAPTURE_CAP,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_ELEMENTS,
  DEFAULT_MAX_LINE_LENGTH,
  LF,
  PROTO_INLINE_MAX_SIZE,
  PROTO_MAX_BULK_LEN,
  RECORDED_ARG_BYTES,
  RECORDED_ARGS,
} from './limits.js';
export type {
  AddressMap,
  HostnamePolicy,
  MappedAddress,
  NodeAddress,
  RewriteOptions,
} from './node-address.js';
export { formatRedirect, parseRedirect, type Redirect, type RedirectKind } from './redirect.js';
export {
  captureOverflowText,
  DEFAULT_REPLY_LIMITS,
  type FrameRole,
  type ReplyEvent,
  type ReplyFailure,
  type ReplyFrame,
  type ReplyLimits,
  type ReplyScannerOptions,
} from './reply-events.js';
export { ReplyScanner } from './reply-scanner.js';
export {
  type RequestEvent,
  type RequestFailure,
  type RequestFormat,
  RequestScanner,
  type RequestScannerOptions,
} from './request-scanner.js';
export {
  type ExtractResult,
  extractExecNodes,
  extractNodes,
  nodeOfRedirect,
  type RewriteResult,
  rewriteExec,
  rewriteRedirect,
  rewriteTopology,
  type TopologyFailure,
  type TopologyKind,
} from './topology.js';
export { isErrorFrame, type RespType } from './types.js';
export {
  type DecodeFailure,
  type DecodeResult,
  decodeValue,
  encodeCommand,
  encodeValue,
  type RespValue,
} from './value.js';
