import { Observable } from 'rxjs';
import { GrpcServiceError } from '../grpc-status';
import { GrpcMessageCodec } from '../message-codec';
import { isObservableLike, parseCallArguments } from './call-arguments';
import { GrpcCallSpec, GrpcClientCall, GrpcCallListener } from './grpc-client-call';

/** A method as a client knows it: from the `.proto`, or only by name. */
export interface ClientMethod {
  path: string;
  codec: GrpcMessageCodec;
  /** From the `.proto`; null when unknown: then an Observable argument means a request stream. */
  requestStream: boolean | null;
}

/** Starts calls for the service objects (a `ClientGrpcIroh`). */
export interface CallStarter {
  startCall(spec: GrpcCallSpec, listener: GrpcCallListener): GrpcClientCall;
  /** Shapes errors for callers (`ClientProxy#serializeError`, which a subclass may override). */
  shapeError(error: GrpcServiceError): unknown;
}

/**
 * A service method as `ClientGrpc#getService` gives it, with the behaviour of Nest's
 * `ClientGrpcProxy`: it returns a cold Observable of the response messages; an Observable
 * argument is sent as the request stream (its error fails the call, its completion ends the
 * stream); unsubscribing before the end cancels the call on the server.
 */
export function serviceMethod(client: CallStarter, method: ClientMethod): (...args: unknown[]) => Observable<unknown> {
  return (...args: unknown[]) => {
    const upstream = isObservableLike(args[0]) ? args[0] : null;
    const requestStream = method.requestStream ?? upstream !== null;
    const parsed = parseCallArguments(upstream ? args.slice(1) : args, !requestStream);
    return new Observable<unknown>(observer => {
      let upstreamSubscription: { unsubscribe(): void } | null = null;
      const stopUpstream = () => {
        upstreamSubscription?.unsubscribe();
        upstreamSubscription = null;
      };
      const call = client.startCall(
        {
          path: method.path,
          codec: method.codec,
          requestStream,
          request: parsed.request,
          metadata: parsed.metadata,
          deadline: parsed.options.deadline,
        },
        {
          onMessage: message => observer.next(message),
          onComplete: () => {
            stopUpstream();
            observer.complete();
          },
          onError: error => {
            stopUpstream();
            observer.error(client.shapeError(error));
          },
        },
      );
      if (requestStream) {
        if (upstream) {
          upstreamSubscription = upstream.subscribe({
            next: (message: unknown) => call.write(message),
            error: (error: unknown) => observer.error(client.shapeError(error as GrpcServiceError)),
            complete: () => call.end(),
          });
        } else {
          call.end();
        }
      }
      return () => {
        stopUpstream();
        call.cancel();
      };
    });
  };
}
