import { ClientProxy } from '@nestjs/microservices';
import { call, callAll, eventually, irohClient, startIrohServer } from '../support/harness';
import { MathModule, observed } from '../support/math.app';

jest.setTimeout(30_000);

const hasDispatchHook = typeof (ClientProxy.prototype as any).setOnDispatchHook === 'function';
if (!hasDispatchHook) {
  // eslint-disable-next-line no-console
  console.warn('Skipping the dispatch-hook test: this Nest version has no ClientProxy#setOnDispatchHook (Nest 12 adds it).');
}

describe('Nest hooks fire on the iroh transport', () => {
  (hasDispatchHook ? it : it.skip)('carries packet metadata from the dispatch hook to IrohContext#getMetadata', async () => {
    const running = await startIrohServer(MathModule);
    const client = irohClient(running.ticket);
    (client as any).setOnDispatchHook((packet: any) => {
      packet.metadata = { traceId: 'abc-123', hop: 1 };
    });
    try {
      await expect(call(client, 'metadata', {})).resolves.toEqual({ traceId: 'abc-123', hop: 1 });
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('runs the server processing start and end hooks around each request and event', async () => {
    const running = await startIrohServer(MathModule);
    const seen: string[] = [];
    const server = running.server as any;
    server.setOnProcessingStartHook((_transport: unknown, ctx: any, done: () => Promise<unknown>) => {
      seen.push(`start ${ctx.getPattern()}`);
      return done();
    });
    server.setOnProcessingEndHook((_transport: unknown, ctx: any) => seen.push(`end ${ctx.getPattern()}`));
    const client = irohClient(running.ticket);
    observed.reset();
    try {
      await expect(call(client, 'sum', [1, 2])).resolves.toBe(3);
      await expect(callAll(client, 'range', 3)).resolves.toEqual([0, 1, 2]);
      client.emit('item.created', { id: 1 });
      await eventually(() => observed.events.length === 1, 5000, 'event');
      await eventually(() => seen.includes('end item.created'), 5000, 'event end hook');
      expect(seen.filter(s => s.endsWith(' sum'))).toEqual(['start sum', 'end sum']);
      expect(seen.filter(s => s.endsWith(' range'))).toEqual(['start range', 'end range']);
      expect(seen).toContain('start item.created');
    } finally {
      await client.close();
      await running.app.close();
    }
  });
});
