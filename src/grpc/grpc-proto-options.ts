import type { Options as ProtoLoaderOptions, PackageDefinition } from '@grpc/proto-loader';

/**
 * The `.proto` options, named and typed as Nest's gRPC transport takes them, so that a gRPC
 * config carries over. With `protoPath` (or `packageDefinition`) messages travel as protobuf
 * bytes and calls are checked against the service definitions; without, they travel in the
 * transport's own encoding (JSON) and methods are matched by name.
 */
export interface GrpcProtoOptions {
  /** The proto package(s) whose services are served or called, e.g. `'hero'`. */
  package?: string | string[];
  /** The `.proto` file(s). */
  protoPath?: string | string[];
  /** An already loaded `@grpc/proto-loader` definition, instead of `protoPath`. */
  packageDefinition?: PackageDefinition;
  /** `@grpc/proto-loader` options (`keepCase`, `longs`, `enums`, `defaults`, `includeDirs`, …). */
  loader?: ProtoLoaderOptions;
  /** A proto loader package to use instead of `@grpc/proto-loader`. */
  protoLoader?: string;
}

/** True when any option of the service's description is given (a server then serves gRPC). */
export function hasGrpcServiceOptions(options: GrpcProtoOptions): boolean {
  return options.package !== undefined || hasProtoDefinition(options);
}

/** True when these options name a `.proto` (protobuf encoding and checked calls). */
export function hasProtoDefinition(options: GrpcProtoOptions): boolean {
  return options.protoPath !== undefined || options.packageDefinition !== undefined;
}

export function packageNames(options: GrpcProtoOptions): string[] {
  const names = options.package;
  if (names === undefined) return [];
  return Array.isArray(names) ? names : [names];
}
