// Soak run (not part of `npm test`): `npm run soak -- --seconds 60`, or
//   node -r ./test/support/ts-register.js test/soak/soak.ts [--seconds 60] [--concurrency 32]
//        [--reconnect-every 10] [--restart-every 15] [--restart-kinds in-process,kill,term]
//        [--sample-every 5] [--lost-after 20]
//
// A MathModule server in a child process (test/support/fault-server.ts, on a fixed loopback
// port with a key file) and a ClientIroh in this process under constant load: `concurrency`
// operations in flight, mixed request/response (sum, echo, delay) and short streams (range).
// Meanwhile the client is closed every `reconnect-every` seconds (and goes on, reconnecting),
// and the server is restarted every `restart-every` seconds, in turn: gracefully in its own
// process (close with drain, listen again), by SIGKILL and a new process, by SIGTERM (drain)
// and a new process, always on the same port with the same key.
//
// Every operation ends as exactly one of: answered (values checked), failed with a clean
// error (IrohClientError, the server's GOING_AWAY, a failed connect), failed otherwise
// (unclean), wrong (bad or missing values), duplicated (more replies than sent for), or lost
// (neither reply nor error within `lost-after` seconds). Heap and RSS of both processes are
// sampled (after a GC) every `sample-every` seconds. Prints a JSON summary on stdout and
// exits 1 if anything was lost, duplicated, wrong or failed uncleanly.
import 'reflect-metadata';
import { spawn } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';
import { Observable } from 'rxjs';
import { ClientIroh, IrohClientError } from '../../src';
import { LineProcess } from '../support/fault-netns';
import { freeUdpPort } from '../support/ports';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

const SECONDS = option('seconds', 60);
const CONCURRENCY = option('concurrency', 32);
const RECONNECT_EVERY = option('reconnect-every', 10) * 1000;
const RESTART_EVERY = option('restart-every', 15) * 1000;
const SAMPLE_EVERY = option('sample-every', 5) * 1000;
const LOST_AFTER = option('lost-after', 20) * 1000;
const RESTART_KINDS = (
  process.argv.includes('--restart-kinds') ? process.argv[process.argv.indexOf('--restart-kinds') + 1] : 'in-process,kill,term'
)
  .split(',')
  .map(kind => {
    if (!['in-process', 'kill', 'term'].includes(kind)) throw new Error(`--restart-kinds: unknown kind ${kind}`);
    return kind;
  });
const WARM_UP = Math.min(10_000, (SECONDS * 1000) / 4);

const SUPPORT = join(__dirname, '../support');

setFlagsFromString('--expose-gc');
const gc: () => void = runInNewContext('gc');

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));
const log = (text: string) => process.stderr.write(`[soak ${((Date.now() - startedAt) / 1000).toFixed(1)}s] ${text}\n`);
/** When the load starts (after the server is up); all times in the output count from here. */
let startedAt = Date.now();

// ---- the server process ----------------------------------------------------------------

let server: LineProcess | null = null;
const tickets = new Set<string>();
/** Server processes the soak itself stops; any other exit is a crash. */
const stoppedOnPurpose = new Set<LineProcess>();
const crashes: string[] = [];

async function startServer(env: Record<string, string>): Promise<LineProcess> {
  const child = spawn(process.execPath, ['--expose-gc', '-r', join(SUPPORT, 'ts-register.js'), join(SUPPORT, 'fault-server.ts')], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const started = new LineProcess(`server ${child.pid}`, child);
  void started.exited.then(code => {
    if (!stoppedOnPurpose.has(started)) crashes.push(`server ${child.pid} exited (${code}): ${started.tail(2000)}`);
  });
  const line = await started.waitFor(l => l.startsWith('TICKET '), 30_000, 'ticket');
  tickets.add(line.split(' ')[1]);
  return started;
}

// ---- accounting --------------------------------------------------------------------------

const counts = {
  sent: 0,
  answered: 0,
  failedClean: 0,
  failedUnclean: 0,
  wrong: 0,
  duplicated: 0,
  lost: 0,
  values: 0,
};
const cleanByKind: Record<string, number> = {};
const examples: Record<string, string[]> = { unclean: [], wrong: [], duplicated: [], lost: [] };
let inflight = 0;
/** Clean failures by second of the run and kind: which disruption caused what. */
const failureTimeline: Record<string, Record<string, number>> = {};
/** What happened when, for reading the timeline. */
const events: string[] = [];

function example(kind: string, text: string): void {
  if (examples[kind].length < 5) examples[kind].push(text);
}

/** The kind of a clean failure, or null when the error is not one a caller can expect. */
function cleanKind(err: unknown): string | null {
  // CONNECT_FAILED: sent while the only server restarts (it refuses connections while it
  // closes, then is down), the request fails fast with that code, as documented.
  if (err instanceof IrohClientError) return ['CONNECTION_LOST', 'CLIENT_CLOSED', 'CONNECT_FAILED'].includes(err.code) ? err.code : null;
  if (err instanceof Error && err.name === 'IrohError' && /timed out|cannot connect/.test(err.message)) return 'CONNECT_FAILED';
  const code = (err as { code?: unknown })?.code;
  if (code === 'GOING_AWAY') return 'GOING_AWAY';
  return null;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return JSON.stringify(err);
}

interface Operation {
  name: string;
  source: Observable<unknown>;
  /** The values the operation must deliver, in order, before completing. */
  expected: unknown[];
}

let serial = 0;

function nextOperation(client: ClientIroh): Operation {
  const n = ++serial;
  const pick = n % 20;
  if (pick < 8) {
    const numbers = [n, n % 97, -(n % 13)];
    return { name: `sum#${n}`, source: client.send('sum', numbers), expected: [numbers[0] + numbers[1] + numbers[2]] };
  }
  if (pick < 12) {
    const doc = { n, text: `soak ${n} ü€`, list: [n, n * 2], nested: { ok: n % 2 === 0 } };
    return { name: `echo#${n}`, source: client.send('echo', doc), expected: [doc] };
  }
  if (pick < 17) {
    const length = 1 + (n % 20);
    return { name: `range(${length})#${n}`, source: client.send('range', length), expected: Array.from({ length }, (_, i) => i) };
  }
  const value = `slow ${n}`;
  return { name: `delay#${n}`, source: client.send('delay', { ms: 20 + (n % 200), value }), expected: [value] };
}

/** Runs one operation to its end and counts how it ended. Resolves true when answered. */
function run(op: Operation): Promise<boolean> {
  counts.sent++;
  inflight++;
  return new Promise(resolve => {
    const values: unknown[] = [];
    let ended = false;
    const end = (answered: boolean) => {
      ended = true;
      inflight--;
      clearTimeout(timer);
      resolve(answered);
    };
    const timer = setTimeout(() => {
      if (ended) return;
      subscription.unsubscribe();
      counts.lost++;
      example('lost', `${op.name}: no reply and no error within ${LOST_AFTER} ms (${values.length} values)`);
      end(false);
    }, LOST_AFTER);
    const subscription = op.source.subscribe({
      next: value => {
        values.push(value);
        counts.values++;
      },
      error: err => {
        if (ended) return;
        if (values.length > op.expected.length) {
          counts.duplicated++;
          example('duplicated', `${op.name}: ${values.length} values for ${op.expected.length}, then ${errorText(err)}`);
        } else if (JSON.stringify(values) !== JSON.stringify(op.expected.slice(0, values.length))) {
          counts.wrong++;
          example('wrong', `${op.name}: got ${JSON.stringify(values)} before ${errorText(err)}`);
        } else {
          const kind = cleanKind(err);
          if (kind) {
            counts.failedClean++;
            cleanByKind[kind] = (cleanByKind[kind] ?? 0) + 1;
            const second = String(Math.floor((Date.now() - startedAt) / 1000));
            const slot = (failureTimeline[second] ??= {});
            slot[kind] = (slot[kind] ?? 0) + 1;
          } else {
            counts.failedUnclean++;
            example('unclean', `${op.name}: ${errorText(err)}`);
          }
        }
        end(false);
      },
      complete: () => {
        if (ended) return;
        if (values.length > op.expected.length) {
          counts.duplicated++;
          example('duplicated', `${op.name}: ${values.length} values for ${op.expected.length}`);
          return end(false);
        }
        if (JSON.stringify(values) !== JSON.stringify(op.expected)) {
          counts.wrong++;
          example('wrong', `${op.name}: expected ${JSON.stringify(op.expected)}, got ${JSON.stringify(values)}`);
          return end(false);
        }
        counts.answered++;
        end(true);
      },
    });
  });
}

// ---- memory ------------------------------------------------------------------------------

interface Memory {
  heapUsed: number;
  rss: number;
}
interface Sample {
  t: number;
  client: Memory;
  server: (Memory & { pid: number }) | null;
  inflight: number;
}
const samples: Sample[] = [];

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function sample(): Promise<void> {
  gc();
  const own = process.memoryUsage();
  let serverMemory: Sample['server'] = null;
  const current = server;
  if (current) {
    try {
      current.send('mem');
      const answer = JSON.parse(await current.waitFor(l => l.startsWith('{"mem"'), 3000, 'memory sample'));
      serverMemory = { pid: answer.pid, heapUsed: answer.mem.heapUsed, rss: answer.mem.rss };
    } catch {
      // Restarting just now: this sample has the client only.
    }
  }
  const entry: Sample = { t: Date.now() - startedAt, client: { heapUsed: own.heapUsed, rss: own.rss }, server: serverMemory, inflight };
  samples.push(entry);
  log(
    `sent ${counts.sent} answered ${counts.answered} clean-failed ${counts.failedClean} lost ${counts.lost} dup ${counts.duplicated} wrong ${counts.wrong} | ` +
      `client heap ${mib(own.heapUsed)} MiB rss ${mib(own.rss)} MiB | server ` +
      (serverMemory ? `(pid ${serverMemory.pid}) heap ${mib(serverMemory.heapUsed)} MiB rss ${mib(serverMemory.rss)} MiB` : 'n/a'),
  );
}

function firstAndLast(list: Array<{ t: number } & Memory>): object | null {
  const warm = list.filter(s => s.t >= WARM_UP);
  const use = warm.length >= 2 ? warm : list;
  if (use.length === 0) return null;
  const first = use[0];
  const last = use[use.length - 1];
  const view = (s: { t: number } & Memory) => ({ atSeconds: Math.round(s.t / 100) / 10, heapUsedMiB: mib(s.heapUsed), rssMiB: mib(s.rss) });
  return {
    samples: use.length,
    first: view(first),
    last: view(last),
    heapDeltaMiB: mib(last.heapUsed - first.heapUsed),
    rssDeltaMiB: mib(last.rss - first.rss),
  };
}

// ---- the run -----------------------------------------------------------------------------

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-soak-'));
  const port = await freeUdpPort();
  const serverEnv = { BIND_ADDR: `127.0.0.1:${port}`, KEY_FILE: join(dir, 'server.key'), DRAIN_TIMEOUT: '2000' };
  server = await startServer(serverEnv);
  const [ticket] = tickets;
  const client = new ClientIroh({
    relayMode: 'disabled',
    bindAddr: '127.0.0.1:0',
    peer: ticket,
    keepAliveInterval: 500,
    keepAliveTimeout: 3000,
    connectTimeout: 2000,
    retryAttempts: 3,
    retryDelay: 100,
    maxRetryDelay: 1000,
  });
  const setupMs = Date.now() - startedAt;
  startedAt = Date.now();
  log(`server on 127.0.0.1:${port} (up after ${setupMs} ms); ${CONCURRENCY} in flight for ${SECONDS} s`);

  const deadline = startedAt + SECONDS * 1000;
  const disruptions = { clientCloses: 0, inProcessRestarts: 0, killRestarts: 0, termRestarts: 0, restartMs: [] as number[] };
  let stopping = false;

  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < deadline) {
      // After a failure, a short pause, so that a server that is down is not hammered.
      if (!(await run(nextOperation(client)))) await sleep(20);
    }
  });

  const reconnects = (async () => {
    // Out of step with the restarts (which fall on whole periods of their own), so that each
    // disruption's effect shows on its own in the failure timeline.
    for (let next = startedAt + 0.7 * RECONNECT_EVERY; next < deadline - 1000; next += RECONNECT_EVERY) {
      await sleep(next - Date.now());
      if (stopping) return;
      await client.close();
      disruptions.clientCloses++;
      events.push(`${((Date.now() - startedAt) / 1000).toFixed(1)}s client.close()`);
      log('client closed (it reconnects on the next request)');
    }
  })();

  const restarts = (async () => {
    const kinds = RESTART_KINDS;
    let index = 0;
    for (let next = startedAt + RESTART_EVERY; next < deadline - 2000; next += RESTART_EVERY) {
      await sleep(next - Date.now());
      if (stopping) return;
      const kind = kinds[index++ % kinds.length];
      const begun = Date.now();
      const current = server;
      if (kind === 'in-process') {
        current.send('restart');
        const answer = JSON.parse(await current.waitFor(l => l.startsWith('{"restarted"'), 30_000, 'restart'));
        tickets.add(answer.ticket);
        disruptions.inProcessRestarts++;
      } else {
        server = null;
        stoppedOnPurpose.add(current);
        if (kind === 'kill') {
          await current.kill();
          disruptions.killRestarts++;
        } else {
          current.child.kill('SIGTERM');
          await current.exited;
          disruptions.termRestarts++;
        }
        server = await startServer(serverEnv);
      }
      disruptions.restartMs.push(Date.now() - begun);
      events.push(`${((begun - startedAt) / 1000).toFixed(1)}s server restart (${kind}), back after ${Date.now() - begun} ms`);
      log(`server restarted (${kind}) in ${Date.now() - begun} ms`);
    }
  })();

  const sampler = (async () => {
    // Half a period out of step with the disruptions, which fall on whole periods.
    await sleep(SAMPLE_EVERY / 2);
    while (Date.now() < deadline) {
      await sleep(Math.min(SAMPLE_EVERY, Math.max(0, deadline - Date.now())));
      await sample();
    }
  })();

  await Promise.all([...workers, sampler]);
  stopping = true;
  await Promise.all([reconnects, restarts]);
  await sample();
  await client.close();
  const current = server as LineProcess | null;
  if (current) {
    stoppedOnPurpose.add(current);
    current.child.stdin!.end();
    await Promise.race([current.exited, sleep(10_000)]);
    await current.kill();
  }
  rmSync(dir, { recursive: true, force: true });

  const serverPids = [...new Set(samples.filter(s => s.server).map(s => s.server!.pid))];
  const problems: string[] = [];
  if (counts.lost > 0) problems.push(`${counts.lost} lost`);
  if (counts.duplicated > 0) problems.push(`${counts.duplicated} duplicated`);
  if (counts.wrong > 0) problems.push(`${counts.wrong} wrong`);
  if (counts.failedUnclean > 0) problems.push(`${counts.failedUnclean} failed with an unexpected error`);
  if (crashes.length > 0) problems.push(...crashes.map(c => `crash: ${c}`));
  if (counts.answered === 0) problems.push('nothing answered');
  if (tickets.size !== 1) problems.push(`the server's ticket changed across restarts (${tickets.size} tickets)`);
  const accounted = counts.answered + counts.failedClean + counts.failedUnclean + counts.wrong + counts.duplicated + counts.lost;
  if (accounted !== counts.sent) problems.push(`${counts.sent - accounted} operations unaccounted for`);

  const summary = {
    ok: problems.length === 0,
    problems,
    seconds: SECONDS,
    setupSeconds: Math.round(setupMs / 100) / 10,
    elapsedSeconds: Math.round((Date.now() - startedAt) / 100) / 10,
    concurrency: CONCURRENCY,
    requests: { ...counts, perSecond: Math.round(counts.sent / SECONDS), cleanFailuresByKind: cleanByKind },
    events,
    failureTimeline,
    examples: Object.fromEntries(Object.entries(examples).filter(([, list]) => list.length > 0)),
    disruptions: { ...disruptions, ticketStable: tickets.size === 1 },
    memory: {
      warmUpSeconds: WARM_UP / 1000,
      /** Every sample: [seconds, client heap MiB, client RSS MiB, server pid, server heap MiB, server RSS MiB]. */
      samples: samples.map(s => [
        Math.round(s.t / 100) / 10,
        mib(s.client.heapUsed),
        mib(s.client.rss),
        s.server?.pid ?? null,
        s.server ? mib(s.server.heapUsed) : null,
        s.server ? mib(s.server.rss) : null,
      ]),
      client: firstAndLast(samples.map(s => ({ t: s.t, ...s.client }))),
      server: serverPids.map(pid => ({
        pid,
        ...firstAndLast(samples.filter(s => s.server?.pid === pid).map(s => ({ t: s.t, ...s.server! }))),
      })),
    },
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  return summary.ok ? 0 : 1;
}

main().then(
  code => process.exit(code),
  err => {
    process.stderr.write(`soak failed: ${err?.stack ?? err}\n`);
    process.exit(2);
  },
);
