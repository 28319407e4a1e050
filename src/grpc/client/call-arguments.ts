import type { Metadata } from '@grpc/grpc-js';
import { isMetadata } from '../grpc-metadata';

/** The call options of `@grpc/grpc-js` that carry over: the deadline. */
export interface GrpcCallOptions {
  deadline?: Date | number;
}

export interface ParsedCallArguments {
  /** The request message, or the Observable of request messages. */
  request: unknown;
  metadata?: Metadata;
  options: GrpcCallOptions;
  callback?: (error: unknown, response?: unknown) => void;
}

/**
 * Arguments of a call as `@grpc/grpc-js` takes them: `(request?, metadata?, options?, callback?)`,
 * where the request is absent for calls with a request stream, and `metadata` and `options`
 * may each be left out.
 */
export function parseCallArguments(args: unknown[], takesRequest: boolean): ParsedCallArguments {
  const rest = [...args];
  const callback = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as ParsedCallArguments['callback']) : undefined;
  const request = takesRequest ? rest.shift() : undefined;
  const metadata = isMetadata(rest[0]) ? (rest.shift() as Metadata) : undefined;
  const options = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as GrpcCallOptions) : {};
  return { request, metadata, options, callback };
}

export function isObservableLike(value: unknown): value is { subscribe: (...args: unknown[]) => { unsubscribe(): void } } {
  return typeof value === 'object' && value !== null && typeof (value as { subscribe?: unknown }).subscribe === 'function';
}
