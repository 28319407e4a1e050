import { ServerGrpc } from '@nestjs/microservices';

/**
 * Nest decides two things about a server from what it is, not from what it asks for:
 * `ListenersController` registers the handlers of `@GrpcMethod`, `@GrpcStreamMethod` and
 * `@GrpcStreamCall` only on a server whose `transportId` is `Transport.GRPC`, and it gives
 * undecorated handlers gRPC's arguments — `(request, metadata, call)`, and for a
 * client-streaming `@GrpcStreamCall` `(call, callback)` — only when the server is
 * `instanceof ServerGrpc`. To serve the same controllers unchanged, a server that serves
 * gRPC takes a prototype whose chain includes `ServerGrpc.prototype`.
 *
 * That prototype holds its own copy of every member of the server's class chain, so nothing
 * of `ServerGrpc` itself is reached (its behaviour is never used); it only answers
 * `instanceof`.
 */

const ORIGINAL_PROTOTYPE = Symbol('nestjs-iroh:original-prototype');
const grpcFacingPrototypes = new WeakMap<object, object>();

/** Makes `server` an `instanceof ServerGrpc` for Nest, keeping all of its own behaviour. */
export function presentAsNestGrpcServer(server: object): void {
  const original = Object.getPrototypeOf(server) as object;
  let prototype = grpcFacingPrototypes.get(original);
  if (!prototype) {
    prototype = grpcFacingPrototype(original);
    grpcFacingPrototypes.set(original, prototype);
  }
  Object.setPrototypeOf(server, prototype);
}

/** The class prototype of a server made to look like a gRPC server; undefined for others. */
export function originalPrototypeOf(value: unknown): object | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as Record<symbol, object | undefined>)[ORIGINAL_PROTOTYPE];
}

function grpcFacingPrototype(original: object): object {
  const prototype = Object.create(ServerGrpc.prototype) as object;
  const chain: object[] = [];
  for (let p: object | null = original; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) chain.unshift(p);
  // Base classes first, so that each subclass's members replace its parent's.
  for (const p of chain) {
    for (const key of Reflect.ownKeys(p)) {
      Object.defineProperty(prototype, key, Object.getOwnPropertyDescriptor(p, key) as PropertyDescriptor);
    }
  }
  Object.defineProperty(prototype, ORIGINAL_PROTOTYPE, { value: original });
  return prototype;
}
