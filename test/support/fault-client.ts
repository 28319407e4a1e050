// A ClientIroh in its own process (run inside a network namespace by network-faults.spec.ts),
// driven by JSON lines on stdin; answers with JSON lines on stdout.
//
// Env: PEER (ticket), CLIENT_OPTIONS (JSON, merged into the ClientIroh options).
// Prints {"ready":true,"nest":"<@nestjs/microservices version>"} once the client object
// exists (it connects on the first command).
// Commands: {"id":1,"op":"connect"} | "batch" | "inflight" | "probe" | "status" | "close".
// Every command gets exactly one final line {"id":..,"done":true,...}; "inflight" also
// prints {"id":..,"progress":"started"} once its requests are in flight.
import 'reflect-metadata';
import { createInterface } from 'readline';
import { out, packageVersion } from './child-io';
import { Observable, TimeoutError, lastValueFrom, timeout, toArray } from 'rxjs';
import { ClientIroh, IrohClientError } from '../../src';
import { IO_THREAD_OPTION } from './io-thread-option';

interface Settled<T> {
  values: T[];
  error?: unknown;
  at: number;
}

function settle<T>(source: Observable<T>, onValue?: (value: T) => void): Promise<Settled<T>> {
  return new Promise(resolve => {
    const values: T[] = [];
    source.subscribe({
      next: value => {
        values.push(value);
        onValue?.(value);
      },
      error: error => resolve({ values, error, at: Date.now() }),
      complete: () => resolve({ values, at: Date.now() }),
    });
  });
}

/** A JSON view of an error: what kind it is (IrohClientError code, rxjs timeout, other). */
function describeError(err: unknown): { name: string; code?: string; message: string } {
  if (err instanceof IrohClientError) return { name: err.name, code: err.code, message: err.message };
  if (err instanceof TimeoutError) return { name: 'TimeoutError', message: 'no reply within the test timeout (lost)' };
  if (err instanceof Error) return { name: err.name, code: (err as any).code, message: err.message };
  if (err && typeof err === 'object') return { name: 'RemoteError', message: JSON.stringify(err) };
  return { name: typeof err, message: String(err) };
}

const peer = process.env.PEER;
if (!peer) throw new Error('PEER is required');
const client = new ClientIroh({ relayMode: 'disabled', peer, ...IO_THREAD_OPTION, ...JSON.parse(process.env.CLIENT_OPTIONS ?? '{}') });
const statuses: string[] = [];
client.status.subscribe(status => statuses.push(status));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * `count` requests, `concurrency` at a time, alternating `sum` (numbers) and `echo` (a
 * document), plus `streams` streamed replies of `range(streamLength)`; every value is checked.
 */
async function batch(cmd: any): Promise<object> {
  const count: number = cmd.count ?? 200;
  const concurrency: number = cmd.concurrency ?? 16;
  const streams: number = cmd.streams ?? 2;
  const streamLength: number = cmd.streamLength ?? 100;
  const ms: number = cmd.timeoutMs ?? 20_000;
  const started = Date.now();
  const latencies: number[] = [];
  const wrong: string[] = [];
  const failures: Array<ReturnType<typeof describeError>> = [];
  let answered = 0;
  let next = 0;

  async function one(i: number): Promise<void> {
    const t0 = Date.now();
    let expected: unknown;
    let source: Observable<unknown>;
    if (i % 2 === 0) {
      const numbers = [i, (i * 7919) % 1000, -(i % 13)];
      expected = numbers[0] + numbers[1] + numbers[2];
      source = client.send('sum', numbers);
    } else {
      expected = { i, text: `request ${i} ü€`, list: [i, i * 2, i * 3] };
      source = client.send('echo', expected);
    }
    const result = await settle(source.pipe(timeout(ms)));
    latencies.push(Date.now() - t0);
    if (result.error !== undefined) {
      failures.push(describeError(result.error));
      return;
    }
    if (result.values.length !== 1 || JSON.stringify(result.values[0]) !== JSON.stringify(expected)) {
      wrong.push(`#${i}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(result.values)}`);
      return;
    }
    answered++;
  }

  const workers = Array.from({ length: concurrency }, async () => {
    while (next < count) await one(next++);
  });
  const streamRuns = Array.from({ length: streams }, async (_, s) => {
    const n = streamLength + s;
    try {
      const values = await lastValueFrom(client.send<number>('range', n).pipe(toArray(), timeout(ms)));
      const ok = values.length === n && values.every((v, i) => v === i);
      if (!ok) wrong.push(`stream ${s}: expected 0..${n - 1}, got ${values.length} values`);
      return ok;
    } catch (err) {
      failures.push(describeError(err));
      return false;
    }
  });
  const [, streamOk] = await Promise.all([Promise.all(workers), Promise.all(streamRuns)]);
  latencies.sort((a, b) => a - b);
  return {
    count,
    answered,
    failed: failures.length,
    failures: failures.slice(0, 10),
    wrong,
    streams,
    streamsOk: streamOk.filter(Boolean).length,
    ms: Date.now() - started,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/**
 * Starts `requests` slow requests and `streams` endless streams; once every stream has
 * delivered values (so all of it is in flight on a working connection) prints progress
 * "started", then waits until all of them have ended and reports how.
 */
async function inflight(cmd: any, id: number): Promise<object> {
  const requests: number = cmd.requests ?? 4;
  const streams: number = cmd.streams ?? 1;
  const ms: number = cmd.timeoutMs ?? 20_000;
  const flowing: Array<Promise<void>> = [];
  const runs: Array<Promise<Settled<unknown> & { kind: string }>> = [];
  for (let i = 0; i < requests; i++) {
    const source = client.send('delay', { ms: 60_000, value: `never ${i}` }).pipe(timeout(ms));
    runs.push(settle(source).then(r => ({ ...r, kind: 'request' })));
  }
  for (let i = 0; i < streams; i++) {
    let seen!: () => void;
    flowing.push(new Promise<void>(resolve => (seen = resolve)));
    let count = 0;
    const source = client.send('ticks', { tag: `inflight-${id}-${i}`, every: 20 }).pipe(timeout(ms));
    runs.push(settle(source, () => ++count === 3 && seen()).then(r => ({ ...r, kind: 'stream' })));
  }
  const allEnded = Promise.all(runs);
  // A stream that ends before it flows would leave `flowing` pending: race them.
  await Promise.race([Promise.all(flowing), allEnded]);
  out({ id, progress: 'started', at: Date.now() });
  const results = await allEnded;
  return {
    results: results.map(r => ({
      kind: r.kind,
      values: r.values.length,
      at: r.at,
      error: r.error === undefined ? null : describeError(r.error),
    })),
  };
}

/** One request; reports its value or error and how long it took. */
async function probe(cmd: any): Promise<object> {
  const started = Date.now();
  const numbers = cmd.numbers ?? [20, 22];
  const result = await settle(client.send('sum', numbers).pipe(timeout(cmd.timeoutMs ?? 20_000)));
  const expected = numbers.reduce((a: number, b: number) => a + b, 0);
  return {
    ms: Date.now() - started,
    values: result.values,
    correct: result.error === undefined && result.values.length === 1 && result.values[0] === expected,
    error: result.error === undefined ? null : describeError(result.error),
  };
}

async function run(cmd: any): Promise<object> {
  switch (cmd.op) {
    case 'connect': {
      const started = Date.now();
      await client.connect();
      return { ms: Date.now() - started };
    }
    case 'batch':
      return batch(cmd);
    case 'inflight':
      return inflight(cmd, cmd.id);
    case 'probe':
      return probe(cmd);
    case 'status':
      return { statuses };
    case 'close':
      await client.close();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

createInterface({ input: process.stdin }).on('line', line => {
  if (!line.trim()) return;
  let cmd: any;
  try {
    cmd = JSON.parse(line);
  } catch {
    out({ done: true, ok: false, error: `not JSON: ${line}` });
    return;
  }
  run(cmd).then(
    result => out({ id: cmd.id, done: true, ok: true, ...result }),
    err => out({ id: cmd.id, done: true, ok: false, error: describeError(err) }),
  );
});
process.stdin.on('end', () => void client.close().then(() => process.exit(0)));
out({ ready: true, nest: packageVersion('@nestjs/microservices') });
