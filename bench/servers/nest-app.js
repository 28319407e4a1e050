'use strict';
/**
 * The Nest application every Nest transport serves: plain JavaScript, decorators applied by
 * hand. Message handlers get `(data, context)` as Nest passes them without parameter decorators.
 */
require('reflect-metadata');
const { Controller, Module } = require('@nestjs/common');
const { MessagePattern, GrpcMethod } = require('@nestjs/microservices');
const { range } = require('rxjs');
const { hold } = require('./control');

function decorate(cls, method, decorators) {
  const descriptor = Object.getOwnPropertyDescriptor(cls.prototype, method);
  const result = Reflect.decorate(decorators, cls.prototype, method, descriptor);
  Object.defineProperty(cls.prototype, method, result || descriptor);
}

/** Patterns for TCP and nestjs-iroh. */
class BenchController {
  echo(data) {
    return data;
  }
  range(n) {
    return range(0, n);
  }
  hold() {
    return hold().then(() => 'released');
  }
}
decorate(BenchController, 'echo', [MessagePattern('echo')]);
decorate(BenchController, 'range', [MessagePattern('range')]);
decorate(BenchController, 'hold', [MessagePattern('hold')]);
Reflect.decorate([Controller()], BenchController);

class BenchModule {}
Reflect.decorate([Module({ controllers: [BenchController] })], BenchModule);

/** The same handlers as gRPC methods of `bench.Bench` (see ../proto/bench.proto). */
class GrpcBenchController {
  echo(message) {
    return message;
  }
  echoDoc(doc) {
    return doc;
  }
  range(request) {
    return range(0, request.n).pipe(mapToItem());
  }
  hold() {
    return hold().then(() => ({ data: 'released' }));
  }
}

function mapToItem() {
  const { map } = require('rxjs');
  return map(i => ({ i }));
}

decorate(GrpcBenchController, 'echo', [GrpcMethod('Bench', 'Echo')]);
decorate(GrpcBenchController, 'echoDoc', [GrpcMethod('Bench', 'EchoDoc')]);
decorate(GrpcBenchController, 'range', [GrpcMethod('Bench', 'Range')]);
decorate(GrpcBenchController, 'hold', [GrpcMethod('Bench', 'Hold')]);
Reflect.decorate([Controller()], GrpcBenchController);

class GrpcBenchModule {}
Reflect.decorate([Module({ controllers: [GrpcBenchController] })], GrpcBenchModule);

module.exports = { BenchModule, GrpcBenchModule };
