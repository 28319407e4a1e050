/**
 * Rolling restarts against servers that drain GOAWAY-first (HELLO feature DRAIN): the client
 * stops sending to a server as soon as it announces its shutdown, lets what runs there finish,
 * and sends what crossed the GOAWAY elsewhere. Servers run in their own processes.
 */
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { firstValueFrom } from 'rxjs';
import { ClientIroh } from '../../src';
import { LOOPBACK, eventually } from '../support/harness';
import { freeUdpPort } from '../support/ports';
import { Instance, InstanceOutputs, SteadyLoad, startInstance, stopInstance } from '../support/scale-out-processes';

jest.setTimeout(120_000);

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));
const FAST_KEEP_ALIVE = { keepAliveInterval: 200, keepAliveTimeout: 1200 };

describe('draining servers', () => {
  let dir: string;
  let outputs: InstanceOutputs;
  const running: Instance[] = [];
  const clients: ClientIroh[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-drain-'));
  });

  beforeEach(() => {
    outputs = new InstanceOutputs();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map(c => c.close()));
    await Promise.all(running.splice(0).map(instance => stopInstance(instance, 'SIGKILL')));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function start(name: string, env: Record<string, string>): Promise<Instance> {
    const instance = await startInstance(name, env, outputs);
    running.push(instance);
    return instance;
  }

  it('a draining server finishes what runs on it, and is not picked from its GOAWAY on', async () => {
    const a = await start('a', { DRAIN_TIMEOUT: '5000' });
    const b = await start('b', {});
    const client = new ClientIroh({ ...LOOPBACK, peers: [a.ticket, b.ticket], ...FAST_KEEP_ALIVE });
    clients.push(client);
    expect((await client.pingAll()).map(p => p.error)).toEqual([null, null]);
    const events: Array<{ at: number; what: string }> = [];
    client.on('peer:disconnect', (id, reason) =>
      events.push({ at: Date.now(), what: `disconnect ${id === client.peerIds[0] ? 'a' : 'b'}: ${reason}` }),
    );

    const slow = Array.from({ length: 8 }, (_, i) =>
      firstValueFrom(client.send<{ id: string; instance: string }>('work', { id: `slow-${i}`, ms: 1500 })).then(reply => ({
        ...reply,
        at: Date.now(),
      })),
    );
    await eventually(() => outputs.lines(/^RAN slow-/).length === 8, 5000, 'all slow requests running');
    const stopping = stopInstance(running.shift()!, 'SIGTERM');
    await eventually(() => events.length > 0, 3000, 'the client to hear the GOAWAY');
    // Sent while a drains: all to b.
    const during = await Promise.all(
      Array.from({ length: 6 }, (_, i) => firstValueFrom(client.send<{ instance: string }>('work', { id: `during-${i}`, ms: 0 }))),
    );
    const replies = await Promise.all(slow);
    await stopping;
    expect(events[0].what).toMatch(/^disconnect a: /);
    const onA = replies.filter(r => r.instance === 'a');
    expect(onA.length).toBeGreaterThan(0);
    // The GOAWAY came first: before the requests running on a had finished there.
    for (const reply of onA) expect(reply.at).toBeGreaterThan(events[0].at);
    expect(during.map(r => r.instance)).toEqual(during.map(() => 'b'));
  });

  it.each([
    ['8 requests in flight', { concurrency: 8, pauseMs: 0 }],
    ['one request at a time, 2 ms apart (the server is often idle when it stops)', { concurrency: 1, pauseMs: 2 }],
  ])('a rolling restart with instant handlers, %s, fails nothing and runs nothing twice', async (_name, shape) => {
    const envs = {
      a: { KEY_FILE: join(dir, 'a.key'), BIND_ADDR: `127.0.0.1:${await freeUdpPort()}`, DRAIN_TIMEOUT: '3000' },
      b: { KEY_FILE: join(dir, 'b.key'), BIND_ADDR: `127.0.0.1:${await freeUdpPort()}`, DRAIN_TIMEOUT: '3000' },
    };
    const a = await start('a', envs.a);
    const b = await start('b', envs.b);
    const client = new ClientIroh({ ...LOOPBACK, peers: [a.ticket, b.ticket], ...FAST_KEEP_ALIVE });
    clients.push(client);
    expect((await client.pingAll()).map(p => p.error)).toEqual([null, null]);
    const load = new SteadyLoad(client, { ...shape, ms: 0, tag: 'instant' }).start();
    await sleep(1000);
    for (const name of ['a', 'b', 'a', 'b'] as const) {
      const old = running.find(instance => instance.name === name)!;
      await stopInstance(old, 'SIGTERM');
      running.splice(running.indexOf(old), 1);
      const again = await start(name, envs[name]);
      await eventually(() => load.results.some(r => r.instance === name && r.sentAt > again.readyAt), 10_000, `${name} serving again`);
      await sleep(1000);
    }
    const results = await load.stop();
    const failures = results.filter(r => r.error);
    console.log(
      `rolling restart, instant handlers: ${results.length} requests, ${failures.length} failed ${JSON.stringify(failures.slice(0, 3))}`,
    );
    expect(failures).toEqual([]);
    const runs = outputs.runs();
    expect([...runs.values()].filter(n => n > 1)).toEqual([]);
  });
});
