import { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Metadata, status } from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { ClientGrpcIroh, IrohGrpcServer } from '../../src/grpc';
import { HERO_PROTO } from '../fixtures/grpc/heroes.controller';
import { LOOPBACK, eventually } from '../support/harness';
import { HistogramPoint, RegisteredSdk, pointWith, registerSdk } from '../support/otel-sdk';
import { TracedHeroesModule, seen } from '../support/traced.app';

jest.setTimeout(60_000);

// gRPC calls over iroh: a ClientGrpcIroh and an IrohGrpcServer recording into one SDK.

const FIND_ONE = 'hero.HeroesService/FindOne';

describe('gRPC over iroh: spans and metrics', () => {
  let sdk: RegisteredSdk;
  let app: INestMicroservice;
  let client: ClientGrpcIroh;
  let heroes: any;

  beforeAll(async () => {
    sdk = registerSdk();
    const server = new IrohGrpcServer({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO });
    app = await NestFactory.createMicroservice(TracedHeroesModule, { strategy: server, logger: false });
    await app.listen();
    client = new ClientGrpcIroh({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO, peer: server.ticket });
    heroes = client.getService('HeroesService');
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
    await sdk?.shutdown();
  });

  beforeEach(() => seen.reset());

  const spans = (kind: SpanKind, name: string): ReadableSpan[] => sdk.spans().filter(s => s.kind === kind && s.name === name);
  const last = (kind: SpanKind, name: string): ReadableSpan => spans(kind, name).at(-1)!;

  it('makes the SERVER span of a call the child of its CLIENT span, and runs the handler in it', async () => {
    const caller = trace.getTracer('test').startSpan('caller');
    const hero = await context.with(trace.setSpan(context.active(), caller), () => firstValueFrom(heroes.findOne({ id: 1 })));
    caller.end();
    expect(hero).toEqual({ id: 1, name: 'Ada' });
    const clientSpan = last(SpanKind.CLIENT, FIND_ONE);
    const serverSpan = last(SpanKind.SERVER, FIND_ONE);
    expect(clientSpan.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
    expect(serverSpan.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    expect(serverSpan.spanContext().traceId).toBe(caller.spanContext().traceId);
    expect(seen.grpc.map(s => s?.spanId)).toEqual([serverSpan.spanContext().spanId]);
    for (const span of [clientSpan, serverSpan]) {
      expect(span.attributes).toMatchObject({
        'rpc.system.name': 'grpc',
        'rpc.method': FIND_ONE,
        'iroh.call.type': 'grpc',
        'rpc.status_code': 'OK',
      });
    }
  });

  it('follows the gRPC conventions for errors: NOT_FOUND fails the caller only, UNKNOWN both', async () => {
    await expect(firstValueFrom(heroes.findOne({ id: 404 }))).rejects.toMatchObject({ code: status.NOT_FOUND });
    const clientSpan = last(SpanKind.CLIENT, FIND_ONE);
    const serverSpan = last(SpanKind.SERVER, FIND_ONE);
    expect(clientSpan.status.code).toBe(SpanStatusCode.ERROR);
    expect(clientSpan.attributes).toMatchObject({ 'rpc.status_code': 'NOT_FOUND', 'error.type': 'NOT_FOUND' });
    expect(serverSpan.status.code).toBe(SpanStatusCode.UNSET);
    expect(serverSpan.attributes['rpc.status_code']).toBe('NOT_FOUND');
    expect(serverSpan.attributes['error.type']).toBeUndefined();

    await expect(firstValueFrom(heroes.findOne({ id: 500 }))).rejects.toMatchObject({ code: status.UNKNOWN });
    for (const span of [last(SpanKind.CLIENT, FIND_ONE), last(SpanKind.SERVER, FIND_ONE)]) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes).toMatchObject({ 'rpc.status_code': 'UNKNOWN', 'error.type': 'UNKNOWN' });
    }
  });

  it('records a response stream as one span per side with its message count', async () => {
    await expect(lastValueFrom(heroes.findMany({ ids: [3, 1, 2] }).pipe(toArray()))).resolves.toHaveLength(3);
    expect(last(SpanKind.CLIENT, 'hero.HeroesService/FindMany').attributes['iroh.reply.value_count']).toBe(3);
    expect(last(SpanKind.SERVER, 'hero.HeroesService/FindMany').attributes['iroh.reply.value_count']).toBe(3);
  });

  it('reports a method the server does not serve as _OTHER', async () => {
    await expect(firstValueFrom(heroes.retire({ id: 1 }))).rejects.toMatchObject({ code: status.UNIMPLEMENTED });
    const serverSpan = last(SpanKind.SERVER, 'grpc');
    expect(serverSpan.attributes).toMatchObject({ 'rpc.method': '_OTHER', 'rpc.method_original': '/hero.HeroesService/Retire' });
    expect(serverSpan.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('measures both durations with the status code', async () => {
    for (const name of ['rpc.client.call.duration', 'rpc.server.call.duration']) {
      const metric = await sdk.metric(name);
      const ok = pointWith<HistogramPoint['value']>(metric, { 'rpc.system.name': 'grpc', 'rpc.method': FIND_ONE, 'rpc.status_code': 'OK' });
      expect(ok?.value.count).toBeGreaterThanOrEqual(1);
      expect(pointWith(metric, { 'rpc.method': FIND_ONE, 'rpc.status_code': 'NOT_FOUND' })).toBeDefined();
    }
    const active = await sdk.metric('iroh.server.active_requests');
    expect(pointWith(active, { 'rpc.system.name': 'grpc' })?.value).toBe(0);
  });

  it("hands the handler's call.sendMetadata() to the caller as the call's 'metadata' event", async () => {
    const raw = client.getClientByServiceName<any>('HeroesService');
    const received: Metadata[] = [];
    const hero = await new Promise((resolve, reject) => {
      const callObject = raw.findOne({ id: 2 }, (err: unknown, value: unknown) => (err ? reject(err) : resolve(value)));
      callObject.on('metadata', (metadata: Metadata) => received.push(metadata));
    });
    expect(hero).toEqual({ id: 2, name: 'Ada' });
    await eventually(() => received.length === 1, 1000, "the 'metadata' event");
    expect(received[0].get('x-served-by')).toEqual(['traced']);
  });
});
