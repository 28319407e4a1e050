import { EventEmitter } from 'events';
import { Duplex, Readable, Writable } from 'stream';
import { metadataFromWire } from '../grpc-metadata';
import { GrpcServiceError, GrpcStatus, serviceError } from '../grpc-status';
import { GrpcMessageCodec } from '../message-codec';
import { ProtoMethod, ProtoService } from '../proto-services';
import { ParsedCallArguments, parseCallArguments } from './call-arguments';
import { GrpcCallListener, GrpcClientCall } from './grpc-client-call';
import { CallStarter } from './service-methods';

type CallObject = EventEmitter & { cancel(): void; getPeer(): string };
type Callback = NonNullable<ParsedCallArguments['callback']>;

/**
 * A client for one service with the calling conventions of a `@grpc/grpc-js` generated
 * client, as `ClientGrpc#getClientByServiceName` returns one: unary and client-streaming
 * methods answer through a callback, streaming methods return Node streams in object mode,
 * every call object has `cancel()`, and a cancelled call reports CANCELLED ("Cancelled on
 * client") as `@grpc/grpc-js` does.
 */
export function rawServiceClient(
  client: CallStarter,
  service: ProtoService,
  codecOf: (method: ProtoMethod) => GrpcMessageCodec,
  peer: string,
): Record<string, (...args: unknown[]) => CallObject> {
  const methods: Record<string, (...args: unknown[]) => CallObject> = {};
  for (const method of service.methods.values()) {
    const fn = (...args: unknown[]) => startRawCall(client, method, codecOf(method), peer, args);
    methods[method.name] = fn;
    methods[method.originalName] = fn;
  }
  return methods;
}

function startRawCall(client: CallStarter, method: ProtoMethod, codec: GrpcMessageCodec, peer: string, args: unknown[]): CallObject {
  const parsed = parseCallArguments(args, !method.requestStream);
  let call: GrpcClientCall | null = null;
  const object = callObject(method, {
    write: message => call?.write(message),
    end: () => call?.end(),
  });
  const listener = method.responseStream ? streamListener(object as CallObject & Readable) : callbackListener(object, parsed.callback);
  // The handler's response metadata, as @grpc/grpc-js reports response headers.
  listener.onMetadata = metadata => object.emit('metadata', metadata);
  call = client.startCall(
    {
      path: method.path,
      codec,
      requestStream: method.requestStream,
      request: parsed.request,
      metadata: parsed.metadata,
      deadline: parsed.options.deadline,
    },
    listener,
  );
  const started = call;
  object.getPeer = () => peer;
  object.cancel = () => {
    if (started.isFinished) return;
    started.cancel();
    listener.onError(serviceError({ code: GrpcStatus.CANCELLED, details: 'Cancelled on client', metadata: metadataFromWire(undefined) }));
  };
  return object;
}

/** The object a call returns, by the method's kind, as `@grpc/grpc-js` returns them. */
function callObject(method: ProtoMethod, requests: { write(message: unknown): void; end(): void }): CallObject {
  const write = (message: unknown, _encoding: BufferEncoding, done: () => void) => {
    requests.write(message);
    done();
  };
  const final = (done: () => void) => {
    requests.end();
    done();
  };
  if (method.requestStream && method.responseStream) {
    return new Duplex({ objectMode: true, read: () => undefined, write, final }) as unknown as CallObject;
  }
  if (method.responseStream) return new Readable({ objectMode: true, read: () => undefined }) as unknown as CallObject;
  if (method.requestStream) return new Writable({ objectMode: true, write, final }) as unknown as CallObject;
  return new EventEmitter() as CallObject;
}

/** A call with one response message, delivered through the callback. */
function callbackListener(object: CallObject, callback: Callback | undefined): GrpcCallListener {
  let response: unknown;
  let received = false;
  let settled = false;
  const settle = (error: GrpcServiceError | null) => {
    if (settled) return;
    settled = true;
    object.emit('status', error ?? okStatus());
    if (error) callback?.(error);
    else callback?.(null, response);
  };
  return {
    onMessage: message => {
      response = message;
      received = true;
    },
    onComplete: () =>
      // As @grpc/grpc-js: a call that ends without its message fails.
      settle(
        received
          ? null
          : serviceError({ code: GrpcStatus.UNIMPLEMENTED, details: 'No message received', metadata: metadataFromWire(undefined) }),
      ),
    onError: error => settle(error),
  };
}

/** A call whose response messages are read from the returned stream. */
function streamListener(stream: CallObject & Readable): GrpcCallListener {
  let settled = false;
  return {
    onMessage: message => stream.push(message),
    onComplete: () => {
      if (settled) return;
      settled = true;
      stream.push(null);
      stream.emit('status', okStatus());
    },
    onError: error => {
      if (settled) return;
      settled = true;
      stream.emit('status', error);
      stream.destroy(error);
    },
  };
}

function okStatus() {
  return { code: GrpcStatus.OK, details: 'OK', metadata: metadataFromWire(undefined) };
}
