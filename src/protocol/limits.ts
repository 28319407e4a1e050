/** Defaults for the protocol's limits. All are configurable per server and client. */

/**
 * Largest message (one frame's payload, before decompression and after it) either side
 * accepts. The binding moves a few MB/s, so a 16 MiB message already takes seconds.
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** Payloads at least this large are DEFLATE-compressed when that makes them smaller. */
export const DEFAULT_COMPRESSION_THRESHOLD = 1024;

/** Longest frame header: 2 fixed bytes and two 8-byte varints. */
export const MAX_FRAME_HEADER_SIZE = 18;

/** Longest GOAWAY reason kept; longer ones are cut. */
export const MAX_REASON_LENGTH = 1024;
