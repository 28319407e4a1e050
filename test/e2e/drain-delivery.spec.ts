/**
 * Graceful shutdown delivers what it drained: a reply that finishes during the drain
 * reaches its caller before the connection closes.
 */
import { Controller, Module } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { randomBytes } from 'crypto';
import { eventually, irohClient, settle, startIrohServer } from '../support/harness';

jest.setTimeout(60_000);

@Controller()
class SlowBlobController {
  @MessagePattern('slow.blob')
  async slowBlob(@Payload() { ms, size }: { ms: number; size: number }): Promise<Buffer> {
    await new Promise(r => setTimeout(r, ms));
    return randomBytes(size);
  }
}
@Module({ controllers: [SlowBlobController] })
class SlowBlobModule {}

describe('drain on close', () => {
  it('a request that finishes during the drain gets its reply, every time', async () => {
    const outcomes: string[] = [];
    for (let round = 0; round < 3; round++) {
      const running = await startIrohServer(SlowBlobModule, { drainTimeout: 5000 });
      const client = irohClient(running.ticket);
      try {
        await client.connect();
        const reply = settle(client.send('slow.blob', { ms: 200, size: 1024 * 1024 }));
        await eventually(() => running.server.inflightRequests === 1, 3000, 'request in flight on the server');
        await running.app.close(); // graceful shutdown while the request is in flight
        const { values, error } = await reply;
        outcomes.push(error ? `lost: ${(error as any).code ?? ''} ${(error as any).message}` : `ok ${(values[0] as Buffer).length}`);
      } finally {
        await client.close();
      }
    }
    expect(outcomes).toEqual(['ok 1048576', 'ok 1048576', 'ok 1048576']);
  });
});
