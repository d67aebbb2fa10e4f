/**
 * Wire sizes of the spiped 1.6 protocol, each derived from its parts
 * (spiped lib/proto/proto_crypt.h: PCRYPT_MAXDSZ, PCRYPT_ESZ, PCRYPT_YH_LEN).
 */

/** Bytes of a SHA-256 digest, and so of every HMAC-SHA256 tag. */
export const MAC_LEN = 32;
/** Bytes of the key K = SHA-256(key file). */
export const KEY_LEN = 32;
/** Bytes of each side's handshake nonce. */
export const NONCE_LEN = 32;
/** Bytes of a group-14 DH value (2048-bit, big-endian). */
export const DH_LEN = 256;
/** Bytes of a MAC'd DH value on the wire: y ‖ HMAC(dhmac, y). */
export const YH_LEN = DH_LEN + MAC_LEN;
/** Most plaintext bytes one packet carries. */
export const MAX_DATA = 1024;
/** Bytes of the big-endian length trailer in a padded message. */
export const LEN_FIELD = 4;
/** Bytes of the padded, encrypted part of a packet: data ‖ zeros ‖ be32(len). */
export const PADDED_LEN = MAX_DATA + LEN_FIELD;
/** Bytes of one packet on the wire: ciphertext ‖ MAC. */
export const PACKET_LEN = PADDED_LEN + MAC_LEN;
/** AES block size; the CTR counter block is be64(packet#) ‖ be64(block index). */
export const AES_BLOCK = 16;
/** AES blocks needed to cover one padded message. */
export const BLOCKS_PER_PACKET = Math.ceil(PADDED_LEN / AES_BLOCK);
/** Bytes of dk1 = dhmac_C ‖ dhmac_S. */
export const DK1_LEN = 2 * MAC_LEN;
/** Bytes of dk2 = E_C ‖ H_C ‖ E_S ‖ H_S. */
export const DK2_LEN = 4 * KEY_LEN;

/*
 * Compact framing (DESIGN.md §9): variable-length frames between two cloakpipe ends.
 *   frame = AES-256-CTR(E, be16(body len) ‖ be16(data len) ‖ data ‖ zeros) ‖ HMAC-SHA256(H, ct ‖ be64(frame#))
 */

/** Most plaintext bytes one compact frame carries (chosen by measurement, DESIGN.md §9). */
export const COMPACT_MAX_DATA = 16 * 1024;
/** Bytes of the encrypted compact header: be16(body length) ‖ be16(data length). */
export const COMPACT_HEADER_LEN = 4;
/** Largest encrypted part of a compact frame: header ‖ body. */
export const COMPACT_MAX_CT = COMPACT_HEADER_LEN + COMPACT_MAX_DATA;
/** Largest compact frame on the wire: encrypted part ‖ MAC. */
export const COMPACT_MAX_FRAME = COMPACT_MAX_CT + MAC_LEN;
/** Smallest padding bucket: one AES block (a smaller one saves under 16 bytes a frame). */
export const COMPACT_MIN_BUCKET = AES_BLOCK;
/** Largest padding bucket: every frame is then a full COMPACT_MAX_DATA body. */
export const COMPACT_MAX_BUCKET = COMPACT_MAX_DATA;
/** Default padding bucket: a typical Redis request or short reply fits one 100-byte frame. */
export const COMPACT_DEFAULT_BUCKET = 64;
