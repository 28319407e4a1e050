/**
 * One attack, measured: the attack server (test/support/attack-server.ts) and the attacker
 * (test/support/attacker.ts) in processes of their own, and the good client in the test's
 * process. The server's memory is read from /proc (VmRSS polled, VmHWM for the true peak),
 * so it is measured even while the server's event loop is blocked.
 */
import { ChildProcess, spawn } from 'child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { GoodClient, GoodClientSummary } from './good-client';

const here = __dirname;
const MiB = 1024 * 1024;
const nestMajor = (globalThis as any).NEST_MAJOR ?? 12;

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (nestMajor === 11) env.NEST_MODULES = join(here, '../nest11/node_modules');
  return env;
}

/** Extra node options for the attack server, from ATTACK_SERVER_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). */
function serverNodeArgs(): string[] {
  return (process.env.ATTACK_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/** VmRSS and VmHWM (peak RSS since the last reset) of a process, in bytes. */
function procMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

export interface ServerStats {
  memory: NodeJS.MemoryUsage;
  loopDelay: { max: number; p99: number; mean: number };
  /** Event-loop stalls of 200 ms or more: when each ended (ms after the attack began) and how long it was. */
  stalls: Array<{ endedAt: number; ms: number }>;
  peers: number;
  handlers: { eventsStarted: number; eventsFinished: number; eventsRunning: number; eventsPeak: number; requests: number };
  /** Bytes of the server's maxReceiveMemory held: now, and the most at once. */
  receiveMemory: { used: number; peak: number };
}

export interface AttackSpec {
  /** The attacker's mode (see test/support/attacker.ts) and its parameters. */
  mode: string;
  attack?: Record<string, unknown>;
  /** IrohServer options of the attacked server. */
  serverOptions?: Record<string, unknown>;
  /** How long the good client keeps calling after the attacker has finished (ms). */
  tailMs?: number;
  /** Longest the attacker may run before it is killed (ms). */
  attackerTimeoutMs?: number;
}

export interface AttackOutcome {
  mode: string;
  durationMs: number;
  server: {
    rssBefore: number;
    rssPeak: number;
    rssAfter: number;
    /** Peak RSS minus RSS before the attack. */
    growth: number;
    loopDelay: ServerStats['loopDelay'];
    stalls: ServerStats['stalls'];
    handlers: ServerStats['handlers'];
    receiveMemory: ServerStats['receiveMemory'];
    /** The server process died during the attack. */
    exited: string | null;
  };
  good: GoodClientSummary;
  attacker: any;
}

export const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

/** A child process writing JSON lines (and `TICKET ...`) on stdout. */
class Child {
  readonly output: string[] = [];
  exited: string | null = null;
  private readonly exit: Promise<void>;

  constructor(readonly process: ChildProcess) {
    process.stdout?.on('data', d => this.output.push(String(d)));
    process.stderr?.on('data', d => this.output.push(String(d)));
    this.exit = new Promise(resolve =>
      process.once('exit', (code, signal) => {
        this.exited = `exit ${code ?? signal}`;
        resolve();
      }),
    );
  }

  text(): string {
    return this.output.join('');
  }

  async waitFor<T>(find: (text: string) => T | undefined, ms: number, what: string): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const found = find(this.text());
      if (found !== undefined) return found;
      if (this.exited) throw new Error(`${what}: the process ended (${this.exited}): ${this.text().slice(-2000)}`);
      if (Date.now() > end) throw new Error(`${what}: nothing within ${ms} ms: ${this.text().slice(-2000)}`);
      await new Promise(r => setTimeout(r, 20));
    }
  }

  /** Kills the process (if still running) and waits until it is gone. */
  async kill(): Promise<void> {
    if (!this.exited) this.process.kill('SIGKILL');
    await this.exit;
  }

  /** Waits up to `ms` for the process to end; true if it has. */
  async ended(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exit, new Promise(r => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    return this.exited !== null;
  }
}

export class AttackRig {
  private server: Child | null = null;
  private attacker: Child | null = null;
  private good: GoodClient | null = null;
  private sampler: NodeJS.Timeout | null = null;

  /** Runs one attack against a fresh server with the good client beside it. */
  async run(spec: AttackSpec): Promise<AttackOutcome> {
    const started = Date.now();
    const server = (this.server = new Child(
      spawn(process.execPath, [...serverNodeArgs(), '--expose-gc', '-r', join(here, 'ts-register.js'), join(here, 'attack-server.ts')], {
        env: childEnv({ SERVER_OPTIONS: JSON.stringify(spec.serverOptions ?? {}) }),
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }),
    ));
    const ticket = await server.waitFor(t => /TICKET (\S+)/.exec(t)?.[1], 30_000, 'attack server ticket');
    const pid = server.process.pid!;

    this.good = new GoodClient(ticket);
    await this.good.connect();
    // The baseline: the server warmed up by a connection and a call, after a full GC.
    await this.ask('gc');
    await new Promise(r => setTimeout(r, 200));
    const rssBefore = procMemory(pid).rss;
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := VmRSS
    await this.ask('stats', { reset: true });
    const goodBeganAt = Date.now();
    let polledPeak = rssBefore;
    this.sampler = setInterval(() => {
      if (!server.exited) polledPeak = Math.max(polledPeak, procMemory(pid).rss);
    }, 100);

    this.good.begin();
    const attacker = (this.attacker = new Child(
      spawn(process.execPath, ['-r', join(here, 'ts-register.js'), join(here, 'attacker.ts'), spec.mode], {
        env: childEnv({ TICKET: ticket, ATTACK: JSON.stringify(spec.attack ?? {}) }),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    ));
    const report = await attacker.waitFor(
      t => {
        const line = t.split('\n').find(l => l.startsWith('{"report"'));
        return line ? JSON.parse(line).report : undefined;
      },
      spec.attackerTimeoutMs ?? 120_000,
      `attacker ${spec.mode}`,
    );
    await attacker.ended(5000);
    await new Promise(r => setTimeout(r, spec.tailMs ?? 1000));
    const good = await this.good.end();
    clearInterval(this.sampler);
    this.sampler = null;

    const exited = server.exited;
    const memory = exited ? { rss: 0, peak: 0 } : procMemory(pid);
    const stats = exited ? null : await this.ask('stats', { reset: true }, 60_000);
    const rssPeak = Math.max(polledPeak, memory.peak);
    const outcome: AttackOutcome = {
      mode: spec.mode,
      durationMs: Date.now() - started,
      server: {
        rssBefore,
        rssPeak,
        rssAfter: memory.rss,
        growth: rssPeak - rssBefore,
        loopDelay: stats?.loopDelay ?? { max: -1, p99: -1, mean: -1 },
        stalls: stats?.stalls ?? [],
        handlers: stats?.handlers ?? ({} as ServerStats['handlers']),
        receiveMemory: stats?.receiveMemory ?? { used: -1, peak: -1 },
        exited,
      },
      good,
      // The attacker's times count from its own start, this many ms after the good client's and the stalls'.
      attacker: { ...report, startedAfterMs: report.startedAt - goodBeganAt },
    };
    record(outcome);
    return outcome;
  }

  /** The attack server's figures now (without resetting them), once its event loop answers. */
  serverStats(ms = 60_000): Promise<ServerStats> {
    return this.ask('stats', {}, ms);
  }

  /** Kills and awaits everything this rig started. */
  async dispose(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    await this.good?.close().catch(() => undefined);
    await this.attacker?.kill();
    if (this.server && !this.server.exited) {
      this.server.process.send?.({ op: 'close' });
      if (!(await this.server.ended(8000))) await this.server.kill();
    }
  }

  /** One IPC request to the attack server; its answer (sent once its event loop is free). */
  private ask(op: string, extra: object = {}, ms = 30_000): Promise<any> {
    const child = this.server!.process;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.off('message', onMessage);
        reject(new Error(`the attack server did not answer ${op} within ${ms} ms`));
      }, ms);
      const onMessage = (message: any) => {
        if (message?.op !== op) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        if (message.error) reject(new Error(message.error));
        else resolve(message);
      };
      child.on('message', onMessage);
      child.send({ op, ...extra });
    });
  }
}

/**
 * Prints the outcome's figures; with ATTACK_RESULTS set (a folder), also writes them there
 * as <mode>.json, for the baseline table.
 */
function record(outcome: AttackOutcome): void {
  const { server, good } = outcome;
  const line =
    `[attack ${outcome.mode}] ${outcome.durationMs} ms; server RSS ${mib(server.rssBefore)} → peak ${mib(server.rssPeak)} MiB ` +
    `(+${mib(server.growth)}), receive memory peak ${mib(server.receiveMemory.peak)} MiB, loop delay max ${server.loopDelay.max} ms; good client ${good.succeeded}/${good.sent} ok, ` +
    `failures ${JSON.stringify(good.failures)}, worst ${good.worstMs} ms, longest gap ${good.longestGapMs} ms`;
  process.stdout.write(`${line}\n`);
  const folder = process.env.ATTACK_RESULTS;
  if (folder) {
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `${outcome.mode}.json`), JSON.stringify(outcome, null, 2));
  }
}
