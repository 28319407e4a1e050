import { DEFAULT_COMPRESSION_THRESHOLD, DEFAULT_MAX_MESSAGE_SIZE } from '../protocol';
import type { IrohProtocolOptions } from './iroh-options.interface';

/** Protocol options with defaults applied; invalid values are refused with a clear error. */
export function resolveProtocolOptions(options: IrohProtocolOptions): Required<IrohProtocolOptions> {
  const maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  if (!Number.isSafeInteger(maxMessageSize) || maxMessageSize < 1) {
    throw new TypeError(`maxMessageSize must be a positive whole number of bytes (got ${options.maxMessageSize})`);
  }
  const compressionThreshold = options.compressionThreshold ?? DEFAULT_COMPRESSION_THRESHOLD;
  if (!Number.isSafeInteger(compressionThreshold) || compressionThreshold < 0) {
    throw new TypeError(
      `compressionThreshold must be a whole number of bytes, 0 to turn compression off (got ${options.compressionThreshold})`,
    );
  }
  return { maxMessageSize, compressionThreshold };
}
