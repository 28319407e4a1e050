import type { MethodDefinition, PackageDefinition, ServiceDefinition } from '@grpc/proto-loader';
import { GrpcProtoOptions, packageNames } from './grpc-proto-options';
import { loadProtoLoader } from './grpc-packages';

/** One rpc of a service in a `.proto`, with the protobuf codec of its messages. */
export interface ProtoMethod {
  /** `/package.Service/Method`, as gRPC routes it. */
  path: string;
  /** The rpc name as written in the `.proto`, e.g. `FindOne`. */
  name: string;
  /** The same name in lower camel case (`findOne`), which generated clients also offer. */
  originalName: string;
  requestStream: boolean;
  responseStream: boolean;
  definition: MethodDefinition<object, object>;
}

/** A service of a `.proto` package. */
export interface ProtoService {
  /** Fully qualified, e.g. `hero.HeroesService`. */
  fullName: string;
  /** Relative to its package, e.g. `HeroesService`: the name Nest's decorators and `getService` use. */
  name: string;
  methods: Map<string, ProtoMethod>;
}

/**
 * The services of the packages a gRPC config names, loaded from its `.proto` files with
 * `@grpc/proto-loader` (so messages convert exactly as `@grpc/grpc-js` converts them).
 */
export class ProtoServices {
  private readonly byPath = new Map<string, ProtoMethod>();

  private constructor(readonly services: ProtoService[]) {
    for (const service of services) for (const method of service.methods.values()) this.byPath.set(method.path, method);
  }

  /** Loads the definitions; throws an Error that names the file or package at fault. */
  static load(options: GrpcProtoOptions): ProtoServices {
    if (options.protoPath !== undefined && options.packageDefinition !== undefined) {
      throw new Error('Give either protoPath or packageDefinition, not both');
    }
    let definition = options.packageDefinition;
    if (!definition) {
      try {
        definition = loadProtoLoader(options.protoLoader).loadSync(options.protoPath as string | string[], options.loader);
      } catch (err) {
        throw new Error(`The .proto definition could not be loaded (${String(options.protoPath)}): ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    return new ProtoServices(servicesOfPackages(definition, packageNames(options)));
  }

  /** A service by the name `getService` takes: relative to a package (first package first), or fully qualified. */
  service(name: string): ProtoService | undefined {
    return this.services.find(s => s.name === name) ?? this.services.find(s => s.fullName === name);
  }

  method(path: string): ProtoMethod | undefined {
    return this.byPath.get(path);
  }
}

function servicesOfPackages(definition: PackageDefinition, packages: string[]): ProtoService[] {
  const services: ProtoService[] = [];
  for (const pkg of packages.length > 0 ? packages : ['']) {
    const prefix = pkg === '' ? '' : `${pkg}.`;
    const names = Object.keys(definition).filter(key => key.startsWith(prefix));
    if (names.length === 0) throw new Error(`The gRPC package "${pkg}" is not in the .proto definition`);
    for (const fullName of names) {
      const service = definition[fullName];
      if (isServiceDefinition(service)) services.push(protoService(fullName, fullName.slice(prefix.length), service));
    }
  }
  return services;
}

function isServiceDefinition(value: unknown): value is ServiceDefinition {
  if (typeof value !== 'object' || value === null || 'format' in value) return false;
  return Object.values(value).every(method => typeof (method as MethodDefinition<object, object>)?.path === 'string');
}

function protoService(fullName: string, name: string, definition: ServiceDefinition): ProtoService {
  const methods = new Map<string, ProtoMethod>();
  for (const [methodName, method] of Object.entries(definition)) {
    methods.set(methodName, {
      path: method.path,
      name: methodName,
      originalName: method.originalName ?? methodName.charAt(0).toLowerCase() + methodName.slice(1),
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      definition: method,
    });
  }
  return { fullName, name, methods };
}
