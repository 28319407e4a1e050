import type * as GrpcJs from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';

/**
 * The gRPC packages, loaded on first use: an app that never serves or calls gRPC methods
 * does not need them installed. Teams moving from Nest's gRPC transport already have both.
 */

let grpcJs: typeof GrpcJs | null = null;
let protoLoader: typeof ProtoLoader | null = null;

/** `@grpc/grpc-js`: its `Metadata` is what gRPC handlers and callers exchange. */
export function loadGrpcJs(): typeof GrpcJs {
  if (!grpcJs) grpcJs = requirePackage<typeof GrpcJs>('@grpc/grpc-js', 'gRPC metadata');
  return grpcJs;
}

/** `@grpc/proto-loader` (a custom loader when the `protoLoader` option names one). */
export function loadProtoLoader(name = '@grpc/proto-loader'): typeof ProtoLoader {
  if (name !== '@grpc/proto-loader') return requirePackage(name, 'loading .proto files');
  if (!protoLoader) protoLoader = requirePackage<typeof ProtoLoader>(name, 'loading .proto files');
  return protoLoader;
}

function requirePackage<T>(name: string, purpose: string): T {
  try {
    // Loaded on first use, by a name only known at run time: these packages are optional peers.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new Error(`The package "${name}" is needed for ${purpose} over iroh: npm install ${name}`, { cause: err });
    }
    throw err;
  }
}
