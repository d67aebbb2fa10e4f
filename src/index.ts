/**
 * cloakpipe as a library: the spiped-compatible protocol pieces (pure) and the tunnel, for
 * embedding and tests. The command line lives in cli/.
 */
export { ctEqual, zeroize } from './crypto/bytes.js';
export { checkPeerValue, generateEphemeralKey, GROUP14_PRIME } from './crypto/dh.js';
export type { CryptoEngine, Opener, OpenResult, Sealer } from './crypto/engine.js';
export { getEngine } from './crypto/engines.js';
export { deriveDhMacKeys, deriveSessionKeys, type SessionKeys } from './crypto/kdf.js';
export { generateKeyFile, KeyFileError, loadKeyFile } from './crypto/keyfile.js';
export * from './crypto/sizes.js';
export { ProtocolError, type ProtocolErrorCode } from './protocol/errors.js';
export { PacketFramer } from './protocol/framer.js';
export { Handshake, type HandshakeDone, type HandshakeOptions } from './protocol/handshake.js';
export { type Address, AddressError, formatAddress, parseAddress } from './pipe/address.js';
export { Tunnel, type TunnelConfig, type TunnelDeps } from './pipe/connection.js';
export { nilMetrics, type Metrics } from './pipe/metrics.js';
