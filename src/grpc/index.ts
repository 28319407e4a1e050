// nestjs-iroh/grpc: Nest's gRPC controllers and ClientGrpc over iroh. Needs the optional peer
// dependencies @grpc/grpc-js and @grpc/proto-loader.
export { IrohGrpcServer, IrohGrpcServerOptions } from './server/iroh-grpc-server';
export { ClientGrpcIroh, ClientGrpcIrohOptions } from './client/client-grpc-iroh';
export { GrpcProtoOptions } from './grpc-proto-options';
export { GrpcStatus, GrpcServiceError } from './grpc-status';
export { IrohGrpcCall, IrohGrpcStreamCall } from './server/grpc-server-call';
