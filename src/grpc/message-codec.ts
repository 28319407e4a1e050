import type { ProtoMethod } from './proto-services';

/**
 * How one method's messages become frame values and back. With a `.proto`, messages are
 * protobuf bytes (the BINARY flag); without, they are the transport's own JSON values.
 * Each side decodes what arrives by its form, so a peer without the `.proto` can still
 * call a peer with it: the server then answers in JSON too.
 */
export interface GrpcMessageCodec {
  /** Replies to this call are protobuf bytes. */
  readonly protobuf: boolean;
  encodeRequest(message: unknown): unknown;
  decodeRequest(value: unknown): unknown;
  encodeResponse(message: unknown): unknown;
  decodeResponse(value: unknown): unknown;
}

/** Messages of methods the peer knows only by name: JSON values as they are. */
export const JSON_MESSAGES: GrpcMessageCodec = {
  protobuf: false,
  encodeRequest: message => message,
  decodeRequest: value => {
    if (Buffer.isBuffer(value)) throw new Error('a protobuf-encoded message arrived, but no .proto is configured here');
    return value;
  },
  encodeResponse: message => message,
  decodeResponse: value => value,
};

/**
 * Messages of a `.proto` method, converted by the functions `@grpc/proto-loader` generates:
 * the objects handlers and callers see are the ones `@grpc/grpc-js` would give them. A JSON
 * message from a peer without the `.proto` goes through the same conversion, which checks
 * it against the message type and applies the loader's options.
 */
export function protobufMessages(method: ProtoMethod, protobufReplies: boolean): GrpcMessageCodec {
  const d = method.definition;
  return {
    protobuf: protobufReplies,
    encodeRequest: message => d.requestSerialize(message as object),
    decodeRequest: value => d.requestDeserialize(Buffer.isBuffer(value) ? value : d.requestSerialize(value as object)),
    encodeResponse: message => {
      const bytes = d.responseSerialize(message as object);
      return protobufReplies ? bytes : d.responseDeserialize(bytes);
    },
    decodeResponse: value => (Buffer.isBuffer(value) ? d.responseDeserialize(value) : value),
  };
}
