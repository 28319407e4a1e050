import { ErrorCode, errorCodeName } from './frames';

/**
 * A violation of the wire protocol, or a transport-level failure of one request.
 * `code` is one of {@link ErrorCode}.
 */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }

  get codeName(): string {
    return errorCodeName(this.code);
  }
}

export function messageTooLargeMessage(size: number, max: number): string {
  return `Message of ${size} bytes exceeds the maximum message size of ${max} bytes`;
}
