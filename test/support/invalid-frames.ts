import { ErrorCode } from '../../src/protocol';

/**
 * Frame headers every receiver must refuse, with the error code it must refuse them with:
 * shared by the decoder's unit tests and the end-to-end tests against a server.
 */
export const INVALID_HEADERS: Array<[string, Buffer, ErrorCode]> = [
  ['version 0', Buffer.from([0x01, 0x00, 0x01, 0x00]), ErrorCode.UNSUPPORTED_VERSION],
  ['version 2', Buffer.from([0x21, 0x00, 0x01, 0x00]), ErrorCode.UNSUPPORTED_VERSION],
  ['version 15', Buffer.from([0xf1, 0x00, 0x01, 0x00]), ErrorCode.UNSUPPORTED_VERSION],
  ['type 0', Buffer.from([0x10, 0x00, 0x01, 0x00]), ErrorCode.UNKNOWN_FRAME],
  ['type 11', Buffer.from([0x1b, 0x00, 0x01, 0x00]), ErrorCode.UNKNOWN_FRAME],
  ['type 15', Buffer.from([0x1f, 0x00, 0x01, 0x00]), ErrorCode.UNKNOWN_FRAME],
  ['an id varint of 9 bytes', Buffer.from([0x11, 0x00, ...Buffer.alloc(8, 0xff), 0x01, 0x00]), ErrorCode.PROTOCOL_ERROR],
];
