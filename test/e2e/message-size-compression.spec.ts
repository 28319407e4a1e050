/**
 * maxMessageSize is judged on the uncompressed size on both sides: compressible messages
 * above it fail locally with MESSAGE_TOO_LARGE and never count against a well-behaved client.
 */
import { Controller, Module } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { IrohClientError } from '../../src';
import { call, callError, irohClient, startIrohServer } from '../support/harness';

jest.setTimeout(60_000);

const MIB = 1024 * 1024;

@Controller()
class BigController {
  @MessagePattern('text')
  text(@Payload() n: number): string {
    return 'a'.repeat(n);
  }
  @MessagePattern('length')
  length(@Payload() s: string): number {
    return s.length;
  }
  @MessagePattern('sum')
  sum(@Payload() numbers: number[]): number {
    return numbers.reduce((a, b) => a + b, 0);
  }
}
@Module({ controllers: [BigController] })
class BigModule {}

describe('maxMessageSize and compression', () => {
  it("a compressible request above the client's maxMessageSize fails locally with MESSAGE_TOO_LARGE", async () => {
    const running = await startIrohServer(BigModule, { maxMessageSize: MIB });
    const client = irohClient(running.ticket, { maxMessageSize: MIB });
    try {
      const err = await callError(client, 'length', 'a'.repeat(2 * MIB));
      expect(err).toBeInstanceOf(IrohClientError);
      expect(err.code).toBe('MESSAGE_TOO_LARGE');
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('a well-behaved client that sends such messages does not get its connection closed', async () => {
    const running = await startIrohServer(BigModule, { maxMessageSize: MIB });
    const client = irohClient(running.ticket, { maxMessageSize: MIB });
    try {
      await expect(call(client, 'sum', [1, 2])).resolves.toBe(3);
      const disconnects: string[] = [];
      client.on('disconnect', reason => disconnects.push(reason));
      const errors: unknown[] = [];
      for (let i = 0; i < 34; i++) errors.push(await callError(client, 'length', 'a'.repeat(2 * MIB)));
      const codes = errors.map((e: any) => (e instanceof IrohClientError ? `client:${e.code}` : `server:${e?.code}`));
      // What each of the 34 calls failed with, and whether the connection survived.
      const summary = { codes: [...new Set(codes)], disconnects };
      expect(summary).toEqual({ codes: ['client:MESSAGE_TOO_LARGE'], disconnects: [] });
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it("a compressible reply above the client's maxMessageSize fails with MESSAGE_TOO_LARGE", async () => {
    const running = await startIrohServer(BigModule);
    const client = irohClient(running.ticket, { maxMessageSize: MIB });
    try {
      const err = await callError(client, 'text', 2 * MIB);
      expect(err).toBeInstanceOf(IrohClientError);
      expect({ code: err.code, message: err.message }).toEqual({
        code: 'MESSAGE_TOO_LARGE',
        message: expect.any(String),
      });
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('a server refuses to send a compressible reply above its own maxMessageSize', async () => {
    const running = await startIrohServer(BigModule, { maxMessageSize: MIB });
    const client = irohClient(running.ticket); // roomy client: would accept anything
    try {
      const outcome = await call(client, 'text', 2 * MIB).then(
        (s: string) => `delivered ${s.length} chars`,
        (e: any) => `refused: ${e?.code}`,
      );
      expect(outcome).toBe('refused: MESSAGE_TOO_LARGE');
    } finally {
      await client.close();
      await running.app.close();
    }
  });
});
