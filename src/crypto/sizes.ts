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
