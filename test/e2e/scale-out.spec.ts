/**
 * One client in front of several servers, each in its own process: what fails when servers
 * go away, and what does not. Figures are logged; the assertions are correctness bounds.
 */
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ClientIroh, IrohClientError, IrohClientErrorCode } from '../../src';
import { LOOPBACK, call, callError, eventually } from '../support/harness';
import { freeUdpPort } from '../support/ports';
import { Instance, InstanceOutputs, SteadyLoad, startInstance, stopInstance } from '../support/scale-out-processes';

jest.setTimeout(120_000);

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Fast keep-alive, so a server that vanished is noticed within the test's time. */
const FAST_KEEP_ALIVE = { keepAliveInterval: 200, keepAliveTimeout: 1200 };

describe('scale-out: one client, several servers in their own processes', () => {
  let dir: string;
  let outputs: InstanceOutputs;
  const running: Instance[] = [];
  const clients: ClientIroh[] = [];

  /** Env of an instance with its own key file and a fixed port, so it restarts at the same address. */
  async function fixedAddress(name: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
    return { KEY_FILE: join(dir, `${name}.key`), BIND_ADDR: `127.0.0.1:${await freeUdpPort()}`, ...extra };
  }

  async function start(name: string, env: Record<string, string>): Promise<Instance> {
    const instance = await startInstance(name, env, outputs);
    running.push(instance);
    return instance;
  }

  function client(options: Partial<ConstructorParameters<typeof ClientIroh>[0]>): ClientIroh {
    const created = new ClientIroh({ ...LOOPBACK, ...options });
    clients.push(created);
    return created;
  }

  /** When the client's next peer:connect comes (ms since epoch). */
  function nextPeerConnect(created: ClientIroh): Promise<number> {
    return new Promise(resolve => {
      let seen = false;
      created.on('peer:connect', () => {
        if (!seen) resolve(Date.now());
        seen = true;
      });
    });
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-scale-out-'));
  });

  beforeEach(() => {
    outputs = new InstanceOutputs();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map(c => c.close()));
    await Promise.all(running.splice(0).map(instance => stopInstance(instance, 'SIGKILL')));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every peer down: a request fails within its timeout, or after one attempt without one; the same client recovers when a peer returns', async () => {
    const envA = await fixedAddress('down-a');
    const envB = await fixedAddress('down-b');
    const peers = [(await start('a', envA)).ticket, (await start('b', envB)).ticket];
    await Promise.all(running.splice(0).map(instance => stopInstance(instance, 'SIGKILL')));

    const withTimeout = client({ peers, timeout: 2000 });
    const withoutTimeout = client({ peers });

    let started = Date.now();
    const timedOut = await callError(withTimeout, 'instance', {}, 20_000);
    const timedOutAfter = Date.now() - started;
    expect(timedOut).toBeInstanceOf(IrohClientError);
    expect(timedOut.code).toBe(IrohClientErrorCode.TIMEOUT);
    expect(timedOutAfter).toBeGreaterThanOrEqual(1990);
    expect(timedOutAfter).toBeLessThan(2500);

    started = Date.now();
    const failed = await callError(withoutTimeout, 'instance', {}, 20_000);
    const failedAfter = Date.now() - started;
    expect(failed).toBeInstanceOf(IrohClientError);
    expect(failed.code).toBe(IrohClientErrorCode.CONNECT_FAILED);
    expect(failed.message).toMatch(/timed out/);
    // One attempt (connectTimeout, 5 s by default), not attempt after attempt.
    expect(failedAfter).toBeLessThan(6500);

    const back = await start('a', envA);
    await expect(call(withTimeout, 'instance', {}, 10_000)).resolves.toBe('a');
    const servedAfter = Date.now() - back.readyAt;
    await expect(call(withoutTimeout, 'instance', {}, 10_000)).resolves.toBe('a');
    expect(servedAfter).toBeLessThan(3000);
    console.log(
      `every peer down: timeout 2000 -> ${timedOut.code} after ${timedOutAfter} ms; ` +
        `no timeout -> ${failed.code} after ${failedAfter} ms; a peer back -> served ${servedAfter} ms after it was ready`,
    );
  });

  it('a server restarted at the same address (same key, same port) is served again within about a second', async () => {
    const env = await fixedAddress('restart');
    const first = await start('a', env);
    // Default options: what a user gets.
    const restarted = client({ peer: first.ticket });
    await expect(call(restarted, 'instance', {})).resolves.toBe('a');
    const reconnects: number[] = [];
    for (let round = 0; round < 3; round++) {
      await stopInstance(running.pop()!, 'SIGTERM');
      // Nothing sent: the client finds it in the background.
      const reconnected = nextPeerConnect(restarted);
      const again = await start('a', env);
      const ready = Math.max(0, (await Promise.race([reconnected, sleep(10_000).then(() => Infinity)])) - again.readyAt);
      reconnects.push(ready);
      await expect(call(restarted, 'instance', {})).resolves.toBe('a');
    }
    // And when the next request comes at once, it dials at once.
    await stopInstance(running.pop()!, 'SIGTERM');
    const again = await start('a', env);
    await expect(call(restarted, 'instance', {})).resolves.toBe('a');
    const nextSend = Date.now() - again.readyAt;
    console.log(
      `restart at the same address: ready again ${reconnects.join(', ')} ms after the server was ready (background); ` +
        `a request sent as it became ready was served after ${nextSend} ms`,
    );
    for (const ms of reconnects) expect(ms).toBeLessThan(3000);
    expect(nextSend).toBeLessThan(3000);
  });

  it('one of two servers killed (SIGKILL) under steady load: only what was on it fails, nothing runs twice', async () => {
    const a = await start('a', {});
    const b = await start('b', {});
    const balanced = client({ peers: [a.ticket, b.ticket], ...FAST_KEEP_ALIVE });
    const pings = await balanced.pingAll();
    expect(pings.map(p => p.error)).toEqual([null, null]);

    const load = new SteadyLoad(balanced, { concurrency: 8, ms: 20, tag: 'kill' }).start();
    await sleep(1500);
    const killedAt = Date.now();
    await stopInstance(running.shift()!, 'SIGKILL');
    await sleep(3000);
    const results = await load.stop();

    const failures = results.filter(r => r.error);
    const detectedAfter = Math.max(0, ...failures.map(r => r.endedAt - killedAt));
    console.log(
      `SIGKILL under load: ${results.length} requests, ${failures.length} failed ` +
        `(${[...new Set(failures.map(f => f.error?.code))].join(', ') || 'none'}), the last ${detectedAfter} ms after the kill`,
    );
    // Only what was on the killed server fails, with CONNECTION_LOST, once keep-alive notices.
    expect(failures.map(f => f.error?.code)).toEqual(failures.map(() => 'CONNECTION_LOST'));
    expect(failures.length).toBeLessThanOrEqual(16);
    for (const failure of failures) expect(failure.sentAt).toBeLessThan(killedAt + 1200 + 1000);
    // Before the kill both served; after keep-alive noticed, the other one serves everything.
    const before = results.filter(r => r.endedAt < killedAt && !r.error);
    expect(new Set(before.map(r => r.instance))).toEqual(new Set(['a', 'b']));
    const after = results.filter(r => r.sentAt > killedAt + 2500);
    expect(after.length).toBeGreaterThan(20);
    expect(after.every(r => r.instance === 'b')).toBe(true);
    // Nothing ran twice; every answer comes from a run.
    const runs = outputs.runs();
    expect([...runs.values()].filter(n => n > 1)).toEqual([]);
    for (const result of results.filter(r => !r.error)) expect(runs.get(result.id)).toBe(1);
  });

  it('a rolling restart of two servers under steady load fails nothing and runs nothing twice', async () => {
    const envs = { a: await fixedAddress('roll-a', { DRAIN_TIMEOUT: '3000' }), b: await fixedAddress('roll-b', { DRAIN_TIMEOUT: '3000' }) };
    const a = await start('a', envs.a);
    const b = await start('b', envs.b);
    const rolling = client({ peers: [a.ticket, b.ticket], ...FAST_KEEP_ALIVE });
    const pings = await rolling.pingAll();
    expect(pings.map(p => p.error)).toEqual([null, null]);
    const load = new SteadyLoad(rolling, { concurrency: 8, ms: 20, tag: 'roll' }).start();
    await sleep(1000);
    const figures: string[] = [];
    for (const name of ['a', 'b'] as const) {
      const old = running.find(instance => instance.name === name)!;
      const stoppedAt = Date.now();
      await stopInstance(old, 'SIGTERM');
      running.splice(running.indexOf(old), 1);
      const drainMs = Date.now() - stoppedAt;
      const again = await start(name, envs[name]);
      const endpointId = rolling.peerIds[name === 'a' ? 0 : 1];
      let readyAfter = -1;
      await eventually(
        () => {
          const served = load.results.some(r => r.instance === name && r.sentAt > again.readyAt);
          if (served && readyAfter < 0) readyAfter = Date.now() - again.readyAt;
          return served;
        },
        10_000,
        `${name} serving again (${endpointId})`,
      );
      figures.push(`${name}: drained and exited in ${drainMs} ms, serving again ${readyAfter} ms after it was ready`);
      await sleep(1000);
    }
    const results = await load.stop();
    const failures = results.filter(r => r.error);
    console.log(`rolling restart under load: ${results.length} requests, ${failures.length} failed; ${figures.join('; ')}`);
    expect(failures).toEqual([]);
    const runs = outputs.runs();
    expect([...runs.values()].filter(n => n > 1)).toEqual([]);
    for (const result of results) expect(runs.get(result.id)).toBe(1);
  });
});
