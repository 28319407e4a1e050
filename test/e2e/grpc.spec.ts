import 'reflect-metadata';
import { INestApplicationContext, INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Transport } from '@nestjs/microservices';
import { Metadata, status } from '@grpc/grpc-js';
import { EMPTY, Observable, Subject, firstValueFrom, from, lastValueFrom, take, timeout, toArray } from 'rxjs';
import { IrohGrpcServer } from '../../src/grpc';
import { HeroCaller, HeroCallerModule, HeroTransport } from '../fixtures/grpc/hero-caller';
import { HERO_PROTO, HEROES, HeroesModule, INVALID_ID, MISSING_ID, PLAIN_MESSAGE_ID, observed } from '../fixtures/grpc/heroes.controller';
import { LOOPBACK, eventually } from '../support/harness';
import { freeTcpPort } from '../support/ports';

jest.setTimeout(60_000);

interface RunningService {
  app: INestMicroservice;
  transport: HeroTransport;
  /** The IrohGrpcServer, for services over iroh. */
  server?: IrohGrpcServer;
}

/** The same module, served over Nest's gRPC transport. */
async function serveOverGrpc(): Promise<RunningService> {
  const url = `127.0.0.1:${await freeTcpPort()}`;
  const app = await NestFactory.createMicroservice(HeroesModule, {
    transport: Transport.GRPC,
    options: { package: 'hero', protoPath: HERO_PROTO, url },
    logger: false,
  });
  await app.listen();
  return { app, transport: { kind: 'grpc', url } };
}

/** The same module, served over iroh: with the .proto (protobuf), or without (JSON). */
async function serveOverIroh(proto: boolean): Promise<RunningService> {
  const server = new IrohGrpcServer({ ...LOOPBACK, package: 'hero', ...(proto ? { protoPath: HERO_PROTO } : {}) });
  const app = await NestFactory.createMicroservice(HeroesModule, { strategy: server, logger: false });
  await app.listen();
  return { app, transport: { kind: 'iroh', peer: server.ticket, proto }, server };
}

async function startCaller(transport: HeroTransport): Promise<{ context: INestApplicationContext; caller: HeroCaller }> {
  const context = await NestFactory.createApplicationContext(HeroCallerModule.register(transport), { logger: false });
  return { context, caller: context.get(HeroCaller) };
}

/** HTTP/2 response headers @grpc/grpc-js puts into an error's metadata: transport, not application, data. */
const HTTP2_HEADERS = new Set(['content-type', 'date']);

/** A call's error as callers see it: the fields of @grpc/grpc-js's ServiceError. */
function describeError(error: any) {
  const metadata = error.metadata?.getMap();
  for (const key of Object.keys(metadata ?? {})) if (HTTP2_HEADERS.has(key)) delete metadata[key];
  return {
    isError: error instanceof Error,
    message: error.message,
    code: error.code,
    details: error.details,
    metadata,
  };
}

async function errorOf(promise: Promise<unknown>): Promise<ReturnType<typeof describeError>> {
  try {
    const value = await promise;
    throw new Error(`expected the call to fail, it returned ${JSON.stringify(value)}`);
  } catch (err) {
    return describeError(err);
  }
}

const bounded = <T>(source: Observable<T>, ms = 10_000) => source.pipe(timeout(ms));

const SETUPS: Array<[string, () => Promise<RunningService>]> = [
  ['Nest gRPC', serveOverGrpc],
  ['iroh with the .proto', () => serveOverIroh(true)],
  ['iroh without a .proto', () => serveOverIroh(false)],
];

describe.each(SETUPS)('the hero service over %s, called through ClientGrpc', (_name, serve) => {
  let service: RunningService;
  let context: INestApplicationContext;
  let caller: HeroCaller;

  beforeAll(async () => {
    service = await serve();
    ({ context, caller } = await startCaller(service.transport));
  });

  afterAll(async () => {
    await context?.close();
    await service?.app.close();
  });

  beforeEach(() => observed.reset());

  it("answers unary calls, with the caller's metadata reaching the handler", async () => {
    await expect(caller.findOne(2)).resolves.toEqual(HEROES[1]);
    await expect(caller.findOne(3, 'the-test')).resolves.toEqual({ ...HEROES[2], caller: 'the-test' });
    expect(observed.paths).toEqual(['/hero.HeroesService/FindOne', '/hero.HeroesService/FindOne']);
  });

  it('streams server-streaming replies in order', async () => {
    await expect(caller.findMany([3, 1, 2])).resolves.toEqual([HEROES[2], HEROES[0], HEROES[1]]);
  });

  it('takes a client stream (@GrpcStreamMethod)', async () => {
    await expect(caller.countHeroes(from([{ id: 1 }, { id: 3 }, { id: 2 }]))).resolves.toEqual({ count: 3, ids: [1, 3, 2] });
  });

  it('takes a client stream that arrives slowly', async () => {
    const ids = new Subject<{ id: number }>();
    const result = caller.countHeroes(ids);
    for (const id of [5, 6, 7]) {
      await new Promise(resolve => setTimeout(resolve, 20));
      ids.next({ id });
    }
    ids.complete();
    await expect(result).resolves.toEqual({ count: 3, ids: [5, 6, 7] });
  });

  it('streams both ways (@GrpcStreamMethod)', async () => {
    await expect(caller.findEach(from([{ id: 2 }, { id: 1 }]))).resolves.toEqual([HEROES[1], HEROES[0]]);
  });

  it('takes a client stream through the call and its callback (@GrpcStreamCall)', async () => {
    await expect(caller.tally(from([{ id: 9 }, { id: 8 }]))).resolves.toEqual({ count: 2, ids: [9, 8] });
  });

  it('streams both ways through the call (@GrpcStreamCall)', async () => {
    await expect(caller.chat(from([{ text: 'hello' }, { text: 'world' }]))).resolves.toEqual([
      { text: 'echo: hello' },
      { text: 'echo: world' },
    ]);
  });

  it('fails with the status code of an RpcException', async () => {
    const error = await errorOf(caller.findOne(MISSING_ID));
    expect(error).toMatchObject({ isError: true, code: status.NOT_FOUND, details: `Hero ${MISSING_ID} not found` });
    expect(error.message).toBe(`5 NOT_FOUND: Hero ${MISSING_ID} not found`);
  });

  it('carries the trailing metadata of an RpcException', async () => {
    const error = await errorOf(caller.findOne(INVALID_ID));
    expect(error).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'id must be positive',
      message: '3 INVALID_ARGUMENT: id must be positive',
    });
    expect(error.metadata).toMatchObject({ field: 'id' });
  });

  it('fails with UNKNOWN for an RpcException with a message only, and for other errors', async () => {
    expect(await errorOf(caller.findOne(PLAIN_MESSAGE_ID))).toMatchObject({ code: status.UNKNOWN, details: 'no hero has that id' });
    expect(await errorOf(firstValueFrom(caller.heroes.crash({ id: 1 })))).toMatchObject({
      code: status.UNKNOWN,
      details: 'Internal server error',
      message: '2 UNKNOWN: Internal server error',
    });
  });

  it('fails streams with the status of their error, after the messages before it', async () => {
    const received: unknown[] = [];
    const failure = await errorOf(
      lastValueFrom(bounded(caller.heroes.findManyThenFail({ ids: [1, 2] })).pipe(toArray())).catch(err => {
        throw err;
      }),
    );
    expect(failure).toMatchObject({ code: status.UNAVAILABLE, details: 'the archive went offline' });
    await new Promise<void>(resolve => {
      caller.heroes.findManyThenFail({ ids: [3] }).subscribe({ next: v => received.push(v), error: () => resolve() });
    });
    expect(received).toEqual([HEROES[2]]);
  });

  it('fails a bidirectional stream with the status of the message that failed', async () => {
    const error = await errorOf(caller.findEach(from([{ id: 1 }, { id: MISSING_ID }])));
    expect(error).toMatchObject({ code: status.NOT_FOUND, details: `Hero ${MISSING_ID} not found` });
  });

  it('fails a client stream answered with an error through the callback', async () => {
    const error = await errorOf(caller.tally(from([{ id: 1 }, { id: MISSING_ID }])));
    expect(error).toMatchObject({ code: status.NOT_FOUND, details: `Hero ${MISSING_ID} not found` });
  });

  it('cancels the handler when the caller unsubscribes', async () => {
    const ticks = await lastValueFrom(bounded(caller.heroes.ticks({ intervalMs: 10 }).pipe(take(3), toArray())));
    expect(ticks).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await eventually(() => observed.tickStreamsStopped === 1, 5000, "the handler's stream to be unsubscribed");
    await eventually(() => observed.cancelledCalls === 1, 5000, 'the call to be cancelled');
  });

  it("fails with DEADLINE_EXCEEDED past the deadline, and cancels the handler's call", async () => {
    const started = Date.now();
    const error = await errorOf(firstValueFrom(caller.heroes.slow({ ms: 2000 }, new Metadata(), { deadline: Date.now() + 150 })));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(error.message).toMatch(/^4 DEADLINE_EXCEEDED: Deadline exceeded/);
    expect(Date.now() - started).toBeLessThan(1500);
    await eventually(() => observed.cancelledCalls === 1, 5000, 'the server to see the call cancelled');
  });

  it('answers within the deadline', async () => {
    await expect(firstValueFrom(caller.heroes.slow({ ms: 10 }, new Metadata(), { deadline: Date.now() + 5000 }))).resolves.toEqual(
      HEROES[0],
    );
  });

  it('completes a client stream with no messages', async () => {
    const count = await caller.countHeroes(EMPTY);
    expect(count.count).toBe(0);
    // protobuf leaves out empty repeated fields (proto-loader's `arrays` option puts them back).
    expect(count.ids ?? []).toEqual([]);
  });
});

describe('the same calls over Nest gRPC and over iroh give the same results and the same errors', () => {
  const services: RunningService[] = [];
  const contexts: INestApplicationContext[] = [];
  const callers: Record<string, HeroCaller> = {};

  beforeAll(async () => {
    for (const [name, serve] of SETUPS) {
      const service = await serve();
      services.push(service);
      const { context, caller } = await startCaller(service.transport);
      contexts.push(context);
      callers[name] = caller;
    }
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    for (const service of services) await service.app.close();
  });

  /** Runs `scenario` with each transport's caller; returns what each produced (value or error). */
  async function outcomes(scenario: (caller: HeroCaller) => Promise<unknown>): Promise<Record<string, unknown>> {
    const results: Record<string, unknown> = {};
    for (const [name] of SETUPS) {
      try {
        results[name] = { value: await scenario(callers[name]) };
      } catch (err) {
        results[name] = { error: describeError(err) };
      }
    }
    return results;
  }

  function expectAllEqual(results: Record<string, unknown>): void {
    const [reference, ...others] = SETUPS.map(([name]) => name);
    for (const name of others) expect({ [name]: results[name] }).toEqual({ [name]: results[reference] });
  }

  it.each<[string, (caller: HeroCaller) => Promise<unknown>]>([
    ['unary', c => c.findOne(1, 'someone')],
    ['server streaming', c => c.findMany([2, 3])],
    ['client streaming', c => c.countHeroes(from([{ id: 3 }, { id: 4 }]))],
    ['bidirectional', c => c.findEach(from([{ id: 3 }, { id: 1 }]))],
    ['client streaming through the call', c => c.tally(from([{ id: 7 }]))],
    ['bidirectional through the call', c => c.chat(from([{ text: 'x' }]))],
    ['NOT_FOUND', c => c.findOne(MISSING_ID)],
    ['INVALID_ARGUMENT with trailing metadata', c => c.findOne(INVALID_ID)],
    ['an RpcException with a message only', c => c.findOne(PLAIN_MESSAGE_ID)],
    ['an error that is not an RpcException', c => firstValueFrom(c.heroes.crash({ id: 1 }))],
    ['a stream that fails', c => lastValueFrom(c.heroes.findManyThenFail({ ids: [1] }).pipe(toArray()))],
    ['a bidirectional stream that fails', c => c.findEach(from([{ id: MISSING_ID }]))],
    ['a client stream answered with an error', c => c.tally(from([{ id: MISSING_ID }]))],
  ])('%s', async (_name, scenario) => {
    expectAllEqual(await outcomes(scenario));
  });

  it('a method of the .proto that no handler serves', async () => {
    const results = (await outcomes(c => firstValueFrom(c.heroes.retire({ id: 1 })))) as Record<
      string,
      { error: ReturnType<typeof describeError> }
    >;
    expect(results['iroh with the .proto']).toEqual(results['Nest gRPC']);
    expect(results['Nest gRPC'].error).toMatchObject({
      code: status.UNIMPLEMENTED,
      details: 'The server does not implement the method Retire',
    });
    // Without a .proto the server knows no method by that name: it names the path instead.
    expect(results['iroh without a .proto'].error).toMatchObject({
      code: status.UNIMPLEMENTED,
      details: 'The server does not implement the method /hero.HeroesService/Retire',
    });
  });

  it('an expired deadline', async () => {
    const results = await outcomes(c => firstValueFrom(c.heroes.slow({ ms: 1000 }, new Metadata(), { deadline: Date.now() + 100 })));
    // @grpc/grpc-js adds timings to the details ("Deadline exceeded after 0.101s,…"): compare the rest.
    for (const result of Object.values(results) as Array<{ error: ReturnType<typeof describeError> }>) {
      result.error.details = result.error.details.replace(/^Deadline exceeded.*/, 'Deadline exceeded');
      result.error.message = result.error.message.replace(/Deadline exceeded.*/, 'Deadline exceeded');
    }
    expectAllEqual(results);
  });
});

describe('over iroh, a request stream that errors', () => {
  let service: RunningService;
  let context: INestApplicationContext;
  let caller: HeroCaller;

  beforeAll(async () => {
    service = await serveOverIroh(true);
    ({ context, caller } = await startCaller(service.transport));
  });

  afterAll(async () => {
    await context?.close();
    await service?.app.close();
  });

  // Nest's ClientGrpcProxy emits such an error on the grpc-js call, where nothing listens for
  // it: the call never settles. Over iroh it fails with the error and cancels the server's side.
  it('fails the call with its error and cancels it on the server', async () => {
    const ids = new Subject<{ id: number }>();
    const result = errorOf(caller.countHeroes(ids));
    ids.next({ id: 1 });
    await eventually(() => service.server!.inflightRequests === 1, 5000, 'the call to reach the server');
    ids.error(new Error('the caller gave up'));
    expect(await result).toMatchObject({ isError: true, message: 'the caller gave up' });
    await eventually(() => service.server!.inflightRequests === 0, 5000, 'the server to drop the call');
  });
});
