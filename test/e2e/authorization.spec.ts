import { Controller, Module } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { AllowPeers, ClientIroh, IrohClientError, IrohServer, endpointIdOf, generateSecretKey } from '../../src';
import { call, callError, irohClient, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';

jest.setTimeout(60_000);

const aliceKey = generateSecretKey();
const bobKey = generateSecretKey();
const alice = endpointIdOf(aliceKey);
const bob = endpointIdOf(bobKey);

@Controller()
class AdminController {
  @MessagePattern('admin.reset')
  @AllowPeers(alice)
  reset(@Payload() _data: unknown): string {
    return 'reset done';
  }

  @MessagePattern('public.info')
  info(@Payload() _data: unknown): string {
    return 'info';
  }
}

@Module({ controllers: [AdminController] })
class AdminModule {}

const quick = { retryAttempts: 0, connectTimeout: 3000 };

describe('peer authorization', () => {
  it('refuses peers outside allowPeers at connection time, with a clear error and no hang', async () => {
    const running = await startIrohServer(MathModule, { allowPeers: [alice] });
    const allowed = irohClient(running.ticket, { secretKey: aliceKey.toString('hex'), ...quick });
    const refused = irohClient(running.ticket, { secretKey: bobKey.toString('hex'), ...quick });
    try {
      await expect(call(allowed, 'sum', [1, 2])).resolves.toBe(3);
      const started = Date.now();
      const err = await callError(refused, 'sum', [1, 2]);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(err).toBeInstanceOf(IrohClientError);
      expect(err.code).toBe('UNAUTHORIZED');
      expect(running.server.connectedPeers).toEqual([alice]);
    } finally {
      await Promise.all([allowed.close(), refused.close()]);
      await running.app.close();
    }
  });

  it('asks an allowPeers function again for every new connection', async () => {
    const registry = new Set([alice]);
    const asked: string[] = [];
    const running = await startIrohServer(MathModule, {
      allowPeers: async id => {
        asked.push(id);
        await new Promise(r => setTimeout(r, 5));
        return registry.has(id);
      },
    });
    const client = irohClient(running.ticket, { secretKey: aliceKey.toString('hex'), ...quick });
    try {
      await expect(call(client, 'sum', [1])).resolves.toBe(1);
      await client.close();
      registry.delete(alice);
      expect((await callError(client, 'sum', [1])).code).toBe('UNAUTHORIZED');
      await client.close();
      registry.add(alice);
      await expect(call(client, 'sum', [2])).resolves.toBe(2);
      expect(asked).toEqual([alice, alice, alice]);
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('refuses a peer whose allowPeers function does not answer within allowPeersTimeout', async () => {
    const asked: string[] = [];
    const running = await startIrohServer(MathModule, {
      allowPeersTimeout: 300,
      allowPeers: id => {
        asked.push(id);
        return new Promise<boolean>(() => undefined); // never answers
      },
    });
    const client = irohClient(running.ticket, { secretKey: aliceKey.toString('hex'), ...quick });
    try {
      const started = Date.now();
      const err = await callError(client, 'sum', [1]);
      const elapsed = Date.now() - started;
      expect(err).toBeInstanceOf(IrohClientError);
      expect(err.code).toBe('UNAUTHORIZED');
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(3000);
      expect(asked).toEqual([alice]);
      expect(running.server.connectedPeers).toEqual([]);
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('refuses an allowPeersTimeout that is not a whole number of 0 or more', () => {
    expect(() => new IrohServer({ allowPeersTimeout: 1.5 })).toThrow(/allowPeersTimeout must be a whole number, 0 or more/);
  });

  it('@AllowPeers guards a handler: other peers get an UNAUTHORIZED RpcException', async () => {
    const running = await startIrohServer(AdminModule);
    const a = irohClient(running.ticket, { secretKey: aliceKey.toString('hex') });
    const b = irohClient(running.ticket, { secretKey: bobKey.toString('hex') });
    try {
      await expect(call(a, 'admin.reset', {})).resolves.toBe('reset done');
      await expect(callError(b, 'admin.reset', {})).resolves.toEqual({
        status: 'error',
        code: 'UNAUTHORIZED',
        message: `Peer ${bob} is not allowed to call admin.reset`,
      });
      await expect(call(b, 'public.info', {})).resolves.toBe('info');
    } finally {
      await Promise.all([a.close(), b.close()]);
      await running.app.close();
    }
  });
});

describe('identity files', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-keys-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a missing key file with mode 0600 and keeps the identity across restarts', async () => {
    const file = join(dir, 'nested/service.key');
    const first = await startIrohServer(MathModule, { secretKeyFile: file });
    const id = first.server.endpointId;
    await first.app.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = await startIrohServer(MathModule, { secretKeyFile: file });
    expect(second.server.endpointId).toBe(id);
    await second.app.close();
  });

  it('refuses a key file other users can read, without printing the key', async () => {
    const file = join(dir, 'open.key');
    const key = generateSecretKey().toString('hex');
    writeFileSync(file, key);
    chmodSync(file, 0o644);
    const server = new IrohServer({ secretKeyFile: file, relayMode: 'disabled', bindAddr: '127.0.0.1:0' });
    const err = await new Promise<any>(resolve => void server.listen(e => resolve(e)));
    expect(err?.message).toMatch(/accessible by other users \(mode 644\).*chmod 600/);
    expect(err.message).not.toContain(key);
    expect(readFileSync(file, 'utf8')).toBe(key);
  });

  it('rejects malformed keys without echoing them', () => {
    const secret = 'zz'.repeat(32);
    return new ClientIroh({ peer: alice, secretKey: secret, relayMode: 'disabled' }).connect().then(
      () => {
        throw new Error('expected a key error');
      },
      err => {
        expect(err.message).toMatch(/64 hex characters/);
        expect(err.message).not.toContain(secret);
      },
    );
  });
});
