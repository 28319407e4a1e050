/**
 * Limits under concurrency: handshakes in parallel count against maxConnections, and
 * handlers of cancelled requests still running count against maxConcurrentRequests.
 */
import { Controller, Module } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Subscription } from 'rxjs';
import { ClientIroh } from '../../src';
import { RunningServer, call, eventually, irohClient, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';

jest.setTimeout(30_000);

const running = { now: 0, max: 0 };

@Controller()
class SlowController {
  @MessagePattern('slow')
  async slow(@Payload() ms: number): Promise<string> {
    running.now++;
    running.max = Math.max(running.max, running.now);
    try {
      await new Promise(r => setTimeout(r, ms));
      return 'done';
    } finally {
      running.now--;
    }
  }
}
@Module({ controllers: [SlowController] })
class SlowModule {}

describe('limits', () => {
  it('maxConnections: 1 admits one connection even when clients connect at the same time', async () => {
    const server: RunningServer = await startIrohServer(MathModule, { maxConnections: 1 });
    const clients: ClientIroh[] = Array.from({ length: 4 }, () => irohClient(server.ticket, { retryAttempts: 0, connectTimeout: 3000 }));
    try {
      const results = await Promise.all(
        clients.map(c =>
          call(c, 'sum', [1], 5000).then(
            () => 'ok',
            () => 'refused',
          ),
        ),
      );
      const peers = server.server.connectedPeers.length;
      expect({ answered: results.filter(r => r === 'ok').length, peers }).toEqual({ answered: 1, peers: 1 });
    } finally {
      await Promise.all(clients.map(c => c.close()));
      await server.app.close();
    }
  });

  it('maxConcurrentRequests: 2 keeps at most 2 handlers running on one connection', async () => {
    running.now = 0;
    running.max = 0;
    const server: RunningServer = await startIrohServer(SlowModule, { maxConcurrentRequests: 2, drainTimeout: 0 });
    const client = irohClient(server.ticket);
    try {
      await client.connect();
      // Each request is unsubscribed right after it is sent (a client-side timeout, a
      // destroyed component, takeUntil…): the server gets REQUEST then CANCEL.
      for (let i = 0; i < 20; i++) {
        const sub: Subscription = client.send('slow', 2000).subscribe({ error: () => undefined });
        await new Promise(r => setTimeout(r, 20));
        sub.unsubscribe();
      }
      await eventually(() => running.now >= 3 || running.max >= 3, 3000, 'handlers').catch(() => undefined);
      expect(running.max).toBeLessThanOrEqual(2);
    } finally {
      await client.close();
      await server.app.close();
      await eventually(() => running.now === 0, 5000, 'handlers to end');
    }
  });
});
