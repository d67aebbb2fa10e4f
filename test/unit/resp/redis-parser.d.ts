// Goal: types for the redis-parser devDependency (v3, CommonJS, untyped), used as a RESP2 oracle.
declare module 'redis-parser' {
  interface ParserOptions {
    returnReply(reply: unknown): void;
    returnError(error: Error): void;
    returnFatalError?(error: Error): void;
    returnBuffers?: boolean;
    stringNumbers?: boolean;
  }
  /** node-redis / ioredis's RESP2 parser: feed bytes, get callbacks per top-level reply. */
  export default class Parser {
    constructor(options: ParserOptions);
    execute(buffer: Buffer): void;
    reset(): void;
  }
}
